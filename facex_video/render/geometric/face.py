"""Every task that puts a (possibly new) face on the canvas (swap, headswap, reenact, edit, mix): the steps
of the package's docstring in order, the colour match along the track, and the blend into the canvas."""

from __future__ import annotations

import cv2
import numpy as np

from ...core.constants import CROP_SIZE
from ...faces.blend import blurred_mask, dilate, erode, fill_holes, laplacian_blend, window
from ...faces.colour import match_shading, match_statistics
from ...ford.mesh import NUM_MESH_VERTICES
from ...ford.occluders import Cover
from ...tasks.assemble import AssembledFace
from ..base import TrackState
from .gaze import apply_gaze
from .hair import bald_canvas, carry_head
from .head import HeadLayer, head_moved, head_warp, within_reach
from .openings import CANVAS, MOUTH, TEXTURE, mouth_cavity, plan_openings
from .raster import Sampler, mesh_triangles, rasterise, srgb_float, to_uint8
from .texture import TrackMemory, prepared_texture
from .warp import warp_face

SHADING_SIGMA = 0.04  # of the crop (~7% of a face's width): the scale above which the canvas's light layout
# replaces the texture's, below which the texture keeps its own shading (its nose, eyes, mouth)
CHROMA_GAIN = 1.3  # most the colour match scales the texture's a and b by: more reddens lids and lips
# (a pale, over-lit donor), and the local shading match brings the rest of the skin's hue
COLOUR_KEEP = 0.8  # EMA weight of the previous frame's colour transfer along a track
SAME_GEOMETRY_PX = 0.5  # px: assembled landmarks this close to the canvas's are the canvas's own shape
OVAL_MARGIN = 6  # px: the face fades out this far inside the assembled silhouette, so the texture's own edge
# (its hairline, background, jaw shadow) never shows and the canvas's outline stays


def keeps_the_canvas_face(a: AssembledFace) -> bool:
    """The canvas's own face in its own shape (an edit of the gaze alone, or of nothing): re-rendering it
    through the warp and relight would change every pixel of it a little for nothing."""
    if a.changes_identity or not np.array_equal(a.texture_crop, a.canvas_crop):
        return False
    moved = a.landmarks[:NUM_MESH_VERTICES, :2] - a.canvas_landmarks[:NUM_MESH_VERTICES, :2]
    return float(np.abs(moved).max()) < SAME_GEOMETRY_PX


def render_gaze_only(a: AssembledFace) -> tuple[np.ndarray, np.ndarray]:
    """The canvas with only its irises moved to the assembled gaze; alpha exactly 0 outside the eyes."""
    canvas = srgb_float(a.canvas_crop)
    face = apply_gaze(canvas, a, np.full(len(mesh_triangles()), CANVAS), frozenset())
    changed = np.abs(face - canvas).max(axis=2) > 0
    alpha = np.clip(blurred_mask(dilate(changed, 1), 1.0) * 2.0, 0.0, 1.0) * dilate(changed, 3)
    return to_uint8(canvas + alpha[..., None] * (face - canvas)), alpha.astype(np.float32)


def render_face(assembled: AssembledFace, state: TrackState) -> tuple[np.ndarray, np.ndarray]:
    """Every task that puts a (possibly new) face on the canvas: swap, headswap, reenact, edit, mix."""
    if keeps_the_canvas_face(assembled):
        return render_gaze_only(assembled)
    return render_warped(within_reach(assembled), state)


def render_warped(assembled: AssembledFace, state: TrackState) -> tuple[np.ndarray, np.ndarray]:
    """The texture warped onto the assembled face, relit, its openings and gaze drawn, blended (steps 1-5)."""
    a = assembled
    dst = np.asarray(a.landmarks, np.float64)
    raster = rasterise(dst[:NUM_MESH_VERTICES], mesh_triangles())
    covered = raster.mask()
    canvas = srgb_float(a.canvas_crop)
    # glasses go with the identity: when it changes, the donor's are not carried and the canvas's are not
    # kept (they belong to the face being replaced); otherwise a face keeps its own glasses
    other = a.changes_identity
    moved = head_moved(a)
    # a donor's bangs give way to the canvas's forehead; a face that moves keeps its own, warped with it
    hide_hair = other or not moved
    tex = prepared_texture(a, other, hide_hair, state)
    memory = TrackMemory.of(state)
    canvas_cover = memory.cover = Cover.of(a.canvas_crop, a.canvas_landmarks, a.canvas_masks, outline_shadows=False,
                                           keyframe=None if state.keyframe else memory.cover)
    openings = plan_openings(a)
    pix_donor = openings.donor[raster.tri]
    # a head turned from the canvas's takes the canvas head around it along (head_warp); its colour and
    # light are matched to that moved canvas, so the face meets the moved forehead, cheeks and jaw around it
    # without a seam (matched to the still canvas, a forehead's highlight stayed where the head had been)
    head = head_warp(a, raster) if moved else None
    reference = canvas if head is None else head.layer
    canvas_skin = a.canvas_masks["skin"] & ~dilate(canvas_cover.over(with_glasses=True), 3)
    if head is not None:
        canvas_skin = head.moved(canvas_skin.astype(np.uint8), cv2.INTER_NEAREST) > 0

    # 1-2. warp and relight; colour: the warped skin matched to the canvas skin it lands on, smoothed
    # along the track
    warped = warp_face(a, raster, tex, hide_hair, moved)
    lit, seen, skin, hidden_hair = warped.lit, warped.seen, warped.skin, warped.hidden_hair
    skin &= pix_donor == TEXTURE
    skin &= canvas_skin.reshape(-1)[raster.pix]
    target = reference.reshape(-1, 3)[raster.pix[skin]]
    transfer = match_statistics(lit[skin], target, max_chroma_gain=CHROMA_GAIN)
    transfer = memory.colour = transfer.smoothed(memory.colour, COLOUR_KEEP)
    textured = pix_donor == TEXTURE
    lit[textured] = transfer.apply(lit[textured])
    face: np.ndarray = canvas.reshape(-1, 3).copy()  # (CROP_SIZE * CROP_SIZE, 3), then (CROP_SIZE, CROP_SIZE, 3)
    face[raster.pix] = lit
    if textured.any():  # the canvas's light layout, which the SH ratio only approximates
        shaded = match_shading(face.reshape(CROP_SIZE, CROP_SIZE, 3), reference, raster.mask(skin),
                               SHADING_SIGMA * CROP_SIZE)
        face[raster.pix[textured]] = shaded.reshape(-1, 3)[raster.pix[textured]]

    # 3. openings from the canvas or the expression input's mouth, or a cavity; what neither side of the
    # texture shows, from around it
    for donor, crop, landmarks in ((CANVAS, a.canvas_crop, a.canvas_landmarks),
                                   (MOUTH, a.mouth_crop, a.mouth_landmarks)):
        drawn = pix_donor == donor
        if drawn.any() and crop is not None and landmarks is not None:
            xy = raster.interpolate(landmarks[:NUM_MESH_VERTICES, :2], mesh_triangles())
            face[raster.pix[drawn]] = Sampler(xy[drawn])(srgb_float(crop))
    face = face.reshape(CROP_SIZE, CROP_SIZE, 3)
    if openings.cavity.any():
        face = mouth_cavity(face, openings.cavity)
    unseen = raster.mask(~seen)
    if unseen.any():
        face = fill_holes(face, unseen, covered & ~unseen)

    # 4. gaze: move each iris to where the assembled gaze puts it
    face = apply_gaze(face, a, openings.donor, warped.mirrored_eyes)

    # 5. blend
    return blend_face(a, face, covered, hidden_hair, openings.kept, canvas_cover, other, head)


def blend_face(a: AssembledFace, face: np.ndarray, covered: np.ndarray, hidden_hair: np.ndarray,
               kept: np.ndarray, canvas_cover: Cover, other: bool, head: HeadLayer | None
               ) -> tuple[np.ndarray, np.ndarray]:
    """Step 5: the rendered face (float RGB) blended into the canvas over the assembled face (plus, for
    a moved head, `head`: the canvas head around it warped along with the face, and the carried head of a
    headswap), minus what covers the canvas face and the openings it keeps; returns the crop and its alpha."""
    canvas = srgb_float(a.canvas_crop)
    # the mesh's silhouette, not its oval contour: on a face turned past ~30 degrees the nose, lips and chin
    # stand out beyond the far cheek's contour, and left to the canvas they keep its profile and identity
    weight = (blurred_mask(erode(covered, OVAL_MARGIN), OVAL_MARGIN / 2)
              * (1 - blurred_mask(dilate(hidden_hair > 0.05, 3), 3.0)))
    new = covered
    if head is not None:  # the head around the face (outline, hair, ears, neck) moves with it, fading out
        face = weight[..., None] * face + (1 - weight[..., None]) * head.layer
        weight = np.maximum(weight, head.reach)
        new = new | (head.reach > 0.5)
    if a.hair == "texture":
        layer, carried = carry_head(a)
        face = weight[..., None] * face + (1 - weight[..., None]) * layer
        weight = np.maximum(weight, carried)
        new = new | (carried > 0.5)
    front = kept.copy()
    if head is None:  # what covers the canvas face stays in front of it (not the hair a headswap replaces)
        front |= canvas_cover.over(with_glasses=not other, with_hair=a.hair != "texture")
    weight *= 1 - blurred_mask(dilate(front, 3), 1.0)
    base = canvas
    gap = np.zeros((CROP_SIZE, CROP_SIZE), bool)
    if a.hair == "texture":  # the canvas's hair the carried head does not cover: filled from around it
        base, gap = bald_canvas(a, dilate(new, 2))
    # what the weight leaves to the canvas is the canvas in every band: no low-frequency bleed of filled
    # texture (glasses, bangs) under the canvas's own occluders
    face = np.where(weight[..., None] > 1e-3, face, base)
    out = laplacian_blend(face, base, weight, levels=5)
    alpha = np.maximum(np.clip(blurred_mask(weight, 6.0) * 2.0, 0, 1), blurred_mask(dilate(gap, 3), 2.0))
    if head is not None:  # the warped head reaches its own edge: it meets the canvas there, no feather needed
        alpha = np.maximum(alpha, head.reach)
    inner = erode(front, 1)
    alpha[inner] = np.minimum(alpha[inner], weight[inner])
    alpha[erode(front, 2)] = 0.0
    result = a.canvas_crop.copy()  # the canvas itself where alpha is 0: composited only inside its box
    box = window(alpha > 0)
    if box is not None:
        result[box] = to_uint8(canvas[box] + alpha[box][..., None] * (out[box] - canvas[box]))
    return result, alpha.astype(np.float32)

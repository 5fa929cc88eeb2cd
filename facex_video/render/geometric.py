"""The geometric renderer (DESIGN.md section 5): the default backend, CPU only, no learned weights.

It re-renders the identity donor's face (the texture) in the assembled geometry, inside the canvas face's
aligned crop:

1. warp: the texture is mapped triangle by triangle (MediaPipe's 898-triangle mesh) from its landmarks to
   the assembled ones. The destination triangles are rasterised once, with a z-buffer on the assembled
   depth, so under a head turn the far cheek's triangles hidden behind the nose are not drawn; every covered
   pixel gets its triangle and barycentrics, hence its source position, and one cv2.remap samples it. The
   texture has a z-buffer too: a point it hides (behind its own nose) or shows badly foreshortened takes
   the mirror image of its partner on the other half of the face (an eye opening takes it whole or not at
   all). What covers the texture's face (hands, bangs; glasses when the identity changes) and what its
   mesh's rim lies over that is not skin (sideburns, ears, background) is filled in texture space first,
   from the skin around it. Texture stretched to more than twice its area is blurred, eyes and mouth
   excepted: its few pixels carry only a gradient, which the stretch would draw out into streaks.
2. light and colour: each pixel is multiplied, in linear RGB, by the ratio of its shading (SH luminance)
   under the target lighting at the assembled normal to that under the texture's lighting at its own
   normal; then a Lab match on skin against the canvas skin it replaces, smoothed along the track so the
   tone does not flicker; then the canvas's low frequencies (a skin-masked blur at ~7% of the face's
   width) replace the texture's, so a donor lit from one side brings no bright forehead or cheek onto a
   face in shade.
3. parts the texture may not show: the mouth interior is the canvas's own when the assembled mouth is the
   canvas's (swap, headswap, an edit that keeps the expression: alpha 0 there, its teeth stay); when the
   geometry opens a mouth, it is warped from whichever input shows one open, else filled as a dark cavity.
   The same holds for eyes the texture shows closed. Gaze: the iris disc is moved inside the eye opening to
   where the assembled gaze puts it on FORD's eyeball model (ford/gaze.py), the sclera beside it stretched
   or narrowed toward the corners.
4. blend: a Laplacian-pyramid blend over the assembled face (the mesh's silhouette: on a turned face the
   nose, lips and chin stand out beyond the oval contour), minus what covers the canvas face (hands, hair,
   and its glasses unless the identity changes: glasses go with the person), so the jaw and hairline carry
   no seam and the skin tone meets the neck's. A head turned away from the canvas's takes the canvas's
   whole head with it (outline, hair, ears, neck): the canvas is warped by the mesh rim's displacement
   carried outward, deeper points moving more, fading into the untouched scene, so no old head is left to
   fill; where the rim moves outward the band beside it is squeezed against the head's outline instead.
   Headswap (and reenact) also carry the texture's hair and forehead by a similarity, hairswap only its
   hair, and both fill the canvas hair the new hair does not cover.
5. inpaint: the masked area is regenerated from the face's mirror image (MediaPipe's mesh is symmetric:
   each vertex has a mirror partner), what the mirror cannot supply is inpainted, and a Poisson blend
   joins it to the canvas; outside the mask the crop is the canvas, bit for bit.

What it cannot do: teeth or a tongue it never saw (an opened mouth with no open donor is a dark cavity);
eyes the texture shows shut, opened (their lids are stretched); the far side of a face neither half of the
texture shows well, and detail a donor seen at a grazing angle never showed (a frontal donor on a face
turned ~50 degrees gets a smooth near cheek; a donor turned ~50 degrees gives a frontal face blurred eyes
and its nose's highlight, mirrored); the identity's ears, neck and hair in swap (the target's stay); a
hat or hair that FORD's hair mask reads as background (headswap/hairswap carry the mask only); the scene
behind a removed head or hair (a smooth fill); new wrinkles of a new expression; specular highlights (the
shading ratio treats them as albedo); the skin behind removed glasses frames (a smooth fill with borrowed
grain) and the tint of their lenses, which stays; on a pose edit past ~15 degrees, the stretched rim of
the face where it swings out (a pale band that can read as a second cheek).
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass

import cv2
import numpy as np

from ..compose.blend import dilate, erode, feather, fill_holes, laplacian_blend, poisson_blend
from ..compose.colour import match_shading, match_statistics
from ..core.constants import CROP_SIZE
from ..faces.align import similarity_transform
from ..ford.gaze import EYEBALL_RADIUS, IRIS_HEIGHT_AT_REST, LEFT_EYE, RIGHT_EYE
from ..ford.geometry import canonical_landmarks, landmark_rotation, similarity_3d
from ..ford.lighting import linear_to_srgb, shade, vertex_normals
from ..ford.mesh import NUM_MESH_VERTICES, REGION_CONTOURS, canonical_mesh
from ..ford.regions import SKIN_COLOUR_CHI2, SkinColour, polygon_mask
from ..tasks.assemble import AssembledFace
from ..tasks.table import TABLE
from .base import TrackState

TASKS = frozenset(TABLE)
SHADING_RATIO = (0.6, 1.6)  # clamp of the relighting ratio: SH fits extrapolate badly at grazing normals
SHADING_SIGMA = 0.04  # of the crop (~7% of a face's width): the scale above which the canvas's light layout
# replaces the texture's, below which the texture keeps its own shading (its nose, eyes, mouth)
CHROMA_GAIN = 1.3  # most the colour match scales the texture's a and b by: more reddens lids and lips
# (a pale, over-lit donor), and the local shading match brings the rest of the skin's hue
COLOUR_KEEP = 0.8  # EMA weight of the previous frame's colour transfer along a track
SAME_PART_PX = 2.0  # mean landmark distance under which the canvas shows the assembled mouth/eye as is
DONOR_OPENNESS = 0.6  # a donor mouth/eye must be at least this open, relative to the assembled one
CLOSED = 0.02  # openness (area / width^2) under which a mouth counts as closed
STATE_KEY = "geometric.colour"
TEXTURE_KEY = "geometric.texture"
MIRROR_DETAIL = (0.3, 0.6)  # detail ratio (texture vs its mirror) from which on the mirror is blended in, and
# under which it is all mirror
STRETCHED = (0.5, 0.15)  # texture area per result area under which a warped pixel is blurred, fully at the second
STRETCH_BLUR = 4.0  # px: that blur
DETAIL_SHIFT = 40  # px: where a filled hole borrows its skin grain from (about an eye's height away)
IRIS_GAIN = 1.3  # a gaze change moves the iris this much further than FORD's eyeball model says: MediaPipe's
# lid contour, the reference the gaze is read against, follows a moved iris by about a third of its move
# (measured on astronaut and grace_hopper), so the model's move alone reads about 0.6x as large
IRIS_LID_PX = 0  # px of the eye opening's rim (the lid margins) that a gaze edit leaves in place
IRIS_OLD_DISC = 1.25  # the iris moves rigidly within this multiple of its radius (its limbus ring included)
HEAD_REACH = 0.8  # how far outside the mesh a moved head's warp reaches (fraction of the oval's radius)
HEAD_RIM_PX = 4  # px: the mesh's rim whose displacement the head outside it follows
HEAD_DEPTH_SLOPE = 3  # depth gained per px outside the face's rim (the head curving back)...
HEAD_DEPTH_SPAN = 0.3  # ...over this fraction of the oval's radius (about the cheek-to-ear distance)
HEAD_SMOOTH_PX = 8.0  # px: smoothing of the displacement carried outside the mesh
HEAD_BORDER_PX = 24.0  # px: the head warp fades to nothing this close to the crop's border
HEAD_VISIBLE_PX = 0.5  # px of displacement from which the warped head is fully the result
MOVED_DEG = 3.0  # head rotation from the canvas's beyond which the canvas's occluders no longer apply
DEPTH_TOLERANCE = 4.0  # px of depth: a texture point this far behind the visible surface is hidden
OVAL_MARGIN = 6  # px: the face fades out this far inside the assembled silhouette, so the texture's own edge
# (its hairline, background, jaw shadow) never shows and the canvas's outline stays
GLASSES_BAND = (1.35, 0.95, 0.15)  # eye-centred ellipse: semi-axes and downward shift, in eye widths
RIM_CONTRAST = 14  # black-hat (8-bit L) above which a thin structure is darker than the skin around it
BANGS_DARKER = 12.0  # 8-bit L below the skin's mean lightness that a bangs pixel must be
RIM_BAND = 0.15  # of the mesh's radius: the rim of a texture's mesh, where it may lie past the face
RIM_SHADOW_PX = 10  # px: an occluder blob never deeper than this inside the oval is the outline's shadow
RIM_LENGTH = 0.5  # eye widths: rim pieces are long, wrinkle pieces mostly shorter
_LINEAR = ((np.arange(256) / 255.0 + 0.055) / 1.055) ** 2.4
_LINEAR = np.where(np.arange(256) / 255.0 <= 0.04045, np.arange(256) / 255.0 / 12.92, _LINEAR).astype(np.float32)


# ---------------------------------------------------------------------------------------------- raster


@dataclass(frozen=True)
class Raster:
    """The destination mesh rasterised: for each covered pixel (flat index `pix`), its triangle `tri` and
    barycentrics `bary` (n, 3) and depth `z` (the z-buffer). Pixel centres sit at integer coordinates, as
    cv2's warps place them."""

    pix: np.ndarray
    tri: np.ndarray
    bary: np.ndarray
    z: np.ndarray
    size: int

    def mask(self, where: np.ndarray | None = None) -> np.ndarray:
        """bool (size, size): the covered pixels (those of them selected by `where`, a bool per pixel)."""
        out = np.zeros(self.size * self.size, bool)
        out[self.pix if where is None else self.pix[where]] = True
        return out.reshape(self.size, self.size)

    def interpolate(self, values: np.ndarray, triangles: np.ndarray) -> np.ndarray:
        """(n, k): per-vertex `values` (468, k) interpolated at every covered pixel."""
        corners = triangles[self.tri]
        return (self.bary[:, :, None] * values[corners]).sum(axis=1)

    def seen(self, xy: np.ndarray, z: np.ndarray) -> np.ndarray:
        """bool (n,): whether points at crop positions `xy` (n, 2) and depths `z` (n,) are the surface this
        raster shows there (within DEPTH_TOLERANCE), not something behind it or off its visible mesh."""
        zbuf = np.full(self.size * self.size, np.inf)
        zbuf[self.pix] = self.z
        ix = np.clip(np.round(xy[:, 0]).astype(np.int64), 0, self.size - 1)
        iy = np.clip(np.round(xy[:, 1]).astype(np.int64), 0, self.size - 1)
        front = zbuf[iy * self.size + ix]
        return np.isfinite(front) & (z <= front + DEPTH_TOLERANCE)

    def image(self, per_pixel: np.ndarray, fill: float) -> np.ndarray:
        """(size, size, k) float32 image of per-pixel values (n, k), `fill` where nothing is covered."""
        out = np.full((self.size * self.size, per_pixel.shape[1]), fill, np.float32)
        out[self.pix] = per_pixel
        return out.reshape(self.size, self.size, -1)


def rasterise(points: np.ndarray, triangles: np.ndarray, size: int = CROP_SIZE) -> Raster:
    """Rasterise the camera-facing `triangles` of `points` (468, 3; crop px, larger z = farther) with a
    per-pixel z-buffer. Vectorised: every triangle's bounding box is enumerated at once, pixels outside
    their triangle are dropped and, per pixel, the nearest triangle is kept."""
    v = np.asarray(points, np.float64)[triangles]  # (t, 3, 3)
    e1, e2 = v[:, 1, :2] - v[:, 0, :2], v[:, 2, :2] - v[:, 0, :2]
    cross = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]  # image axes (y down): < 0 faces the camera
    lo = np.clip(np.ceil(v[:, :, :2].min(axis=1)), 0, size - 1).astype(np.int64)
    hi = np.clip(np.floor(v[:, :, :2].max(axis=1)), 0, size - 1).astype(np.int64)
    ids = np.flatnonzero((cross < -1e-6) & np.all(hi >= lo, axis=1))
    w = hi[ids, 0] - lo[ids, 0] + 1
    count = w * (hi[ids, 1] - lo[ids, 1] + 1)
    t = np.repeat(ids, count)
    k = np.arange(int(count.sum())) - np.repeat(np.cumsum(count) - count, count)
    ww = np.repeat(w, count)
    px = (lo[t, 0] + k % ww).astype(np.float64)
    py = (lo[t, 1] + k // ww).astype(np.float64)
    # barycentrics of (px, py): l1 = cross(p - a, e2) / cross(e1, e2), l2 = cross(e1, p - a) / cross(e1, e2)
    dx, dy = px - v[t, 0, 0], py - v[t, 0, 1]
    inv = 1.0 / cross[t]
    l1 = (dx * e2[t, 1] - dy * e2[t, 0]) * inv
    l2 = (e1[t, 0] * dy - e1[t, 1] * dx) * inv
    l0 = 1.0 - l1 - l2
    inside = (l0 >= -1e-7) & (l1 >= -1e-7) & (l2 >= -1e-7)
    t, l0, l1, l2 = t[inside], l0[inside], l1[inside], l2[inside]
    pix = (py[inside] * size + px[inside]).astype(np.int64)
    z = l0 * v[t, 0, 2] + l1 * v[t, 1, 2] + l2 * v[t, 2, 2]
    order = np.lexsort((z, pix))  # by pixel, nearest first
    first = order[np.r_[True, pix[order][1:] != pix[order][:-1]]]
    bary = np.clip(np.stack([l0[first], l1[first], l2[first]], axis=1), 0.0, 1.0)
    return Raster(pix[first], t[first], bary / bary.sum(axis=1, keepdims=True), z[first], size)


def map_points(points: np.ndarray, src: np.ndarray, dst: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """(n, 2) positions `points` in the source mesh (`src` landmarks) carried to the destination mesh
    (`dst`), through the nearest (in depth) source triangle containing each, or, outside the mesh, the
    affine map of the triangle with the closest centroid."""
    s, d = np.asarray(src, np.float64)[triangles], np.asarray(dst, np.float64)[triangles]
    e1, e2 = s[:, 1, :2] - s[:, 0, :2], s[:, 2, :2] - s[:, 0, :2]
    cross = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]
    ok = np.abs(cross) > 1e-9
    out = []
    for p in np.asarray(points, np.float64)[:, :2]:
        dx, dy = p[0] - s[:, 0, 0], p[1] - s[:, 0, 1]
        safe = np.where(ok, cross, 1.0)
        l1 = (dx * e2[:, 1] - dy * e2[:, 0]) / safe
        l2 = (e1[:, 0] * dy - e1[:, 1] * dx) / safe
        l0 = 1 - l1 - l2
        inside = ok & (l0 >= 0) & (l1 >= 0) & (l2 >= 0)
        if inside.any():
            cand = np.flatnonzero(inside)
            i = cand[np.argmin(s[cand, :, 2].mean(axis=1))]
        else:
            dist = np.where(ok, np.linalg.norm(s[:, :, :2].mean(axis=1) - p, axis=1), np.inf)
            i = int(np.argmin(dist))
        out.append(l0[i] * d[i, 0, :2] + l1[i] * d[i, 1, :2] + l2[i] * d[i, 2, :2])
    return np.array(out)


# ------------------------------------------------------------------------------------------ mesh parts


@functools.lru_cache(maxsize=1)
def mesh_triangles() -> np.ndarray:
    """The canonical mesh's triangles (898, 3)."""
    return canonical_mesh().triangles


@functools.lru_cache(maxsize=1)
def part_triangles() -> dict[str, np.ndarray]:
    """bool (898,) per part: the triangles spanning the mouth opening and each eye opening (all three
    vertices on the part's contour), which a donor other than the texture may have to fill."""
    tri = mesh_triangles()
    return {name: np.all(np.isin(tri, REGION_CONTOURS[contour]), axis=1)
            for name, contour in (("mouth", "lips_inner"), ("right_eye", "right_eye"), ("left_eye", "left_eye"))}


@functools.lru_cache(maxsize=1)
def mirror_pairs() -> np.ndarray:
    """(468,) index of each mesh vertex's mirror partner across the face's midline (itself on the midline):
    the canonical mesh is symmetric about x = 0, so the partner is the nearest vertex to (-x, y, z)."""
    v = canonical_mesh().vertices
    mirrored = v * np.array([-1.0, 1.0, 1.0])
    return np.argmin(np.linalg.norm(mirrored[:, None] - v[None], axis=-1), axis=1)


def openness(landmarks: np.ndarray, contour: str) -> float:
    """Area of a closed contour over its squared width: ~0 for a closed mouth or eye. Measured in the
    canonical head frame: in the image a turned face's eye is foreshortened in width, not height, and
    would read as far more open than the same eye seen from the front."""
    pts = canonical_landmarks(landmarks)[list(REGION_CONTOURS[contour]), :2]
    width = float(np.ptp(pts[:, 0])) or 1.0
    return float(cv2.contourArea(pts.astype(np.float32))) / width**2


def same_part(a: np.ndarray, b: np.ndarray, contour: str) -> bool:
    """True when two landmark sets draw a part in the same place (within SAME_PART_PX on average)."""
    ids = list(REGION_CONTOURS[contour])
    return float(np.linalg.norm(a[ids, :2] - b[ids, :2], axis=1).mean()) < SAME_PART_PX


# ------------------------------------------------------------------------------------------ occluders


def _disc(radius: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def glasses(crop: np.ndarray, landmarks: np.ndarray, masks: dict[str, np.ndarray]) -> np.ndarray:
    """bool (512, 512): the frames of glasses, when FORD's occluder mask says there are some.

    The occluder mask rejects non-skin colours but never looks near the eyes and brows, and light frames
    (tortoiseshell, amber) have nearly a skin hue: it finds the ends of the frames only. Around the eyes
    the frames are thin and darker than the skin on both sides, which a morphological black-hat of the
    lightness finds whatever their hue; long pieces are kept (frames run across the face), pieces lying
    mostly on a brow are not. Only when the occluder mask already reaches into the eye band: eyelid creases
    and wrinkles pass the same test on faces without glasses."""
    band = np.zeros((CROP_SIZE, CROP_SIZE), np.uint8)
    widths = []
    for name, (a, b, _, _) in (("right_eye", RIGHT_EYE), ("left_eye", LEFT_EYE)):
        w = float(np.linalg.norm(landmarks[a, :2] - landmarks[b, :2]))
        c = landmarks[list(REGION_CONTOURS[name]), :2].mean(axis=0) + [0.0, GLASSES_BAND[2] * w]
        cv2.ellipse(band, (int(round(c[0])), int(round(c[1]))),
                    (int(GLASSES_BAND[0] * w), int(GLASSES_BAND[1] * w)), 0, 0, 360, 1, -1)
        widths.append(w)
    w = float(np.mean(widths))
    band = band.astype(bool) & ~dilate(masks["eyes"], 3)
    if (masks["occluder"] & band).sum() < 0.05 * w * w:
        return np.zeros((CROP_SIZE, CROP_SIZE), bool)
    lab = cv2.cvtColor(crop, cv2.COLOR_RGB2Lab)
    contrast = cv2.morphologyEx(lab[..., 0], cv2.MORPH_BLACKHAT, _disc(5))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(((contrast > RIM_CONTRAST) & band).astype(np.uint8),
                                                           connectivity=8)
    on_brow = np.bincount(labels[masks["brows"]], minlength=n)[1:]
    long = np.maximum(stats[1:, cv2.CC_STAT_WIDTH], stats[1:, cv2.CC_STAT_HEIGHT]) >= RIM_LENGTH * w
    rims = np.isin(labels, np.flatnonzero(long & (on_brow < 0.5 * stats[1:, cv2.CC_STAT_AREA])) + 1)
    # hysteresis: fainter stretches of the same frames, and the highlights glinting on them
    near = dilate(rims, 4) & band
    chroma = np.hypot(lab[..., 1].astype(np.float32) - 128, lab[..., 2].astype(np.float32) - 128)
    skin_light = float(np.percentile(lab[..., 0][masks["skin"]], 90)) if masks["skin"].any() else 255.0
    weak = (contrast > 0.7 * RIM_CONTRAST) | ((lab[..., 0] > skin_light) & (chroma < 12))
    _, labels = cv2.connectedComponents((weak & near | rims).astype(np.uint8), connectivity=8)
    hit = np.unique(labels[rims])
    frames = np.isin(labels, hit[hit > 0])
    # the occluder blobs reaching into the band are the frames' ends and temples
    _, labels = cv2.connectedComponents(masks["occluder"].astype(np.uint8), connectivity=8)
    hit = np.unique(labels[masks["occluder"] & band])
    return frames | np.isin(labels, hit[hit > 0])


def bangs(crop: np.ndarray, landmarks: np.ndarray, masks: dict[str, np.ndarray]) -> np.ndarray:
    """bool (512, 512): hair hanging into the face oval from above, which FORD's hair mask may leave to the
    face (its GrabCut stops at the oval's forehead band when hair and skin colours overlap): pixels of the
    oval above the brows that this face's skin-colour model rejects and that are darker than its skin (a
    lit forehead is often paler or shinier than the cheeks the model saw, never darker by that much), in
    blobs reaching the oval's top. Blond bangs as light as the skin are missed."""
    lm = np.asarray(landmarks, np.float64)
    parts = dilate(masks["eyes"] | masks["brows"] | masks["lips"] | masks["mouth_interior"], 7)
    skin = SkinColour.fit(crop, lm, parts)
    brow_top = lm[list(REGION_CONTOURS["right_eyebrow"] + REGION_CONTOURS["left_eyebrow"]), 1].min()
    band = masks["face_oval"].copy()
    band[int(np.ceil(brow_top)):] = False
    if skin is None or not band.any():
        return np.zeros((CROP_SIZE, CROP_SIZE), bool)
    lightness = cv2.cvtColor(crop, cv2.COLOR_RGB2Lab)[..., 0].astype(np.float32)
    odd = (skin.colour_distance(crop) > SKIN_COLOUR_CHI2) & (lightness < skin.colour_mean[0] - BANGS_DARKER) & band
    odd = cv2.morphologyEx(odd.astype(np.uint8), cv2.MORPH_OPEN, _disc(2))
    top = band & ~erode(band, 4)
    top[int(lm[10, 1]) + 20:] = False  # the band's upper rim, not its sides
    _, labels = cv2.connectedComponents(odd, connectivity=8)
    hit = np.unique(labels[top & (odd > 0)])
    return np.isin(labels, hit[hit > 0])


def rim_shadows(occluder: np.ndarray, oval: np.ndarray) -> np.ndarray:
    """bool (512, 512): the occluder mask's blobs that never reach more than RIM_SHADOW_PX inside the face
    oval: the shadow under a jaw or beside a cheek, which the occluder test (not skin-coloured) takes for
    an object. Kept in front of a swapped face, the target's jaw shadow drew a dark line across the new
    chin; a hand or microphone reaches further in."""
    n, labels = cv2.connectedComponents(occluder.astype(np.uint8), connectivity=8)
    if n <= 1:
        return np.zeros_like(occluder, bool)
    deep = np.unique(labels[occluder & erode(oval, RIM_SHADOW_PX)])
    return occluder & ~np.isin(labels, deep[deep > 0])


@dataclass(frozen=True)
class Cover:
    """What lies over a face in its crop: `glasses` (frames), other `objects` (FORD's occluder mask: hands,
    microphones) and `hair` over the oval (FORD's hair there, and bangs)."""

    glasses: np.ndarray
    objects: np.ndarray
    hair: np.ndarray

    @classmethod
    def of(cls, crop: np.ndarray, landmarks: np.ndarray, masks: dict[str, np.ndarray],
           outline_shadows: bool = True) -> Cover:
        """`outline_shadows`: whether the occluder blobs along the oval's rim (rim_shadows) count: on a
        texture they are filled like any cover, harmless; in front of a canvas face they would stay."""
        frames = glasses(crop, landmarks, masks)
        objects = masks["occluder"] & ~frames
        if not outline_shadows:
            objects &= ~rim_shadows(masks["occluder"], masks["face_oval"])
        return cls(frames, objects,
                   (masks["hair"] & masks["face_oval"]) | bangs(crop, landmarks, masks))

    def over(self, with_glasses: bool, with_hair: bool = True) -> np.ndarray:
        """bool (512, 512): the objects, and the glasses and hair if asked for."""
        out = self.objects.copy()
        if with_glasses:
            out |= self.glasses
        if with_hair:
            out |= self.hair
        return out


def clean_texture(crop: np.ndarray, hide: np.ndarray, masks: dict[str, np.ndarray]) -> np.ndarray:
    """The texture crop with what covers its face (`hide`) filled from the skin around it, in texture space
    before any warp, so a donor's hands (or glasses, in a swap) never reach the result. The fill draws on
    skin only: eyes, lashes and brows next to a frame would darken it.

    A smooth fill reads as a smudge next to skin with pores and wrinkles, so the fill gets the fine detail
    (the image minus its blur) of the skin DETAIL_SHIFT px below, or above, where that is visible skin."""
    hole = dilate(hide, 2)
    if not hole.any():
        return crop
    known = ~dilate(masks["eyes"] | masks["brows"], 2) & ~hole
    filled = fill_holes(crop, hole, known).astype(np.float32)
    img = crop.astype(np.float32)
    detail = img - cv2.GaussianBlur(img, (0, 0), 1.5)
    source = masks["skin"] & ~hole
    grain = np.zeros_like(detail)
    todo = hole.copy()
    for shift in (DETAIL_SHIFT, -DETAIL_SHIFT, 2 * DETAIL_SHIFT):
        ok = todo & np.roll(source, -shift, axis=0)
        grain[ok] = np.roll(detail, -shift, axis=0)[ok]
        todo &= ~ok
    return np.clip(filled + grain + 0.5, 0, 255).astype(np.uint8)


def rim_debris(mesh: np.ndarray, masks: dict[str, np.ndarray]) -> np.ndarray:
    """bool (512, 512): what the rim of a texture's mesh (`mesh`, its silhouette) lays over that is not
    skin: sideburns, an ear, the background past a jaw the landmarker placed a little wide. The rim is seen
    at a grazing angle, so a turn toward it stretches those few pixels across a whole cheek as streaks."""
    depth = cv2.distanceTransform(mesh.astype(np.uint8), cv2.DIST_L2, 5)
    rim = mesh & (depth < RIM_BAND * np.sqrt(mesh.sum() / np.pi))
    parts = dilate(masks["eyes"] | masks["brows"] | masks["lips"] | masks["mouth_interior"], 5)
    return rim & ~masks["skin"] & ~parts


def changes_identity(a: AssembledFace) -> bool:
    """Whether the face put on the canvas is someone else's (tasks/table.py). Glasses go with the identity:
    then the donor's are not carried and the canvas's are not kept (they belong to the face being replaced);
    otherwise a face keeps its own glasses."""
    return a.changes_identity


# ---------------------------------------------------------------------------------------------- gaze


def iris_target(landmarks: np.ndarray, eye: tuple, yaw: float, pitch: float) -> np.ndarray:
    """(2,) crop px where the iris centre of `eye` (ford.gaze.RIGHT_EYE/LEFT_EYE) sits at the given gaze,
    by ford.gaze's eyeball model read backwards in the face's canonical head frame."""
    mesh = canonical_mesh()
    p = np.asarray(landmarks, np.float64) * np.array([1.0, -1.0, -1.0])
    s, r, t = similarity_3d(p[mesh.procrustes_ids], mesh.vertices[mesh.procrustes_ids], mesh.procrustes_weights)
    c = s * p @ r.T + t
    left, right, iris, contour = eye
    a, b = c[left, :2], c[right, :2]
    width = float(np.linalg.norm(b - a))
    ex = (b - a) / width
    ey = np.array([-ex[1], ex[0]])
    mean = c[list(contour), :2].mean(axis=0)
    y, pt = np.radians(yaw), np.radians(pitch)
    h = EYEBALL_RADIUS * np.sin(y) * np.cos(pt)
    v = EYEBALL_RADIUS * np.sin(pt) + IRIS_HEIGHT_AT_REST
    centre = mean + h * width * ex + (v * width - (mean - (a + b) / 2) @ ey) * ey
    q = np.array([centre[0], centre[1], c[iris, 2]])
    back = (q - t) @ r / s
    return back[:2] * np.array([1.0, -1.0])


def move_iris(img: np.ndarray, eye_mask: np.ndarray, centre: np.ndarray, radius: float,
              target: np.ndarray) -> np.ndarray:
    """`img` (float32 RGB) with the iris disc at `centre` moved to `target` inside `eye_mask` (the eye
    opening): the disc is completed where the lids hid it (for a vertical move), then the opening's content
    slides: the iris rigidly, the sclera beside it stretched or narrowed toward the corners, which stay,
    and the lids clip it again. The target is kept inside the opening's width."""
    if radius < 1.0 or not eye_mask.any():
        return img
    ys, xs = np.nonzero(eye_mask)
    lo, hi = xs.min() + 0.6 * radius, max(xs.max() - 0.6 * radius, xs.min() + 0.6 * radius)
    target = np.array([np.clip(target[0], lo, hi), target[1]])
    shift = target - centre
    if float(np.hypot(*shift)) < 0.3:
        return img
    # work in the eye's neighbourhood only
    pad = int(np.ceil(1.2 * radius + np.abs(shift).max())) + 2
    y0, y1 = max(0, min(ys.min(), int(centre[1])) - pad), min(CROP_SIZE, max(ys.max(), int(centre[1])) + pad + 1)
    x0, x1 = max(0, min(xs.min(), int(centre[0])) - pad), min(CROP_SIZE, max(xs.max(), int(centre[0])) + pad + 1)
    roi, opening = img[y0:y1, x0:x1], eye_mask[y0:y1, x0:x1]
    c, t = centre - [x0, y0], target - [x0, y0]
    yy, xx = np.mgrid[: y1 - y0, : x1 - x0].astype(np.float32)
    old = np.hypot(xx - c[0], yy - c[1]) <= radius * 1.1
    visible = old & opening
    if visible.sum() < 4:
        return img
    # complete the disc under the lids with the iris's own colour, then shift it
    iris = roi.copy()
    iris[old & ~opening] = np.median(roi[visible], axis=0)
    # the eye's content slides along the opening: the iris moves rigidly, the sclera on either side of it
    # stretches or narrows toward the corners, which stay; no flat fill where the iris was
    span = radius * IRIS_OLD_DISC
    left, right = xs.min() - x0 - 1.0, xs.max() - x0 + 1.0
    room = 2.0 * float(np.abs(shift).max()) + 1.0  # a ramp never steeper than 1/2 px per px: no fold
    w = np.where(xx < t[0], (xx - left) / max(t[0] - span - left, room),
                 (right - xx) / max(right - t[0] - span, room))
    w = np.clip(w, 0.0, 1.0).astype(np.float32)
    moved = cv2.remap(iris, xx - w * np.float32(shift[0]), yy - w * np.float32(shift[1]), cv2.INTER_LINEAR,
                      borderMode=cv2.BORDER_REFLECT)
    # the lid margins inside the opening's polygon stay: moved, they would drag the lids' line with the iris
    lids = feather(erode(opening, IRIS_LID_PX), 0.7)[..., None]
    result = img.copy()
    result[y0:y1, x0:x1] = roi + lids * (moved - roi)
    return result


# ------------------------------------------------------------------------------------------ renderer


class GeometricRenderer:
    """Mesh warp + SH relighting + region blending of the identity texture (module docstring)."""

    name = "geometric"
    tasks = TASKS

    def render(self, assembled: AssembledFace, track_state: TrackState) -> tuple[np.ndarray, np.ndarray]:
        """(crop uint8 (512, 512, 3), alpha float32 (512, 512)): the canvas crop with the edited face in it
        and where it differs from the canvas (0 = the canvas pixel, exactly)."""
        if assembled.task.draws == "mask":
            return render_inpaint(assembled)
        if assembled.task.draws == "hair":
            return render_hair(assembled)
        return render_face(assembled, track_state)


def _srgb_float(rgb: np.ndarray) -> np.ndarray:
    return rgb.astype(np.float32) / 255.0


def _to_uint8(img: np.ndarray) -> np.ndarray:
    return np.clip(img * 255.0 + 0.5, 0, 255).astype(np.uint8)


def _remap(img: np.ndarray, xy: np.ndarray, raster: Raster, interp: int = cv2.INTER_LINEAR) -> np.ndarray:
    """Sample `img` at per-pixel source positions `xy` (n, 2) of the raster's pixels: (size, size, c)."""
    maps = raster.image(xy, -1.0)
    return cv2.remap(img, maps[..., 0], maps[..., 1], interp, borderMode=cv2.BORDER_REPLICATE)


@dataclass(frozen=True)
class Sampling:
    """Where each destination pixel samples the texture: texture-crop positions `xy` (n, 2), the shading
    the texture's light gives the point there (`shading`, n, see `shading`), whether the texture shows that
    point (`seen`, n) and its resolution (`detail`, n: texture area per destination area, < 1 stretched)."""

    xy: np.ndarray
    shading: np.ndarray
    seen: np.ndarray
    detail: np.ndarray


def texture_sampling(raster: Raster, texture_landmarks: np.ndarray, texture_lighting: np.ndarray, shown: Raster,
                     vertices: np.ndarray, dst: np.ndarray) -> Sampling:
    """Sample the texture at mesh vertex `vertices[i]` for destination vertex i: `np.arange(468)` for the
    plain warp, `mirror_pairs()` for the mirror image. `shown` is the texture's own raster (its z-buffer
    says which points it shows), `dst` the destination landmarks."""
    tri = mesh_triangles()
    src = np.asarray(texture_landmarks, np.float64)[:NUM_MESH_VERTICES][vertices]
    xy = raster.interpolate(src[:, :2], tri)
    lit = shading(raster, vertex_normals(texture_landmarks)[vertices], texture_lighting)
    seen = shown.seen(xy, raster.interpolate(src[:, 2:], tri)[:, 0])
    # per vertex (the mean over its triangles), interpolated: a per-triangle value would switch texture
    # sources triangle by triangle, a patchwork
    ratio = _area(src, tri) / np.maximum(_area(dst, tri), 1e-6)
    total, count = np.zeros(NUM_MESH_VERTICES), np.zeros(NUM_MESH_VERTICES)
    for k in range(3):
        np.add.at(total, tri[:, k], ratio)
        np.add.at(count, tri[:, k], 1.0)
    detail = raster.interpolate((total / np.maximum(count, 1))[:, None], tri)[:, 0]
    return Sampling(xy, lit, seen, detail)


def _area(points: np.ndarray, tri: np.ndarray) -> np.ndarray:
    """(t,) absolute image-plane area of each triangle (times 2)."""
    v = np.asarray(points, np.float64)[tri][:, :, :2]
    e1, e2 = v[:, 1] - v[:, 0], v[:, 2] - v[:, 0]
    return np.abs(e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0])


def mirror_weight(direct: Sampling, mirror: Sampling, in_part: np.ndarray) -> np.ndarray:
    """(n,) how much of each pixel to take from the mirror image: all of it where the texture hides the
    point and shows its partner; a smooth share where the texture shows the point much more foreshortened
    than its partner (the far cheek of a head turned 30 degrees: a few texture pixels stretched over many),
    none in the eyes and mouth, whose mirror would swap gaze and asymmetric expressions."""
    ratio = direct.detail / np.maximum(mirror.detail, 1e-6)
    w = np.clip((MIRROR_DETAIL[1] - ratio) / (MIRROR_DETAIL[1] - MIRROR_DETAIL[0]), 0.0, 1.0)
    w = np.where(direct.seen, w * ~in_part, 1.0)
    return w * mirror.seen


def shading(raster: Raster, normals: np.ndarray, sh: np.ndarray) -> np.ndarray:
    """(n,) luminance of the SH shading of each covered pixel, over its mean on the face, floored at 0.2
    (grazing normals extrapolate the fit to nonsense). Evaluated at the vertex normals (468, 3) and
    interpolated: SH shading is smooth, and 468 evaluations cost nothing next to one per pixel."""
    y = shade(normals, sh) @ np.array([0.2126, 0.7152, 0.0722])
    y = raster.interpolate(y[:, None], mesh_triangles())[:, 0]
    return np.maximum(y / max(float(y.mean()), 1e-6), 0.2)


def relight(texture: np.ndarray, shading_src: np.ndarray, shading_dst: np.ndarray, detail: np.ndarray) -> np.ndarray:
    """(n, 3) float32 sRGB in [0, 1]: texture pixels (n, 3 uint8) times the ratio, in linear RGB, of their
    shading under the target light at the new normal to that under the texture's light at the old normal.

    The ratio is one of luminances, each divided by its mean over the face (`shading`): the SH coefficients
    fold in the skin's albedo, and a per-channel raw ratio would paint the canvas's skin colour over the
    texture (the colour step matches skin tone instead); a dim channel's fit (blue, on warm skin under warm
    light) also swings through zero, where a per-channel ratio explodes. Where the texture is stretched
    (`detail` under STRETCHED[0]) the ratio fades toward 1: it rests on a normal the texture saw at a grazing
    angle, where the SH fit is least sure (it brightened the far side of a turned donor's nose, already lit
    by a highlight, drawn across a frontal face)."""
    lin = _LINEAR[texture]
    # no channel may pass white: clipping one channel of a brightened pixel would shift its hue
    trust = np.clip(detail / STRETCHED[0], 0.0, 1.0)
    ratio = np.clip(shading_dst / shading_src, *SHADING_RATIO) ** trust
    ratio = np.minimum(ratio, 1.0 / np.maximum(lin.max(axis=1), 1e-3))[:, None]
    return linear_to_srgb(lin * ratio).astype(np.float32) / 255.0


@dataclass(frozen=True)
class Texture:
    """The texture side of a render, which a track's still source repeats every frame: what covers the
    face (`cover`), what of it is filled (`hidden`), the filled crop and the texture mesh's raster."""

    key: bytes
    cover: Cover
    hidden: np.ndarray
    crop: np.ndarray
    raster: Raster


def prepared_texture(a: AssembledFace, other_identity: bool, hide_hair: bool, state: TrackState) -> Texture:
    """The texture's Texture, from the track's state when it is the same texture as the last frame's (a
    source photo in a swap or reenactment: ~50 ms saved per frame)."""
    h = hashlib.blake2b(digest_size=16)
    for part in (a.texture_landmarks, a.texture_crop[::4, ::4], np.array([other_identity, hide_hair])):
        h.update(np.ascontiguousarray(part).tobytes())
    key = h.digest()
    cached = state.data.get(TEXTURE_KEY)
    if cached is not None and cached.key == key:
        return cached
    cover = Cover.of(a.texture_crop, a.texture_landmarks, a.texture_masks)
    raster = rasterise(a.texture_landmarks[:NUM_MESH_VERTICES], mesh_triangles())
    hidden = cover.over(with_glasses=other_identity, with_hair=hide_hair) | rim_debris(raster.mask(), a.texture_masks)
    tex = Texture(key, cover, hidden, clean_texture(a.texture_crop, hidden, a.texture_masks), raster)
    state.data[TEXTURE_KEY] = tex
    return tex


@dataclass(frozen=True)
class Openings:
    """Who fills the mouth and eye openings of the assembled face: `donor` per triangle (TEXTURE, CANVAS:
    warped from the canvas, KEPT: the canvas as it is, alpha 0, CAVITY: a dark mouth), and the `kept` and
    `cavity` openings as masks."""

    donor: np.ndarray
    kept: np.ndarray
    cavity: np.ndarray


TEXTURE, CANVAS, KEPT, CAVITY = range(4)


def plan_openings(a: AssembledFace) -> Openings:
    """The mouth is the canvas's own when the assembled mouth is where the canvas has it (the expression is
    the canvas's: its teeth stay). An opening the texture shows open enough is the texture's; else one the
    canvas shows open is warped from the canvas; else a mouth is a dark cavity (an eye stays the texture's,
    stretched: lids squeezed shut look less wrong than a painted eye)."""
    dst = np.asarray(a.landmarks, np.float64)
    parts = part_triangles()
    donor = np.full(len(mesh_triangles()), TEXTURE, np.int8)
    kept = np.zeros((CROP_SIZE, CROP_SIZE), bool)
    cavity = np.zeros((CROP_SIZE, CROP_SIZE), bool)
    for name, contour in (("mouth", "lips_inner"), ("right_eye", "right_eye"), ("left_eye", "left_eye")):
        want = openness(dst, contour)
        opening = polygon_mask(dst[list(REGION_CONTOURS[contour])])
        if name == "mouth" and want >= CLOSED and same_part(dst, a.canvas_landmarks, contour):
            donor[parts[name]] = KEPT
            kept |= opening
        elif want < CLOSED or openness(a.texture_landmarks, contour) >= DONOR_OPENNESS * want:
            continue
        elif openness(a.canvas_landmarks, contour) >= DONOR_OPENNESS * want:
            donor[parts[name]] = CANVAS
        elif name == "mouth":
            donor[parts[name]] = CAVITY
            cavity |= opening
    return Openings(donor, kept, cavity)


@dataclass(frozen=True)
class Warped:
    """Steps 1-2's result: the relit pixels `lit` (n, 3 float sRGB), which pixels the texture shows at all
    (`seen`, n), where they are texture skin (`skin`, n), the texture's hidden hair warped (`hidden_hair`,
    512 x 512 float) and the eyes drawn from their mirror partner (`mirrored_eyes`, names)."""

    lit: np.ndarray
    seen: np.ndarray
    skin: np.ndarray
    hidden_hair: np.ndarray
    mirrored_eyes: frozenset[str]


def warp_face(a: AssembledFace, raster: Raster, tex: Texture, hide_hair: bool) -> Warped:
    """Steps 1-2: the texture warped to the raster's pixels, with the mirror image where the texture hides
    a point or shows it badly foreshortened, and relit. An eye opening takes its mirror whole or not at all
    (a patchwork of two eyes is no eye): whole when most of it would take the mirror (the far eye of a head
    turned ~50 degrees, a sliver beside the nose)."""
    dst = np.asarray(a.landmarks, np.float64)
    direct = texture_sampling(raster, a.texture_landmarks, a.texture_lighting, tex.raster,
                              np.arange(NUM_MESH_VERTICES), dst)
    mirror = texture_sampling(raster, a.texture_landmarks, a.texture_lighting, tex.raster, mirror_pairs(), dst)
    parts = part_triangles()
    in_part = np.any(list(parts.values()), axis=0)[raster.tri]
    w_mirror = mirror_weight(direct, mirror, in_part)
    free = mirror_weight(direct, mirror, np.zeros_like(in_part))
    eyes = {name: parts[name][raster.tri] for name in ("right_eye", "left_eye")}
    mirrored_eyes = frozenset(name for name, eye in eyes.items() if eye.any() and free[eye].mean() >= 0.5)
    for name in mirrored_eyes:
        w_mirror[eyes[name]] = mirror.seen[eyes[name]]
    if w_mirror.any():  # soften the switch between the two sources over a few pixels
        smooth = feather(raster.image(w_mirror[:, None], 0.0)[..., 0], 4.0).reshape(-1)[raster.pix]
        w_mirror = np.where(direct.seen, np.minimum(smooth, mirror.seen), w_mirror)
    hair = (tex.cover.hair & hide_hair).astype(np.float32)
    skin_map = (a.texture_masks["skin"] & ~dilate(tex.hidden | tex.cover.glasses, 3)).astype(np.uint8)
    skin = _remap(skin_map, direct.xy, raster, cv2.INTER_NEAREST).reshape(-1)[raster.pix] > 0
    hidden_hair = _remap(hair, direct.xy, raster)
    lit_dst = shading(raster, vertex_normals(dst), a.lighting)
    lit = relight(_remap(tex.crop, direct.xy, raster).reshape(-1, 3)[raster.pix], direct.shading, lit_dst,
                  direct.detail)
    use = w_mirror > 0
    if use.any():
        mirrored = relight(_remap(tex.crop, mirror.xy, raster).reshape(-1, 3)[raster.pix[use]],
                           mirror.shading[use], lit_dst[use], mirror.detail[use])
        lit[use] += w_mirror[use, None] * (mirrored - lit[use])
        hidden_hair = np.maximum(hidden_hair, _remap(hair, mirror.xy, raster))
        # skin is where the pixel's colour comes from: on the mirrored half, its partner's
        mirrored_skin = _remap(skin_map, mirror.xy, raster, cv2.INTER_NEAREST).reshape(-1)[raster.pix] > 0
        skin = np.where(w_mirror > 0.5, mirrored_skin, skin)
    detail = direct.detail + w_mirror * (mirror.detail - direct.detail)
    detail[in_part] = np.inf  # an eye or mouth is drawn sharp, stretched or not: blurred, it is no eye
    return Warped(soften_stretched(lit, detail, raster), direct.seen | use, skin, hidden_hair, mirrored_eyes)


def soften_stretched(lit: np.ndarray, detail: np.ndarray, raster: Raster) -> np.ndarray:
    """Relit pixels (n, 3) blurred where the texture is stretched (`detail` under STRETCHED[0]), fully at
    STRETCHED[1]: a few texture pixels drawn across many carry no detail, only their gradient, which the
    stretch draws out into streaks (the cheek a frontal donor shows at a grazing angle, on a turned face)."""
    weight = np.clip((STRETCHED[0] - detail) / (STRETCHED[0] - STRETCHED[1]), 0.0, 1.0)
    if not weight.any():
        return lit
    img = raster.image(lit, 0.0)
    inside = cv2.GaussianBlur(raster.mask().astype(np.float32), (0, 0), STRETCH_BLUR)[..., None]
    blurred = cv2.GaussianBlur(img, (0, 0), STRETCH_BLUR) / np.maximum(inside, 1e-3)
    smooth = blurred.reshape(-1, 3)[raster.pix]
    return lit + weight[:, None] * (smooth - lit)


def render_face(assembled: AssembledFace, state: TrackState) -> tuple[np.ndarray, np.ndarray]:
    """Every task that puts a (possibly new) face on the canvas: swap, headswap, reenact, edit, mix."""
    a = assembled
    dst = np.asarray(a.landmarks, np.float64)
    raster = rasterise(dst[:NUM_MESH_VERTICES], mesh_triangles())
    covered = raster.mask()
    canvas = _srgb_float(a.canvas_crop)
    other = changes_identity(a)
    moved = head_moved(a)
    # a donor's bangs give way to the canvas's forehead; a face that moves keeps its own, warped with it
    hide_hair = other or not moved
    tex = prepared_texture(a, other, hide_hair, state)
    canvas_cover = Cover.of(a.canvas_crop, a.canvas_landmarks, a.canvas_masks, outline_shadows=False)
    openings = plan_openings(a)
    pix_donor = openings.donor[raster.tri]

    # 1-2. warp and relight; colour: the warped skin matched to the canvas skin it lands on, smoothed
    # along the track
    warped = warp_face(a, raster, tex, hide_hair)
    lit, seen, skin, hidden_hair = warped.lit, warped.seen, warped.skin, warped.hidden_hair
    skin &= pix_donor == TEXTURE
    skin &= (a.canvas_masks["skin"] & ~dilate(canvas_cover.over(with_glasses=True), 3)).reshape(-1)[raster.pix]
    target = canvas.reshape(-1, 3)[raster.pix[skin]]
    transfer = match_statistics(lit[skin], target, max_chroma_gain=CHROMA_GAIN)
    transfer = transfer.smoothed(state.data.get(STATE_KEY), COLOUR_KEEP)
    state.data[STATE_KEY] = transfer
    textured = pix_donor == TEXTURE
    lit[textured] = transfer.apply(lit[textured])
    face: np.ndarray = canvas.reshape(-1, 3).copy()  # (CROP_SIZE * CROP_SIZE, 3), then (CROP_SIZE, CROP_SIZE, 3)
    face[raster.pix] = lit
    if textured.any():  # the canvas's light layout, which the SH ratio only approximates
        shaded = match_shading(face.reshape(CROP_SIZE, CROP_SIZE, 3), canvas, raster.mask(skin),
                               SHADING_SIGMA * CROP_SIZE)
        face[raster.pix[textured]] = shaded.reshape(-1, 3)[raster.pix[textured]]

    # 3. openings from the canvas, or a cavity; what neither side of the texture shows, from around it
    from_canvas = pix_donor == CANVAS
    if from_canvas.any():
        cxy = raster.interpolate(a.canvas_landmarks[:NUM_MESH_VERTICES, :2], mesh_triangles())
        face[raster.pix[from_canvas]] = _remap(canvas, cxy, raster).reshape(-1, 3)[raster.pix[from_canvas]]
    face = face.reshape(CROP_SIZE, CROP_SIZE, 3)
    if openings.cavity.any():
        face = mouth_cavity(face, openings.cavity)
    unseen = raster.mask(~seen)
    if unseen.any():
        face = fill_holes(face, unseen, covered & ~unseen)

    # 4. gaze: move each iris to where the assembled gaze puts it
    face = apply_gaze(face, a, openings.donor, warped.mirrored_eyes)

    # 5. blend
    return blend_face(a, face, covered, hidden_hair, openings.kept, canvas_cover, other, moved)


def blend_face(a: AssembledFace, face: np.ndarray, covered: np.ndarray, hidden_hair: np.ndarray,
               kept: np.ndarray, canvas_cover: Cover, other: bool, moved: bool) -> tuple[np.ndarray, np.ndarray]:
    """Step 5: the rendered face (float RGB) blended into the canvas over the assembled face (plus, for
    a moved head, the canvas head around it warped along with the face, and the carried head of a headswap),
    minus what covers the canvas face and the openings it keeps; returns the crop and its alpha."""
    canvas = _srgb_float(a.canvas_crop)
    # the mesh's silhouette, not its oval contour: on a face turned past ~30 degrees the nose, lips and chin
    # stand out beyond the far cheek's contour, and left to the canvas they keep its profile and identity
    weight = feather(erode(covered, OVAL_MARGIN), OVAL_MARGIN / 2) * (1 - feather(dilate(hidden_hair > 0.05, 3), 3.0))
    new = covered
    if moved:  # the head around the face (outline, hair, ears, neck) moves with it, fading into the scene
        layer, reach = head_warp(a)
        face = weight[..., None] * face + (1 - weight[..., None]) * layer
        weight = np.maximum(weight, reach)
        new = new | (reach > 0.5)
    if a.hair == "texture":
        layer, head = carry_head(a)
        face = weight[..., None] * face + (1 - weight[..., None]) * layer
        weight = np.maximum(weight, head)
        new = new | (head > 0.5)
    front = kept.copy()
    if not moved:  # what covers the canvas face stays in front of it (not the hair a headswap replaces)
        front |= canvas_cover.over(with_glasses=not other, with_hair=a.hair != "texture")
    weight *= 1 - feather(dilate(front, 3), 1.0)
    base = canvas
    gap = np.zeros((CROP_SIZE, CROP_SIZE), bool)
    if a.hair == "texture":  # the canvas's hair the carried head does not cover: filled from around it
        base, gap = bald_canvas(a, dilate(new, 2))
    # what the weight leaves to the canvas is the canvas in every band: no low-frequency bleed of filled
    # texture (glasses, bangs) under the canvas's own occluders
    face = np.where(weight[..., None] > 1e-3, face, base)
    out = laplacian_blend(face, base, weight, levels=5)
    alpha = np.maximum(np.clip(feather(weight, 6.0) * 2.0, 0, 1), feather(dilate(gap, 3), 2.0))
    if moved:  # the warped head reaches its own edge: it already meets the canvas there, no feather needed
        alpha = np.maximum(alpha, reach)
    inner = erode(front, 1)
    alpha[inner] = np.minimum(alpha[inner], weight[inner])
    alpha[erode(front, 2)] = 0.0
    return _to_uint8(canvas + alpha[..., None] * (out - canvas)), alpha.astype(np.float32)


def head_warp(a: AssembledFace) -> tuple[np.ndarray, np.ndarray]:
    """The canvas warped so that its whole head follows the assembled face: inside the mesh each pixel
    samples the canvas where the canvas's mesh has the same point; outside it the displacement of the
    mesh's rim is carried outward (a push-pull extension: each pixel takes the rim's displacement averaged
    at the scale of its distance to it, so the hair and ears beside a cheek move as that cheek does) and
    fades smoothly to zero at HEAD_REACH of the oval's radius, where the warp meets the untouched scene.
    A head that turns thus carries its outline, hair and ears with it, and no old head is left to fill.
    Returns the warped canvas (float RGB) and the weight (alpha) of the area it changes."""
    tri = mesh_triangles()
    dst = np.asarray(a.landmarks, np.float64)[:NUM_MESH_VERTICES]
    raster = rasterise(dst, tri)
    covered = raster.mask()
    yy, xx = np.mgrid[:CROP_SIZE, :CROP_SIZE].astype(np.float32)
    src = raster.interpolate(np.asarray(a.canvas_landmarks, np.float64)[:NUM_MESH_VERTICES, :2], tri)
    disp: np.ndarray = np.zeros((CROP_SIZE * CROP_SIZE, 2), np.float32)  # flat, then (CROP_SIZE, CROP_SIZE, 2)
    disp[raster.pix] = src - np.stack([xx.reshape(-1)[raster.pix], yy.reshape(-1)[raster.pix]], axis=1)
    disp = disp.reshape(CROP_SIZE, CROP_SIZE, 2)
    # outside: the displacement of the nearest mesh pixel, smoothed (normalised blur over the outside and
    # the mesh's rim) so the medial lines where the nearest rim point jumps do not kink the hair
    outside = ~covered
    _, labels = cv2.distanceTransformWithLabels(outside.astype(np.uint8), cv2.DIST_L2, 5,
                                                labelType=cv2.DIST_LABEL_PIXEL)
    at = np.zeros(int(labels.max()) + 1, np.int64)
    at[labels[covered]] = np.flatnonzero(covered.reshape(-1))
    nearest = disp.reshape(-1, 2)[at[labels.reshape(-1)]].reshape(CROP_SIZE, CROP_SIZE, 2)
    zone = (outside | (covered & ~erode(covered, HEAD_RIM_PX))).astype(np.float32)
    smooth = cv2.GaussianBlur(nearest * zone[..., None], (0, 0), HEAD_SMOOTH_PX)
    extended = smooth / np.maximum(cv2.GaussianBlur(zone, (0, 0), HEAD_SMOOTH_PX), 1e-6)[..., None]
    # continuous at the rim: the smoothing phases in over the first HEAD_SMOOTH_PX outside the mesh
    dist0 = cv2.distanceTransform(outside.astype(np.uint8), cv2.DIST_L2, 5)
    k = np.clip(dist0 / HEAD_SMOOTH_PX, 0.0, 1.0)[..., None]
    extended = (1 - k) * nearest + k * extended
    radius = float(np.sqrt(covered.sum() / np.pi))
    reach_px = max(HEAD_REACH * radius, 1.0)
    t = np.clip(1.0 - dist0 / reach_px, 0.0, 1.0)
    border = np.minimum.reduce([xx, yy, CROP_SIZE - 1 - xx, CROP_SIZE - 1 - yy])
    t *= np.clip(border / HEAD_BORDER_PX, 0.0, 1.0)
    fade = t * t * (3 - 2 * t)
    # the head behind the face's rim lies deeper the further out it is (the cheek curves back to the ears,
    # the forehead to the crown): turned, a deeper point moves more, so the far side's band between face
    # and silhouette narrows and the near side's widens, as a real turn shows it
    ids = canonical_mesh().procrustes_ids
    scale, rot, _ = similarity_3d(np.asarray(a.canvas_landmarks, np.float64)[ids],
                                  np.asarray(a.landmarks, np.float64)[ids], canonical_mesh().procrustes_weights)
    per_depth = (rot.T @ [0.0, 0.0, 1.0])[:2] / scale
    depth = HEAD_DEPTH_SLOPE * np.minimum(dist0, HEAD_DEPTH_SPAN * radius)
    # where the rim moves outward (the cheek swinging out), the head's outline beside it stays: the band
    # between the rim and the outline (cheek edge, glasses temple, ear) is squeezed, not carried along,
    # or the whole strip shows up again beside the new rim as a second cheek
    normal: np.ndarray = np.stack([cv2.Sobel(dist0, cv2.CV_32F, 1, 0), cv2.Sobel(dist0, cv2.CV_32F, 0, 1)], axis=2)
    normal /= np.maximum(np.linalg.norm(normal, axis=2, keepdims=True), 1e-6)
    along = (extended * normal).sum(axis=2, keepdims=True)
    squeeze = np.clip(dist0 / (HEAD_DEPTH_SPAN * radius), 0.0, 1.0)[..., None] * (along < 0)
    extended = extended - squeeze * along * normal + (1 - squeeze) * depth[..., None] * per_depth
    extended = extended.astype(np.float32)
    field = np.where(covered[..., None], disp, extended * fade[..., None])
    canvas = _srgb_float(a.canvas_crop)
    layer = cv2.remap(canvas, xx + field[..., 0], yy + field[..., 1], cv2.INTER_LINEAR,
                      borderMode=cv2.BORDER_REPLICATE)
    # alpha: full where the warp moves anything visibly, ramping to 0 where its displacement does
    moving = np.clip(np.linalg.norm(field, axis=2) / HEAD_VISIBLE_PX, 0.0, 1.0)
    reach = np.maximum(moving, covered.astype(np.float32)) * (fade > 0)
    layer = np.where(reach[..., None] > 0, layer, canvas)
    return layer, reach.astype(np.float32)


def head_moved(a: AssembledFace) -> bool:
    """Whether the assembled head is turned away from the canvas's (reenact, a pose edit): then what covers
    the canvas face no longer lies on it, and the canvas head it leaves uncovered must go."""
    turn = landmark_rotation(a.landmarks) @ landmark_rotation(a.canvas_landmarks).T
    return float(np.degrees(np.arccos(np.clip((np.trace(turn) - 1) / 2, -1.0, 1.0)))) > MOVED_DEG


def mouth_cavity(face: np.ndarray, opening: np.ndarray) -> np.ndarray:
    """A dark mouth interior inside `opening`: a dark core, inpainted toward the lips around it."""
    img = _to_uint8(face)
    core = erode(opening, 2)
    img[core] = (40, 16, 18)
    ring = (opening & ~erode(opening, 3)).astype(np.uint8)
    img = cv2.inpaint(img, ring, 3, cv2.INPAINT_TELEA)
    return _srgb_float(img)


def apply_gaze(face: np.ndarray, a: AssembledFace, donor: np.ndarray, mirrored: frozenset[str]) -> np.ndarray:
    """Move each eye's iris from where its donor's warp put it (for an eye drawn from its `mirrored`
    partner: the partner's iris, mirrored) to the assembled gaze."""
    dst = np.asarray(a.landmarks, np.float64)
    tri = mesh_triangles()
    g = a.texture_gaze
    eyes = {"right_eye": (RIGHT_EYE, (g.right_yaw, g.right_pitch)), "left_eye": (LEFT_EYE, (g.left_yaw, g.left_pitch))}
    partner = {"right_eye": "left_eye", "left_eye": "right_eye"}
    for name, yaw, pitch in (("right_eye", a.gaze.right_yaw, a.gaze.right_pitch),
                             ("left_eye", a.gaze.left_yaw, a.gaze.left_pitch)):
        eye = eyes[name][0]
        from_canvas = (donor[part_triangles()[name]] == CANVAS).any()
        drawn = partner[name] if name in mirrored and not from_canvas else name
        source = a.canvas_landmarks if from_canvas else a.texture_landmarks
        mesh = source[:NUM_MESH_VERTICES]
        if drawn != name:  # the mirror warp: destination vertex i samples the texture at its partner's
            mesh = mesh[mirror_pairs()]
        ring = [eyes[drawn][0][2]] + list(REGION_CONTOURS[drawn.replace("eye", "iris")])
        mapped = map_points(source[ring], mesh, dst[:NUM_MESH_VERTICES], tri)
        radius = float(np.linalg.norm(mapped[1:] - mapped[0], axis=1).mean())
        target = iris_target(dst, eye, yaw, pitch)
        if not from_canvas:  # a gaze change is drawn IRIS_GAIN times over (see IRIS_GAIN)
            own_yaw, own_pitch = eyes[drawn][1]
            own = iris_target(dst, eye, own_yaw if drawn == name else -own_yaw, own_pitch)
            target = target + (IRIS_GAIN - 1.0) * (target - own)
        face = move_iris(face, polygon_mask(dst[list(REGION_CONTOURS[name])]), mapped[0], radius, target)
    return face


def _head_region(masks: dict[str, np.ndarray]) -> np.ndarray:
    """Face oval, hair and the forehead between them (holes filled): the head a headswap carries."""
    head = (masks["face_oval"] | masks["hair"]).astype(np.uint8)
    head = np.asarray(cv2.morphologyEx(head, cv2.MORPH_CLOSE, _disc(7)), np.uint8)  # uint8 in, uint8 out
    filled = head.copy()
    ff = np.zeros((CROP_SIZE + 2, CROP_SIZE + 2), np.uint8)
    cv2.floodFill(filled, ff, (0, 0), 1)
    return (head | (1 - filled)) > 0


def head_similarity(a: AssembledFace) -> np.ndarray:
    """2x3 similarity from the texture crop to the canvas crop, fitted on the rigid core of the face."""
    ids = canonical_mesh().procrustes_ids
    return similarity_transform(a.texture_landmarks[ids, :2], a.landmarks[ids, :2])


def carry_head(a: AssembledFace) -> tuple[np.ndarray, np.ndarray]:
    """The texture's head (hair and upper forehead) moved onto the assembled face by a similarity: the
    layer (float RGB) and its weight, for headswap and reenact, whose hair comes from the texture."""
    m = head_similarity(a)
    tex = cv2.warpAffine(a.texture_crop, m, (CROP_SIZE, CROP_SIZE), flags=cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_REPLICATE)
    head = cv2.warpAffine(_head_region(a.texture_masks).astype(np.uint8), m, (CROP_SIZE, CROP_SIZE),
                          flags=cv2.INTER_NEAREST) > 0
    return _srgb_float(tex), feather(erode(head, 2), 2.0)


def bald_canvas(a: AssembledFace, new_head: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The canvas (float RGB) with its hair where `new_head` does not cover it filled from the background
    around it, and that filled area: a donor's shorter hair must not leave the canvas's showing. The fill
    is smooth (push-pull), a plausible blur of wall or sky, never a scene it cannot see."""
    gap = dilate(a.canvas_masks["hair"], 3) & ~new_head & ~a.canvas_masks["face_oval"]
    canvas = _srgb_float(a.canvas_crop)
    if not gap.any():
        return canvas, gap
    known = a.canvas_masks["background"] & ~dilate(a.canvas_masks["hair"], 6)
    return fill_holes(canvas, gap, known), gap


def render_hair(a: AssembledFace) -> tuple[np.ndarray, np.ndarray]:
    """hairswap: the texture's hair, moved by a similarity, over the canvas, whose own hair beyond it is
    filled from the background; the canvas face untouched."""
    m = head_similarity(a)
    tex = cv2.warpAffine(a.texture_crop, m, (CROP_SIZE, CROP_SIZE), flags=cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_REPLICATE)
    hair = cv2.warpAffine(a.texture_masks["hair"].astype(np.uint8), m, (CROP_SIZE, CROP_SIZE),
                          flags=cv2.INTER_NEAREST) > 0
    keep = dilate(a.canvas_masks["face_oval"] & ~a.canvas_masks["hair"], 2)
    weight = feather(hair & ~keep, 2.0)
    weight[keep] = 0.0
    base, gap = bald_canvas(a, hair)
    out = laplacian_blend(_srgb_float(tex), base, weight, levels=4)
    alpha = np.maximum(np.clip(feather(weight, 4.0) * 2.0, 0, 1), feather(dilate(gap, 3), 2.0))
    alpha[keep] = 0.0
    canvas = _srgb_float(a.canvas_crop)
    return _to_uint8(canvas + alpha[..., None] * (out - canvas)), alpha


def render_inpaint(a: AssembledFace) -> tuple[np.ndarray, np.ndarray]:
    """inpaint: the masked area from the face's mirror image (texture = the canvas face, mirrored across
    its mesh's midline), the rest by cv2.inpaint, joined by a Poisson blend; the canvas outside the mask."""
    canvas = a.canvas_crop
    mask = np.zeros((CROP_SIZE, CROP_SIZE), bool) if a.inpaint_mask is None else np.asarray(a.inpaint_mask, bool)
    if not mask.any():
        return canvas.copy(), np.zeros((CROP_SIZE, CROP_SIZE), np.float32)
    tri = mesh_triangles()
    dst = np.asarray(a.landmarks, np.float64)[:NUM_MESH_VERTICES]
    raster = rasterise(dst, tri)
    mirrored = a.texture_landmarks[mirror_pairs(), :2]
    src_xy = raster.interpolate(mirrored, tri)
    bad = _remap(mask.astype(np.uint8), src_xy, raster, cv2.INTER_NEAREST).reshape(-1)[raster.pix] > 0
    usable = raster.mask(~bad) & mask
    filled = canvas.copy()
    warped = _remap(a.texture_crop, src_xy, raster)
    filled[usable] = warped[usable]
    rest = (mask & ~usable).astype(np.uint8)
    if rest.any():
        filled = cv2.inpaint(filled, cv2.dilate(rest, _disc(1)) & mask.astype(np.uint8), 5, cv2.INPAINT_TELEA)
    blended = poisson_blend(filled, canvas, mask)
    crop = canvas.copy()
    crop[mask] = blended[mask]
    return crop, mask.astype(np.float32)


__all__ = ["GeometricRenderer", "Raster", "rasterise", "map_points", "mirror_pairs", "iris_target"]

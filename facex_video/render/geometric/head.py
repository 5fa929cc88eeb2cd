"""A head turned away from the canvas's takes the canvas's whole head with it (outline, hair, ears): inside the
face mesh each pixel follows the mesh; outside it, the mesh rim's displacement falls to nothing at the head's
outline. The head turns about its centre (tasks/assemble.place_like), and a real head's outline barely
changes as it turns while the face slides across it: so the outline is that of an ellipsoid of a typical
adult head (ford.geometry's HEAD_*: anthropometric averages, not fitted to any photo) placed on the canvas
face and turned with it, the band between face and outline is stretched on the near side and squeezed on
the far side, and no old head is left beside the new one."""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass

import cv2
import numpy as np

from ...core.constants import CROP_SIZE
from ...faces.blend import dilate, erode, fill_holes
from ...faces.types import MOUTH_CORNERS
from ...ford.geometry import HEAD_CENTRE_CM, HEAD_SEMI_AXES_CM, canonical_landmarks, landmark_rotation, similarity_3d
from ...ford.mesh import NUM_MESH_VERTICES, canonical_mesh
from ...tasks.assemble import AssembledFace, place_like, posed_shape
from .raster import Raster, mesh_triangles, rasterise, srgb_float

HEAD_RIM_PX = 4  # px: the mesh's rim whose displacement the head just outside it follows...
HEAD_BLEND_PX = 12.0  # ...smoothed at half this scale, so the hair does not kink where the nearest rim point jumps
HEAD_BORDER_PX = 24.0  # px: the head warp fades to nothing this close to the crop's border
HEAD_VISIBLE_PX = 0.5  # px of displacement from which the warped head is fully the result
NECK_FALL = 2.0  # below the mouth the displacement falls over at least this many px per px of it (at most a 2x
# stretch): the ellipsoid's outline there is its chin, a few px under the jaw, and falling to it tore the jaw
NECK_RAMP_PX = 20.0  # px below the mouth line over which that floor comes in (none above it: hair and ears stay)
VACATED_PX = 2  # px: a vacated area is grown by this much, so no rim of the old face's edge is left
VACATED_RING_PX = 24  # px: it is filled from the scene this close around it
MOVED_DEG = 3.0  # head rotation from the canvas's beyond which the canvas's occluders no longer apply
MAX_TURN_DEG = 35.0  # the furthest this renderer turns a head from the canvas's pose: one view holds no more


def head_moved(a: AssembledFace) -> bool:
    """Whether the assembled head is turned away from the canvas's (reenact, a pose edit): then what covers
    the canvas face no longer lies on it, and the canvas head it leaves uncovered must go."""
    return turn_angle(a) > MOVED_DEG


def turn_angle(a: AssembledFace) -> float:
    """Degrees the assembled head is turned from the canvas's (any axis)."""
    turn = landmark_rotation(a.landmarks) @ landmark_rotation(a.canvas_landmarks).T
    return float(np.degrees(np.arccos(np.clip((np.trace(turn) - 1) / 2, -1.0, 1.0))))


def within_reach(a: AssembledFace) -> AssembledFace:
    """`a` with its head turned at most MAX_TURN_DEG from the canvas's (about the same axis), its shape and
    expression kept. A single view shows one side of a head: turned further, the side it saw edge-on fills
    the near half of the face as a smear and the face slides off its outline (at 49 degrees no face detector
    found a face in the result). The facex backend is the one meant to draw what the canvas never showed."""
    angle = turn_angle(a)
    if angle <= MAX_TURN_DEG:
        return a
    canvas_rotation = landmark_rotation(a.canvas_landmarks)
    vector, _ = cv2.Rodrigues(landmark_rotation(a.landmarks) @ canvas_rotation.T)
    capped, _ = cv2.Rodrigues(vector * (MAX_TURN_DEG / angle))
    rotation = capped @ canvas_rotation
    shape = canonical_landmarks(a.landmarks)
    landmarks = place_like(posed_shape(shape, rotation), a.canvas_landmarks, rotation - canvas_rotation)
    return dataclasses.replace(a, landmarks=landmarks.astype(a.landmarks.dtype))


def head_outline(a: AssembledFace) -> np.ndarray:
    """(H, W) bool: the crop pixels whose line of sight meets the head ellipsoid turned with the face.

    Frames: crop landmarks are x right, y down, z away (px); the canonical frame is reached from the canvas's
    landmarks by ford's similarity (canonical = s r diag(1,-1,-1) p + t), and the canvas -> assembled motion
    is the similarity of their rigid cores. The view is orthographic (a face is small against its distance):
    a pixel (x, y) meets the ellipsoid where the quadratic in its depth z has real roots."""
    mesh = canonical_mesh()
    ids, weights = mesh.procrustes_ids, mesh.procrustes_weights
    flip = np.diag([1.0, -1.0, -1.0])
    canvas = np.asarray(a.canvas_landmarks, np.float64)
    s, r, t = similarity_3d(canvas[ids] @ flip, mesh.vertices[ids], weights)
    s2, r2, t2 = similarity_3d(canvas[ids], np.asarray(a.landmarks, np.float64)[ids], weights)
    # assembled px = s2 r2 (flip r^T (C - t) / s) + t2, so canonical C = inverse @ (px - t2) + t
    inverse = np.linalg.inv(s2 * r2 @ flip @ r.T / s)
    q = np.diag(1.0 / np.square(HEAD_SEMI_AXES_CM))
    yy, xx = np.mgrid[:CROP_SIZE, :CROP_SIZE].astype(np.float64)
    # the canonical point of pixel (x, y) at depth z, from the ellipsoid's centre: u0 + z w
    u0 = np.stack([xx, yy, np.zeros_like(xx)], axis=-1) @ inverse.T + (inverse @ -t2 + t - HEAD_CENTRE_CM)
    w = inverse[:, 2]
    qb = u0 @ (q @ w)
    qc = np.einsum("...i,ij,...j->...", u0, q, u0) - 1.0
    return np.asarray(qb * qb - float(w @ q @ w) * qc > 0)


def below_mouth(landmarks: np.ndarray, xx: np.ndarray, yy: np.ndarray) -> np.ndarray:
    """(H, W) in [0, 1]: 0 above the line through the mouth corners (turned with the face's roll), ramping to 1
    NECK_RAMP_PX below it."""
    left, right = (np.asarray(landmarks, np.float64)[i, :2] for i in MOUTH_CORNERS)
    across = (right - left) / max(float(np.linalg.norm(right - left)), 1e-6)
    below = (xx - left[0]) * -across[1] + (yy - left[1]) * across[0]
    return np.clip(below / NECK_RAMP_PX, 0.0, 1.0)


def mesh_silhouette(landmarks: np.ndarray) -> np.ndarray:
    """bool (512, 512), read-only: what a face's mesh covers. Cached by the landmarks' values: a reenactment's
    canvas is one still photo, the same face every frame."""
    return _silhouette(np.ascontiguousarray(np.asarray(landmarks, np.float64)[:NUM_MESH_VERTICES]).tobytes())


@functools.lru_cache(maxsize=4)
def _silhouette(landmarks: bytes) -> np.ndarray:
    mask = rasterise(np.frombuffer(landmarks, np.float64).reshape(NUM_MESH_VERTICES, -1), mesh_triangles()).mask()
    mask.flags.writeable = False
    return mask


@dataclass(frozen=True)
class HeadLayer:
    """The canvas with its whole head moved along with the assembled face (`head_warp`): `layer` (float RGB),
    `reach` (the weight of the area it changes) and the sampling field that made it (crop px, (H, W, 2))."""

    layer: np.ndarray
    reach: np.ndarray
    field: np.ndarray

    def moved(self, image: np.ndarray, interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
        """Any image in the canvas crop's frame (a mask as uint8 or float) moved as the head layer was."""
        yy, xx = np.mgrid[:CROP_SIZE, :CROP_SIZE].astype(np.float32)
        return cv2.remap(image, xx + self.field[..., 0], yy + self.field[..., 1], interpolation,
                         borderMode=cv2.BORDER_REPLICATE)


def head_warp(a: AssembledFace, raster: Raster) -> HeadLayer:
    """The canvas warped so that its whole head follows the assembled face: inside the mesh each pixel
    samples the canvas where the canvas's mesh has the same point; outside it the mesh rim's displacement
    (smoothed over HEAD_BLEND_PX) falls linearly to nothing from the rim to the head's outline (head_outline);
    below the mouth, where the neck begins, over at least NECK_FALL times the displacement (a turned jaw
    twists the top of the neck with it instead of tearing from it). raster: the assembled mesh's (the
    renderer has it already)."""
    tri = mesh_triangles()
    covered = raster.mask()
    yy, xx = np.mgrid[:CROP_SIZE, :CROP_SIZE].astype(np.float32)
    src = raster.interpolate(np.asarray(a.canvas_landmarks, np.float64)[:NUM_MESH_VERTICES, :2], tri)
    disp: np.ndarray = np.zeros((CROP_SIZE * CROP_SIZE, 2), np.float32)  # flat, then (CROP_SIZE, CROP_SIZE, 2)
    disp[raster.pix] = src - np.stack([xx.reshape(-1)[raster.pix], yy.reshape(-1)[raster.pix]], axis=1)
    disp = disp.reshape(CROP_SIZE, CROP_SIZE, 2)
    # just outside the mesh: the displacement of the nearest rim pixel, smoothed (normalised blur over the
    # outside and the rim) so the lines where the nearest rim point jumps do not kink the hair
    outside = ~covered
    _, labels = cv2.distanceTransformWithLabels(outside.astype(np.uint8), cv2.DIST_L2, 5,
                                                labelType=cv2.DIST_LABEL_PIXEL)
    at = np.zeros(int(labels.max()) + 1, np.int64)
    at[labels[covered]] = np.flatnonzero(covered.reshape(-1))
    nearest = disp.reshape(-1, 2)[at[labels.reshape(-1)]].reshape(CROP_SIZE, CROP_SIZE, 2)
    zone = (outside | (covered & ~erode(covered, HEAD_RIM_PX))).astype(np.float32)
    smooth = cv2.GaussianBlur(nearest * zone[..., None], (0, 0), HEAD_BLEND_PX / 2)
    rim = smooth / np.maximum(cv2.GaussianBlur(zone, (0, 0), HEAD_BLEND_PX / 2), 1e-6)[..., None]
    dist = cv2.distanceTransform(outside.astype(np.uint8), cv2.DIST_L2, 5)
    # from the rim to the head's outline the displacement falls to nothing: the band between face and
    # outline is stretched on the near side and squeezed on the far side, and the outline stays
    hit = head_outline(a)
    to_outline = cv2.distanceTransform((hit | covered).astype(np.uint8), cv2.DIST_L2, 5)
    beyond = cv2.distanceTransform((~(hit | covered)).astype(np.uint8), cv2.DIST_L2, 5)
    # linearly: an even stretch of the near side's band (a smoothstep tripled it mid-band, drawing streaks)
    span = dist + to_outline - beyond  # rim to outline through this pixel
    low = below_mouth(a.landmarks, xx, yy)
    neck = NECK_FALL * np.linalg.norm(rim, axis=2) * low
    fall = 1.0 - np.clip(dist / np.maximum(np.maximum(span, neck), 1e-6), 0.0, 1.0)
    extended = rim * fall[..., None]
    border = np.minimum.reduce([xx, yy, CROP_SIZE - 1 - xx, CROP_SIZE - 1 - yy])
    extended *= np.clip(border / HEAD_BORDER_PX, 0.0, 1.0)[..., None]
    field = np.where(covered[..., None], disp, extended).astype(np.float32)
    canvas = srgb_float(a.canvas_crop)
    layer = cv2.remap(canvas, xx + field[..., 0], yy + field[..., 1], cv2.INTER_LINEAR,
                      borderMode=cv2.BORDER_REPLICATE)
    # alpha: full where the warp moves anything visibly, ramping to 0 where its displacement does
    moving = np.clip(np.linalg.norm(field, axis=2) / HEAD_VISIBLE_PX, 0.0, 1.0)
    reach = np.maximum(moving, covered.astype(np.float32))
    layer = np.where(reach[..., None] > 0, layer, canvas)
    # what the canvas's face covered and neither the turned face nor its head covers now (a profile's nose and
    # lips beyond a face turned toward the camera, outside every head outline): the scene behind, filled from
    # the canvas's own scene around it. Not below the mouth: behind a chin is the neck, which the neck's fall
    # above already moves (a fill there drew a grey bib over a collar when a head rolled)
    old = mesh_silhouette(a.canvas_landmarks)
    vacated = dilate(old & ~covered & ~hit & (low < 1.0), VACATED_PX) & ~covered
    if vacated.any():
        scene = dilate(vacated, VACATED_RING_PX) & ~(old | covered | hit | vacated)
        layer[vacated] = fill_holes(canvas, vacated, scene)[vacated]
        reach = np.maximum(reach, vacated)
    return HeadLayer(layer, reach.astype(np.float32), field)

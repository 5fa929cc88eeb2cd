"""A head turned away from the canvas's takes the canvas's whole head with it (outline, hair, ears, neck):
the canvas is warped by the mesh rim's displacement carried outward, deeper points moving more, fading into
the untouched scene, so no old head is left to fill; where the rim moves outward the band beside it is
squeezed against the head's outline instead."""

from __future__ import annotations

import cv2
import numpy as np

from ...core.constants import CROP_SIZE
from ...faces.blend import erode
from ...ford.geometry import landmark_rotation, similarity_3d
from ...ford.mesh import NUM_MESH_VERTICES, canonical_mesh
from ...tasks.assemble import AssembledFace
from .raster import mesh_triangles, rasterise, srgb_float

HEAD_REACH = 0.8  # how far outside the mesh a moved head's warp reaches (fraction of the oval's radius)
HEAD_RIM_PX = 4  # px: the mesh's rim whose displacement the head outside it follows
HEAD_DEPTH_SLOPE = 3  # depth gained per px outside the face's rim (the head curving back)...
HEAD_DEPTH_SPAN = 0.3  # ...over this fraction of the oval's radius (about the cheek-to-ear distance)
HEAD_SMOOTH_PX = 8.0  # px: smoothing of the displacement carried outside the mesh
HEAD_BORDER_PX = 24.0  # px: the head warp fades to nothing this close to the crop's border
HEAD_VISIBLE_PX = 0.5  # px of displacement from which the warped head is fully the result
MOVED_DEG = 3.0  # head rotation from the canvas's beyond which the canvas's occluders no longer apply


def head_moved(a: AssembledFace) -> bool:
    """Whether the assembled head is turned away from the canvas's (reenact, a pose edit): then what covers
    the canvas face no longer lies on it, and the canvas head it leaves uncovered must go."""
    turn = landmark_rotation(a.landmarks) @ landmark_rotation(a.canvas_landmarks).T
    return float(np.degrees(np.arccos(np.clip((np.trace(turn) - 1) / 2, -1.0, 1.0)))) > MOVED_DEG


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
    canvas = srgb_float(a.canvas_crop)
    layer = cv2.remap(canvas, xx + field[..., 0], yy + field[..., 1], cv2.INTER_LINEAR,
                      borderMode=cv2.BORDER_REPLICATE)
    # alpha: full where the warp moves anything visibly, ramping to 0 where its displacement does
    moving = np.clip(np.linalg.norm(field, axis=2) / HEAD_VISIBLE_PX, 0.0, 1.0)
    reach = np.maximum(moving, covered.astype(np.float32)) * (fade > 0)
    layer = np.where(reach[..., None] > 0, layer, canvas)
    return layer, reach.astype(np.float32)

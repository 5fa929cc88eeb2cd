"""Gaze: each iris disc moved inside its eye opening to where the assembled gaze puts it on FORD's eyeball
model (ford/gaze.py), the sclera beside it stretched or narrowed toward the corners."""

from __future__ import annotations

import cv2
import numpy as np

from ...core.constants import CROP_SIZE
from ...faces.blend import blurred_mask, erode
from ...ford.gaze import EYEBALL_RADIUS, IRIS_HEIGHT_AT_REST, LEFT_EYE, RIGHT_EYE
from ...ford.geometry import similarity_3d
from ...ford.mesh import NUM_MESH_VERTICES, REGION_CONTOURS, canonical_mesh
from ...ford.regions import polygon_mask
from ...tasks.assemble import AssembledFace
from .openings import CANVAS
from .raster import map_points, mesh_triangles, mirror_pairs, part_triangles

IRIS_LID_PX = 0  # px of the eye opening's rim (the lid margins) that a gaze edit leaves in place
IRIS_OLD_DISC = 1.25  # the iris moves rigidly within this multiple of its radius (its limbus ring included)


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
    lids = blurred_mask(erode(opening, IRIS_LID_PX), 0.7)[..., None]
    result = img.copy()
    result[y0:y1, x0:x1] = roi + lids * (moved - roi)
    return result


def apply_gaze(face: np.ndarray, a: AssembledFace, donor: np.ndarray, mirrored: frozenset[str]) -> np.ndarray:
    """Move each eye's iris from where its donor's warp put it (for an eye drawn from its `mirrored`
    partner: the partner's iris, mirrored) to the assembled gaze. `donor`: Openings.donor."""
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
        # where the eyeball model puts the iris at the assembled gaze, no gain: the 1.3x that was here was fitted
        # to MediaPipe's reading of astronaut and grace_hopper; an independent grader (dlib's eye contour and
        # the iris found in the image, eval/gaze_image.py) read it as 1.2-1.8x the asked change (docs/tuning.md)
        target = iris_target(dst, eye, yaw, pitch)
        face = move_iris(face, polygon_mask(dst[list(REGION_CONTOURS[name])]), mapped[0], radius, target)
    return face

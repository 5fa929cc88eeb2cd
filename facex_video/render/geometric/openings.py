"""Step 3: who fills the mouth and eye openings of the assembled face, parts the texture may not show: the
canvas's own mouth when the expression is the canvas's (its teeth stay), the texture's or the canvas's
warped where one shows the opening open, for a mouth then the expression input's (a reenactment's driving
frame: its teeth and tongue), else a dark cavity."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ...core.constants import CROP_SIZE
from ...faces.blend import erode
from ...ford.geometry import canonical_landmarks
from ...ford.mesh import REGION_CONTOURS
from ...ford.regions import polygon_mask
from ...tasks.assemble import AssembledFace
from .raster import mesh_triangles, part_triangles, srgb_float, to_uint8

SAME_PART_PX = 2.0  # mean landmark distance under which the canvas shows the assembled mouth/eye as is
DONOR_OPENNESS = 0.6  # a donor mouth/eye must be at least this open, relative to the assembled one
CLOSED = 0.02  # openness (area / width^2) under which a mouth counts as closed

TEXTURE, CANVAS, KEPT, CAVITY, MOUTH = range(5)


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


@dataclass(frozen=True)
class Openings:
    """Who fills the mouth and eye openings of the assembled face: `donor` per triangle (TEXTURE, CANVAS:
    warped from the canvas, KEPT: the canvas as it is, alpha 0, MOUTH: warped from the expression input's
    mouth, CAVITY: a dark mouth), and the `kept` and `cavity` openings as masks."""

    donor: np.ndarray
    kept: np.ndarray
    cavity: np.ndarray


def plan_openings(a: AssembledFace) -> Openings:
    """The mouth is the canvas's own when the assembled mouth is where the canvas has it (the expression is
    the canvas's: its teeth stay). An opening the texture shows open enough is the texture's; else one the
    canvas shows open is warped from the canvas; else a mouth the expression input shows open is warped
    from it (AssembledFace.mouth_*: a reenactment's driving frame); else a mouth is a dark cavity (an eye
    stays the texture's, stretched: lids squeezed shut look less wrong than a painted eye)."""
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
        elif (name == "mouth" and a.mouth_landmarks is not None
              and openness(a.mouth_landmarks, contour) >= DONOR_OPENNESS * want):
            donor[parts[name]] = MOUTH
        elif name == "mouth":
            donor[parts[name]] = CAVITY
            cavity |= opening
    return Openings(donor, kept, cavity)


def mouth_cavity(face: np.ndarray, opening: np.ndarray) -> np.ndarray:
    """A dark mouth interior inside `opening`: a dark core, inpainted toward the lips around it."""
    img = to_uint8(face)
    core = erode(opening, 2)
    img[core] = (40, 16, 18)
    ring = (opening & ~erode(opening, 3)).astype(np.uint8)
    img = cv2.inpaint(img, ring, 3, cv2.INPAINT_TELEA)
    return srgb_float(img)

"""Eye-in-head gaze per eye from the iris centre, the eye corners and the lids (docs/design.md §2).

The landmarks are first expressed in the canonical head frame (ford/geometry.py), so head yaw, pitch, roll
and face size are gone before the iris is measured: on a face turned 50 degrees the far eye is foreshortened
to a sliver in the image, and an image-plane measure would read the head turn as gaze. In that frame each
eye gets its own axes: x from the eye's image-left corner to its image-right corner (33 -> 133 for the right
eye, 362 -> 263 for the left), y perpendicular to it, up. Offsets are in eye widths (the corner distance).

Horizontal: the iris centre against the centroid of the 16-point eye contour (corners and both lids). It
averages the landmark jitter of single points (1-3 % of the eye width, 1.5-4 degrees, when the same photo is
resampled), and it reads the two eyes of a face alike where the corners' midpoint reads each eye a few
degrees outward (2-10 degrees between the eyes on astronaut and grace_hopper, which look into the camera).
Vertical: the iris centre against the line through the corners, which are fixed to the skull. The lids are
not the reference: they follow the eye down and close in a blink or a smile, so an offset normalised by the
lid opening flips sign on faces that look down with lowered lids (t1: three of them).

Eyeball model: the iris centre (limbus plane) lies about 10.5 mm in front of the eye's centre of rotation
and the palpebral fissure (corner to corner) is about 26.6 mm wide in MediaPipe's canonical mesh, so the
iris moves on a sphere of radius EYEBALL_RADIUS = 0.4 eye widths: offset_x = r sin(yaw) cos(pitch),
offset_y = r sin(pitch). At rest, looking into a camera level with the eyes, the iris centre sits
IRIS_HEIGHT_AT_REST = 0.075 eye widths above the corner line (measured on astronaut and grace_hopper, whose
eyeLook* blendshapes are all below 0.15); that height is zero pitch.

Signs (eyes named from the subject, as MediaPipe does):
- yaw > 0: the eye looks toward the image's right, the subject's left (eyeLookOutLeft, eyeLookInRight);
- pitch > 0: the eye looks up (eyeLookUp*).
Head yaw and pitch (ford/geometry.py) use the same signs, so head + eye angles approximate gaze in the camera.
Closed eyes still get a value: MediaPipe predicts the iris under the lid.
"""

from __future__ import annotations

import numpy as np

from .geometry import canonical_landmarks
from .mesh import LEFT_IRIS_CENTRE, REGION_CONTOURS, RIGHT_IRIS_CENTRE
from .representation import Gaze

EYEBALL_RADIUS = 0.4  # eye widths
IRIS_HEIGHT_AT_REST = 0.075  # eye widths above the corner line
# image-left corner, image-right corner, iris centre, eye contour
RIGHT_EYE = (33, 133, RIGHT_IRIS_CENTRE, REGION_CONTOURS["right_eye"])
LEFT_EYE = (362, 263, LEFT_IRIS_CENTRE, REGION_CONTOURS["left_eye"])


def eye_gaze(landmarks: np.ndarray) -> Gaze:
    """(478, 3) image landmarks (px) -> per-eye yaw and pitch in degrees, eye-in-head."""
    c = canonical_landmarks(landmarks)
    right_yaw, right_pitch = _eye_angles(c, RIGHT_EYE)
    left_yaw, left_pitch = _eye_angles(c, LEFT_EYE)
    return Gaze(right_yaw=right_yaw, right_pitch=right_pitch, left_yaw=left_yaw, left_pitch=left_pitch)


def _eye_angles(canonical: np.ndarray, eye: tuple[int, int, int, tuple[int, ...]]) -> tuple[float, float]:
    """Yaw, pitch (degrees) of one eye from its corners, contour and iris centre in the canonical head frame."""
    left, right, iris, contour = eye
    a, b, centre = canonical[left, :2], canonical[right, :2], canonical[iris, :2]
    width = float(np.linalg.norm(b - a))
    ex = (b - a) / width
    ey = np.array([-ex[1], ex[0]])
    h = float((centre - canonical[list(contour), :2].mean(axis=0)) @ ex) / width
    v = float((centre - (a + b) / 2) @ ey) / width - IRIS_HEIGHT_AT_REST
    pitch = np.arcsin(np.clip(v / EYEBALL_RADIUS, -1.0, 1.0))
    yaw = np.arcsin(np.clip(h / (EYEBALL_RADIUS * np.cos(pitch)), -1.0, 1.0))
    return float(np.degrees(yaw)), float(np.degrees(pitch))

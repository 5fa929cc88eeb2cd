"""The spatial condition the FaceX controller is fed: what the face must look like where, as an image.

Channels (float32, all in [0, 1], at the model's resolution):
  0-2  face map: the assembled geometry drawn in region colours (skin, brows, eye whites, irises, lips,
       mouth interior; REGION_COLOURS), every landmark as a grey dot whose brightness is its nearness (the
       z of the mesh), and one gaze mark per eye: a yellow line from the iris centre along the eye-in-head
       gaze, one eye width long at 90 degrees. The geometry travels as pixels, so pose, expression and
       gaze need no separate encoding.
  3-5  the canvas crop (RGB) outside the area to regenerate, black inside it: the background, hair, neck
       and clothes the result must continue.
  6    the area to regenerate (1 inside).

The same drawing serves training (one frame's own landmarks and crop) and rendering (the assembled face),
so what the controller learns to read is exactly what it is shown at run time.
"""

from __future__ import annotations

import cv2
import numpy as np

from ...core.constants import CROP_SIZE
from ...faces.blend import dilate
from ...ford.mesh import LEFT_IRIS_CENTRE, REGION_CONTOURS, RIGHT_IRIS_CENTRE
from ...ford.regions import polygon_mask
from ...ford.representation import Gaze

CONDITION_CHANNELS = 7
REGION_COLOURS: tuple[tuple[str, tuple[int, int, int]], ...] = (  # drawn in this order, later on top
    ("face_oval", (200, 170, 150)),
    ("right_eyebrow", (90, 60, 30)),
    ("left_eyebrow", (90, 60, 30)),
    ("right_eye", (240, 240, 240)),
    ("left_eye", (240, 240, 240)),
    ("lips_outer", (200, 40, 60)),
    ("lips_inner", (60, 0, 30)),
    ("right_iris", (40, 90, 200)),
    ("left_iris", (40, 90, 200)),
)
GAZE_COLOUR = (255, 230, 0)
REGENERATE_MARGIN_PX = 18  # the regenerated area reaches this far past the face outline: the renderer's
# feather (12 px) then leaves the outline itself and 6 px beyond it fully generated (jaw, hairline seam)


def face_map(landmarks: np.ndarray, gaze: Gaze, size: int = CROP_SIZE) -> np.ndarray:
    """uint8 (size, size, 3): channels 0-2 of the module docstring, for (478, 3) crop-px landmarks."""
    out = np.zeros((size, size, 3), np.uint8)
    lm = np.asarray(landmarks, np.float64)
    for name, colour in REGION_COLOURS:
        out[polygon_mask(lm[list(REGION_CONTOURS[name])], size)] = colour
    z = lm[:, 2]
    near = 1.0 - (z - z.min()) / max(float(np.ptp(z)), 1e-6)
    for (x, y), n in zip(lm[:, :2].round().astype(int), near, strict=True):
        if 0 <= x < size and 0 <= y < size:
            out[y, x] = int(80 + 175 * n)
    eye_width = float(np.linalg.norm(lm[33, :2] - lm[133, :2]))
    for centre, yaw, pitch in ((RIGHT_IRIS_CENTRE, gaze.right_yaw, gaze.right_pitch),
                               (LEFT_IRIS_CENTRE, gaze.left_yaw, gaze.left_pitch)):
        start = lm[centre, :2]
        end = start + eye_width * np.array([np.sin(np.radians(yaw)), -np.sin(np.radians(pitch))])
        cv2.line(out, tuple(start.round().astype(int)), tuple(end.round().astype(int)), GAZE_COLOUR, 2, cv2.LINE_AA)
    return out


def regenerate_area(landmarks: np.ndarray, old_oval: np.ndarray | None = None,
                    extra: np.ndarray | None = None) -> np.ndarray:
    """bool (512, 512): where the result is generated: the new face outline (of `landmarks`) and the old one
    (a face that shrinks or turns must not leave the old one showing), grown by REGENERATE_MARGIN_PX, plus
    `extra`."""
    oval = polygon_mask(np.asarray(landmarks)[list(REGION_CONTOURS["face_oval"])], CROP_SIZE)
    area = dilate(oval if old_oval is None else oval | old_oval, REGENERATE_MARGIN_PX)
    return area | extra if extra is not None else area


def condition_image(landmarks: np.ndarray, gaze: Gaze, canvas: np.ndarray, area: np.ndarray,
                    size: int) -> np.ndarray:
    """float32 (size, size, CONDITION_CHANNELS): the condition of the module docstring, drawn in the 512 px
    crop and resized to the model's `size`."""
    full = np.concatenate([
        face_map(landmarks, gaze, canvas.shape[0]),
        np.where(area[..., None], 0, canvas).astype(np.uint8),
        (area * 255).astype(np.uint8)[..., None],
    ], axis=-1)
    small = np.stack([cv2.resize(full[..., c], (size, size), interpolation=cv2.INTER_AREA)
                      for c in range(CONDITION_CHANNELS)], axis=-1)
    return small.astype(np.float32) / 255.0

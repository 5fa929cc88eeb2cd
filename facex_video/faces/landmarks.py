"""478 landmarks, 52 blendshapes and the pose matrix for one face, from the FaceLandmarker on a crop.

The FaceLandmarker's own detector is short-range: it misses faces that are small in the frame. So each
detector box is cut out square (enlarged to give the landmarker context) and resampled to a fixed size,
where the face is always large, and the landmarks are mapped back to frame pixels. A crop where the
landmarker finds no face rejects the box, which is what lets the detector run at a low threshold.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from .detect import FaceBox, box_iou
from .mp_runtime import base_options, harmless_notices_dropped, mp_image, quiet_native_stderr
from .types import FaceDetection


class CropLandmarker:
    """MediaPipe FaceLandmarker (`face_landmarker.task`) run on an enlarged square crop of each box."""

    def __init__(self, model: Path, *, crop_size: int = 256, context: float = 2.8, min_confidence: float = 0.3):
        from mediapipe.tasks.python import vision

        options = vision.FaceLandmarkerOptions(
            base_options=base_options(model),
            running_mode=vision.RunningMode.IMAGE,
            num_faces=2,  # a crop may hold a neighbour's face too: pick the one matching the box
            min_face_detection_confidence=min_confidence,
            min_face_presence_confidence=min_confidence,
            output_face_blendshapes=True,
            output_facial_transformation_matrixes=True,
        )
        with quiet_native_stderr():
            self._landmarker = vision.FaceLandmarker.create_from_options(options)
            self._landmarker.detect(mp_image(np.zeros((crop_size, crop_size, 3), np.uint8)))  # first-call notices
        self.crop_size = crop_size
        self.context = context

    def close(self) -> None:
        with quiet_native_stderr():
            self._landmarker.close()

    def crop_window(self, box: np.ndarray) -> tuple[float, float, float]:
        """Square window (x0, y0, side) around a box, `context` times its larger side."""
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        side = self.context * max(box[2] - box[0], box[3] - box[1])
        return cx - side / 2, cy - side / 2, side

    def landmarks(self, rgb: np.ndarray, face: FaceBox) -> FaceDetection | None:
        """Landmarks of the face in `face.box`, in frame pixels; None when the crop holds no face."""
        x0, y0, side = self.crop_window(face.box)
        scale = self.crop_size / side
        to_crop = np.array([[scale, 0, -x0 * scale], [0, scale, -y0 * scale]], np.float64)
        crop = cv2.warpAffine(
            rgb, to_crop, (self.crop_size, self.crop_size), flags=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT,
        )
        with harmless_notices_dropped():
            result = self._landmarker.detect(mp_image(crop))
        best, best_iou = None, 0.0
        for i, points in enumerate(result.face_landmarks):
            lm = np.array([[p.x, p.y, p.z] for p in points], np.float64) * side
            lm[:, 0] += x0
            lm[:, 1] += y0
            iou = box_iou(landmark_box(lm), face.box)
            if iou > best_iou:
                best, best_iou = (i, lm), iou
        if best is None or best_iou < 0.2:
            return None
        i, lm = best
        blend = np.array([c.score for c in result.face_blendshapes[i]], np.float32)
        pose = np.array(result.facial_transformation_matrixes[i], np.float64).reshape(4, 4)
        return FaceDetection(
            box=landmark_box(lm), score=face.score, keypoints=face.keypoints,
            landmarks=lm.astype(np.float32), blendshapes=blend, pose_matrix=pose,
        )


def landmark_box(landmarks: np.ndarray) -> np.ndarray:
    """Tight x0, y0, x1, y1 box of the landmarks' image coordinates."""
    xy = landmarks[:, :2]
    return np.concatenate([xy.min(axis=0), xy.max(axis=0)]).astype(np.float64)

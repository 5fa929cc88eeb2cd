"""Every face in a frame with its landmarks: the detector's boxes verified and refined by the landmarker."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .detect import FaceBox, FaceBoxDetector, non_max_suppression
from .landmarks import CropLandmarker
from .types import FaceDetection


class FaceAnalyzer:
    """Detector + crop landmarker; loads both models once and is reused for every frame."""

    def __init__(self, detector_model: Path | None = None, landmarker_model: Path | None = None, *, tiles: bool = True):
        if detector_model is None or landmarker_model is None:
            from ..models.store import model_path

            detector_model = detector_model or model_path("face_detector_full_range")
            landmarker_model = landmarker_model or model_path("face_landmarker")
        self.detector = FaceBoxDetector(detector_model, tiles=tiles)
        self.landmarker = CropLandmarker(landmarker_model)

    def close(self) -> None:
        self.detector.close()
        self.landmarker.close()

    def __enter__(self) -> "FaceAnalyzer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def analyze(self, rgb: np.ndarray) -> list[FaceDetection]:
        """Faces in an RGB uint8 frame, left to right; boxes the landmarker rejects are dropped."""
        faces = []
        for box in self.detector.detect(rgb):
            face = self.landmarker.landmarks(rgb, box)
            if face is not None:
                faces.append(face)
        # two detector boxes can land on one face: dedupe on the landmark boxes
        boxes = [FaceBox(f.box, f.score, f.keypoints) for f in faces]
        kept = {id(b) for b in non_max_suppression(boxes, iou_threshold=0.5)}
        faces = [f for f, b in zip(faces, boxes) if id(b) in kept]
        return sorted(faces, key=lambda f: f.box[0])

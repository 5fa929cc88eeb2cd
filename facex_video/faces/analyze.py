"""Every face in a frame with its landmarks: the detector's boxes verified and refined by the landmarker."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .detect import FaceBox, FaceBoxDetector, box_area, intersection_area
from .landmarks import CropLandmarker
from .types import FaceDetection


class FaceAnalyzer:
    """Detector + crop landmarker; loads both models once and is reused for every frame."""

    def __init__(self, *, detector_model: str | Path | None = None, tiles: bool = True):
        """Default models come from the model store; `detector_model` is a user's SCRFD ONNX
        (`--detector-model`), which replaces the MediaPipe detector (the landmarker stays)."""
        from ..models.store import model_path

        if detector_model is not None:
            from .detect_scrfd import ScrfdBoxDetector

            self.detector: FaceBoxDetector | ScrfdBoxDetector = ScrfdBoxDetector(
                model_path("scrfd", override=detector_model)
            )
        else:
            self.detector = FaceBoxDetector(model_path("face_detector_full_range"), tiles=tiles)
        self.landmarker = CropLandmarker(model_path("face_landmarker"))

    def close(self) -> None:
        self.detector.close()
        self.landmarker.close()

    def __enter__(self) -> FaceAnalyzer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def analyze(self, rgb: np.ndarray, boxes: list[FaceBox] | None = None) -> list[FaceDetection]:
        """Faces in an RGB uint8 frame, left to right; boxes the landmarker rejects are dropped.

        boxes: where faces are expected (e.g. tracked from the previous frame); the detector is skipped.
        """
        faces: list[FaceDetection] = []
        for box in sorted(self.detector.detect(rgb) if boxes is None else boxes, key=lambda b: -box_area(b.box)):
            if _inside_any(box.box, faces):
                continue  # a second box on a face found already (a tile's view of part of it): drop_nested
                # would drop its landmarks, and a landmarker call costs ~9 ms
            face = self.landmarker.landmarks(rgb, box)
            if face is not None:
                faces.append(face)
        return sorted(drop_nested(faces), key=lambda f: f.box[0])


MAX_INSIDE = 0.7  # of a face's box lying inside a larger face's: the smaller is not a face of its own


def _inside_any(box: np.ndarray, faces: list[FaceDetection]) -> bool:
    return any(intersection_area(box, f.box) >= MAX_INSIDE * box_area(box) for f in faces)


def drop_nested(faces: list[FaceDetection]) -> list[FaceDetection]:
    """Remove faces lying mostly inside a larger one: two detector boxes on one face, or a 'face' the
    landmarker hallucinates in a close-up's eye or glasses, which plain IoU suppression keeps."""
    kept: list[FaceDetection] = []
    for face in sorted(faces, key=lambda f: -box_area(f.box)):
        if not _inside_any(face.box, kept):
            kept.append(face)
    return kept

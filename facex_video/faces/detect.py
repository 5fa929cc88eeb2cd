"""Face boxes for every face in a frame, small and far ones included.

MediaPipe's full-range detector sees a 192x192 view of the frame, so faces under ~25 px at that scale are
missed (the sixth face of insightface's t1.jpg is one). We run it on the whole frame and on overlapping
tiles, then merge by non-maximum suppression. A low threshold is fine: every box is verified by the
landmarker afterwards (faces/landmarks.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .mp_runtime import base_options, harmless_notices_dropped, mp_image, quiet_native_stderr


@dataclass
class FaceBox:
    """A detector box in frame pixels: (4,) x0, y0, x1, y1, its score and (6, 2) keypoints."""

    box: np.ndarray
    score: float
    keypoints: np.ndarray


def box_area(a: np.ndarray) -> float:
    return float(max(0.0, a[2] - a[0]) * max(0.0, a[3] - a[1]))


def intersection_area(a: np.ndarray, b: np.ndarray) -> float:
    """Area shared by two x0, y0, x1, y1 boxes."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    return float(ix * iy)


def box_iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two x0, y0, x1, y1 boxes."""
    inter = intersection_area(a, b)
    union = box_area(a) + box_area(b) - inter
    return inter / union if union > 0 else 0.0


def non_max_suppression(boxes: list[FaceBox], iou_threshold: float = 0.3) -> list[FaceBox]:
    """Keep the highest-scoring box of each overlapping group."""
    kept: list[FaceBox] = []
    for cand in sorted(boxes, key=lambda b: -b.score):
        if all(box_iou(cand.box, k.box) < iou_threshold for k in kept):
            kept.append(cand)
    return kept


def tile_windows(width: int, height: int, min_side: int = 512, fraction: float = 0.6) -> list[tuple[int, int, int]]:
    """Square tiles (x, y, side) covering the frame with overlap; none for frames small enough already."""
    if max(width, height) <= min_side:
        return []
    side = min(width, height, int(np.ceil(fraction * max(width, height))))

    def starts(extent: int) -> list[int]:
        if extent <= side:
            return [0]
        n = int(np.ceil((extent - side) / (0.7 * side))) + 1
        return [int(round(v)) for v in np.linspace(0, extent - side, n)]

    return [(x, y, side) for y in starts(height) for x in starts(width)]


class FaceBoxDetector:
    """MediaPipe full-range face detector (`face_detection_full_range_sparse.tflite`) over frame + tiles."""

    def __init__(self, model: Path, *, min_score: float = 0.2, tiles: bool = True):
        from mediapipe.tasks.python import vision

        options = vision.FaceDetectorOptions(
            base_options=base_options(model),
            running_mode=vision.RunningMode.IMAGE,
            min_detection_confidence=min_score,
        )
        with quiet_native_stderr():
            self._detector = vision.FaceDetector.create_from_options(options)
            self._detector.detect(mp_image(np.zeros((64, 64, 3), np.uint8)))  # first-call notices
        self.tiles = tiles

    def close(self) -> None:
        with quiet_native_stderr():
            self._detector.close()

    def _detect_window(self, rgb: np.ndarray, ox: int, oy: int) -> list[FaceBox]:
        h, w = rgb.shape[:2]
        found = []
        with harmless_notices_dropped():
            detections = self._detector.detect(mp_image(rgb)).detections
        for det in detections:
            bb = det.bounding_box
            box = np.array([bb.origin_x, bb.origin_y, bb.origin_x + bb.width, bb.origin_y + bb.height], float)
            kps = np.array([[k.x * w, k.y * h] for k in det.keypoints], float).reshape(-1, 2)
            found.append(FaceBox(box + [ox, oy, ox, oy], float(det.categories[0].score), kps + [ox, oy]))
        return found

    def detect(self, rgb: np.ndarray) -> list[FaceBox]:
        """Every face box in an RGB uint8 frame, merged across the full view and the tiles."""
        h, w = rgb.shape[:2]
        boxes = self._detect_window(rgb, 0, 0)
        if self.tiles:
            for x, y, side in tile_windows(w, h):
                boxes += self._detect_window(rgb[y : y + side, x : x + side], x, y)
        return non_max_suppression(boxes)

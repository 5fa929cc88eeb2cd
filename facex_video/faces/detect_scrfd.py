"""Face boxes from insightface's SCRFD, for users who own its ONNX file (e.g. `det_10g.onnx` of buffalo_l).

An optional alternative to the MediaPipe detector in detect.py (docs/design.md §1): no SCRFD weights ship
in any package, so FaceX never fetches them; the user passes `--detector-model PATH`. insightface decides
what a file is by its graph (an input of 1x3xHxW and 6, 9, 10 or 15 outputs make an SCRFD), so a wrong
file is caught here, at load time, with a message naming the flag, rather than as a shape error mid-video.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..core.errors import ModelError
from .detect import FaceBox

FLAG = "--detector-model"
EXPECTED = "expected an insightface SCRFD face detector such as det_10g.onnx"
# SCRFD variants insightface knows: 3 or 5 strides, each with scores + boxes (+ 5 keypoints).
SCRFD_OUTPUT_COUNTS = (6, 9, 10, 15)


class ScrfdBoxDetector:
    """insightface SCRFD on the whole frame (letterboxed to `input_size`); same interface as FaceBoxDetector.

    One pass, no tiles: SCRFD's smallest anchors are 16 px at its input size (MediaPipe's detector sees
    192x192), so for small faces in large frames raise `input_size`. A graph with a fixed input size runs
    at that size whatever `input_size` says.
    """

    def __init__(self, model: Path, *, min_score: float = 0.5, input_size: tuple[int, int] = (640, 640)):
        from insightface.model_zoo.scrfd import SCRFD

        from ..models.insightface_onnx import load_insightface_model

        path = Path(model).expanduser()
        found = load_insightface_model(path, SCRFD, flag=FLAG, expected=EXPECTED, what="an SCRFD face detector")
        if len(found.output_names) not in SCRFD_OUTPUT_COUNTS:
            raise ModelError(f"{FLAG} {path}: not an SCRFD face detector (its graph has {len(found.output_names)} "
                             f"outputs, SCRFD has {'/'.join(map(str, SCRFD_OUTPUT_COUNTS))}); {EXPECTED}")
        found.prepare(-1, input_size=input_size, det_thresh=min_score)
        self._model: SCRFD | None = found
        self.input_size = input_size

    def close(self) -> None:
        """Drop the onnxruntime sessions (they hold the weights) now rather than at garbage collection."""
        self._model = None

    def detect(self, rgb: np.ndarray) -> list[FaceBox]:
        """Every face box in an RGB uint8 frame, with SCRFD's 5 keypoints (eyes, nose, mouth corners).

        Keypoints are (0, 2) for SCRFD variants trained without them.
        """
        if self._model is None:
            raise RuntimeError("ScrfdBoxDetector is closed")
        bgr = np.ascontiguousarray(rgb[..., ::-1])  # insightface follows OpenCV: BGR in
        dets, kpss = self._model.detect(bgr, input_size=self.input_size, max_num=0)
        return [
            FaceBox(
                det[:4].astype(float),
                float(det[4]),
                kpss[i].astype(float) if kpss is not None else np.zeros((0, 2)),
            )
            for i, det in enumerate(dets)
        ]

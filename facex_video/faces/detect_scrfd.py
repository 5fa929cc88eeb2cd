"""Face boxes from insightface's SCRFD, for users who own its ONNX file (e.g. `det_10g.onnx` of buffalo_l).

An optional alternative to the MediaPipe detector in detect.py (DESIGN.md section 3): no SCRFD weights ship
in any package, so FaceX never fetches them; the user passes `--detector-model PATH`. insightface decides
what a file is by its graph (an input of 1x3xHxW and 6, 9, 10 or 15 outputs make an SCRFD), so a wrong
file is caught here, at load time, with a message naming the flag, rather than as a shape error mid-video.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from facex_video.errors import ModelError

from .detect import FaceBox

FLAG = "--detector-model"
EXPECTED = "expected an insightface SCRFD face detector such as det_10g.onnx"
# SCRFD variants insightface knows: 3 or 5 strides, each with scores + boxes (+ 5 keypoints).
SCRFD_OUTPUT_COUNTS = (6, 9, 10, 15)


def _what_it_is(found: object) -> str:
    """What insightface's router made of a file that is not a usable SCRFD, for the error message."""
    from insightface.model_zoo.scrfd import SCRFD

    if found is None:
        return "insightface recognises no model type in it"
    if isinstance(found, SCRFD):
        return f"its graph has {len(found.output_names)} outputs, SCRFD has {'/'.join(map(str, SCRFD_OUTPUT_COUNTS))}"
    task = getattr(found, "taskname", "")
    return f"insightface reads it as {type(found).__name__}" + (f", a {task} model" if task else "")


class ScrfdBoxDetector:
    """insightface SCRFD on the whole frame (letterboxed to `input_size`); same interface as FaceBoxDetector.

    One pass, no tiles: SCRFD's smallest anchors are 16 px at its input size (MediaPipe's detector sees
    192x192), so for small faces in large frames raise `input_size`. A graph with a fixed input size runs
    at that size whatever `input_size` says.
    """

    def __init__(self, model: Path, *, min_score: float = 0.5, input_size: tuple[int, int] = (640, 640)):
        from insightface.model_zoo import get_model
        from insightface.model_zoo.scrfd import SCRFD

        path = Path(model).expanduser()
        if not path.is_file():
            raise ModelError(f"{FLAG} {path}: missing (no such file), {EXPECTED}")
        if path.suffix.lower() != ".onnx":
            # insightface reads any other name as a model-pack name under ~/.insightface, not as a path.
            raise ModelError(f"{FLAG} {path}: insightface only loads files named *.onnx; {EXPECTED}")
        try:
            found = get_model(str(path), providers=["CPUExecutionProvider"])
        except Exception as err:  # onnxruntime and insightface's router raise many unrelated types
            raise ModelError(f"{FLAG} {path}: not a loadable ONNX model ({err}); {EXPECTED}") from err
        if not isinstance(found, SCRFD) or len(found.output_names) not in SCRFD_OUTPUT_COUNTS:
            raise ModelError(f"{FLAG} {path}: not an SCRFD face detector ({_what_it_is(found)}); {EXPECTED}")
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

"""The `inswapper` backend: insightface's inswapper_128.onnx, for users who own it (`--swapper-model PATH`).

The network swaps identity inside a 128 px face crop on insightface's ArcFace layout; the source identity
enters as a 512-D ArcFace embedding mapped through the `emap` matrix stored as the graph's last
initializer. We let insightface's own INSwapper do the alignment (norm_crop2), the latent (embedding @ emap,
normalised) and the colour order, so the model sees exactly what it was trained on; this module only
feeds it the canvas crop's five points, warps the 128 px result back into the 512 px canvas crop and says
where it may replace the canvas: the face oval, minus occluders (hands, glasses stay) and minus the mouth
interior (the target's teeth stay), eroded and feathered so no seam shows, and only where the 128 px
crop reaches.

Swap only: expression, pose, gaze and lighting come from the target crop the network is given.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from ..core.errors import ModelError
from ..faces.blend import feathered_inside
from ..faces.types import LEFT_EYE_CORNERS, MOUTH_CORNERS, NOSE_TIP, RIGHT_EYE_CORNERS
from ..models.insightface_onnx import load_insightface_model
from ..tasks.assemble import AssembledFace
from .base import TrackState, check_renders

FLAG = "--swapper-model"
EXPECTED = "expected insightface's inswapper_128.onnx"
NEEDS_ARCFACE = "inswapper needs an ArcFace embedding: pass --identity-model w600k_r50.onnx"

OUTLINE_SIGMA = 4.0  # px in the 512 crop: a wide feather where the face meets hair, neck and background
HOLE_SIGMA = 1.5  # a narrow one around the mouth interior and occluders, whose edges are sharp anyway
EDGE_PX = 2  # border rows/columns of the 128 px output, which insightface's own paste-back also discards


@dataclass(frozen=True)
class Options:
    """What `--backend inswapper` is given (render/registry.py)."""

    model: str | None = field(default=None, metadata={
        "flag": FLAG, "file": True, "metavar": "inswapper_128.onnx", "help": "for --backend inswapper"})


def check(task: str, options: Options) -> None:
    """Before any work: the model given, loadable, and the task one it renders (loading it is the check)."""
    load(task, options)


def load(task: str, options: Options) -> InswapperRenderer:
    if options.model is None:
        raise ModelError(f"--backend inswapper needs {FLAG} PATH (insightface's inswapper_128.onnx)")
    renderer = InswapperRenderer(options.model)
    check_renders("inswapper", renderer, task)
    return renderer


def five_points(landmarks: np.ndarray) -> np.ndarray:
    """(5, 2) eye centres, nose tip, mouth corners of (478, 3) landmarks: insightface's `kps` order
    (image-left eye first), the points the swapper's alignment was trained on."""
    lm = np.asarray(landmarks, np.float64)
    return np.stack([
        lm[list(RIGHT_EYE_CORNERS), :2].mean(axis=0),
        lm[list(LEFT_EYE_CORNERS), :2].mean(axis=0),
        lm[NOSE_TIP, :2],
        lm[MOUTH_CORNERS[0], :2],
        lm[MOUTH_CORNERS[1], :2],
    ]).astype(np.float32)


class InswapperRenderer:
    """Renders `swap` with a user's inswapper_128.onnx; checked and run once at load time, so a wrong file
    fails with the flag's name before any video is decoded."""

    name = "inswapper"
    tasks = frozenset({"swap"})
    needs_identity = False  # the source's embedding comes with the still; the target's is not used

    def __init__(self, model_path: str | Path):
        from ..models.store import model_path as store_path

        path = store_path("inswapper", override=model_path)
        from insightface.model_zoo.inswapper import INSwapper

        self._model = load_insightface_model(path, INSwapper, flag=FLAG, expected=EXPECTED, what="an inswapper model")
        declared = self._model.session.get_inputs()[1].shape[-1]  # an int, or a name if the graph leaves it open
        emap = np.asarray(self._model.emap)
        if emap.ndim != 2 or (isinstance(declared, int) and emap.shape[1] != declared):
            raise ModelError(f"{FLAG} {path}: its last initializer has shape {emap.shape}, not the "
                             f"(embedding, {declared}) emap matrix; {EXPECTED}")
        self.embedding_dim, latent_dim = (int(n) for n in emap.shape)
        self.size = int(self._model.input_size[0])
        session, names = self._model.session, self._model.input_names
        latent = np.full((1, latent_dim), latent_dim**-0.5, np.float32)
        target = np.zeros((1, 3, self.size, self.size), np.float32)
        try:
            out = session.run(None, {names[0]: target, names[1]: latent})[0]
        except Exception as err:
            raise ModelError(f"{FLAG} {path}: the graph does not run on a face crop ({err}); {EXPECTED}") from err
        if out.shape != (1, 3, self.size, self.size):
            raise ModelError(f"{FLAG} {path}: output of shape {out.shape}, expected (1, 3, {self.size}, "
                             f"{self.size}); {EXPECTED}")

    def _swap(self, rgb: np.ndarray, kps: np.ndarray, embedding: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """insightface's INSwapper.get without paste-back: the swapped 128 px RGB crop and the 2x3 matrix
        taking `rgb` to it. INSwapper works in BGR (it swaps to RGB for the network and back)."""
        from insightface.app.common import Face

        bgr = np.ascontiguousarray(rgb[..., ::-1])
        fake_bgr, m = self._model.get(bgr, Face(kps=kps), Face(embedding=embedding.astype(np.float32)),
                                      paste_back=False)
        return np.ascontiguousarray(fake_bgr[..., ::-1]), m

    def source_embedding(self, assembled: AssembledFace) -> np.ndarray:
        """The source identity as the network needs it, or a ModelError saying how to get it."""
        identity = assembled.identity
        embedding = np.asarray(identity.embedding, np.float32).ravel()
        if not identity.encoder.startswith("arcface:") or embedding.size != self.embedding_dim:
            raise ModelError(f"{NEEDS_ARCFACE} (the source identity is {embedding.size}-D from "
                             f"{identity.encoder})")
        if not np.linalg.norm(embedding) > 0:
            raise ModelError(f"the source identity ({identity.encoder}) is empty: the source face was not embedded")
        return embedding

    def alpha(self, assembled: AssembledFace, m: np.ndarray) -> np.ndarray:
        """Where the swap replaces the canvas: the feathered face (oval minus occluder and mouth interior),
        zero wherever the 128 px crop (less its border) did not reach."""
        masks = assembled.canvas_masks
        size = masks["face_oval"].shape[0]
        inner = np.zeros((self.size, self.size), np.uint8)
        inner[EDGE_PX:-EDGE_PX, EDGE_PX:-EDGE_PX] = 1
        reach = cv2.warpAffine(inner, m, (size, size), flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=0).astype(bool)
        outline = feathered_inside(masks["face_oval"] & reach, OUTLINE_SIGMA)
        holes = feathered_inside(~(masks["occluder"] | masks["mouth_interior"]), HOLE_SIGMA)
        return np.clip(outline * holes, 0.0, 1.0)

    def render(self, assembled: AssembledFace, track_state: TrackState) -> tuple[np.ndarray, np.ndarray]:
        """(crop, alpha) in the canvas crop: the swapped face where alpha > 0, the canvas itself elsewhere."""
        embedding = self.source_embedding(assembled)
        canvas = assembled.canvas_crop
        fake, m = self._swap(canvas, five_points(assembled.canvas_landmarks), embedding)
        size = canvas.shape[0]
        back = cv2.warpAffine(fake, m, (size, size), flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP,
                              borderMode=cv2.BORDER_REPLICATE)
        alpha = self.alpha(assembled, m)
        crop = np.where((alpha > 0)[..., None], back, canvas)
        return crop, alpha

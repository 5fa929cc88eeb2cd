"""FORD identity: who a face belongs to, as one embedding per track (docs/design.md §1-2).

Two encoders share one interface. The default is dlib's ResNet (128-D, Euclidean distance, same person
below 0.6), whose weights ship in a package; users who own an ArcFace ONNX (w600k_r50.onnx, glint360k_r100)
pass `--identity-model PATH` for a 512-D unit vector compared by cosine.

A descriptor costs ~70-90 ms per face on CPU, so it is never computed per frame. Encoding is split in two:
`chip` (the aligned face crop, under 1 ms) and `embed_chips` (the network, batched). TrackIdentity keeps
only the few best chips of each track as frames stream past, embeds them once when the track ends, and
returns their robust mean: a blurred, turned or mis-tracked frame does not move a track's identity.
"""

from __future__ import annotations

import heapq
import itertools
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from ..core.errors import ModelError
from ..faces.align import alignment_matrix, crop_face
from ..faces.types import FaceDetection

FLAG = "--identity-model"
EXPECTED = "expected an insightface ArcFace recognition model such as w600k_r50.onnx"

DLIB_CHIP_SIZE = 150  # the size dlib's ResNet was trained on; its descriptor takes such a chip as is
DLIB_CHIP_PADDING = 0.25  # dlib's own choice in compute_face_descriptor(img, shape)
DLIB_SAME_PERSON = 0.6  # dlib's documented threshold on the Euclidean distance

# frame_quality constants (see its docstring)
FRONTAL_SIGMA_DEG = 30.0
SHARPNESS_CROP = 128  # px: faces are compared at one scale, about the descriptors' working resolution
SHARPNESS_HALF = 0.005  # Laplacian variance (grey in [0, 1]) that scores 0.5
INTEROCULAR_FULL_PX = 80.0


class IdentityEncoder(Protocol):
    """What TrackIdentity and the FORD extractor need from an identity model."""

    name: str
    dim: int
    unit_norm: bool  # embeddings are unit vectors (average them, then re-normalise)

    def chip(self, rgb: np.ndarray, face: FaceDetection) -> np.ndarray: ...

    def embed_chips(self, chips: list[np.ndarray]) -> np.ndarray: ...

    def embed(self, rgb: np.ndarray, face: FaceDetection) -> np.ndarray: ...

    def distance(self, a: np.ndarray, b: np.ndarray) -> float: ...


class DlibIdentityEncoder:
    """dlib's ResNet face descriptor (128-D, Euclidean): the default, its weights come from the model store.

    The .dat files are loaded by path: importing face_recognition_models needs pkg_resources.
    """

    name = "dlib_resnet_v1"
    dim = 128
    unit_norm = False

    def __init__(self) -> None:
        import dlib

        from ..models.store import model_path

        self._dlib = dlib
        self._shape = dlib.shape_predictor(str(model_path("dlib_shape_predictor_5")))
        self._net = dlib.face_recognition_model_v1(str(model_path("dlib_face_recognition")))

    def chip(self, rgb: np.ndarray, face: FaceDetection) -> np.ndarray:
        """150x150 RGB uint8 chip aligned the way dlib's descriptor expects: its own 5-point predictor
        on the face box (its template differs from the mesh's points), then dlib.get_face_chip."""
        rgb = np.ascontiguousarray(rgb)  # dlib rejects strided views such as np.fliplr
        x0, y0, x1, y1 = (int(round(v)) for v in face.box)
        shape = self._shape(rgb, self._dlib.rectangle(x0, y0, x1, y1))
        return self._dlib.get_face_chip(rgb, shape, size=DLIB_CHIP_SIZE, padding=DLIB_CHIP_PADDING)

    def embed_chips(self, chips: list[np.ndarray]) -> np.ndarray:
        """(n, 128) float32 descriptors of chips from `chip`, in one batched call."""
        if not chips:
            return np.zeros((0, self.dim), np.float32)
        descriptors = self._net.compute_face_descriptor([np.ascontiguousarray(c) for c in chips])
        return np.array(descriptors, np.float32).reshape(len(chips), self.dim)

    def embed(self, rgb: np.ndarray, face: FaceDetection) -> np.ndarray:
        """(128,) float32 descriptor of one face (one network pass: ~70-90 ms on CPU)."""
        return self.embed_chips([self.chip(rgb, face)])[0]

    def distance(self, a: np.ndarray, b: np.ndarray) -> float:
        """Euclidean distance; below 0.6 dlib calls it the same person."""
        return float(np.linalg.norm(np.asarray(a, np.float64) - np.asarray(b, np.float64)))


class ArcFaceIdentityEncoder:
    """A user's ArcFace ONNX through insightface (512-D unit vectors, cosine distance).

    insightface picks the model type from the graph's shapes (a square input of 112+ px, a multiple of 16,
    and one output make an ArcFaceONNX) and its input normalisation from the first node names, so the file
    is checked and run once here, at load time: a wrong file fails with the flag's name, not mid-video.
    """

    unit_norm = True

    def __init__(self, path: str | Path):
        from insightface.model_zoo.arcface_onnx import ArcFaceONNX

        from ..models.insightface_onnx import load_insightface_model

        path = Path(path).expanduser()
        found = load_insightface_model(path, ArcFaceONNX, flag=FLAG, expected=EXPECTED, what="an ArcFace model")
        self._model = found
        self.size = int(found.input_size[0])
        batch = found.input_shape[0]
        self._batch = batch if isinstance(batch, int) and batch > 0 else None  # None: any batch size
        try:
            out = self._run([np.zeros((self.size, self.size, 3), np.uint8)])
        except Exception as err:
            raise ModelError(f"{FLAG} {path}: the graph does not run on a face crop ({err}); {EXPECTED}") from err
        if out.ndim != 2 or out.shape[0] != 1:
            raise ModelError(f"{FLAG} {path}: output of shape {out.shape}, expected (1, dim); {EXPECTED}")
        self.dim = int(out.shape[1])
        self.name = f"arcface:{path.name}"

    def chip(self, rgb: np.ndarray, face: FaceDetection) -> np.ndarray:
        """RGB uint8 crop (112x112 for the usual models) on insightface's ArcFace template.

        insightface's 5 points are left-eye-in-image, right-eye-in-image, nose, mouth corners: the order of
        FaceDetection.five_points(). The warp is per channel, so cropping RGB equals cropping BGR."""
        from insightface.utils.face_align import norm_crop

        return norm_crop(np.ascontiguousarray(rgb), landmark=face.five_points(), image_size=self.size)

    def _run(self, chips: list[np.ndarray]) -> np.ndarray:
        """Raw network outputs; insightface wants BGR (it swaps to RGB itself) and a fixed batch if the
        graph has one."""
        bgr = [np.ascontiguousarray(c[..., ::-1]) for c in chips]
        step = self._batch or len(bgr)
        return np.concatenate([self._model.get_feat(bgr[i : i + step]) for i in range(0, len(bgr), step)])

    def embed_chips(self, chips: list[np.ndarray]) -> np.ndarray:
        """(n, dim) float32 unit vectors of chips from `chip`."""
        if not chips:
            return np.zeros((0, self.dim), np.float32)
        out = self._run(chips).astype(np.float32).reshape(len(chips), self.dim)
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)

    def embed(self, rgb: np.ndarray, face: FaceDetection) -> np.ndarray:
        """(dim,) float32 unit vector of one face."""
        return self.embed_chips([self.chip(rgb, face)])[0]

    def distance(self, a: np.ndarray, b: np.ndarray) -> float:
        """1 - cosine similarity: 0 for the same direction, 2 for opposite."""
        a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
        return float(1.0 - a @ b / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-12))


def load_identity_encoder(identity_model: str | Path | None = None) -> DlibIdentityEncoder | ArcFaceIdentityEncoder:
    """dlib from the model store by default; the user's ArcFace ONNX when `--identity-model` names one."""
    if identity_model is None:
        return DlibIdentityEncoder()
    from ..models.store import model_path

    return ArcFaceIdentityEncoder(model_path("arcface", override=identity_model))


def frontality(face: FaceDetection) -> float:
    """exp(-theta^2 / (2 * 30deg^2)), theta = angle between the head's forward axis and the camera's line of
    sight (from the pose matrix; the landmarker's crop is centred on the face, so yaw and pitch both count,
    roll does not). 1 for a frontal face, 0.61 at 30 deg, 0.25 at 50 deg: descriptors degrade with depth
    rotation, not with in-plane rotation, which alignment removes."""
    forward = np.asarray(face.pose_matrix, np.float64)[:3, 2]
    cos_theta = abs(forward[2]) / np.linalg.norm(forward)
    theta = np.degrees(np.arccos(np.clip(cos_theta, 0.0, 1.0)))
    return float(np.exp(-0.5 * (theta / FRONTAL_SIGMA_DEG) ** 2))


def sharpness(rgb: np.ndarray, face: FaceDetection) -> float:
    """v / (v + 0.005), v = variance of the Laplacian of the grey face (values in [0, 1]) aligned to the
    128 px template, inner face only (brows to chin). At one scale, v measures detail at the resolution
    the descriptor sees, whatever the face's size in the frame: a sharp face scores ~0.8, the same face
    blurred by a Gaussian of sigma 1 px ~0.37, of 2 px ~0.13."""
    grey = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
    s = SHARPNESS_CROP
    crop = crop_face(grey, alignment_matrix(face.five_points(), s), s)
    inner = crop[int(0.30 * s) : int(0.85 * s), int(0.25 * s) : int(0.75 * s)]
    v = float(cv2.Laplacian(inner, cv2.CV_32F).var())
    return v / (v + SHARPNESS_HALF)


def size_score(face: FaceDetection) -> float:
    """min(1, inter-ocular distance / 80 px): below that the face has fewer pixels than the descriptor's
    input, above it more pixels add nothing."""
    eyes = face.five_points()[:2]
    return min(1.0, float(np.linalg.norm(eyes[1] - eyes[0])) / INTEROCULAR_FULL_PX)


def frame_quality(rgb: np.ndarray, face: FaceDetection) -> float:
    """How useful this frame is for the track's identity, in [0, 1]: frontality * sharpness * size_score.

    A product, because any one failure (profile, motion blur, a tiny face) spoils the descriptor on its own.
    """
    return frontality(face) * sharpness(rgb, face) * size_score(face)


def robust_identity(
    embeddings: np.ndarray, qualities: np.ndarray, *, top_k: int = 5, unit_norm: bool = False
) -> np.ndarray:
    """A track's identity: the mean of its `top_k` best frames (by quality) after dropping outliers.

    An outlier is farther than twice the median distance from the coordinate-wise median of those frames,
    e.g. a frame where the tracker briefly followed someone else. `unit_norm` (ArcFace) re-normalises the
    mean onto the unit sphere; dlib descriptors are averaged as they are.
    """
    embeddings = np.asarray(embeddings, np.float64)
    if len(embeddings) == 0:
        raise ValueError("robust_identity needs at least one embedding")
    order = np.argsort(-np.asarray(qualities, np.float64), kind="stable")[:top_k]
    best = embeddings[order]
    dist = np.linalg.norm(best - np.median(best, axis=0), axis=1)
    keep = dist <= 2.0 * np.median(dist) + 1e-9  # the tolerance keeps identical frames (all distances 0)
    mean = best[keep].mean(axis=0)
    if unit_norm:
        mean /= max(np.linalg.norm(mean), 1e-12)
    return mean.astype(np.float32)


class TrackIdentity:
    """Per-track identity from a stream of frames in bounded memory: the `top_k` best chips of each track.

    A chip is cut only when its frame beats the track's current k-th best, and descriptors are computed
    once per track, in `finish`. Memory is O(top_k) chips per open track (150x150x3 bytes each for dlib).
    """

    def __init__(self, encoder: IdentityEncoder, *, top_k: int = 5):
        if top_k < 1:
            raise ValueError(f"top_k must be >= 1, got {top_k}")
        self.encoder = encoder
        self.top_k = top_k
        # track id -> min-heap of (quality, -arrival, chip): the root, the first to be replaced, is the worst
        # frame and among equals the latest, so ties go to the earlier frame (and chips are never compared)
        self._kept: dict[int, list[tuple[float, int, np.ndarray]]] = {}
        self._arrival = itertools.count()

    def offer(self, track_id: int, rgb: np.ndarray, face: FaceDetection, quality: float) -> None:
        """Consider one frame of a track (quality e.g. from frame_quality); keep its chip if it is a top_k."""
        heap = self._kept.setdefault(track_id, [])
        if len(heap) >= self.top_k and quality <= heap[0][0]:
            return
        item = (float(quality), -next(self._arrival), self.encoder.chip(rgb, face))
        if len(heap) < self.top_k:
            heapq.heappush(heap, item)
        else:
            heapq.heapreplace(heap, item)

    def best(self, track_id: int) -> list[tuple[float, np.ndarray]]:
        """The kept (quality, chip) pairs of a track, best first (e.g. for a track's thumbnail)."""
        return [(q, chip) for q, _, chip in sorted(self._kept[track_id], key=lambda t: (-t[0], -t[1]))]

    def finish(self, track_id: int) -> np.ndarray:
        """Embed the track's kept chips (one batch), forget the track, and return its robust identity."""
        kept = self.best(track_id)
        del self._kept[track_id]
        embeddings = self.encoder.embed_chips([chip for _, chip in kept])
        qualities = np.array([q for q, _ in kept])
        return robust_identity(embeddings, qualities, top_k=self.top_k, unit_norm=self.encoder.unit_norm)

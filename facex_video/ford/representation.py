"""The unified facial representation (docs/design.md §2): dataclasses with units, and its Arrow schema.

One FacialRepresentation per face per frame, in three groups: identity, intra-personal variation and
environment. Arrays are fixed-size lists in Arrow, units live in field metadata, masks are PNG bytes, so a
Parquet file written here reads back into equal objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
import pyarrow as pa

from ..core.constants import NUM_BLENDSHAPES, NUM_LANDMARKS

MASK_NAMES = (
    "skin", "brows", "eyes", "iris", "lips", "mouth_interior", "face_oval", "hair", "occluder", "background",
)


@dataclass
class Identity:
    """Who the person is: what stays the same across expressions, poses and lighting.

    embedding: (dim,) float32 from `encoder` (dlib: 128-D, compare by Euclidean distance, same person < 0.6;
    ArcFace: 512-D unit vector, compare by cosine). It is the track's robust mean over its best frames.
    neutral_shape: (478, 3) float32 cm, canonical head frame: landmarks with expression removed.
    """

    embedding: np.ndarray
    encoder: str
    neutral_shape: np.ndarray


@dataclass
class HeadPose:
    """Head pose of the canonical face model in the camera frame (see ford/geometry.py for the convention).

    yaw, pitch, roll: degrees. translation: (3,) cm. scale: unitless (face size relative to the canonical model).
    """

    yaw: float
    pitch: float
    roll: float
    translation: np.ndarray
    scale: float


@dataclass
class Gaze:
    """Eye-in-head gaze per eye, degrees (see ford/gaze.py for signs). Eyes are named from the subject."""

    right_yaw: float
    right_pitch: float
    left_yaw: float
    left_pitch: float


@dataclass
class IntraPersonal:
    """What changes within one person: expression, pose, gaze and the landmarks themselves.

    expression: (52,) MediaPipe blendshape weights in [0, 1]. landmarks_image: (478, 3) frame pixels
    (z on the x scale). landmarks_3d: (478, 3) cm in the canonical head frame.
    """

    expression: np.ndarray
    pose: HeadPose
    gaze: Gaze
    landmarks_image: np.ndarray
    landmarks_3d: np.ndarray


@dataclass
class Environment:
    """What surrounds the face: lighting, regions, and where the aligned crop sits in the frame.

    lighting_sh: (9, 3) second-order spherical-harmonic coefficients per RGB channel (linear RGB in [0, 1]).
    masks: name -> (512, 512) bool in the aligned crop (names in MASK_NAMES).
    crop_transform: (2, 3) frame -> aligned 512x512 crop (similarity).
    """

    lighting_sh: np.ndarray
    masks: dict[str, np.ndarray]
    crop_transform: np.ndarray


@dataclass
class FacialRepresentation:
    """One face in one frame of one input."""

    source: str
    frame_index: int
    timestamp: float  # seconds
    track_id: int
    box: np.ndarray  # (4,) frame pixels x0, y0, x1, y1
    identity: Identity
    intra: IntraPersonal
    environment: Environment
    extras: dict[str, bytes] = field(default_factory=dict)  # e.g. "crop_jpeg" for training shards


# ---------------------------------------------------------------------------------------------- Arrow

SCHEMA_VERSION = "1"


def _fixed(value_type, *shape: int):
    """Nested fixed-size lists for an array of `shape` (outermost first)."""
    t = value_type
    for n in reversed(shape):
        t = pa.list_(t, n)
    return t


def _field(name: str, type_, unit: str, doc: str):
    return pa.field(name, type_, nullable=False, metadata={"unit": unit, "doc": doc})


def arrow_schema(embedding_dim: int) -> pa.Schema:
    """The Parquet/Arrow schema of FacialRepresentation rows, for identity embeddings of `embedding_dim`."""
    f32, f64 = pa.float32(), pa.float64()
    fields = [
        _field("source", pa.string(), "path", "input file"),
        _field("frame_index", pa.int64(), "frame", "0-based frame index (0 for an image)"),
        _field("timestamp", f64, "s", "presentation time of the frame"),
        _field("track_id", pa.int32(), "id", "face track within the input"),
        _field("box", _fixed(f32, 4), "px", "x0, y0, x1, y1 in the frame"),
        _field("identity_embedding", _fixed(f32, embedding_dim), "encoder units", "track identity embedding"),
        _field("identity_encoder", pa.string(), "name", "identity encoder (dlib_resnet_v1, arcface:FILE)"),
        _field("neutral_shape", _fixed(f32, NUM_LANDMARKS, 3), "cm", "expression-free 3D landmarks, head frame"),
        _field("expression", _fixed(f32, NUM_BLENDSHAPES), "weight 0..1", "MediaPipe blendshapes"),
        _field("yaw", f64, "deg", "head yaw"),
        _field("pitch", f64, "deg", "head pitch"),
        _field("roll", f64, "deg", "head roll"),
        _field("translation", _fixed(f32, 3), "cm", "head translation, camera frame"),
        _field("scale", f64, "1", "face scale relative to the canonical model"),
        _field("gaze_right_yaw", f64, "deg", "subject's right eye, eye-in-head yaw"),
        _field("gaze_right_pitch", f64, "deg", "subject's right eye, eye-in-head pitch"),
        _field("gaze_left_yaw", f64, "deg", "subject's left eye, eye-in-head yaw"),
        _field("gaze_left_pitch", f64, "deg", "subject's left eye, eye-in-head pitch"),
        _field("landmarks_image", _fixed(f32, NUM_LANDMARKS, 3), "px", "landmarks in the frame (z on the x scale)"),
        _field("landmarks_3d", _fixed(f32, NUM_LANDMARKS, 3), "cm", "landmarks in the canonical head frame"),
        _field("lighting_sh", _fixed(f32, 9, 3), "linear RGB", "2nd-order spherical harmonics per channel"),
        _field("crop_transform", _fixed(f64, 2, 3), "px->px", "frame -> aligned 512x512 crop"),
        *[_field(f"mask_{n}", pa.binary(), "PNG", f"{n} mask in the aligned crop") for n in MASK_NAMES],
        _field("extras", pa.map_(pa.string(), pa.binary()), "bytes", "e.g. crop_jpeg for training shards"),
    ]
    return pa.schema(fields, metadata={"facex.schema_version": SCHEMA_VERSION})


def _png(mask: np.ndarray) -> bytes:
    ok, data = cv2.imencode(".png", np.asarray(mask, bool).astype(np.uint8) * 255)
    if not ok:
        raise ValueError("could not encode a mask as PNG")
    return data.tobytes()


def _unpng(data: bytes) -> np.ndarray:
    grey = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE)
    if grey is None:
        raise ValueError("could not decode a mask PNG")
    return np.greater(grey, 127)


def to_record(rep: FacialRepresentation) -> dict:
    """One Arrow row (a dict of plain Python/NumPy values) of a representation."""
    i, x, e, p, g = rep.identity, rep.intra, rep.environment, rep.intra.pose, rep.intra.gaze
    f32 = np.float32
    return {
        "source": rep.source,
        "frame_index": rep.frame_index,
        "timestamp": rep.timestamp,
        "track_id": rep.track_id,
        "box": np.asarray(rep.box, f32),
        "identity_embedding": np.asarray(i.embedding, f32),
        "identity_encoder": i.encoder,
        "neutral_shape": np.asarray(i.neutral_shape, f32),
        "expression": np.asarray(x.expression, f32),
        "yaw": p.yaw,
        "pitch": p.pitch,
        "roll": p.roll,
        "translation": np.asarray(p.translation, f32),
        "scale": p.scale,
        "gaze_right_yaw": g.right_yaw,
        "gaze_right_pitch": g.right_pitch,
        "gaze_left_yaw": g.left_yaw,
        "gaze_left_pitch": g.left_pitch,
        "landmarks_image": np.asarray(x.landmarks_image, f32),
        "landmarks_3d": np.asarray(x.landmarks_3d, f32),
        "lighting_sh": np.asarray(e.lighting_sh, f32),
        "crop_transform": np.asarray(e.crop_transform, np.float64),
        **{f"mask_{n}": _png(e.masks[n]) for n in MASK_NAMES},
        "extras": list(rep.extras.items()),
    }


def to_table(reps: list[FacialRepresentation], embedding_dim: int | None = None) -> pa.Table:
    """An Arrow table of representations (all with one embedding size)."""
    if embedding_dim is None:
        if not reps:
            raise ValueError("embedding_dim is needed for an empty table")
        embedding_dim = len(reps[0].identity.embedding)
    schema = arrow_schema(embedding_dim)
    columns: dict[str, list] = {f.name: [] for f in schema}
    for rep in reps:
        for k, v in to_record(rep).items():
            columns[k].append(v.tolist() if isinstance(v, np.ndarray) else v)
    return pa.table(columns, schema=schema)


def _array(column: list, dtype) -> np.ndarray:
    return np.array(column, dtype=dtype)


def from_record(row: dict) -> FacialRepresentation:
    """The representation of one Arrow row (as `Table.to_pylist()` gives it)."""
    f32 = np.float32
    return FacialRepresentation(
        source=row["source"],
        frame_index=row["frame_index"],
        timestamp=row["timestamp"],
        track_id=row["track_id"],
        box=_array(row["box"], f32),
        identity=Identity(_array(row["identity_embedding"], f32), row["identity_encoder"],
                          _array(row["neutral_shape"], f32)),
        intra=IntraPersonal(
            expression=_array(row["expression"], f32),
            pose=HeadPose(row["yaw"], row["pitch"], row["roll"], _array(row["translation"], f32), row["scale"]),
            gaze=Gaze(row["gaze_right_yaw"], row["gaze_right_pitch"], row["gaze_left_yaw"], row["gaze_left_pitch"]),
            landmarks_image=_array(row["landmarks_image"], f32),
            landmarks_3d=_array(row["landmarks_3d"], f32),
        ),
        environment=Environment(
            lighting_sh=_array(row["lighting_sh"], f32),
            masks={n: _unpng(row[f"mask_{n}"]) for n in MASK_NAMES},
            crop_transform=_array(row["crop_transform"], np.float64),
        ),
        extras=dict(row["extras"]),
    )


def from_table(table: pa.Table) -> list[FacialRepresentation]:
    return [from_record(row) for row in table.to_pylist()]

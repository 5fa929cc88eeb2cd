"""MediaPipe's canonical face mesh (468 vertices in cm, UVs, 898 triangles) and its named regions.

The mesh ships inside `face_landmarker.task` as `geometry_pipeline_metadata_landmarks.binarypb`, a
GeometryPipelineMetadata protobuf. mediapipe >= 0.10.30 no longer ships the generated protobuf classes, so
the few fields we need are read straight from the wire format (documented in mediapipe's
face_geometry/proto/geometry_pipeline_metadata.proto and mesh_3d.proto).
"""

from __future__ import annotations

import functools
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

GEOMETRY_MEMBER = "geometry_pipeline_metadata_landmarks.binarypb"
NUM_MESH_VERTICES = 468  # landmarks 468..477 are the two irises, which the canonical mesh does not have


@dataclass(frozen=True)
class CanonicalMesh:
    """vertices (468, 3) in cm, canonical head frame (x right of the viewer, y up, z toward the camera);
    uv (468, 2) texture coordinates; triangles (898, 3) vertex indices; procrustes_ids/weights: the
    landmarks MediaPipe weights when it solves the head pose."""

    vertices: np.ndarray
    uv: np.ndarray
    triangles: np.ndarray
    procrustes_ids: np.ndarray
    procrustes_weights: np.ndarray


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = buf[i]
        i += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, i


def _fields(buf: bytes) -> dict[int, list[int | bytes]]:
    """Protobuf wire format -> field number -> raw values (varints as int, everything else as bytes)."""
    out: dict[int, list[int | bytes]] = {}
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        field, wire = key >> 3, key & 7
        value: int | bytes
        if wire == 0:
            value, i = _varint(buf, i)
        elif wire == 2:
            n, i = _varint(buf, i)
            value, i = buf[i : i + n], i + n
        elif wire == 5:
            value, i = buf[i : i + 4], i + 4
        elif wire == 1:
            value, i = buf[i : i + 8], i + 8
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        out.setdefault(field, []).append(value)
    return out


def _message(value: int | bytes) -> bytes:
    """An embedded message field's bytes (a varint where a message belongs means unexpected data)."""
    if not isinstance(value, bytes):
        raise ValueError("expected an embedded protobuf message, found a varint")
    return value


def _floats(values: list) -> np.ndarray:
    """A repeated float field, packed (one bytes blob) or not (one 4-byte blob each)."""
    blob = b"".join(values)
    return np.array(struct.unpack(f"<{len(blob) // 4}f", blob), np.float64)


def _uints(values: list) -> np.ndarray:
    """A repeated uint32 field, packed or not."""
    if values and isinstance(values[0], bytes):
        out, i, blob = [], 0, b"".join(values)
        while i < len(blob):
            v, i = _varint(blob, i)
            out.append(v)
        return np.array(out, np.int64)
    return np.array(values, np.int64)


def parse_geometry_metadata(data: bytes) -> CanonicalMesh:
    """GeometryPipelineMetadata: canonical_mesh = 1 (Mesh3d: vertex_buffer = 3 as x, y, z, u, v per vertex;
    index_buffer = 4 as triangles), procrustes_landmark_basis = 2 (landmark_id = 1, weight = 2)."""
    top = _fields(data)
    mesh = _fields(_message(top[1][0]))
    vb = _floats(mesh[3]).reshape(-1, 5)
    tri = _uints(mesh[4]).reshape(-1, 3)
    ids, weights = [], []
    for entry in top.get(2, []):
        f = _fields(_message(entry))
        ids.append(int(f.get(1, [0])[0]))
        weights.append(float(_floats(f[2])[0]) if 2 in f else 0.0)
    if vb.shape[0] != NUM_MESH_VERTICES or tri.max() >= NUM_MESH_VERTICES:
        raise ValueError(f"unexpected canonical mesh: {vb.shape[0]} vertices, max index {tri.max()}")
    return CanonicalMesh(vb[:, :3], vb[:, 3:], tri, np.array(ids), np.array(weights))


@functools.lru_cache(maxsize=2)
def canonical_mesh(task_file: Path | None = None) -> CanonicalMesh:
    """The canonical mesh of the landmarker model in the store (or of `task_file`)."""
    if task_file is None:
        from ..models.store import model_path

        task_file = model_path("face_landmarker")
    with zipfile.ZipFile(task_file) as z:
        return parse_geometry_metadata(z.read(GEOMETRY_MEMBER))


# Closed contours of MediaPipe's face mesh topology (the same vertex chains as FaceLandmarksConnections'
# FACE_OVAL / LIPS / *_EYE / *_EYEBROW / *_IRIS, which lists them as open polylines; tests check they agree).
# Names use the subject's side, as MediaPipe does: 'right_eye' is on the image's left.
REGION_CONTOURS: dict[str, tuple[int, ...]] = {
    "face_oval": (10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377,
                  152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109),
    "lips_outer": (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 409, 270, 269, 267, 0, 37, 39, 40, 185),
    "lips_inner": (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308, 415, 310, 311, 312, 13, 82, 81, 80, 191),
    "right_eye": (33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246),
    "left_eye": (263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466),
    "right_eyebrow": (70, 63, 105, 66, 107, 55, 65, 52, 53, 46),
    "left_eyebrow": (300, 293, 334, 296, 336, 285, 295, 282, 283, 276),
    "right_iris": (469, 470, 471, 472),
    "left_iris": (474, 475, 476, 477),
}
RIGHT_IRIS_CENTRE = 468
LEFT_IRIS_CENTRE = 473

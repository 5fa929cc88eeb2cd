"""The unified facial representation (DESIGN.md section 4): dataclasses with units, and its Arrow schema.

One FacialRepresentation per face per frame, in three groups: identity, intra-personal variation and
environment. Arrays are fixed-size lists in Arrow, units live in field metadata, masks are PNG bytes, so a
Parquet file written here reads back into equal objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

NUM_LANDMARKS = 478
NUM_BLENDSHAPES = 52
CROP_SIZE = 512
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

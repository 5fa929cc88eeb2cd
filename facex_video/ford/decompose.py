"""FORD on one face: every component of the unified representation from a frame and a tracked face.

Per-frame components (pose, expression, gaze, 3D landmarks, lighting, masks) are computed as frames stream
past. Identity is a property of the whole track (a robust mean over its best frames, and a neutral shape
from its most neutral frames), so `TrackAccumulator` keeps a bounded set of candidates per track and the
track's identity is filled in once the track has ended.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..faces.align import AlignedCrop, align_face
from ..faces.types import TrackedFace
from .gaze import eye_gaze
from .geometry import canonical_landmarks, expression_energy, head_pose, neutral_shape
from .identity import IdentityEncoder, TrackIdentity, frame_quality, load_identity_encoder
from .lighting import fit_sh_lighting
from .regions import ShotRegions, landmarks_to_crop, region_masks
from .representation import NUM_LANDMARKS, Environment, FacialRepresentation, Identity, IntraPersonal

NEUTRAL_CANDIDATES = 15  # most neutral frames kept per track for its neutral shape


@dataclass
class _NeutralCandidates:
    """The k frames of a track with the least expression: (-energy, order, shape) in a max-heap by energy."""

    heap: list = field(default_factory=list)

    def offer(self, energy: float, order: int, shape: np.ndarray, blendshapes: np.ndarray) -> None:
        item = (-energy, order, shape, blendshapes)
        if len(self.heap) < NEUTRAL_CANDIDATES:
            heapq.heappush(self.heap, item)
        elif -energy > self.heap[0][0]:
            heapq.heapreplace(self.heap, item)

    def neutral_shape(self) -> np.ndarray:
        shapes = np.stack([h[2] for h in self.heap])
        blend = np.stack([h[3] for h in self.heap])
        return neutral_shape(shapes, blend).astype(np.float32)


class NeutralShapes:
    """Per-track neutral 3D shape from the track's most neutral frames, with bounded memory per track."""

    def __init__(self) -> None:
        self._tracks: dict[int, _NeutralCandidates] = {}
        self._order = 0

    def offer(self, track_id: int, shape3d: np.ndarray, blendshapes: np.ndarray) -> None:
        self._tracks.setdefault(track_id, _NeutralCandidates()).offer(
            expression_energy(blendshapes), self._order, shape3d, blendshapes
        )
        self._order += 1

    def finish(self, track_id: int) -> np.ndarray:
        """The track's neutral shape (cm); frees its candidates."""
        return self._tracks.pop(track_id).neutral_shape()


def represent_face(
    rgb: np.ndarray, face: TrackedFace, *, source: str, timestamp: float, identity: Identity,
    track_id: int | None = None, aligned: AlignedCrop | None = None, shot: ShotRegions | None = None
) -> FacialRepresentation:
    """Every per-frame component of one face, with `identity` (known, or a placeholder) attached. `aligned`:
    the face's `align_face(rgb, face.five_points())` when the caller needs the crop too (made here if not);
    `shot`: the track's ShotRegions from its last keyframe (made from this frame if not given)."""
    det = face.detection
    landmarks = face.smoothed_landmarks.astype(np.float64)
    aligned = aligned if aligned is not None else align_face(rgb, face.five_points())
    crop, m = aligned.image, aligned.transform
    lm_crop = landmarks_to_crop(landmarks, m)
    masks = region_masks(crop, lm_crop, shot)
    return FacialRepresentation(
        source=source,
        frame_index=face.frame_index,
        timestamp=timestamp,
        track_id=face.track_id if track_id is None else track_id,
        box=np.asarray(det.box, np.float32),
        identity=identity,
        intra=IntraPersonal(
            expression=np.asarray(det.blendshapes, np.float32),
            pose=head_pose(det.pose_matrix),
            gaze=eye_gaze(landmarks),
            landmarks_image=landmarks.astype(np.float32),
            landmarks_3d=canonical_landmarks(landmarks).astype(np.float32),
        ),
        environment=Environment(
            lighting_sh=fit_sh_lighting(crop, lm_crop, masks["skin"]).astype(np.float32),
            masks=masks,
            crop_transform=m,
        ),
    )


class FaceDecomposer:
    """Holds the identity encoder; decomposes faces frame by frame and finishes tracks' identities."""

    def __init__(self, *, identity_model: str | Path | None = None, encoder: IdentityEncoder | None = None,
                 top_k: int = 5):
        """encoder: an already loaded identity encoder (reused across inputs); else `identity_model` or dlib.
        Track state is per input: build one FaceDecomposer per input."""
        self.encoder = encoder if encoder is not None else load_identity_encoder(identity_model)
        self._identity = TrackIdentity(self.encoder, top_k=top_k)
        self._neutral = NeutralShapes()

    @property
    def embedding_dim(self) -> int:
        return self.encoder.dim

    def decompose(
        self, rgb: np.ndarray, face: TrackedFace, *, source: str, timestamp: float, track_id: int | None = None
    ) -> FacialRepresentation:
        """Every per-frame component of one face; identity fields are placeholders until `finish_track`."""
        placeholder = Identity(np.zeros(self.embedding_dim, np.float32), self.encoder.name,
                               np.zeros((NUM_LANDMARKS, 3), np.float32))
        rep = represent_face(rgb, face, source=source, timestamp=timestamp, identity=placeholder, track_id=track_id)
        self._identity.offer(face.track_id, rgb, face.detection, frame_quality(rgb, face.detection))
        self._neutral.offer(face.track_id, rep.intra.landmarks_3d, face.detection.blendshapes)
        return rep

    def finish_track(self, provisional_id: int) -> Identity:
        """The track's identity (embedding over its best frames, neutral shape); frees its candidates."""
        embedding = np.asarray(self._identity.finish(provisional_id), np.float32)
        return Identity(embedding, self.encoder.name, self._neutral.finish(provisional_id))


def aligned_crop_jpeg(rgb: np.ndarray, face: TrackedFace, quality: int = 95) -> bytes:
    """The canonical 512x512 crop of a face as JPEG bytes (training shards store these)."""
    import cv2

    crop = align_face(rgb, face.five_points()).image
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(crop, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("could not encode the aligned crop as JPEG")
    return data.tobytes()

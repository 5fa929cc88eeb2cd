"""How a video is cut into shards: time chunks, the face tracks linked across them, and track segments.

A chunk owns the frames [start, stop) of the output and is analysed from `lead_start` = start - overlap, so
its tracker is warm when its own frames begin and its tracks can be matched with the previous chunk's on
the overlap frames (both chunks saw them). Tracks are broken at shot cuts by the tracker itself, so links
never cross a cut. A track segment is one track inside one chunk: the unit of edit work, processed in frame
order on one worker, warmed up on the overlap frames so the renderer's per-track state (colour statistics,
pose gains) is continuous across chunk borders.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ..core.atomic import atomic_path
from ..core.constants import NUM_LANDMARKS
from ..core.errors import OptionError
from ..faces.detect import box_iou
from ..faces.types import FaceDetection, TrackedFace
from ..ford.decompose import NeutralShapes
from ..ford.geometry import canonical_landmarks

LINK_IOU = 0.5  # mean box IoU over the overlap frames for two chunks' tracks to be one face


@dataclass(frozen=True)
class Chunk:
    """Output frames [start, stop), analysed from lead_start."""

    index: int
    start: int
    stop: int
    lead_start: int

    @property
    def name(self) -> str:
        return f"chunk-{self.index:04d}"


def plan_chunks(frame_count: int, chunk_frames: int, overlap: int) -> list[Chunk]:
    """Chunks of chunk_frames frames (the last one takes the remainder), each led by `overlap` frames."""
    if chunk_frames < 1 or overlap < 0:
        raise ValueError(f"need chunk_frames >= 1 and overlap >= 0, got {chunk_frames}, {overlap}")
    return [Chunk(i, s, min(s + chunk_frames, frame_count), max(0, s - overlap))
            for i, s in enumerate(range(0, frame_count, chunk_frames))]


@dataclass
class ChunkFaces:
    """What analysing one chunk found: every tracked face of frames [lead_start, stop), on the chunk's own
    provisional track ids, and the frames where shots start. Saved as one .npz in the work directory."""

    chunk: Chunk
    pts: dict[int, int]  # frame index -> pts
    faces: dict[int, list[TrackedFace]]  # frame index -> faces
    shot_starts: list[int] = field(default_factory=list)

    def track(self, local_id: int, start: int, stop: int) -> list[TrackedFace]:
        """The faces of one local track on frames [start, stop), in frame order."""
        return [f for i in range(start, stop) for f in self.faces.get(i, []) if f.track_id == local_id]

    def save(self, path: Path) -> None:
        flat = [f for i in sorted(self.faces) for f in self.faces[i]]
        arrays = {
            "chunk": np.array([self.chunk.index, self.chunk.start, self.chunk.stop, self.chunk.lead_start]),
            "frames": np.array(sorted(self.pts), np.int64),
            "pts": np.array([self.pts[i] for i in sorted(self.pts)], np.int64),
            "shot_starts": np.array(self.shot_starts, np.int64),
            "frame": np.array([f.frame_index for f in flat], np.int64),
            "track": np.array([f.track_id for f in flat], np.int64),
            "box": np.array([f.detection.box for f in flat], np.float32).reshape(-1, 4),
            "score": np.array([f.detection.score for f in flat], np.float32),
            # detectors give 6 (MediaPipe), 5 (SCRFD) or, for a re-landmarked tracked box, no keypoints
            "keypoint_count": np.array([len(f.detection.keypoints) for f in flat], np.int64),
            "keypoints": np.concatenate([np.asarray(f.detection.keypoints, np.float32).reshape(-1, 2) for f in flat]
                                        or [np.zeros((0, 2), np.float32)]),
            "landmarks": np.array([f.detection.landmarks for f in flat], np.float32).reshape(-1, NUM_LANDMARKS, 3),
            "blendshapes": np.array([f.detection.blendshapes for f in flat], np.float32).reshape(-1, 52),
            "pose": np.array([f.detection.pose_matrix for f in flat], np.float64).reshape(-1, 4, 4),
            "smoothed": np.array([f.smoothed_landmarks for f in flat], np.float32).reshape(-1, NUM_LANDMARKS, 3),
        }
        with atomic_path(path) as temp, open(temp, "wb") as f:
            np.savez(f, **arrays)  # type: ignore[arg-type]  # mypy matches **arrays against allow_pickle: bool

    @classmethod
    def load(cls, path: Path) -> ChunkFaces:
        with np.load(path) as npz:
            z = {name: npz[name] for name in npz.files}  # each npz[name] access reads the member again
        chunk = Chunk(*(int(v) for v in z["chunk"]))
        faces: dict[int, list[TrackedFace]] = {}
        ends = np.cumsum(z["keypoint_count"])
        for k in range(len(z["frame"])):
            keypoints = z["keypoints"][ends[k] - z["keypoint_count"][k]:ends[k]]
            det = FaceDetection(z["box"][k], float(z["score"][k]), keypoints, z["landmarks"][k],
                                z["blendshapes"][k], z["pose"][k])
            faces.setdefault(int(z["frame"][k]), []).append(
                TrackedFace(int(z["track"][k]), int(z["frame"][k]), det, z["smoothed"][k]))
        pts = dict(zip((int(i) for i in z["frames"]), (int(p) for p in z["pts"]), strict=True))
        return cls(chunk, pts, faces, [int(i) for i in z["shot_starts"]])


@dataclass(frozen=True)
class Segment:
    """Track `track` (final id) inside chunk `chunk`: its chunk-local id and the output frames it covers;
    editing starts at lead_start to warm up the track's renderer state."""

    track: int
    chunk: int
    local_id: int
    start: int
    stop: int
    lead_start: int

    @property
    def name(self) -> str:
        return f"track-{self.track:04d}-chunk-{self.chunk:04d}"


@dataclass
class JobPlan:
    """The linked tracks: segments by chunk, and each final track's neutral shape (cm)."""

    chunks: list[Chunk]
    segments: list[Segment]
    neutral: dict[int, np.ndarray]

    def chunk_segments(self, chunk: int) -> list[Segment]:
        return [s for s in self.segments if s.chunk == chunk]


def selected_tracks(requested: frozenset[int] | set[int] | None, present: Iterable[int],
                    stream: str | Path) -> list[int]:
    """The track ids to edit: every present one, or the requested ones, which must all be present. Track
    ids are known only once the input is analysed, so this runs then, before any edit; an id that is not
    there fails with the ids there are, rather than editing nothing and reporting success."""
    present = sorted(set(present))
    if requested is None:
        return present
    missing = sorted(set(requested) - set(present))
    if missing:
        there = (f"its face tracks are {', '.join(map(str, present))} (see `facex tracks`)" if present
                 else "no face was found in it")
        raise OptionError("--face", f"no track {', '.join(map(str, missing))} in {Path(stream).name}; {there}")
    return sorted(requested)


def _frames_of(cf: ChunkFaces, start: int, stop: int) -> dict[int, dict[int, np.ndarray]]:
    """local id -> {frame -> box} on frames [start, stop)."""
    out: dict[int, dict[int, np.ndarray]] = {}
    for i in range(start, stop):
        for f in cf.faces.get(i, []):
            out.setdefault(f.track_id, {})[i] = f.detection.box
    return out


def _links(prev: ChunkFaces, cur: ChunkFaces) -> dict[int, int]:
    """cur local id -> prev local id for tracks that are the same face on the overlap frames (greedy by
    mean IoU, one to one)."""
    lo, hi = cur.chunk.lead_start, cur.chunk.start
    a, b = _frames_of(prev, lo, hi), _frames_of(cur, lo, hi)
    pairs = []
    for ib, fb in b.items():
        for ia, fa in a.items():
            common = sorted(set(fa) & set(fb))
            if common:
                iou = float(np.mean([box_iou(fa[i], fb[i]) for i in common]))
                if iou >= LINK_IOU:
                    pairs.append((iou, len(common), ib, ia))
    links: dict[int, int] = {}
    used: set[int] = set()
    for _, _, ib, ia in sorted(pairs, reverse=True):
        if ib not in links and ia not in used:
            links[ib] = ia
            used.add(ia)
    return links


def link_tracks(chunk_faces: Iterable[ChunkFaces], min_track_frames: int) -> JobPlan:
    """Final tracks across chunks: chunk tracks joined on their overlaps, those shorter than min_track_frames
    (counting output frames) dropped, the rest numbered by first appearance (ties: detection order), as
    `facex tracks` numbers them; then each track's segments and neutral shape.

    chunk_faces come in chunk order and are streamed: only the previous chunk's faces are kept (to link the
    next one), and a track's neutral shape is finished when the track ends, so planning a long clip holds what
    a short one holds plus a few numbers per segment."""
    Root = tuple[int, int]  # (chunk, local id) where a track first appears
    first: dict[Root, int] = {}  # a track's first owned frame
    owned_count: dict[Root, int] = defaultdict(int)
    pieces: list[tuple[Root, Segment]] = []  # each track segment, numbered once the kept tracks are known
    neutral_of: dict[Root, np.ndarray] = {}
    shapes, new_id = NeutralShapes(), itertools.count()
    shape_ids: dict[Root, int] = {}  # a live track's id in `shapes`
    chunks: list[Chunk] = []
    prev: ChunkFaces | None = None
    prev_roots: dict[int, Root] = {}  # the previous chunk's local id -> root

    def finish(r: Root) -> None:
        shape = shapes.finish(shape_ids.pop(r))
        if owned_count[r] >= min_track_frames:
            neutral_of[r] = shape

    for k, cf in enumerate(chunk_faces):
        c = cf.chunk
        chunks.append(c)
        owned = _frames_of(cf, c.start, c.stop)
        links = _links(prev, cf) if prev is not None else {}
        roots: dict[int, Root] = {}
        for local in sorted(owned):
            r = prev_roots.get(links[local], (k, local)) if local in links else (k, local)
            roots[local] = r
            frames = sorted(owned[local])
            first.setdefault(r, frames[0])
            owned_count[r] += len(frames)
            pieces.append((r, Segment(-1, k, local, frames[0], frames[-1] + 1, c.lead_start)))
            if r not in shape_ids:
                shape_ids[r] = next(new_id)
            for face in cf.track(local, frames[0], frames[-1] + 1):
                shapes.offer(shape_ids[r], canonical_landmarks(face.smoothed_landmarks), face.detection.blendshapes)
        for r in set(prev_roots.values()) - set(roots.values()):  # tracks that ended with the previous chunk
            finish(r)
        prev, prev_roots = cf, roots
    for r in set(prev_roots.values()):
        finish(r)
    kept = sorted(neutral_of, key=lambda r: (first[r], r))
    final = {r: n for n, r in enumerate(kept)}
    segments = sorted((replace(s, track=final[r]) for r, s in pieces if r in final), key=lambda s: (s.chunk, s.track))
    return JobPlan(chunks, segments, {final[r]: neutral_of[r] for r in kept})

"""Plain functions over a whole input: find and track every face, and the passthrough round trip.

Everything streams frame by frame: memory holds one decode chunk, the active tracks' state and a
per-frame box summary per track, however long the clip.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from tqdm import tqdm

from ..faces.align import alignment_matrix, crop_face, paste_face
from ..faces.analyze import FaceAnalyzer
from ..faces.cuts import ShotCutDetector
from ..faces.track import FaceTracker
from ..faces.types import FaceTrack, TrackedFace
from ..media.source import Source

if TYPE_CHECKING:
    from ..ford.dataset import RepresentationWriter
    from ..ford.decompose import FaceDecomposer

log = logging.getLogger("facex_video")


@dataclass
class TrackedFrame:
    """One frame with its faces on provisional track ids (final ids are known after the last frame)."""

    index: int
    pts: int
    rgb: np.ndarray
    faces: list[TrackedFace]
    cut: bool


@dataclass
class TrackingResult:
    """What tracking found in an input: the tracks, the frames where shots start, and the tracker for ids."""

    source: Source
    tracks: list[FaceTrack] = field(default_factory=list)
    shot_starts: list[int] = field(default_factory=list)
    tracker: FaceTracker | None = None

    def final_id(self, provisional: int) -> int | None:
        return self.tracker.final_id(provisional) if self.tracker else None

    def pop_closed(self) -> list[int]:
        """The tracker's pop_closed: provisional ids of the tracks closed since the last call. For use while
        (or after) iterating track_frames, which sets the tracker before the first frame."""
        if self.tracker is None:
            raise RuntimeError("no tracker yet: track_frames has not started")
        return self.tracker.pop_closed()


def min_track_frames(source: Source) -> int:
    """Shortest track kept: 0.2 s of video drops one-off false positives, but never more than the clip
    holds, so a face seen throughout a clip shorter than 0.2 s (or an image) is kept."""
    return 1 if source.is_image else max(1, min(round(0.2 * float(source.fps)), source.frame_count))


def detect_interval(source: Source) -> int:
    """Frames between full detector passes (0.2 s of video): a face entering is found within 0.2 s; in
    between, tracked faces are re-landmarked where the tracker expects them, which skips the detector."""
    return 1 if source.is_image else max(1, round(0.2 * float(source.fps)))


def analyze_tracked(analyzer: FaceAnalyzer, tracker: FaceTracker, index: int, rgb: np.ndarray, full: bool) -> list:
    """This frame's faces: a full detection, or the landmarker on the tracked faces' expected boxes,
    falling back to a full detection when any tracked face is lost (occluded, left the frame)."""
    expected = [] if full else tracker.expected_boxes(index)
    if expected:
        faces = analyzer.analyze(rgb, expected)
        if len(faces) == len(expected):
            return faces
    return analyzer.analyze(rgb)


def track_frames(
    source: Source, analyzer: FaceAnalyzer, result: TrackingResult, *, progress: bool = True, desc: str = "faces",
    start: int = 0, stop: int | None = None,
) -> Iterator[TrackedFrame]:
    """Detect, cut-check and track frames [start, stop) of `source` (default: all); fills `result` once the
    stream is exhausted."""
    tracker = FaceTracker(float(source.fps), min_track_frames=min_track_frames(source))
    result.tracker = tracker  # callers may ask it which tracks closed (pop_closed) while streaming
    cuts = ShotCutDetector()
    interval = detect_interval(source)
    result.shot_starts = [start]
    stop = source.frame_count if stop is None else min(stop, source.frame_count)
    bar = tqdm(total=stop - start, unit="frame", desc=desc, disable=not progress, leave=False)
    try:
        for index, rgb, pts in source.frames(start=start, stop=stop):
            cut = cuts.update(rgb)
            if cut:
                result.shot_starts.append(index)
            full = cut or (index - result.shot_starts[-1]) % interval == 0
            faces = tracker.update(index, analyze_tracked(analyzer, tracker, index, rgb, full), cut=cut)
            yield TrackedFrame(index, pts, rgb, faces, cut)
            bar.update(1)
    finally:
        bar.close()
    result.tracks = tracker.finish()
    if not result.tracks:
        log.warning("%s: no face found; it passes through unchanged", source.path)


def passthrough_frame(frame: TrackedFrame, deep: np.ndarray | None = None) -> np.ndarray:
    """Crop every tracked face to the canonical alignment and paste it back unchanged (the identity edit);
    on `deep`, the same frame at 16 bits, when given."""
    image = frame.rgb if deep is None else deep
    out = image.copy()
    for face in frame.faces:
        m = alignment_matrix(face.five_points())
        paste_face(out, crop_face(image, m), m)
    return out


def track_summary(result: TrackingResult) -> dict:
    """The JSON document `facex tracks` writes."""
    src = result.source
    return {
        "input": str(src.path),
        "kind": "image" if src.is_image else "video",
        "width": src.width,
        "height": src.height,
        "fps": f"{src.fps.numerator}/{src.fps.denominator}",
        "frame_count": src.frame_count,
        "shot_starts": result.shot_starts,
        "tracks": [t.to_dict() for t in result.tracks],
    }


def sample_indices(frame_count: int, n: int = 12) -> list[int]:
    """Frame indices for a contact sheet, evenly spread, first and last included."""
    return sorted({int(round(v)) for v in np.linspace(0, max(frame_count - 1, 0), min(n, max(frame_count, 1)))})


def analyze_frames(
    source: Source,
    analyzer: FaceAnalyzer,
    decomposer: FaceDecomposer,
    writer: RepresentationWriter,
    *,
    with_crops: bool = False,
    progress: bool = True,
    on_frame: Callable[[TrackedFrame, list], None] | None = None,
) -> TrackingResult:
    """FORD on every face of every frame, streamed into `writer`; each track's identity is computed as soon
    as the track closes. with_crops: store each face's aligned 512x512 crop as JPEG (training shards).
    on_frame(frame, representations) sees every frame, e.g. to collect a contact sheet."""
    from ..ford.decompose import aligned_crop_jpeg

    result = TrackingResult(source)
    identities = {}
    try:
        for frame in track_frames(source, analyzer, result, progress=progress, desc="analyze"):
            reps = []
            for face in frame.faces:
                rep = decomposer.decompose(frame.rgb, face, source=str(source.path),
                                           timestamp=source.seconds(frame.pts))
                if with_crops:
                    rep.extras["crop_jpeg"] = aligned_crop_jpeg(frame.rgb, face)
                writer.add(rep)
                reps.append(rep)
            for closed in result.pop_closed():
                identities[closed] = decomposer.finish_track(closed)
            if on_frame:
                on_frame(frame, reps)
        for closed in result.pop_closed():
            identities[closed] = decomposer.finish_track(closed)
        writer.close(identities, result.final_id)
    except BaseException:
        writer.abort()
        raise
    return result

"""The invisible watermark read back from a file's pixels (issue 17): sampled frames, every face in them scored
by faces/watermark.py. `facex verify` prints it beside the metadata mark and the Content Credentials."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from ..edit.stages import sample_indices
from ..faces import watermark
from ..faces.align import alignment_matrix
from ..faces.analyze import FaceAnalyzer
from ..media.source import narrow, open_source

SAMPLES = 24  # frames read from a video: evenly spread over it
FOUND_SHARE = 0.25  # a file counts as watermarked when this share of its sampled frames with a face are


@dataclass(frozen=True)
class FrameReading:
    """One sampled frame: its index and each face's score (left to right)."""

    index: int
    scores: tuple[float, ...]

    @property
    def marked(self) -> bool:
        return any(s > watermark.THRESHOLD for s in self.scores)


@dataclass(frozen=True)
class WatermarkReading:
    """Every sampled frame's reading. found: the frames with a watermarked face; with_faces: those with a
    face at all. marked: found in at least FOUND_SHARE of the frames with a face (one false find in an
    unedited clip's two dozen frames does not mark it; per face, a false find is under 1 %: docs/tuning.md)."""

    frames: tuple[FrameReading, ...]

    @property
    def with_faces(self) -> int:
        return sum(bool(f.scores) for f in self.frames)

    @property
    def found(self) -> int:
        return sum(f.marked for f in self.frames)

    @property
    def marked(self) -> bool:
        return self.found >= max(1, math.ceil(FOUND_SHARE * self.with_faces))

    def summary(self) -> str:
        """The reading in words, with each sampled frame's best face score."""
        if not self.with_faces:
            return f"no face in the {len(self.frames)} sampled frame(s): nothing to read"
        per_frame = ", ".join(f"{f.index}: {max(f.scores):.1f}{' (found)' if f.marked else ''}"
                              for f in self.frames if f.scores)
        return (f"found in {self.found} of {self.with_faces} sampled frame(s) with a face (score above "
                f"{watermark.THRESHOLD:g} marks a face; best per frame: {per_frame})")


def read_watermark(path: str | Path, *, samples: int = SAMPLES, analyzer: FaceAnalyzer | None = None
                   ) -> WatermarkReading:
    """Score every face of `samples` frames of an image, video or image sequence."""
    source = open_source(path)
    own = analyzer is None
    analyzer = analyzer or FaceAnalyzer()
    readings = []
    try:
        for index in sample_indices(source.frame_count, samples):
            for _, rgb, _ in source.frames(start=index, stop=index + 1):
                frame = narrow(rgb)
                residual = watermark.whiten(frame)
                scores = tuple(watermark.score_face(residual, face.landmarks,
                                                    alignment_matrix(face.five_points())).score
                               for face in analyzer.analyze(frame))
                readings.append(FrameReading(index, scores))
    finally:
        if own:
            analyzer.close()
    return WatermarkReading(tuple(readings))

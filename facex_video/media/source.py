"""One view of an input, image or video: its geometry and timing, and its frames streamed in order."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..core.errors import InputError
from . import VideoInfo, is_image_path, probe, read_image
from .decode import iter_frames


@dataclass
class Source:
    """An input to process. A still image is a one-frame source (fps 1) so every stage treats both alike."""

    path: Path
    width: int
    height: int
    fps: Fraction
    frame_count: int
    video: VideoInfo | None  # None for a still image

    @property
    def is_image(self) -> bool:
        return self.video is None

    def seconds(self, pts: int) -> float:
        """Presentation time of a frame in seconds from the stream start (0 for an image)."""
        if self.video is None:
            return 0.0
        return float((pts - self.video.start_pts) * self.video.time_base)

    def frames(self, start: int = 0, stop: int | None = None) -> Iterator[tuple[int, np.ndarray, int]]:
        """(frame index, RGB uint8 frame, pts in the stream time base) for frames [start, stop), streamed."""
        stop = self.frame_count if stop is None else min(stop, self.frame_count)
        if self.video is None:
            if start < stop:
                yield 0, read_image(self.path), 0
            return
        if not 0 <= start <= stop:
            raise ValueError(f"need 0 <= start <= stop, got start={start}, stop={stop}")
        for index, rgb, pts in iter_frames(self.path, self.video, start, stop):
            yield index, rgb, int(pts)


def open_source(path: str | Path) -> Source:
    """Probe an input; raises InputError naming the file for anything unreadable."""
    path = Path(path)
    if not path.exists():
        raise InputError(path, "no such file")
    if is_image_path(path):
        image = read_image(path)
        return Source(path, image.shape[1], image.shape[0], Fraction(1), 1, None)
    info = probe(path)
    return Source(path, info.width, info.height, info.fps, info.frame_count, info)

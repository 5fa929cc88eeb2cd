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

    def frames(self, start: int = 0, stop: int | None = None, *, deep: bool = False
               ) -> Iterator[tuple[int, np.ndarray, int]]:
        """(frame index, RGB frame, pts in the stream time base) for frames [start, stop), streamed; uint8, or
        uint16 on the full 16-bit scale when `deep` (for an output that keeps more than 8 bits)."""
        stop = self.frame_count if stop is None else min(stop, self.frame_count)
        if self.video is None:
            if start < stop:
                image = read_image(self.path)
                yield 0, (widen(image) if deep else image), 0
            return
        if not 0 <= start <= stop:
            raise ValueError(f"need 0 <= start <= stop, got start={start}, stop={stop}")
        for index, rgb, pts in iter_frames(self.path, self.video, start, stop, deep=deep):
            yield index, rgb, int(pts)


def widen(rgb: np.ndarray) -> np.ndarray:
    """uint8 -> uint16 on the full 16-bit scale (x 257: 255 -> 65535), as a deep decode gives it."""
    return rgb.astype(np.uint16) * 257


def narrow(rgb: np.ndarray) -> np.ndarray:
    """uint16 (full 16-bit scale) -> uint8, rounded; uint8 as it is."""
    if rgb.dtype == np.uint8:
        return rgb
    return ((rgb.astype(np.uint32) + 128) // 257).astype(np.uint8)


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

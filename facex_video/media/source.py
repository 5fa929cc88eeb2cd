"""One view of an input, image, video or image sequence: its geometry and timing, and its frames streamed in
order."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..core.errors import InputError
from ..core.fingerprint import input_key
from . import VideoInfo, is_image_path, probe, read_image
from .colour import BT709, LIMITED, Colour
from .decode import iter_frames
from .frame_index import FrameIndex
from .sequence import ImageSequence, is_sequence_path, open_sequence, read_frame, to_display8, to_working
from .timecode import shift_timecode

log = logging.getLogger("facex_video.media")

SEQUENCE_FPS = Fraction(24)  # a sequence's frame rate when --fps does not give one (files carry none)
SRGB_TRC = 13  # AVCOL_TRC_IEC61966_2_1


@dataclass
class Source:
    """An input to process. A still image is a one-frame source (fps 1) so every stage treats both alike."""

    path: Path
    width: int
    height: int
    fps: Fraction
    frame_count: int
    video: VideoInfo | None  # None for a still image; a sequence's timing (pts = frame index at 1 / fps)
    sequence: ImageSequence | None = None  # the frames' files, for an image sequence
    offset: int = 0  # frame 0 here is frame `offset` of the file (a window of it, see `window`)
    full: VideoInfo | None = None  # the whole file's description, which a window decodes with

    def window(self, start: int, stop: int) -> Source:
        """Frames [start, stop) of this video as a clip of their own: indices from 0, pts from 0, the start
        timecode moved to the window's first frame; decoding still checks every frame against the file's index.
        ValueError for a range outside the clip."""
        info = self.video
        if info is None or not 0 <= start < stop <= self.frame_count:
            raise ValueError(f"frames {start}:{stop} are not within the clip's 0:{self.frame_count}")
        pts = info.index.pts[start:stop] - info.index.pts[start]
        index = FrameIndex(pts=pts, key_frames=np.zeros(1, np.int64), key_seek=np.zeros(1, np.int64),
                           exact=info.index.exact, packets=len(pts))
        clip = replace(info, frame_count=len(pts), start_pts=0, index=index,
                       duration=float(pts[-1] * info.time_base + 1 / info.fps),
                       timecode=shift_timecode(info.timecode, start, info.fps))
        return replace(self, frame_count=len(pts), video=clip, offset=self.offset + start, full=self.full or info)

    @property
    def span(self) -> tuple[Fraction, Fraction] | None:
        """A window's (start, end) in seconds of the file's timeline (its audio is cut to it); None: the whole."""
        if self.full is None or self.video is None:
            return None
        start = Fraction(int(self.full.index.pts[self.offset]) - self.full.start_pts) * self.full.time_base
        return start, start + Fraction(self.frame_count) / self.fps

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
        if self.sequence is not None:
            seq = self.sequence
            for index in range(start, stop):
                frame = read_frame(seq.path(self.offset + index))
                if not deep:
                    yield index, to_display8(frame, seq.sample), index
                else:
                    rgb = to_working(frame, seq.sample)
                    yield index, (widen(rgb) if rgb.dtype == np.uint8 else rgb), index
            return
        if self.full is not None:  # a window: decoded and checked as the file's frames, renumbered
            base = int(self.full.index.pts[self.offset])
            for index, rgb, pts in iter_frames(self.path, self.full, self.offset + start, self.offset + stop,
                                               deep=deep):
                yield index - self.offset, rgb, int(pts) - base
            return
        for index, rgb, pts in iter_frames(self.path, self.video, start, stop, deep=deep):
            yield index, rgb, int(pts)


def widen(rgb: np.ndarray) -> np.ndarray:
    """uint8 -> uint16 on the full 16-bit scale (x 257: 255 -> 65535), as a deep decode gives it."""
    return rgb.astype(np.uint16) * 257



def narrow(rgb: np.ndarray) -> np.ndarray:
    """A working frame in uint8, rounded: uint16 (full 16-bit scale), float (1.0 = white, clipped); uint8 as
    it is."""
    if rgb.dtype == np.uint8:
        return rgb
    if np.issubdtype(rgb.dtype, np.floating):
        return np.clip(rgb * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return ((rgb.astype(np.uint32) + 128) // 257).astype(np.uint8)


def open_source(path: str | Path, fps: Fraction | None = None) -> Source:
    """Probe an input; raises InputError naming the file for anything unreadable. fps: an image sequence's
    frame rate (default SEQUENCE_FPS); a video's own rate is never overridden."""
    path = Path(path)
    if is_sequence_path(path):
        return _sequence_source(path, fps)
    if not path.exists():
        raise InputError(path, "no such file")
    if is_image_path(path):
        image = read_image(path)
        return Source(path, image.shape[1], image.shape[0], Fraction(1), 1, None)
    info = probe(path)
    return Source(path, info.width, info.height, info.fps, info.frame_count, info)


def _sequence_source(pattern: Path, fps: Fraction | None) -> Source:
    """An image sequence as a video source: frame i is file number first + i, at pts i in a 1 / fps time base;
    its pixels are sRGB (Rec. 709 primaries), which a video output is encoded from."""
    seq = open_sequence(pattern)
    if fps is None:
        log.info("%s: an image sequence has no frame rate; taken as %s fps (--fps sets it)", pattern, SEQUENCE_FPS)
    rate = Fraction(fps) if fps is not None else SEQUENCE_FPS
    pts = np.arange(seq.count, dtype=np.int64)
    info = VideoInfo(
        path=pattern, container="image2", codec=pattern.suffix.lower().lstrip("."), width=seq.width,
        height=seq.height, fps=rate, time_base=1 / rate, frame_count=seq.count, duration=float(seq.count / rate),
        rotation=0, pix_fmt="rgb48le" if seq.deep else "rgb24", audio=(), start_pts=0,
        index=FrameIndex(pts=pts, key_frames=pts, key_seek=pts, exact=True, packets=seq.count),
        colour=Colour(BT709, SRGB_TRC, BT709, LIMITED))
    return Source(pattern, seq.width, seq.height, rate, seq.count, info, seq)


def content_key(path: str | Path) -> str:
    """An input named by its content (core/fingerprint.input_key): a sequence by all of its frames' files."""
    if is_sequence_path(path):
        seq = open_sequence(path)
        return "+".join(input_key(seq.path(i)) for i in range(seq.count))
    return input_key(path)

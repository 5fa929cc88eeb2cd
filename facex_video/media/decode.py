"""Frame-exact streaming decode: frame i is the frame a plain sequential decode gives for index i, always.

Decoding of frames [start, stop) starts at the last keyframe presented at or before `start` (a seek, so a
chunk in the middle of a long clip does not decode the clip from its beginning), decodes forward and hands
on only frames whose pts match the demuxer's index (media/frame_index.py), in order. A frame missing,
repeated or out of place is an InputError naming the file and the frame, never a silent substitute. A seek
that lands after the wanted frame (demuxers seek by dts or by byte position, not all exactly) is retried
from the keyframe before, and finally from the file's start.

decord was the fast path until it returned other frames than asked: `get_batch([192, 193])` on an MPEG-4
Part 2 AVI with B-frames gave frames 155 and 156 (tests/test_frame_exact.py reproduces it), and its
background decoding held gigabytes. PyAV decodes to RGB at ~3 ms per 720p frame here, so nothing is left
for a second decoder to win.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from ..core.errors import InputError
from .colour import Colour
from .container import first_video_stream
from .probe import VideoInfo, probe

log = logging.getLogger("facex_video.media")


@dataclass
class FrameChunk:
    """Consecutive frames start, start+1, ... of a clip; each chunk owns its arrays."""

    start: int
    frames: np.ndarray  # (n, H, W, 3) uint8 RGB, upright (rotation applied)
    pts: np.ndarray  # (n,) int64, in the stream time base


class _LandedLate(Exception):
    """A seek put the decoder after the wanted frame: try again from an earlier keyframe."""


def iter_chunks(
    path: str | Path, *, chunk_size: int = 32, info: VideoInfo | None = None, start: int = 0, stop: int | None = None
) -> Iterator[FrameChunk]:
    """Frames [start, stop) (default: to the end), once each, in presentation order, chunk_size at a time."""
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    path = Path(path)
    info = info or probe(path)  # here, not on first next(): bad input fails at the call
    stop = info.frame_count if stop is None else min(stop, info.frame_count)
    if not 0 <= start <= stop:
        raise ValueError(f"need 0 <= start <= stop, got start={start}, stop={stop}")
    return _chunks(path, info, chunk_size, start, stop)


def _chunks(path: Path, info: VideoInfo, chunk_size: int, start: int, stop: int) -> Iterator[FrameChunk]:
    shape = (info.height, info.width, 3)
    frames = np.empty((min(chunk_size, max(stop - start, 1)), *shape), np.uint8)
    pts = np.empty(len(frames), np.int64)
    n = 0
    for index, rgb, frame_pts in iter_frames(path, info, start, stop):
        frames[n], pts[n] = rgb, frame_pts
        n += 1
        if n == len(frames):
            yield FrameChunk(index + 1 - n, frames, pts)
            frames, pts, n = np.empty_like(frames), np.empty_like(pts), 0
    if n:
        yield FrameChunk(stop - n, frames[:n], pts[:n])


def iter_frames(path: Path, info: VideoInfo, start: int, stop: int, *, deep: bool = False
                ) -> Iterator[tuple[int, np.ndarray, int]]:
    """(index, upright RGB frame, pts) for frames [start, stop), one at a time: each frame is the array the
    decoder's conversion made, not copied into a batch (media.source.Source.frames streams these; a batch of
    fresh 32-frame arrays per chunk cost ~1.7 ms a 720p frame in copies and page faults).

    RGB is uint8, or uint16 (full 16-bit scale) when `deep`: a 10-bit plate's values outside an edited face
    survive to the encoder. The YUV matrix and range are the stream's (media/colour.py: an untagged HD
    stream is Rec. 709, as players take it), never libswscale's silent Rec. 601 default."""
    shape = (info.height, info.width, 3)
    turns = info.rotation // 90  # np.rot90 turns counter-clockwise, like the display matrix angle
    colour = info.colour or Colour.default(info.width, info.height)
    fmt = "rgb48le" if deep else "rgb24"
    for index, frame, frame_pts in iter_decoded(path, info, start, stop):
        rgb: np.ndarray = frame.to_ndarray(format=fmt, src_colorspace=colour.sws_matrix,
                                           src_color_range=colour.sws_range)
        if turns:
            rgb = np.ascontiguousarray(np.rot90(rgb, turns))
        if rgb.shape != shape:
            raise InputError(path, f"frame {index} is {rgb.shape[1]}x{rgb.shape[0]} upright, "
                                   f"expected {info.width}x{info.height} (size changes mid-stream)")
        yield index, rgb, frame_pts


def iter_decoded(path: Path, info: VideoInfo, start: int, stop: int) -> Iterator[tuple[int, av.VideoFrame, int]]:
    """(index, decoded frame, pts) for frames [start, stop), each checked against the index."""
    if start >= stop:
        return
    seek = info.index.seek_point(start)
    while True:
        try:
            yield from _decode_from(path, info, seek, start, stop)
            return
        except _LandedLate:
            if seek is None:  # only a seek can land late: decoding from the file's start has nothing earlier
                raise
            log.info("%s: seek for frame %d landed late; retrying from an earlier keyframe", path, start)
            seek = info.index.earlier(seek)


def _decoded_frames(container: av.container.InputContainer, seek: tuple[int, int] | None) -> Iterator[av.VideoFrame]:
    """Every frame the decoder outputs, from `seek`'s keyframe (None: the file's start) on. Raises _LandedLate
    when a seek stopped mid-GOP (a byte-position seek): decoding there would start from a broken reference."""
    stream = first_video_stream(container)
    if stream is None:
        raise InputError(container.name, "no video stream")
    stream.thread_type = "AUTO"
    check_keyframe = seek is not None
    if seek is not None:
        container.seek(seek[1], stream=stream, backward=True)
    for packet in container.demux(stream):
        if check_keyframe and packet.size:
            if not packet.is_keyframe:
                raise _LandedLate
            check_keyframe = False
        yield from packet.decode()


def _decode_from(path: Path, info: VideoInfo, seek: tuple[int, int] | None, start: int, stop: int
                 ) -> Iterator[tuple[int, av.VideoFrame, int]]:
    """Frames start..stop-1 decoded from `seek`'s keyframe (None: the file's start). Raises _LandedLate (before
    yielding anything) when the first frame at or after start's pts is not start's."""
    index = info.index
    expected = start
    counted = 0  # frames decoded from the file's start, for an index without usable pts
    late = seek is not None  # a frame past start's pts may still mean the seek landed late
    with av.open(str(path)) as container:
        try:
            for frame in _decoded_frames(container, seek):
                if not index.exact:  # no usable pts: frames are identified by their count from the start
                    counted += 1
                    if counted <= start:
                        continue
                    frame_pts = _counted_pts(info, frame, expected)
                elif frame.pts is None:
                    raise InputError(path, f"frame {expected}: the decoder gave a frame without a timestamp "
                                           f"where the index has pts {index.pts[expected]}")
                elif expected == start and frame.pts < index.pts[start]:
                    continue  # before the wanted frames (or a leading frame of an open GOP)
                elif frame.pts != index.pts[expected]:
                    if late and expected == start:
                        raise _LandedLate
                    raise _disagree(path, info, expected, frame.pts)
                else:
                    frame_pts = int(frame.pts)
                yield expected, frame, frame_pts
                expected += 1
                if expected >= stop:
                    return
        except av.FFmpegError as e:
            raise InputError(path, f"frame {expected} of {info.frame_count} does not decode: "
                                   f"truncated: expected {info.frame_count} frames, decoded {expected} "
                                   f"({e.strerror})") from None
    if late and expected == start:
        raise _LandedLate  # the seek went past every wanted frame
    raise InputError(path, f"frame {expected} of {info.frame_count} is missing: truncated: expected "
                           f"{info.frame_count} frames, decoded {expected}")


def _counted_pts(info: VideoInfo, frame: av.VideoFrame, index: int) -> int:
    step = 1 / (info.fps * info.time_base)  # pts ticks per frame, for frames without a pts
    return int(frame.pts) if frame.pts is not None else info.start_pts + round(index * step)


def _disagree(path: Path, info: VideoInfo, expected: int, got: int) -> InputError:
    """The decoder and the index disagree at frame `expected`: say how."""
    pts = info.index.pts
    where = int(np.searchsorted(pts, got))
    if where < len(pts) and pts[where] == got:
        what = (f"the decoder gave frame {where} again" if where < expected
                else f"the decoder skipped to frame {where}")
    else:
        what = f"the decoder gave pts {got}, which the index does not have"
    return InputError(path, f"frame {expected}: index and decode disagree ({what}; expected pts {pts[expected]})")

"""Streaming decode in fixed-size chunks, so memory stays flat however long the clip is.

decord is the first choice (batched decode); PyAV is the fallback and the reference. Both yield the same
upright RGB pixels and the same integer pts (tests/test_media.py checks this on real encodes).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from ..errors import InputError
from .probe import VideoInfo, first_video_stream, probe

log = logging.getLogger("facex_video.media")

BACKENDS = ("auto", "decord", "pyav")


@dataclass
class FrameChunk:
    """Consecutive frames start, start+1, ... of a clip; each chunk owns its arrays."""

    start: int
    frames: np.ndarray  # (n, H, W, 3) uint8 RGB, upright (rotation applied)
    pts: np.ndarray  # (n,) int64, in the stream time_base


def iter_chunks(
    path: str | Path, *, chunk_size: int = 32, backend: str = "auto", info: VideoInfo | None = None, start: int = 0
) -> Iterator[FrameChunk]:
    """Every frame from index `start` on, once, in presentation order, chunk_size at a time.

    backend "auto" uses decord when it opens the file, agrees with the demuxer on the frame count and
    decodes the first chunk at the probed size; otherwise PyAV. Raises InputError
    "truncated: expected N frames, decoded M" when the data ends before the promised frames.
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    if start < 0:
        raise ValueError(f"start must be >= 0, got {start}")
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    path = Path(path)
    info = info or probe(path)  # here, not on first next(): bad input fails at the call
    chunks = {"pyav": _pyav_chunks, "decord": _decord_chunks, "auto": _auto_chunks}[backend]
    return chunks(path, info, chunk_size, start)


def _auto_chunks(path: Path, info: VideoInfo, chunk_size: int, start: int) -> Iterator[FrameChunk]:
    chunks = _decord_chunks(path, info, chunk_size, start)
    try:
        first = next(chunks, None)
    except InputError as e:
        log.info("decord cannot decode %s (%s); using PyAV", path, e.problem)
        yield from _pyav_chunks(path, info, chunk_size, start)
        return
    if first is not None:
        yield first
        yield from chunks


def _truncated(path: Path, info: VideoInfo, decoded: int, detail: str = "") -> InputError:
    suffix = f" ({detail})" if detail else ""
    return InputError(path, f"truncated: expected {info.frame_count} frames, decoded {decoded}{suffix}")


def _presentation_pts(path: Path, info: VideoInfo) -> np.ndarray:
    """Exact int pts of every frame from the packets (decord only reports float32 seconds)."""
    pts: list[int] = []
    with av.open(str(path)) as container:
        stream = first_video_stream(container)
        try:
            for packet in container.demux(stream):
                if packet.size and not packet.is_discard and packet.pts is not None:
                    pts.append(packet.pts)
        except av.FFmpegError as e:
            raise _truncated(path, info, len(pts), f"demuxing failed: {e.strerror}") from None
    return np.sort(np.asarray(pts, dtype=np.int64))


def _decord_chunks(path: Path, info: VideoInfo, chunk_size: int, start: int = 0) -> Iterator[FrameChunk]:
    import decord

    try:
        reader = decord.VideoReader(str(path), ctx=decord.cpu(0))
    except (RuntimeError, decord.DECORDError) as e:
        raise InputError(path, f"decord cannot open the file ({str(e).splitlines()[0]})") from None
    pts = _presentation_pts(path, info)
    if len(reader) != len(pts):
        raise InputError(path, f"decord indexes {len(reader)} frames but the demuxer finds {len(pts)}")
    shape = (info.height, info.width, 3)
    for first in range(start, len(pts), chunk_size):
        stop = min(first + chunk_size, len(pts))
        try:
            frames = reader.get_batch(list(range(first, stop))).asnumpy()
        except decord.DECORDError as e:  # truncated data, or decord's own bugs (e.g. 48 px wide frames)
            detail = str(e).splitlines()[0]
            raise InputError(path, f"decord failed after {first} of {len(pts)} frames ({detail})") from None
        if frames.shape[1:] != shape:
            raise InputError(path, f"decord returned frames of shape {frames.shape[1:]}, expected {shape}")
        yield FrameChunk(first, frames, pts[first:stop].copy())
    if len(pts) < info.frame_count:
        raise _truncated(path, info, len(pts))


def _pyav_chunks(path: Path, info: VideoInfo, chunk_size: int, start: int = 0) -> Iterator[FrameChunk]:
    """Decodes from the first frame (exact under any GOP structure) and converts from `start` on."""
    turns = info.rotation // 90  # np.rot90 turns counter-clockwise, like the display matrix angle
    shape = (info.height, info.width, 3)
    step = 1 / (info.fps * info.time_base)  # pts ticks per frame, for frames without a pts
    with av.open(str(path)) as container:
        stream = first_video_stream(container)
        stream.thread_type = "AUTO"
        decoded = 0
        frames = np.empty((chunk_size, *shape), np.uint8)
        pts = np.empty(chunk_size, np.int64)
        n = 0
        try:
            for frame in container.decode(stream):
                if decoded < start:
                    decoded += 1
                    continue
                rgb = frame.to_ndarray(format="rgb24")
                if turns:
                    rgb = np.rot90(rgb, turns)
                if rgb.shape != shape:
                    raise InputError(path, f"frame {decoded} is {rgb.shape[1]}x{rgb.shape[0]} upright, "
                                     f"expected {info.width}x{info.height} (size changes mid-stream)")
                frames[n] = rgb
                pts[n] = frame.pts if frame.pts is not None else info.start_pts + round(decoded * step)
                n += 1
                decoded += 1
                if n == chunk_size:
                    yield FrameChunk(decoded - n, frames, pts)
                    frames = np.empty((chunk_size, *shape), np.uint8)
                    pts = np.empty(chunk_size, np.int64)
                    n = 0
        except av.FFmpegError as e:
            if decoded < info.frame_count:
                raise _truncated(path, info, decoded, e.strerror) from None
            log.warning("%s: decoding stopped after all %d expected frames: %s", path, decoded, e.strerror)
        if n:
            yield FrameChunk(decoded - n, frames[:n], pts[:n])
    if decoded < info.frame_count:
        raise _truncated(path, info, decoded)

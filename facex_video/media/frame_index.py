"""The demuxer's index of a video stream: every frame's presentation timestamp and where decoding can start.

A decoder's own frame count is never trusted (decord's random access returned other frames than asked on
AVI and B-frame files; see media/decode.py): the index is built once per file from the packets alone, and
every decoded frame is checked against it. This is what FFmpegSource and torchcodec's "exact" seek mode do.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from ..core.errors import InputError
from .container import first_video_stream, open_input


@dataclass(frozen=True)
class FrameIndex:
    """Frame i of the stream is the frame presented at pts[i] (stream time base), i = 0..count-1.

    exact: every shown packet has its own pts, so decoded frames can be matched to indices one by one and
    decoding may start at a keyframe. When pts are missing or repeated (raw streams, broken muxers), frames are
    identified by counting from the first one, which is exact but cannot seek.
    """

    pts: np.ndarray  # (count,) int64, ascending
    key_frames: np.ndarray  # (k,) int64 indices i whose packet is a keyframe, ascending
    key_seek: np.ndarray  # (k,) int64: the timestamp to seek to for key_frames[j] (its packet's dts, else pts)
    exact: bool
    packets: int  # every video packet with data, those an edit list hides included (what a container counts)

    @property
    def count(self) -> int:
        return len(self.pts)

    def seek_point(self, index: int) -> tuple[int, int] | None:
        """(frame index, seek timestamp) of the last keyframe presented at or before frame `index`; None when
        decoding must start at the beginning (no keyframe before it, or the index cannot seek)."""
        if not self.exact:
            return None
        j = int(np.searchsorted(self.key_frames, index, side="right")) - 1
        return None if j < 0 else (int(self.key_frames[j]), int(self.key_seek[j]))

    def earlier(self, seek: tuple[int, int]) -> tuple[int, int] | None:
        """The keyframe before `seek`'s, for a seek that landed too late; None: start at the beginning."""
        j = int(np.searchsorted(self.key_frames, seek[0], side="left")) - 1
        return None if j < 0 else (int(self.key_frames[j]), int(self.key_seek[j]))


@dataclass(frozen=True)
class DemuxScan:
    """One pass over a file's packets, nothing decoded: the video index and each audio stream's span."""

    index: FrameIndex
    audio_seconds: dict[int, float]  # audio stream index -> seconds from its first to its last sample


def scan(path: Path, container: av.container.InputContainer, video, audios) -> DemuxScan:
    """Read every packet of `video` and `audios` once; InputError naming the file when demuxing fails."""
    rows: list[tuple[int | None, int | None, bool]] = []  # (pts, dts, keyframe) of each shown video packet
    packets = 0
    audio_span: dict[int, tuple[int, int]] = {}
    try:
        for packet in container.demux([video, *audios]):
            if packet.size == 0:  # the demuxer's end-of-stream marker
                continue
            if packet.stream.index == video.index:
                packets += 1
                if not packet.is_discard:  # hidden by an edit list: decoded as a reference, never shown
                    rows.append((packet.pts, packet.dts, packet.is_keyframe))
            elif packet.pts is not None:
                stop = packet.pts + (packet.duration or 0)
                lo, hi = audio_span.get(packet.stream.index, (packet.pts, stop))
                audio_span[packet.stream.index] = (min(lo, packet.pts), max(hi, stop))
    except av.FFmpegError as e:
        raise InputError(path, f"corrupt or truncated: demuxing failed after {len(rows)} frames "
                               f"({e.strerror})") from None
    audio_tb = {a.index: Fraction(a.time_base) for a in audios}
    audio_seconds = {i: float((hi - lo) * audio_tb[i]) for i, (lo, hi) in audio_span.items()}
    return DemuxScan(_index(rows, packets), audio_seconds)


def _index(rows: list[tuple[int | None, int | None, bool]], packets: int) -> FrameIndex:
    pts = [r[0] for r in rows]
    exact = bool(rows) and None not in pts and len(set(pts)) == len(pts)
    if not exact:
        empty = np.zeros(0, np.int64)
        return FrameIndex(np.arange(len(rows), dtype=np.int64), empty, empty, False, packets)
    order = np.argsort(np.asarray(pts, np.int64), kind="stable")
    sorted_pts = np.asarray(pts, np.int64)[order]
    position = np.empty(len(rows), np.int64)  # decode-order row -> presentation index
    position[order] = np.arange(len(rows))
    keys = [(int(position[k]), r[1] if r[1] is not None else r[0]) for k, r in enumerate(rows) if r[2]]
    keys.sort()
    return FrameIndex(sorted_pts, np.array([k for k, _ in keys], np.int64), np.array([s for _, s in keys], np.int64),
                      True, packets)


@functools.lru_cache(maxsize=8)
def _cached_scan(path: str, size: int, mtime_ns: int) -> DemuxScan:
    with open_input(Path(path)) as container:
        video = first_video_stream(container)
        if video is None:
            raise InputError(path, "no video stream")
        return scan(Path(path), container, video, list(container.streams.audio))


def scan_file(path: str | Path) -> DemuxScan:
    """scan() of a file, once per process while the file is unchanged (every shard worker needs the index)."""
    stat = Path(path).stat()
    return _cached_scan(str(path), stat.st_size, stat.st_mtime_ns)


def forget_scans() -> None:
    """Drop the per-process cache of scan_file (benchmarks time a cold read)."""
    _cached_scan.cache_clear()

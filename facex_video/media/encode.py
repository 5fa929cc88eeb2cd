"""H.264 encoding with the source's exact frame rate and timestamps, its audio muxed back, written atomically.

Video is encoded into a hidden temporary beside the destination; when audio is wanted, the finished video
packets and the source's audio are remuxed into a second temporary; only a complete file is renamed onto
the destination. A failure (or an exception inside `with VideoWriter(...)`) leaves nothing behind.
"""

from __future__ import annotations

import functools
import heapq
import io
import itertools
import logging
import os
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import cast

import av
import numpy as np
from av.audio.codeccontext import AudioCodecContext

from ..core.atomic import partial_path, write_failed
from ..core.errors import InputError
from ._output import WholeOrNothing, check_output_path
from .container import open_input
from .encode_thread import EncoderThread
from .formats import Encoding, VideoCoding, coding_for
from .marks import EditMark
from .probe import VideoInfo

log = logging.getLogger("facex_video.media")

# Extension -> FFmpeg muxer. H.264 in these plays everywhere; .avi/.webm are left out (no B-frame
# friendly timestamps / no H.264).
VIDEO_FORMATS = {".mp4": "mp4", ".m4v": "ipod", ".mov": "mov", ".mkv": "matroska"}


# Audio codecs stream-copied into each muxer (and only if FFmpeg's muxer accepts them); anything else is
# transcoded to AAC. MP4 can technically hold PCM, but few players read it, so PCM is copied only into
# .mov/.mkv. None: whatever the muxer accepts.
_COPY_AUDIO: dict[str, frozenset[str] | None] = {
    "mp4": frozenset({"aac", "mp3", "alac", "opus", "flac", "ac3", "eac3"}),
    "ipod": frozenset({"aac", "alac", "ac3"}),
    "mov": frozenset({"aac", "mp3", "alac", "ac3", "eac3", "pcm_s16le", "pcm_s16be", "pcm_s24le", "pcm_s24be",
                      "pcm_s32le", "pcm_s32be", "pcm_f32le", "pcm_f32be"}),
    "matroska": None,
}
_AAC_LAYOUTS = {1: "mono", 2: "stereo", 3: "3.0", 4: "4.0", 5: "5.0", 6: "5.1", 7: "6.1", 8: "7.1"}
_LOSSLESS = frozenset({"pcm_s16le", "pcm_s16be", "pcm_s24le", "pcm_s24be", "pcm_s32le", "pcm_s32be", "pcm_f32le",
                       "pcm_f32be", "flac", "alac"})  # audio a window re-encodes without loss
_AAC_RATES = frozenset({96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350})
FASTSTART = {"movflags": "+faststart"}  # index up front so players can start before the download ends


def muxer_options(muxer: str, time_base: Fraction | None) -> dict[str, str]:
    """Options that keep every frame's time exact in `muxer`.

    MP4/MOV: the index up front, and the movie timescale equal to the video track's. FFmpeg's default movie
    timescale is 1000, and the edit list that places a first frame at a pts other than 0 (an AVI's B-frame
    delay, a clip cut from a longer one) is written in it: 1001/24000 s became 41/1000 s, so every frame
    played 0.7 ms early (measured; tests/test_frame_exact.py). The track timescale is FFmpeg's own choice
    (the time base's denominator, doubled until >= 10000), stated so both agree."""
    if muxer == "matroska":
        return {}
    if time_base is None:
        raise ValueError(f"{muxer}: a video stream without a time base cannot be given an exact timescale")
    timescale = Fraction(time_base).denominator
    while timescale < 10000:
        timescale *= 2
    # use_metadata_tags: MP4/MOV keep the edit mark's custom key (media/marks.py), which they drop otherwise
    return {"movflags": FASTSTART["movflags"] + "+use_metadata_tags", "video_track_timescale": str(timescale),
            "movie_timescale": str(timescale)}

def output_check(path: str | Path) -> None:
    """Raise OutputError now if the video could not be written later (extension, folder, permissions)."""
    check_output_path(Path(path), VIDEO_FORMATS, "video")


def plan_coding(path: str | Path, encoding: Encoding, source: VideoInfo | None, width: int, height: int
                ) -> VideoCoding:
    """The coding a video written to `path` will get (media/formats.coding_for), worked out before any frame
    is made: an OutputError (a codec its container cannot hold) fails the run at its start, and a job decides
    `same` once, for every chunk (and says so once)."""
    muxer = VIDEO_FORMATS[Path(path).suffix.lower()]
    with av.open(io.BytesIO(), "w", format=muxer) as container:
        supported = set(container.supported_codecs)
    return coding_for(encoding, source, width, height, muxer, supported, output=str(path))


def add_video_stream(container: av.container.OutputContainer, coding: VideoCoding, fps: Fraction, width: int,
                     height: int, *, time_base: Fraction, timecode: str | None = None) -> av.video.stream.VideoStream:
    """A stream of `coding` at exactly fps, pts in time_base, tagged with the coding's colour (the colour the
    RGB -> YUV conversion of `yuv_frame` uses) and, when given, the start timecode (a MOV/MP4 tmcd track)."""
    stream = cast(av.video.stream.VideoStream, container.add_stream(coding.encoder, rate=fps))
    stream.width, stream.height, stream.pix_fmt = width, height, coding.pix_fmt
    stream.options = dict(coding.options)
    ctx = stream.codec_context
    ctx.time_base = stream.time_base = time_base
    coding.colour.tag(ctx)
    if timecode:
        stream.metadata["timecode"] = timecode
    return stream


def rgb_frame(rgb: np.ndarray) -> av.VideoFrame:
    """RGB (uint8, or uint16 on the full 16-bit scale) as a frame of its own (PyAV copies the pixels)."""
    return av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb48le" if rgb.dtype == np.uint16
                                      else "rgb24")


def coded_frame(frame: av.VideoFrame, coding: VideoCoding) -> av.VideoFrame:
    """An RGB frame (rgb_frame) -> the coding's pixel format, with its matrix and range, the frame tagged
    (ProRes writes each frame's tags into its header). Chroma is area-averaged: ~1 dB better than swscale's
    default bilinear when re-encoding decoded frames (measured 45.9 vs 44.9 dB RGB PSNR for the 4:2:0
    conversion alone)."""
    out = frame.reformat(format=coding.pix_fmt, interpolation="AREA", dst_colorspace=coding.colour.sws_matrix,
                         dst_color_range=coding.colour.sws_range)
    coding.colour.tag(out)
    return out


def yuv_frame(rgb: np.ndarray, coding: VideoCoding) -> av.VideoFrame:
    """RGB (uint8 or uint16) -> a frame in the coding's pixel format (coded_frame)."""
    return coded_frame(rgb_frame(rgb), coding)


@functools.cache
def _warn_odd_size(width: int, height: int) -> None:
    """Once per size and process: a sharded job encodes every chunk with its own writer."""
    log.warning("%dx%d is odd, which H.264 4:2:0 cannot hold; encoding 4:4:4 (High 4:4:4 profile) to keep the "
                "size: some hardware and browser players cannot play it, an even size plays everywhere",
                width, height)


@dataclass(frozen=True)
class _StreamPlan:
    index: int  # stream index in the source
    copy: bool  # stream copy, else (audio) transcode to AAC


def _codec_id(stream) -> str:
    """FFmpeg's codec name ("mp3"), not the decoder's ("mp3float"): what muxers and our tables speak."""
    return stream.codec.canonical_name


def _plan_audio(source: Path, muxer: str, supported: set[str]) -> list[_StreamPlan]:
    """Which audio streams to copy and which to transcode, and which subtitle streams to copy; InputError now
    rather than after encoding. A stream that cannot be carried is reported in one line, never dropped
    silently (a tmcd data track is not: its timecode is written anew)."""
    allowed = _COPY_AUDIO[muxer]
    plans = []
    with open_input(source) as container:
        for s in container.streams:
            if s.type == "audio":
                copy = _codec_id(s) in supported and (allowed is None or _codec_id(s) in allowed)
                channels = cast(AudioCodecContext, s.codec_context).channels
                if not copy and channels not in _AAC_LAYOUTS:
                    raise InputError(source, f"audio stream {s.index} has {channels} channels: "
                                             f"{muxer} cannot carry {_codec_id(s)} and AAC holds at most 8")
                plans.append(_StreamPlan(s.index, copy))
            elif s.type == "subtitle" and s.codec_context is not None and _codec_id(s) in supported:
                plans.append(_StreamPlan(s.index, True))
            elif s.type in ("subtitle", "data", "attachment") and "timecode" not in s.metadata:
                what = _codec_id(s) if s.codec_context is not None else s.metadata.get("handler_name", "unknown")
                log.warning("%s: %s stream %d (%s) is not carried into the output: %s cannot hold it", source.name,
                            s.type, s.index, what, muxer)
    return plans


class VideoWriter(WholeOrNothing):
    """Encode RGB frames with the source's exact frame rate, timestamps and size, in the input's coding
    (media/formats.py: codec family, depth, chroma, colour; `codec` chooses another) with its start timecode.

    Odd sizes are encoded in 4:4:4 by H.264/H.265 (formats._pix_fmt): padding them to even would change the
    size. `source`: the input the frames come from (None: fresh RGB, written 8-bit 4:2:0 H.264 Rec. 601).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        fps: Fraction,
        width: int,
        height: int,
        crf: int = 16,
        preset: str = "medium",
        codec: str = "same",
        source: VideoInfo | None = None,
        time_base: Fraction | None = None,
        audio_from: str | Path | None = None,
        deterministic: bool = False,
        mark: EditMark | None = None,
    ):
        self.path = Path(path)
        output_check(self.path)
        fps = Fraction(fps)
        if fps <= 0 or width < 1 or height < 1:
            raise ValueError(f"need fps > 0 and a positive size, got fps={fps} size={width}x{height}")
        encoding = Encoding(codec, crf, preset)
        self.fps, self.width, self.height = fps, width, height
        self.time_base = Fraction(time_base) if time_base is not None else 1 / fps
        self._muxer = VIDEO_FORMATS[self.path.suffix.lower()]
        self._audio_from = Path(audio_from) if audio_from is not None else None
        self._timecode = source.timecode if source is not None else None
        self._mark = mark
        self._temps: list[Path] = [partial_path(self.path)]
        self._count = 0
        self._last_pts: int | None = None
        self._container: av.container.OutputContainer | None = None
        self._encoder: EncoderThread | None = None  # started by the first frame
        try:
            self._container = av.open(str(self._temps[0]), "w", format=self._muxer)
            supported = set(self._container.supported_codecs)
            self.coding = coding_for(encoding, source, width, height, self._muxer, supported,
                                     deterministic=deterministic, output=str(self.path))
            if (width % 2 or height % 2) and self.coding.codec in ("h264", "h265") and (
                    source is None or source.chroma != "444"):
                _warn_odd_size(width, height)
            self._audio = _plan_audio(self._audio_from, self._muxer, supported) if self._audio_from else []
            # exact timing in the temp too: the remux with audio copies the timestamps it reads back
            self._container.options.update(muxer_options(self._muxer, self.time_base))
            if mark is not None:
                self._container.metadata.update(mark.tags())
            self._stream = add_video_stream(self._container, self.coding, fps, width, height,
                                            time_base=self.time_base, timecode=self._timecode)
        except BaseException:
            self.abort()
            raise

    @property
    def deep(self) -> bool:
        """Whether frames should come at more than 8 bits (uint16)."""
        return self.coding.deep

    def write(self, frame: np.ndarray, pts: int | None = None) -> None:
        """Encode one RGB (H, W, 3) frame, uint8 or uint16 (16-bit scale: `self.coding.deep` keeps more than 8
        bits of it); pts in time_base, default the frame counter at 1/fps."""
        if self._container is None:
            raise ValueError(f"{self.path}: writer is closed")
        if frame.shape != (self.height, self.width, 3) or frame.dtype not in (np.uint8, np.uint16):
            raise ValueError(f"expected uint8 or uint16 frames of shape {(self.height, self.width, 3)}, "
                             f"got {frame.dtype} {frame.shape}")
        if pts is None:
            pts = round(self._count / (self.fps * self.time_base))
        if self._last_pts is not None and pts <= self._last_pts:
            raise ValueError(f"pts must increase: {pts} after {self._last_pts}")
        vf = rgb_frame(frame)  # a copy: the caller may reuse its array at once
        vf.pts, vf.time_base = int(pts), self.time_base
        if self._encoder is None:
            self._encoder = EncoderThread(self._encode)
        try:
            self._encoder.put(vf)
        except OSError as e:  # disk full and the like (an earlier frame's); the caller's `with` aborts
            raise write_failed(self.path, e) from e
        self._count += 1
        self._last_pts = int(pts)

    def _encode(self, frame: av.VideoFrame) -> None:
        """On the encoder thread: one frame into the coding's pixel format, encoded and muxed."""
        coded = coded_frame(frame, self.coding)
        coded.pts, coded.time_base = frame.pts, frame.time_base
        assert self._container is not None
        self._container.mux(self._stream.encode(coded))

    def close(self) -> None:
        """Flush the encoder, mux the audio, rename into place. Idempotent."""
        if self._container is None:
            return
        try:
            if self._count == 0:
                raise ValueError(f"{self.path}: no frames were written")
            assert self._encoder is not None
            self._encoder.finish()
            self._container.mux(self._stream.encode(None))
            self._container.close()
            self._container = None
            if self._audio:
                self._temps.append(partial_path(self.path))
                _remux_with_audio([self._temps[0]], self._audio_from, self._audio, self._temps[1], self._muxer,
                                  self.fps, self._timecode, mark=self._mark)
            os.replace(self._temps[-1], self.path)
        except OSError as e:
            self.abort()
            raise write_failed(self.path, e) from e
        except BaseException:
            self.abort()
            raise
        self.abort()  # only the unused video-only temp is left, if any

    def abort(self) -> None:
        """Drop everything written so far; the destination is untouched."""
        if self._encoder is not None:
            self._encoder.drop()
            self._encoder = None
        if self._container is not None:
            try:
                self._container.close()
            except (av.FFmpegError, OSError):
                pass  # half-written temp: deleted just below
            self._container = None
        for temp in self._temps:
            temp.unlink(missing_ok=True)


_Timed = tuple[float, int, av.Packet]  # (seconds, tie-breaker, packet): heapq never compares packets
_order = itertools.count()


def _timed(packet: av.Packet) -> _Timed:
    ts = packet.dts if packet.dts is not None else packet.pts
    return float(ts * packet.time_base) if ts is not None else 0.0, next(_order), packet


def _copied(container: av.container.InputContainer, stream, out_stream) -> Iterator[_Timed]:
    for packet in container.demux(stream):
        if packet.size == 0:  # demuxer's end-of-stream marker
            continue
        packet.stream = out_stream
        yield _timed(packet)


def _transcoded(container: av.container.InputContainer, stream, out_stream) -> Iterator[_Timed]:
    """Decoded and re-encoded. Samples are timed by counting from the first frame's time: decoded MP3
    frames (1152 samples) re-cut into AAC frames (1024) by their own rounded pts gave the muxer the same
    dts twice (measured on an AVI's MP3 into .m4v)."""
    first: int | None = None
    samples = 0
    for packet in container.demux(stream):
        for frame in packet.decode():
            if first is None:
                first = round(frame.pts * frame.time_base * frame.sample_rate) if frame.pts is not None else 0
            frame.pts, frame.time_base = first + samples, Fraction(1, frame.sample_rate)
            samples += frame.samples
            for out in out_stream.encode(frame):
                yield _timed(out)
    for out in out_stream.encode(None):
        yield _timed(out)


def _windowed(container: av.container.InputContainer, stream, out_stream, span: tuple[Fraction, Fraction]
              ) -> Iterator[_Timed]:
    """The samples of seconds [start, end) of the file's timeline, decoded, cut to the sample and re-encoded
    from time 0 (a window of a clip, media/source.Source.window): packets cannot be cut inside, and a copied
    packet would put the sound up to a packet (~21 ms) off the pictures."""
    rate = cast(AudioCodecContext, stream.codec_context).sample_rate
    first, last = round(span[0] * rate), round(span[1] * rate)
    written = 0
    for packet in container.demux(stream):
        for frame in packet.decode():
            at = round(frame.pts * frame.time_base * rate) if frame.pts is not None else first + written
            a, b = max(first - at, 0), min(last - at, frame.samples)
            if b <= a:
                continue
            samples = frame.to_ndarray()
            cut = samples[:, a:b] if frame.format.is_planar else samples[:, a * len(frame.layout.channels):
                                                                         b * len(frame.layout.channels)]
            piece = av.AudioFrame.from_ndarray(np.ascontiguousarray(cut), format=frame.format.name,
                                               layout=frame.layout.name)
            piece.sample_rate, piece.pts, piece.time_base = rate, written, Fraction(1, rate)
            written += b - a
            for out in out_stream.encode(piece):
                yield _timed(out)
    for out in out_stream.encode(None):
        yield _timed(out)


def _copied_parts(parts: list[Path], out_stream) -> Iterator[_Timed]:
    """The video packets of each part in turn. Each keeps its pts (parts cover successive times); a decode
    timestamp is moved just past the previous one where two parts overlap: the encoder starts each part's dts
    a B-frame delay before its first pts, extrapolated from that part's own frame spacing, so with a variable
    frame rate a part can begin decoding "before" the previous one ended (the muxer refuses that)."""
    last_dts: int | None = None
    for part in parts:
        with av.open(str(part)) as vin:
            for timed in _copied(vin, vin.streams.video[0], out_stream):
                packet = timed[2]
                if packet.dts is not None:
                    if last_dts is not None and packet.dts <= last_dts:
                        packet.dts = last_dts + 1
                        if packet.pts is not None and packet.dts > packet.pts:
                            raise ValueError(f"{part}: its frames overlap the previous part's in time")
                        timed = _timed(packet)
                    last_dts = packet.dts
                yield timed


def _remux_with_audio(
    videos: list[Path], audio_from: Path | None, plans: list[_StreamPlan], dest: Path, muxer: str, fps: Fraction,
    timecode: str | None = None, span: tuple[Fraction, Fraction] | None = None, mark: EditMark | None = None,
) -> None:
    """The video packets of `videos` as they are, in order, plus every planned audio stream, interleaved by
    time; the video stream carries `timecode` (a tmcd track in MOV/MP4). span: the videos are a window of
    `audio_from` (seconds [start, end) of its timeline): its audio is cut to it, re-encoded in the same codec
    where an encoder ships (PCM, FLAC, ALAC: lossless), else AAC; subtitles are not carried into a window."""
    with ExitStack() as stack:
        first = stack.enter_context(av.open(str(videos[0])))
        options = muxer_options(muxer, first.streams.video[0].time_base)
        out = stack.enter_context(av.open(str(dest), "w", format=muxer, options=options))
        if mark is not None:  # before the first packet: the muxer writes its header then
            out.metadata.update(mark.tags())
        # a copied stream has no frame rate of its own; without it Matroska writes 1/time_base, and the MOV
        # muxer drops a timecode it cannot count frames for (with only a log line)
        video = out.add_stream_from_template(first.streams.video[0], rate=fps)
        video.codec_context.framerate = fps
        if timecode:
            video.metadata["timecode"] = timecode
        sources = [_copied_parts(videos, video)]
        for plan in plans:
            if audio_from is None:
                raise ValueError("streams were planned without a file to take them from")
            ain = stack.enter_context(open_input(audio_from))  # one demuxer per stream keeps each in order
            stream = ain.streams[plan.index]
            if span is not None and stream.type != "audio":
                log.warning("%s: subtitle stream %d is not carried into a window of the clip", audio_from.name,
                            stream.index)
                continue
            out_stream: av.stream.Stream
            if span is not None and _codec_id(stream) in _LOSSLESS and _codec_id(stream) in out.supported_codecs:
                ctx = cast(AudioCodecContext, stream.codec_context)
                out_stream = out.add_stream(_codec_id(stream), rate=ctx.sample_rate, layout=ctx.layout.name)
            elif plan.copy and span is None:
                out_stream = out.add_stream_from_template(stream)
            else:
                ctx = cast(AudioCodecContext, stream.codec_context)  # only audio is transcoded
                rate = ctx.sample_rate if ctx.sample_rate in _AAC_RATES else 48000
                # a named layout for the channel count: AAC rejects unordered ones like "2 channels"
                out_stream = out.add_stream("aac", rate=rate, layout=_AAC_LAYOUTS[ctx.channels])
                out_stream.bit_rate = max(128_000, 64_000 * ctx.channels)
            out_stream.metadata.update(stream.metadata)
            if span is not None:
                sources.append(_windowed(ain, stream, out_stream, span))
            else:
                sources.append((_copied if plan.copy else _transcoded)(ain, stream, out_stream))
        try:
            for _, _, packet in heapq.merge(*sources):
                out.mux(packet)
        except av.FFmpegError as e:
            if isinstance(e, OSError):  # disk full, permissions: an output problem, close() says so
                raise
            if audio_from is None:  # no audio was read: the failure is the video parts' own
                raise
            raise InputError(audio_from, f"audio could not be copied or transcoded ({e})") from None


def concat_videos(parts: list[Path], dest: str | Path, *, fps: Fraction, audio_from: str | Path | None = None,
                  timecode: str | None = None, span: tuple[Fraction, Fraction] | None = None,
                  mark: EditMark | None = None) -> None:
    """Join parts encoded with the same settings and size (VideoWriter's, e.g. the chunks of a sharded job) by
    copying their packets, no re-encode, and mux audio_from's audio (seconds `span` of it when the parts are a
    window of it); dest appears atomically, its video starting at `timecode`. Each part keeps its timestamps, so
    the parts must cover successive times."""
    dest = Path(dest)
    output_check(dest)
    if not parts:
        raise ValueError(f"{dest}: no parts to join")
    headers = set()
    for part in parts:
        with av.open(str(part)) as c:
            v = c.streams.video[0]
            headers.add((v.codec_context.name, v.width, v.height, bytes(v.codec_context.extradata or b"")))
    if len(headers) > 1:
        raise ValueError(f"{dest}: the parts differ in codec, size or stream headers; they cannot be joined "
                         "without re-encoding")
    muxer = VIDEO_FORMATS[dest.suffix.lower()]
    temp = partial_path(dest)
    try:
        plans = []
        if audio_from is not None:
            with av.open(str(temp), "w", format=muxer) as probe_out:
                supported = set(probe_out.supported_codecs)
            plans = _plan_audio(Path(audio_from), muxer, supported)
        _remux_with_audio(list(parts), Path(audio_from) if audio_from else None, plans, temp, muxer, Fraction(fps),
                          timecode, span, mark)
        os.replace(temp, dest)
    except OSError as e:
        raise write_failed(dest, e) from e
    finally:
        temp.unlink(missing_ok=True)

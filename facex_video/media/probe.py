"""What a video file holds (geometry, exact timing, audio), checked before any heavy work starts.

Every failure is an InputError naming the file, so the CLI can print one line instead of a traceback.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from ..errors import InputError

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})

# Demuxers whose stream frame count comes from a sample table (elsewhere it is absent or an estimate).
_EXACT_COUNT_FORMATS = frozenset({"mov", "mp4"})


@dataclass(frozen=True)
class AudioStreamInfo:
    index: int
    codec: str
    sample_rate: int
    channels: int
    duration: float | None  # seconds; None when neither the container nor the packets tell


@dataclass(frozen=True)
class VideoInfo:
    """The first video stream of a file.

    width/height are the upright (displayed) size: rotation already applied. rotation is the
    counter-clockwise angle the display matrix asks for (FFmpeg's av_display_rotation_get, normalised
    to 0/90/180/270), so `np.rot90(stored_frame, rotation // 90)` is the upright frame; an iPhone
    portrait clip (ffprobe "rotation of -90") reports 270.
    """

    path: Path
    container: str
    codec: str
    width: int
    height: int
    fps: Fraction
    time_base: Fraction
    frame_count: int
    duration: float  # seconds
    rotation: int
    pix_fmt: str
    audio: tuple[AudioStreamInfo, ...]
    start_pts: int  # first presentation timestamp, in time_base


def is_image_path(path: str | Path) -> bool:
    """True for still-image extensions; callers route those to read_image instead of probe."""
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def _isobmff_problem(path: Path) -> str | None:
    """Why an MP4/MOV that FFmpeg refused is broken, from its top-level boxes (None if not ISO BMFF)."""
    size = path.stat().st_size
    boxes = []
    with path.open("rb") as f:
        pos = 0
        while pos + 8 <= size:
            f.seek(pos)
            box_size, box_type = struct.unpack(">I4s", f.read(8))
            if box_size == 1 and pos + 16 <= size:
                box_size = struct.unpack(">Q", f.read(8))[0]
            elif box_size == 0:
                box_size = size - pos
            if box_size < 8:
                break
            boxes.append(box_type)
            pos += box_size
    if not boxes or boxes[0] != b"ftyp":
        return None
    if b"moov" not in boxes:
        return "truncated or incomplete MP4/MOV: no 'moov' index (file cut short or still being written)"
    if pos > size:
        return f"truncated MP4/MOV: last box ends at byte {pos} but the file has {size} bytes"
    return "corrupt MP4/MOV"


def open_input(path: Path) -> av.container.InputContainer:
    """av.open with InputError for missing, empty, unreadable or cut-short files."""
    if not path.exists():
        raise InputError(path, "file not found")
    if path.is_dir():
        raise InputError(path, "is a folder, not a media file")
    if path.stat().st_size == 0:
        raise InputError(path, "empty file (0 bytes)")
    try:
        return av.open(str(path))
    except av.FFmpegError as e:
        problem = _isobmff_problem(path)
        raise InputError(path, problem or f"not a media file FFmpeg can read ({e.strerror})") from None


def first_video_stream(container: av.container.InputContainer) -> av.video.stream.VideoStream | None:
    """The stream probe describes: the first video stream that is not cover art."""
    for stream in container.streams.video:
        if not stream.disposition & av.stream.Disposition.attached_pic:
            return stream
    return None


def _pick_fps(stream: av.video.stream.VideoStream) -> Fraction | None:
    """The average rate, unless it is a rounding artefact of a coarse time base and the guess is exact."""
    avg, guess = stream.average_rate, stream.guessed_rate
    if avg and guess and avg.denominator > 1001 and abs(avg - guess) / guess < Fraction(1, 1000):
        return Fraction(guess)
    return Fraction(avg) if avg else (Fraction(guess) if guess else None)


def _first_frame_rotation(path: Path, container: av.container.InputContainer, stream) -> int:
    """Decode one frame: it carries the display matrix and proves the stream decodes at all."""
    try:
        for frame in container.decode(stream):
            return int(frame.rotation) % 360
    except av.FFmpegError as e:
        raise InputError(path, f"corrupt video stream: first frame does not decode ({e.strerror})") from None
    raise InputError(path, "zero frames: the video stream holds no decodable frame")


def probe(path: str | Path) -> VideoInfo:
    """Describe the first video stream; InputError for anything a user would need to fix."""
    path = Path(path)
    with open_input(path) as container:
        vs = first_video_stream(container)
        audios = list(container.streams.audio)
        if vs is None:
            kind = f"{len(audios)} audio stream(s) only" if audios else "no streams FFmpeg recognises"
            raise InputError(path, f"no video stream ({kind})")
        tb = Fraction(vs.time_base)
        fps = _pick_fps(vs)
        if not fps:
            raise InputError(path, "video stream has no frame rate")
        fmt = container.format.name
        declared = float(vs.duration * tb) if vs.duration else _tagged_duration(vs.metadata.get("DURATION", ""))
        duration = declared
        frame_count = vs.frames
        # nb_frames is a sample-table count in ISO BMFF; it can disagree with the shown duration when
        # an edit list hides frames, and other containers only estimate it: then count packets.
        trusted = (
            frame_count > 0
            and not _EXACT_COUNT_FORMATS.isdisjoint(fmt.split(","))
            and (declared is None or abs(frame_count - declared * fps) <= max(1.0, 0.01 * frame_count))
        )
        audio_durations = {a.index: float(a.duration * a.time_base) for a in audios if a.duration}
        start_pts = vs.start_time
        if not trusted or declared is None or len(audio_durations) < len(audios):
            counted, end, first, audio_ends = _demux_count(path, container, vs, audios)
            if end is not None:
                span = float((end - first) * tb)
                if declared is not None and span < declared - 1.5 / fps:
                    raise InputError(path, f"truncated: the container declares {declared:.3f} s of video "
                                           f"but its packets end after {span:.3f} s ({counted} frames)")
                duration = declared if declared is not None else span
            if not trusted:
                frame_count = counted
            for index, seconds in audio_ends.items():
                audio_durations.setdefault(index, seconds)
            if start_pts is None:
                start_pts = first
            container.seek(0)
        if frame_count <= 0:
            raise InputError(path, "zero frames: the video stream holds no packets")
        if duration is None:
            duration = float(frame_count / fps)
        rotation = _first_frame_rotation(path, container, vs)
        width, height = vs.codec_context.width, vs.codec_context.height
        if rotation in (90, 270):
            width, height = height, width
        audio = tuple(
            AudioStreamInfo(
                index=a.index,
                codec=a.codec.canonical_name,
                sample_rate=a.codec_context.sample_rate,
                channels=a.codec_context.channels,
                duration=audio_durations.get(a.index),
            )
            for a in audios
        )
        return VideoInfo(
            path=path,
            container=fmt,
            codec=vs.codec.canonical_name,
            width=width,
            height=height,
            fps=fps,
            time_base=tb,
            frame_count=frame_count,
            duration=duration,
            rotation=rotation,
            pix_fmt=vs.codec_context.pix_fmt or "",
            audio=audio,
            start_pts=int(start_pts or 0),
        )


def _tagged_duration(tag: str) -> float | None:
    """Seconds from Matroska's per-stream DURATION tag ('HH:MM:SS.nnnnnnnnn'), written by FFmpeg and mkvmerge."""
    try:
        hours, minutes, seconds = tag.split(":")
        return int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    except ValueError:
        return None


def _demux_count(path: Path, container, video, audios) -> tuple[int, int | None, int | None, dict[int, float]]:
    """One pass over packets (no decoding): video packet count, video end/first pts, audio durations."""
    count, end, first = 0, None, None
    audio_span: dict[int, tuple[int, int]] = {}
    try:
        for packet in container.demux([video, *audios]):
            if packet.size == 0 or packet.is_discard or packet.pts is None:
                continue
            stop = packet.pts + (packet.duration or 0)
            if packet.stream.index == video.index:
                count += 1
                first = packet.pts if first is None else min(first, packet.pts)
                end = stop if end is None else max(end, stop)
            else:
                lo, hi = audio_span.get(packet.stream.index, (packet.pts, stop))
                audio_span[packet.stream.index] = (min(lo, packet.pts), max(hi, stop))
    except av.FFmpegError as e:
        raise InputError(path, f"corrupt or truncated: demuxing failed after {count} frames ({e.strerror})") from None
    audio_tb = {a.index: Fraction(a.time_base) for a in audios}
    audio_ends = {i: float((hi - lo) * audio_tb[i]) for i, (lo, hi) in audio_span.items()}
    return count, end, first, audio_ends

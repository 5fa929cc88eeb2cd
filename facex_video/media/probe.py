"""What a video file holds (geometry, exact timing, audio), checked before any heavy work starts.

Every failure is an InputError naming the file, so the CLI can print one line instead of a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av

from ..core.errors import InputError
from .colour import Colour
from .container import first_video_stream, open_input
from .frame_index import FrameIndex, scan_file
from .sequence import is_sequence_path

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})


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
    start_pts: int  # presentation timestamp of frame 0, in time_base
    index: FrameIndex = field(compare=False, repr=False)  # every frame's pts, from the demuxer
    colour: Colour | None = None  # the stream's colour description, unspecified fields filled (media/colour.py)
    timecode: str | None = None  # start timecode (a MOV/MP4 tmcd track, MXF or Matroska metadata), e.g. 01:00:00:00
    profile: str | None = None  # the codec's profile as FFmpeg names it ("HQ" for ProRes 422 HQ), if any

    @property
    def depth(self) -> int:
        """Bits per sample of the coded picture (8, 10, 12, 16)."""
        return max((c.bits for c in av.VideoFormat(self.pix_fmt).components), default=8) if self.pix_fmt else 8

    @property
    def chroma(self) -> str:
        """The chroma subsampling of the coded picture: "420", "422" or "444" (RGB-coded and grey: "444")."""
        if not self.pix_fmt:
            return "420"
        fmt = av.VideoFormat(self.pix_fmt, 64, 64)
        if fmt.is_rgb or len(fmt.components) < 3:
            return "444"
        w, h = fmt.components[1].width, fmt.components[1].height
        return "444" if w == 64 else "422" if h == 64 else "420"


def is_image_path(path: str | Path) -> bool:
    """True for still-image extensions (not an image sequence's pattern, shot.%04d.png); callers route those to
    read_image instead of probe."""
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS and not is_sequence_path(path)


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
    """Describe the first video stream; InputError for anything a user would need to fix.

    The frame count and timing come from the demuxer's index of every packet (media/frame_index.py), never
    from a header alone: headers over-report (an AVI's frame total, a cut file's duration) or only estimate."""
    path = Path(path)
    with open_input(path) as container:
        vs = first_video_stream(container)
        audios = list(container.streams.audio)
        if vs is None:
            kind = f"{len(audios)} audio stream(s) only" if audios else "no streams FFmpeg recognises"
            raise InputError(path, f"no video stream ({kind})")
        if vs.time_base is None:
            raise InputError(path, "video stream has no time base")
        tb = Fraction(vs.time_base)
        fps = _pick_fps(vs)
        if not fps:
            raise InputError(path, "video stream has no frame rate")
        demuxed = scan_file(path)
        index = demuxed.index
        if index.count == 0:
            raise InputError(path, "zero frames: the video stream holds no packets")
        if vs.frames > index.packets:
            raise InputError(path, f"the container claims {vs.frames} frames but holds {index.packets}: "
                                   f"frame {index.packets} is missing")
        declared = float(vs.duration * tb) if vs.duration else _tagged_duration(vs.metadata.get("DURATION", ""))
        duration = declared
        if index.exact:
            span = float((index.pts[-1] - index.pts[0]) * tb + 1 / fps)
            if declared is not None and span < declared - 1.5 / fps:
                raise InputError(path, f"truncated: the container declares {declared:.3f} s of video "
                                       f"but its packets end after {span:.3f} s ({index.count} frames)")
            duration = declared if declared is not None else span
        if duration is None:
            duration = float(index.count / fps)
        audio_durations = {a.index: float(a.duration * a.time_base) for a in audios
                           if a.duration and a.time_base is not None}  # else from the packets, below
        for stream_index, seconds in demuxed.audio_seconds.items():
            audio_durations.setdefault(stream_index, seconds)
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
        first_pts = int(index.pts[0]) if index.exact else int(vs.start_time or 0)
        return VideoInfo(
            path=path,
            container=container.format.name,
            codec=vs.codec.canonical_name,
            width=width,
            height=height,
            fps=fps,
            time_base=tb,
            frame_count=index.count,
            duration=duration,
            rotation=rotation,
            pix_fmt=vs.codec_context.pix_fmt or "",
            audio=audio,
            start_pts=first_pts,
            index=index,
            colour=Colour.read(vs.codec_context, width, height),
            timecode=_timecode(container, vs),
            profile=vs.codec_context.profile or None,
        )


def _timecode(container: av.container.InputContainer, video) -> str | None:
    """The start timecode: the video stream's, a data (tmcd) stream's, else the container's."""
    for tags in [video.metadata, *(s.metadata for s in container.streams if s.type == "data"), container.metadata]:
        if tags.get("timecode"):
            return str(tags["timecode"])
    return None


def _tagged_duration(tag: str) -> float | None:
    """Seconds from Matroska's per-stream DURATION tag ('HH:MM:SS.nnnnnnnnn'), written by FFmpeg and mkvmerge."""
    try:
        hours, minutes, seconds = tag.split(":")
        return int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    except ValueError:
        return None

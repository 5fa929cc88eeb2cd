"""Which video coding an output gets: by default the input's own (codec family, bit depth, chroma
subsampling, colour), so a 10-bit 4:2:2 ProRes plate comes back 10-bit 4:2:2 ProRes; or the one asked for.

`--codec same` maps the input's codec to the encoder PyAV ships for it (H.264 -> libx264, HEVC -> libx265,
ProRes -> prores_ks at the input's profile, DNxHD/DNxHR -> dnxhd at the DNxHR profile of the input's depth
and chroma, FFV1 -> ffv1). An input coded in anything else (MPEG-4 Part 2, VP9, MJPEG, ...), or one whose
codec the output's container cannot hold (ProRes into .mp4), is written as H.264 at the input's depth and
chroma, and says so in one line. Profiles go through the encoder's options: prores_ks ignores a codec
context's profile and dnxhd refuses one (measured, PyAV 18.1).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import av

from ..core.errors import OptionError, OutputError
from .colour import LIMITED, SMPTE170M, Colour
from .probe import VideoInfo

log = logging.getLogger("facex_video.media")

CODECS = ("same", "h264", "h265", "prores", "dnxhr", "ffv1")
X264_PRESETS = (
    "ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow", "placebo",
)
# codec choice -> (PyAV encoder, FFmpeg codec id the muxer is asked about)
_ENCODERS = {"h264": ("libx264", "h264"), "h265": ("libx265", "hevc"), "prores": ("prores_ks", "prores"),
             "dnxhr": ("dnxhd", "dnxhd"), "ffv1": ("ffv1", "ffv1")}
_SAME = {"h264": "h264", "hevc": "h265", "prores": "prores", "dnxhd": "dnxhr", "ffv1": "ffv1"}  # input codec id
_PRORES_PROFILES = {"Proxy": "0", "LT": "1", "Standard": "2", "HQ": "3", "4444": "4", "XQ": "5"}
REC601 = Colour(SMPTE170M, SMPTE170M, SMPTE170M, LIMITED)  # what fresh RGB frames are written as


@dataclass(frozen=True)
class Encoding:
    """What the user asked of the output's video: a codec of CODECS ("same": the input's) and, for H.264
    and H.265, the CRF and preset."""

    codec: str = "same"
    crf: int = 16
    preset: str = "medium"

    def __post_init__(self) -> None:
        if self.codec not in CODECS:
            raise OptionError("--codec", f"must be one of {', '.join(CODECS)}, got {self.codec!r}")
        if isinstance(self.crf, bool) or not isinstance(self.crf, int) or not 0 <= self.crf <= 51:
            raise OptionError("--crf", f"must be an integer within 0 to 51, got {self.crf!r}")
        if self.preset not in X264_PRESETS:
            raise OptionError("--preset", f"must be one of {', '.join(X264_PRESETS)}, got {self.preset!r}")


@dataclass(frozen=True)
class VideoCoding:
    """One output's video coding: encoder, pixel format, encoder options and colour."""

    codec: str  # a CODECS entry other than "same"
    encoder: str
    pix_fmt: str
    options: dict[str, str]
    colour: Colour

    @property
    def depth(self) -> int:
        return max(c.bits for c in av.VideoFormat(self.pix_fmt).components)

    @property
    def deep(self) -> bool:
        """Whether frames go to the encoder as 16-bit RGB (more than 8 bits a sample are kept)."""
        return self.depth > 8


def coding_for(encoding: Encoding, info: VideoInfo | None, width: int, height: int, muxer: str,
               supported: set[str], *, deterministic: bool = False, output: str = "") -> VideoCoding:
    """The coding of an output of `width` x `height` in `muxer` (whose codecs are `supported`) for an input
    described by `info` (None: fresh RGB frames, written 8-bit 4:2:0 Rec. 601 as before)."""
    depth, chroma = (info.depth, info.chroma) if info is not None else (8, "420")
    colour = info.colour if info is not None and info.colour is not None else REC601
    codec = encoding.codec
    if codec == "same":
        codec = _SAME.get(info.codec, "h264") if info is not None else "h264"
        if info is not None and info.codec not in _SAME:
            log.info("%s is %s, which has no encoder here: writing H.264 at its depth and chroma",
                     info.path.name, info.codec)
        if _ENCODERS[codec][1] not in supported:
            log.warning("%s: %s cannot hold %s; writing H.264 at the input's depth and chroma (--codec chooses)",
                        output, muxer, codec)
            codec = "h264"
    elif _ENCODERS[codec][1] not in supported:
        raise OutputError(output, f"{muxer} cannot hold {codec} video; use .mov or .mkv, or another --codec")
    encoder = _ENCODERS[codec][0]
    pix_fmt = _pix_fmt(codec, depth, chroma, width, height)
    return VideoCoding(codec, encoder, pix_fmt, _options(codec, encoding, info, pix_fmt, deterministic), colour)


def _pix_fmt(codec: str, depth: int, chroma: str, width: int, height: int) -> str:
    """The encoder's pixel format nearest the input's depth and chroma. H.264/H.265 at an odd size are 4:4:4,
    the only chroma format whose frame cropping works in single pixels (4:2:0 crops in steps of 2)."""
    if codec == "prores":
        return "yuv444p10le" if chroma == "444" else "yuv422p10le"
    if codec == "dnxhr":  # DNxHR codes 4:2:2 (8 or 10 bit) or 4:4:4 (10 bit)
        return "yuv444p10le" if chroma == "444" else "yuv422p10le" if depth > 8 else "yuv422p"
    if codec in ("h264", "h265") and (width % 2 or height % 2):
        chroma = "444"
    base = f"yuv{chroma}p"
    if depth <= 8:
        return base
    if codec == "ffv1":
        return base + ("10le" if depth <= 10 else "12le" if depth <= 12 else "16le")
    return base + "10le"  # x264 and x265 as PyAV ships them: 8 or 10 bit


def _options(codec: str, encoding: Encoding, info: VideoInfo | None, pix_fmt: str, deterministic: bool
             ) -> dict[str, str]:
    if codec == "h264":
        options = {"crf": str(encoding.crf), "preset": encoding.preset}
        if deterministic:  # x264's threaded encode gives different P/B frames run to run on a loaded machine
            options.update({"threads": "1", "lookahead-threads": "1", "sliced-threads": "0"})
        return options
    if codec == "h265":
        params = "log-level=error" + (":pools=1:frame-threads=1" if deterministic else "")
        return {"crf": str(encoding.crf), "preset": encoding.preset, "x265-params": params}
    if codec == "prores":
        same = info is not None and info.codec == "prores" and info.profile in _PRORES_PROFILES
        profile = _PRORES_PROFILES[info.profile] if same and info is not None and info.profile else "3"  # HQ
        if pix_fmt.startswith("yuv444"):
            profile = profile if profile in ("4", "5") else "4"
        elif profile in ("4", "5"):
            profile = "3"
        return {"profile": profile}
    if codec == "dnxhr":
        return {"profile": "dnxhr_444" if pix_fmt.startswith("yuv444") else
                "dnxhr_hqx" if pix_fmt.endswith("10le") else "dnxhr_hq"}
    return {"level": "3", "slicecrc": "1"}  # ffv1: version 3, checksummed slices

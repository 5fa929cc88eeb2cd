"""Clips synthesised from still photos: no package ships a video with a face (docs/design.md §1).

Each shot is a camera move over one photo (zoom, pan, roll along an eased path); shots are joined by
hard cuts. The sound track is real (a chord per shot with attack/release), so audio handling is exercised.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from ..core.atomic import atomic_path
from .encode import FASTSTART, VIDEO_FORMATS, add_video_stream, output_check, yuv_frame
from .formats import Encoding, coding_for

AUDIO_RATE = 48000
_ROOTS_HZ = (220.0, 246.94, 196.0, 261.63)  # A3, B3, G3, C4: a different chord after every cut
_ATTACK_S, _RELEASE_S = 0.03, 0.06


@dataclass
class Shot:
    """One photo filmed by a moving camera.

    zoom: start/end size of the crop window relative to the largest window of the output's aspect that
    fits the photo (0.5 = twice as close). pan: start/end window centre in relative image coordinates.
    rotate: start/end roll in degrees (positive turns the picture counter-clockwise on screen).
    """

    image: np.ndarray  # RGB uint8
    seconds: float
    zoom: tuple[float, float] = (1.0, 1.0)
    pan: tuple[tuple[float, float], tuple[float, float]] = ((0.5, 0.5), (0.5, 0.5))
    rotate: tuple[float, float] = (0.0, 0.0)


def shot_frame_count(shot: Shot, fps: Fraction) -> int:
    return max(1, round(shot.seconds * fps))


def render_shot_frames(shot: Shot, size: tuple[int, int], fps: Fraction) -> Iterator[np.ndarray]:
    """(H, W, 3) RGB frames of a smooth (ease-in/out) camera move; size is (W, H).

    The photo is shrunk once with INTER_AREA when the window is larger than the output (no aliasing),
    then each frame is one cv2.warpAffine (INTER_LINEAR). The window is kept inside the photo when it
    fits; anything outside repeats the edge pixels.
    """
    out_w, out_h = size
    image = shot.image
    base = min(image.shape[1] / out_w, image.shape[0] / out_h)  # photo px per output px at zoom 1
    smallest = base * min(shot.zoom)
    if smallest > 1:
        image = cv2.resize(image, None, fx=1 / smallest, fy=1 / smallest, interpolation=cv2.INTER_AREA)
        base /= smallest
    ih, iw = image.shape[:2]
    n = shot_frame_count(shot, fps)
    for i in range(n):
        t = i / (n - 1) if n > 1 else 0.0
        e = t * t * (3 - 2 * t)
        scale = base * (shot.zoom[0] + e * (shot.zoom[1] - shot.zoom[0]))
        half_w, half_h = scale * out_w / 2, scale * out_h / 2
        cx = (shot.pan[0][0] + e * (shot.pan[1][0] - shot.pan[0][0])) * iw
        cy = (shot.pan[0][1] + e * (shot.pan[1][1] - shot.pan[0][1])) * ih
        cx = min(max(cx, half_w), iw - half_w) if half_w <= iw / 2 else iw / 2
        cy = min(max(cy, half_h), ih - half_h) if half_h <= ih / 2 else ih / 2
        theta = -math.radians(shot.rotate[0] + e * (shot.rotate[1] - shot.rotate[0]))  # y points down
        cos, sin = scale * math.cos(theta), scale * math.sin(theta)
        # output pixel centre (u, v) -> photo point; pixel centres sit at +0.5 in continuous coordinates
        du, dv = out_w / 2 - 0.5, out_h / 2 - 0.5
        to_photo = np.array([[cos, sin, cx - 0.5 - cos * du - sin * dv],
                             [-sin, cos, cy - 0.5 + sin * du - cos * dv]])
        yield cv2.warpAffine(image, to_photo, (out_w, out_h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                             borderMode=cv2.BORDER_REPLICATE)


def _shot_audio(k: int, start: int, stop: int, length: int) -> np.ndarray:
    """(2, stop-start) float32 samples [start, stop) of shot k's chord, which lasts `length` samples."""
    n = np.arange(start, stop, dtype=np.float64)
    t = n / AUDIO_RATE
    root = _ROOTS_HZ[k % len(_ROOTS_HZ)]
    vibrato = 1 + 0.003 * np.sin(2 * np.pi * 5 * t)
    notes = [np.sin(2 * np.pi * root * ratio * t * vibrato) for ratio in (1.0, 1.25, 1.5)]
    envelope = np.minimum(1, n / (_ATTACK_S * AUDIO_RATE)) * np.minimum(1, (length - n) / (_RELEASE_S * AUDIO_RATE))
    left = (0.5 * notes[0] + 0.3 * notes[1] + 0.2 * notes[2]) * envelope * 0.3
    right = (0.2 * notes[0] + 0.3 * notes[1] + 0.5 * notes[2]) * envelope * 0.3
    return np.stack([left, right]).astype(np.float32)


def write_clip(
    path: str | Path,
    shots: list[Shot],
    *,
    size: tuple[int, int] = (1280, 720),
    fps: Fraction = Fraction(25),
    audio: bool = True,
    crf: int = 16,
    codec: str = "h264",
    timecode: str | None = None,
) -> Path:
    """Render shots with hard cuts into one clip (+ AAC 48 kHz stereo as long as the video), atomically: H.264
    8-bit 4:2:0, or `codec` as media/formats.py codes fresh frames (ProRes: 422 HQ 10-bit), starting at
    `timecode` when given."""
    path = Path(path)
    output_check(path)
    fps = Fraction(fps)
    if size[0] % 2 or size[1] % 2:
        raise ValueError(f"size must be even for yuv420p, got {size[0]}x{size[1]}")
    if not shots:
        raise ValueError("need at least one shot")
    samples_per_frame = AUDIO_RATE / fps
    muxer = VIDEO_FORMATS[path.suffix.lower()]
    options = {} if muxer == "matroska" else FASTSTART
    with atomic_path(path) as tmp, av.open(str(tmp), "w", format=muxer, options=options) as out:
        coding = coding_for(Encoding(codec, crf), None, size[0], size[1], muxer, set(out.supported_codecs))
        video = add_video_stream(out, coding, fps, size[0], size[1], time_base=1 / fps, timecode=timecode)
        if audio:
            sound = out.add_stream("aac", rate=AUDIO_RATE, layout="stereo")
            sound.bit_rate = 192_000
        index = 0
        for k, shot in enumerate(shots):
            shot_start = round(index * samples_per_frame)
            shot_len = round((index + shot_frame_count(shot, fps)) * samples_per_frame) - shot_start
            for rgb in render_shot_frames(shot, size, fps):
                frame = yuv_frame(rgb, coding)
                frame.pts = index
                out.mux(video.encode(frame))
                if audio:
                    a0, a1 = round(index * samples_per_frame), round((index + 1) * samples_per_frame)
                    chunk = av.AudioFrame.from_ndarray(
                        _shot_audio(k, a0 - shot_start, a1 - shot_start, shot_len), format="fltp", layout="stereo")
                    chunk.sample_rate, chunk.pts = AUDIO_RATE, a0
                    out.mux(sound.encode(chunk))
                index += 1
        out.mux(video.encode(None))
        if audio:
            out.mux(sound.encode(None))
    return path

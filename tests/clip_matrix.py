"""The conformance matrix: clips encoded the way cameras, editors and old rips encode them, with the encoders
PyAV ships, each showing real faces (shipped photos under a moving camera) with a frame number burnt into a
corner (tests/stamp.py), most with audio.

    build_clip(name, folder) -> folder/<name><suffix>   (built once per folder)

Every case says what real-world property it exercises; tests/test_frame_exact.py checks that each clip has it
before trusting what the pipeline does with it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from stamp import stamp

from facex_video.media.samples import load_sample
from facex_video.media.synth import Shot, render_shot_frames

SIZE = (256, 192)


@dataclass(frozen=True)
class ClipCase:
    name: str
    suffix: str
    what: str  # the real-world property the clip exercises
    codec: str
    rate: Fraction
    frames: int
    pix_fmt: str = "yuv420p"
    options: dict[str, str] = field(default_factory=dict)
    audio: str | None = None  # audio codec, None: no audio
    slow: bool = False
    vfr: bool = False
    gop: int | None = None
    b_frames: int | None = None
    size: tuple[int, int] = SIZE
    # frames with faces (two shots) before a faceless one: swaps cost ~0.4 s per face-frame on 2 cores, so
    # the matrix keeps faces in the first chunks and lets the rest of each clip pass through
    face_frames: int | None = 14


_X264 = {"crf": "20", "preset": "veryfast", "threads": "1"}


def _x264(keyint: int = 48, bframes: int = 3) -> dict[str, str]:
    return {**_X264, "x264-params": f"keyint={keyint}:min-keyint={min(keyint, 25)}:bframes={bframes}:log=-1"}


CASES: dict[str, ClipCase] = {c.name: c for c in [
    ClipCase("mpeg4_bframes_avi", ".avi", "MPEG-4 Part 2 (DivX/Xvid style) in AVI with B-frames, 23.976 fps, MP3",
             "mpeg4", Fraction(24000, 1001), 30, gop=12, b_frames=2, options={"qscale": "3"}, audio="libmp3lame"),
    ClipCase("h264_longgop_mp4", ".mp4", "H.264 with B-frames and a 250-frame GOP (one keyframe), AAC",
             "libx264", Fraction(25), 30, options={**_X264, "x264-params": "keyint=250:min-keyint=250:scenecut=0:"
                                                              "bframes=3:b-pyramid=normal:log=-1"}, audio="aac"),
    ClipCase("h264_editlist_mp4", ".mp4", "MP4 cut without re-encoding: an edit list hides the GOP's first frames",
             "libx264", Fraction(25), 32, options=_x264(), audio="aac"),
    ClipCase("h264_start_offset_mp4", ".mp4", "MP4 whose first frame is at 10 s (a clip taken from a longer one)",
             "libx264", Fraction(25), 24, options=_x264(), audio="aac"),
    ClipCase("vfr_mkv", ".mkv", "variable frame rate (phone/screen capture): 25 and 50 fps steps and a gap",
             "libx264", Fraction(25), 30, options=_x264(), audio="aac", vfr=True),
    ClipCase("ntsc_2997_mp4", ".mp4", "29.97 fps NTSC over 300+ frames", "libx264", Fraction(30000, 1001), 310,
             options=_x264(60), audio="aac", slow=True, face_frames=24),
    ClipCase("ntsc_23976_mov", ".mov", "23.976 fps NTSC film rate over 300+ frames, MOV", "libx264",
             Fraction(24000, 1001), 305, options=_x264(48), audio="aac", slow=True, face_frames=24),
    ClipCase("hevc_10bit_mkv", ".mkv", "HEVC Main 10 (yuv420p10le) in Matroska, Opus", "libx265", Fraction(25), 24,
             pix_fmt="yuv420p10le", options={"preset": "ultrafast", "crf": "22",
                                             "x265-params": "log-level=error:keyint=12:bframes=3:pools=1:frame-threads=1"},
             audio="libopus"),
    ClipCase("prores_mov", ".mov", "ProRes 422 HQ 10-bit 4:2:2 in MOV with PCM audio", "prores_ks", Fraction(25), 24,
             pix_fmt="yuv422p10le", options={"profile": "3"}, audio="pcm_s16le"),
    ClipCase("dnxhr_hqx_mov", ".mov", "DNxHR HQX 10-bit 4:2:2 in MOV (the Avid intermediate), PCM", "dnxhd",
             Fraction(25), 24, pix_fmt="yuv422p10le", options={"profile": "dnxhr_hqx"}, audio="pcm_s16le"),
    ClipCase("ffv1_10bit_mkv", ".mkv", "FFV1 10-bit 4:2:2 lossless in Matroska (archive masters), FLAC", "ffv1",
             Fraction(25), 24, pix_fmt="yuv422p10le", options={"level": "3"}, audio="flac"),
    ClipCase("h264_422_10bit_mov", ".mov", "H.264 High 4:2:2 10-bit with B-frames in MOV (camera codecs), PCM",
             "libx264", Fraction(25), 24, pix_fmt="yuv422p10le", options=_x264(12), audio="pcm_s16le"),
    ClipCase("vp9_webm", ".webm", "VP9 in WebM with alt-ref frames enabled, Opus", "libvpx-vp9", Fraction(25), 24,
             options={"deadline": "good", "cpu-used": "8", "crf": "32", "b": "0", "lag-in-frames": "10",
                      "auto-alt-ref": "1", "g": "12", "threads": "1"}, audio="libopus"),
    ClipCase("av1_mp4", ".mp4", "AV1 (SVT-AV1) in MP4", "libsvtav1", Fraction(25), 24,
             options={"preset": "12", "crf": "35", "g": "12", "svtav1-params": "lp=1"}, audio="aac"),
    ClipCase("h264_mpegts", ".ts", "H.264 with B-frames and AAC in MPEG-TS (broadcast; the first timestamp is not 0)",
             "libx264", Fraction(25), 30, options=_x264(12), audio="aac"),
    ClipCase("mpeg2_ts", ".ts", "MPEG-2 video with B-frames and MP2 audio in MPEG-TS (DVB broadcast, DVD rips)",
             "mpeg2video", Fraction(25), 30, gop=12, b_frames=2, options={"qscale": "3"}, audio="mp2"),
    ClipCase("rotated_phone_mp4", ".mp4", "phone portrait clip: stored landscape, display matrix turns it",
             "libx264", Fraction(30), 24, options=_x264(30), audio="aac", size=(192, 256)),
    ClipCase("odd_size_mkv", ".mkv", "odd frame size 257x193 (4:4:4 H.264)", "libx264", Fraction(25), 24,
             pix_fmt="yuv444p", options=_x264(12), size=(257, 193)),
    ClipCase("one_frame_mp4", ".mp4", "a clip of one frame", "libx264", Fraction(25), 1, options=_x264()),
    ClipCase("mpeg4_bframes_avi_10s", ".avi", "10 s of MPEG-4 Part 2 in AVI with B-frames (the reported film clip)",
             "mpeg4", Fraction(24000, 1001), 240, gop=12, b_frames=2, options={"qscale": "3"}, audio="libmp3lame",
             slow=True, face_frames=72),
]}


def frames_of(case: ClipCase) -> list[np.ndarray]:
    """Upright RGB frames: the astronaut, a hard cut, Grace Hopper (then, for long clips, a cat: no face),
    each stamped with its frame number."""
    fps, n = case.rate, case.frames
    with_faces = min(n, case.face_frames or n)
    first = max(1, with_faces // 2)
    shots = [Shot(load_sample("astronaut"), float(first / fps), zoom=(0.62, 0.55), pan=((0.45, 0.33), (0.5, 0.3)),
                  rotate=(-3.0, 3.0))]
    if with_faces > first:
        shots.append(Shot(load_sample("grace_hopper"), float((with_faces - first) / fps), zoom=(0.9, 0.8),
                          pan=((0.5, 0.42), (0.53, 0.38))))
    if n > with_faces:
        from skimage import data

        shots.append(Shot(np.ascontiguousarray(data.chelsea()), float((n - with_faces) / fps), zoom=(1.0, 0.8)))
    frames = [f for shot in shots for f in render_shot_frames(shot, case.size, fps)][:n]
    while len(frames) < n:  # rounding of shot lengths
        frames.append(frames[-1])
    return [stamp(f, i) for i, f in enumerate(frames)]


def _vfr_pts(n: int) -> list[int]:
    """Times in 1/1000 s: 40 ms steps, then 20 ms steps, a 200 ms gap, 40 ms again."""
    pts, t = [], 0
    for i in range(n):
        pts.append(t)
        t += 20 if n // 3 <= i < 2 * n // 3 else 40
        if i == n // 2:
            t += 200
    return pts


def _audio(out: av.container.OutputContainer, codec: str, seconds: float, start: float) -> Callable[[], None]:
    """Add an audio stream (before any packet is written); returns the function that writes `seconds` of a
    two-tone chord into it, from `start` seconds on (where the video starts)."""
    rate = 44100 if codec == "libmp3lame" else 48000
    stream = out.add_stream(codec, rate=rate, layout="stereo")
    fmt = "s16" if codec in ("pcm_s16le", "mp2", "flac") else ("s16p" if codec == "libmp3lame" else "fltp")

    offset = round(start * rate)

    def write() -> None:
        total = round(seconds * rate)
        for start in range(0, total, 1024):
            t = np.arange(start, min(start + 1024, total)) / rate
            tone = 0.2 * np.sin(2 * np.pi * 440 * t) + 0.1 * np.sin(2 * np.pi * 660 * t)
            planes = np.stack([tone, tone])
            if fmt.startswith("s16"):
                planes = (planes * 32767).astype(np.int16)
                data = planes.T.reshape(1, -1) if fmt == "s16" else planes
            else:
                data = planes.astype(np.float32)
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(data), format=fmt, layout="stereo")
            frame.sample_rate, frame.pts = rate, offset + start
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))

    return write


_MUXERS = {".avi": "avi", ".mp4": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm", ".ts": "mpegts"}


def _encode(case: ClipCase, path: Path, *, first_pts: int = 0) -> None:
    """Encode the case's frames (pts i in 1/rate, or the VFR times), then its audio, into `path`."""
    frames = frames_of(case)
    rotation = 270 if case.name.startswith("rotated") else 0
    with av.open(str(path), "w", format=_MUXERS[case.suffix]) as out:
        video = out.add_stream(case.codec, rate=case.rate)
        height, width = frames[0].shape[:2]
        if rotation:  # stored turned, as a phone's sensor writes it; the display matrix turns it upright
            frames = [np.ascontiguousarray(np.rot90(f, -rotation // 90)) for f in frames]
            height, width = width, height
            video.set_display_rotation(rotation)
        video.width, video.height, video.pix_fmt = width, height, case.pix_fmt
        video.options = dict(case.options)
        if case.gop:
            video.codec_context.gop_size = case.gop
        if case.b_frames is not None:
            video.codec_context.max_b_frames = case.b_frames
        time_base = Fraction(1, 1000) if case.vfr else 1 / case.rate
        video.codec_context.time_base = time_base
        pts = _vfr_pts(len(frames)) if case.vfr else [first_pts + i for i in range(len(frames))]
        seconds = float((pts[-1] - pts[0]) * time_base + 1 / case.rate)
        write_audio = _audio(out, case.audio, seconds, float(pts[0] * time_base)) if case.audio else None
        for rgb, t in zip(frames, pts):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts, frame.time_base = t, time_base
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        if write_audio:
            write_audio()


def _cut_with_edit_list(src: Path, dest: Path, hidden: int) -> None:
    """`src`'s packets copied with every time moved `hidden` frames earlier, as `ffmpeg -ss -c copy` cuts a
    clip between keyframes: the first frames get negative times and FFmpeg's MP4 muxer writes an edit list
    that hides them (they are still decoded, as references)."""
    with av.open(str(src)) as inp, av.open(str(dest), "w", format="mp4") as out:
        streams = {s.index: out.add_stream_from_template(s) for s in (*inp.streams.video, *inp.streams.audio)}
        shift = {s.index: round(hidden / (Fraction(inp.streams.video[0].average_rate) * Fraction(s.time_base)))
                 for s in inp.streams}
        for packet in inp.demux():
            if not packet.size:
                continue
            k = packet.stream.index
            if packet.pts is not None:
                packet.pts -= shift[k]
            if packet.dts is not None:
                packet.dts -= shift[k]
            packet.stream = streams[k]
            out.mux(packet)


def build_clip(name: str, folder: Path) -> Path:
    """folder/<name><suffix>, encoded on first use."""
    case = CASES[name]
    path = folder / f"{name}{case.suffix}"
    if path.exists():
        return path
    temp = folder / f".{name}.partial{case.suffix}"
    if name == "h264_editlist_mp4":
        whole = folder / f".{name}.whole.mp4"
        _encode(case, whole)
        _cut_with_edit_list(whole, temp, hidden=6)
        whole.unlink()
    else:
        start = round(10 * case.rate) if name == "h264_start_offset_mp4" else 0
        _encode(case, temp, first_pts=start)
    temp.replace(path)
    return path

"""Passthrough cost against the floor every video tool pays: bare PyAV decode + H.264 encode.

Prints, from one run on one clip: passthrough time / bare decode+encode time (same CRF and preset), and
face analysis (detection + landmarks) in milliseconds per face per frame. Ratios, not seconds, are the result:
machines are noisy, and both sides run back to back on the same clip.

    python benchmarks/passthrough.py [--seconds 10] [--size 1280x720]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av

from facex_video import api
from facex_video.faces.analyze import FaceAnalyzer
from facex_video.media.synth import write_clip
from facex_video.samples import demo_shots
from facex_video.video.source import open_source
from facex_video.video.stages import TrackingResult, track_frames


def bare_decode_encode(src: Path, dst: Path, crf: int, preset: str) -> None:
    """The baseline: decode every frame with PyAV and re-encode it with libx264, nothing else."""
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        vin = inp.streams.video[0]
        vout = out.add_stream("libx264", rate=vin.average_rate, options={"crf": str(crf), "preset": preset})
        vout.width, vout.height, vout.pix_fmt = vin.width, vin.height, "yuv420p"
        for frame in inp.decode(vin):
            out.mux(vout.encode(frame.reformat(format="yuv420p")))
        out.mux(vout.encode(None))


def analysis_ms_per_face(src: Path) -> tuple[float, float, int]:
    """Face analysis alone, in ms per face per frame: as tracking runs it (detector every 0.2 s, tracked
    faces re-landmarked in between, cut detection and tracking included), and with the detector on
    every frame. Also the number of face-frames."""
    source = open_source(src)
    with FaceAnalyzer() as analyzer:
        start = time.perf_counter()
        faces = sum(len(f.faces) for f in track_frames(source, analyzer, TrackingResult(source), progress=False))
        tracked = time.perf_counter() - start
        start = time.perf_counter()
        for _, rgb, _ in source.frames():
            analyzer.analyze(rgb)
        full = time.perf_counter() - start
    return 1000 * tracked / max(faces, 1), 1000 * full / max(faces, 1), faces


def stretch(shots: list, seconds: float) -> None:
    """Scale every shot's length so the clip lasts `seconds` (the benchmarks' clip length option)."""
    scale = seconds / sum(s.seconds for s in shots)
    for s in shots:
        s.seconds *= scale


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--crf", type=int, default=16)
    parser.add_argument("--preset", default="medium")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        clip = tmp / "clip.mp4"
        shots = demo_shots()
        stretch(shots, args.seconds)
        write_clip(clip, shots, size=(width, height), fps=Fraction(25))
        t0 = time.perf_counter()
        bare_decode_encode(clip, tmp / "bare.mp4", args.crf, args.preset)
        bare = time.perf_counter() - t0
        t0 = time.perf_counter()
        summary = api.passthrough(clip, tmp / "pass.mp4", crf=args.crf, preset=args.preset, progress=False)
        full = time.perf_counter() - t0
        ms_tracked, ms_full, faces = analysis_ms_per_face(clip)
    frames = summary["frame_count"]
    print(f"clip: {frames} frames {width}x{height}, {len(summary['tracks'])} tracks, {faces} face-frames")
    print(f"bare PyAV decode+encode: {bare:.2f} s ({frames / bare:.1f} fps)")
    print(f"facex passthrough:       {full:.2f} s ({frames / full:.1f} fps)")
    print(f"ratio passthrough / bare decode+encode: {full / bare:.2f}x")
    print(f"face analysis as tracked: {ms_tracked:.1f} ms per face per frame")
    print(f"face analysis, detector on every frame: {ms_full:.1f} ms per face per frame")


if __name__ == "__main__":
    main()

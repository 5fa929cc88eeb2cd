"""Passthrough cost against the floor every video tool pays: bare PyAV decode + H.264 encode.

Measures, from one run on one clip: passthrough time / bare decode+encode time (same CRF and preset), and
face analysis (detection + landmarks) in milliseconds per face per frame; then both against frame size.
Ratios, not seconds, are the result: machines are noisy, and both sides run back to back on the same clip.

    python benchmarks/passthrough.py [--seconds 10] [--size 1280x720]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from common import bare_decode_encode, clip, sizes, stretch, timed

from facex_video import api
from facex_video.faces.analyze import FaceAnalyzer
from facex_video.samples import demo_shots
from facex_video.video.source import open_source
from facex_video.video.stages import TrackingResult, track_frames

# bare_decode_encode and stretch moved to common.py; benchmarks written before that import them from here
__all__ = ["analysis_ms_per_face", "bare_decode_encode", "measure", "run", "stretch"]


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


def measure(seconds: float, size: tuple[int, int], fps: int, *, crf: int = 16, preset: str = "medium",
            analysis: bool = True) -> dict:
    """Bare decode+encode and passthrough of the demo clip (t1's six faces, then two portraits)."""
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        src = clip(tmp / "clip.mp4", demo_shots(), seconds, size, fps)
        bare = timed(lambda: bare_decode_encode(src, tmp / "bare.mp4", crf, preset))
        summary = {}
        full = timed(lambda: summary.update(api.passthrough(src, tmp / "pass.mp4", crf=crf, preset=preset,
                                                            progress=False)))
        out = {"frames": summary["frame_count"], "tracks": len(summary["tracks"]), "bare_s": bare, "passthrough_s": full}
        if analysis:
            out["ms_tracked"], out["ms_full"], out["face_frames"] = analysis_ms_per_face(src)
    return out


def run(mode: str = "full") -> dict:
    """The ratio at the mode's main size, then bare and passthrough frames per second against frame size."""
    s = sizes(mode)
    main = measure(s.seconds, s.size, s.fps)
    scan = [measure(s.seconds, size, s.fps, analysis=False) for size in s.resolutions]
    labels = [f"{w}x{h}" for w, h in s.resolutions]
    w, h = s.size
    return {
        "title": "Passthrough: the round trip every edit makes",
        "notes": (f"Demo clip ({main['frames']} frames, {w}x{h}, {s.fps} fps: t1.jpg's six faces, a cut, two "
                  "portraits). Passthrough tracks every face, crops it to the aligned 512x512 layout, pastes it "
                  "back and re-encodes; the baseline decodes and re-encodes the same clip with PyAV "
                  "(libx264, same CRF 16 and preset), back to back in one run."),
        "tables": [{
            "title": "passthrough against bare decode + encode",
            "columns": ["measure", "value"],
            "rows": [
                ["bare PyAV decode + encode", f"{main['bare_s']:.2f} s ({main['frames'] / main['bare_s']:.1f} fps)"],
                ["facex passthrough", f"{main['passthrough_s']:.2f} s ({main['frames'] / main['passthrough_s']:.1f} fps)"],
                ["**ratio passthrough / bare**", f"**{main['passthrough_s'] / main['bare_s']:.2f}x**"],
                ["face analysis as tracked", f"{main['ms_tracked']:.1f} ms per face per frame"],
                ["face analysis, detector on every frame", f"{main['ms_full']:.1f} ms per face per frame"],
                ["face-frames / tracks", f"{main['face_frames']} / {main['tracks']}"],
            ],
        }, {
            "title": "frames per second against frame size",
            "columns": ["size", "bare fps", "passthrough fps", "ratio"],
            "rows": [[lab, f"{r['frames'] / r['bare_s']:.1f}", f"{r['frames'] / r['passthrough_s']:.1f}",
                      f"{r['passthrough_s'] / r['bare_s']:.2f}x"] for lab, r in zip(labels, scan)],
        }],
        "plots": [{
            "name": "passthrough_resolution", "kind": "line", "title": "Passthrough throughput against frame size",
            "xlabel": "frame size", "ylabel": "frames per second", "x": labels,
            "series": {"bare decode + encode": [r["frames"] / r["bare_s"] for r in scan],
                       "facex passthrough": [r["frames"] / r["passthrough_s"] for r in scan]},
        }],
        "numbers": {"ratio": main["passthrough_s"] / main["bare_s"], "ms_tracked": main["ms_tracked"]},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--crf", type=int, default=16)
    parser.add_argument("--preset", default="medium")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    r = measure(args.seconds, (width, height), 25, crf=args.crf, preset=args.preset)
    frames = r["frames"]
    print(f"clip: {frames} frames {width}x{height}, {r['tracks']} tracks, {r['face_frames']} face-frames")
    print(f"bare PyAV decode+encode: {r['bare_s']:.2f} s ({frames / r['bare_s']:.1f} fps)")
    print(f"facex passthrough:       {r['passthrough_s']:.2f} s ({frames / r['passthrough_s']:.1f} fps)")
    print(f"ratio passthrough / bare decode+encode: {r['passthrough_s'] / r['bare_s']:.2f}x")
    print(f"face analysis as tracked: {r['ms_tracked']:.1f} ms per face per frame")
    print(f"face analysis, detector on every frame: {r['ms_full']:.1f} ms per face per frame")


if __name__ == "__main__":
    main()

"""Passthrough cost against the floor every video tool pays: bare PyAV decode + H.264 encode.

Measures, from one run on one clip: passthrough time / bare decode+encode time (same CRF and preset), and
face analysis (detection + landmarks) in milliseconds per face per frame; then both against frame size.
Ratios, not seconds, are the result: machines are noisy, and both sides run back to back on the same clip.
Also the cost of the frame-exact decode (demuxer index + seek + every frame checked against the index)
against the old path (decord's batched random access, which returned wrong frames on AVI/B-frame files), read
whole and in the sharded job's 4 s chunks.

    python benchmarks/passthrough.py [--seconds 10] [--size 1280x720]
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import tempfile
import time
from pathlib import Path

import av
from common import bare_decode_encode, clip, sizes, stretch, timed

from facex_video import api
from facex_video.edit.stages import TrackingResult, track_frames
from facex_video.faces.analyze import FaceAnalyzer
from facex_video.media import iter_chunks, probe
from facex_video.media.frame_index import forget_scans
from facex_video.media.samples import demo_shots
from facex_video.media.source import open_source

# bare_decode_encode and stretch moved to common.py; benchmarks written before that import them from here
CHUNK_SECONDS = 4.0  # the sharded job's default --chunk-seconds

__all__ = ["analysis_ms_per_face", "bare_decode_encode", "decode_cost", "measure", "run", "stretch"]


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


def _verified(src: Path, windows: list[tuple[int, int]]) -> None:
    """The decode path as the job runs it: probe (index scan) once, then each window seeked and checked."""
    info = probe(src)
    for start, stop in windows:
        for _ in iter_chunks(src, info=info, start=start, stop=stop):
            pass


def _decord(src: Path, windows: list[tuple[int, int]]) -> None:
    """The old path, kept here only to price the new one: decord's batched random access, plus the demux
    pass it needed for exact pts."""
    import decord

    with av.open(str(src)) as c:
        sum(1 for p in c.demux(video=0) if p.size)
    reader = decord.VideoReader(str(src), ctx=decord.cpu(0))
    for start, stop in windows:
        for first in range(start, stop, 32):
            reader.get_batch(list(range(first, min(first + 32, stop)))).asnumpy()


def decode_cost(src: Path, chunk_frames: int) -> dict[str, float]:
    """Seconds to decode the whole clip once, and in chunks as the sharded job reads it, by the verified
    path and by the old decord path (absent when decord is not installed)."""
    n = probe(src).frame_count
    chunks = [(s, min(s + chunk_frames, n)) for s in range(0, n, chunk_frames)]
    out = {}
    paths = [("verified", _verified)] + ([("decord", _decord)] if importlib.util.find_spec("decord") else [])
    for name, fn in paths:
        for key, windows in (("whole", [(0, n)]), ("chunked", chunks)):
            forget_scans()  # each read pays for its own index, as a fresh worker process does
            out[f"{name}_{key}_s"] = timed(functools.partial(fn, src, windows))
    return out


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
        out = {"frames": summary["frame_count"], "tracks": len(summary["tracks"]), "bare_s": bare,
               "passthrough_s": full}
        if analysis:
            out["ms_tracked"], out["ms_full"], out["face_frames"] = analysis_ms_per_face(src)
            out["decode"] = decode_cost(src, round(CHUNK_SECONDS * fps))
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
        "tables": [*_decode_table(main["decode"]), {
            "title": "passthrough against bare decode + encode",
            "columns": ["measure", "value"],
            "rows": [
                ["bare PyAV decode + encode", f"{main['bare_s']:.2f} s ({main['frames'] / main['bare_s']:.1f} fps)"],
                ["facex passthrough",
                 f"{main['passthrough_s']:.2f} s ({main['frames'] / main['passthrough_s']:.1f} fps)"],
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
        "numbers": {"ratio": main["passthrough_s"] / main["bare_s"], "ms_tracked": main["ms_tracked"],
                    **{f"decode_{k}": v for k, v in main["decode"].items()}},
    }


def _decode_rows(d: dict[str, float]) -> list[list[str]]:
    rows = []
    for key, label in (("whole", "whole clip"), ("chunked", f"in {CHUNK_SECONDS:g} s chunks (the sharded job)")):
        row = [label, f"{d[f'verified_{key}_s']:.2f} s"]
        if f"decord_{key}_s" in d:
            row += [f"{d[f'decord_{key}_s']:.2f} s", f"{d[f'verified_{key}_s'] / d[f'decord_{key}_s']:.2f}x"]
        else:
            row += ["decord not installed", "-"]
        rows.append(row)
    return rows


def _decode_table(d: dict[str, float]) -> list[dict]:
    return [{"title": "frame-exact decode (index + seek + every frame checked) against the old decord path",
             "columns": ["read", "verified", "old decord path", "ratio verified / old"], "rows": _decode_rows(d)}]


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
    for label, verified, old, ratio in _decode_rows(r["decode"]):
        print(f"decode {label}: verified {verified}, old decord path {old}, ratio {ratio}")


if __name__ == "__main__":
    main()

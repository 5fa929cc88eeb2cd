"""Geometric face swap cost against bare PyAV decode + H.264 encode of the same 720p clip, one run.

    python benchmarks/swap.py [--seconds 4] [--size 1280x720]

Prints the ratio (swap time / bare decode+encode time) and ms per face per frame of the whole task
(both tracking passes, FORD, assembly, rendering and compositing).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from fractions import Fraction
from pathlib import Path

from passthrough import bare_decode_encode, stretch

from facex_video import api
from facex_video.media import write_image
from facex_video.media.synth import write_clip
from facex_video.samples import demo_shots, load_sample


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--size", default="1280x720")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        clip, source = tmp / "clip.mp4", tmp / "source.png"
        shots = demo_shots()[1:]  # the two single-face shots: one face per frame
        stretch(shots, args.seconds)
        write_clip(clip, shots, size=(width, height), fps=Fraction(25))
        write_image(source, load_sample("tom_hanks"))
        t0 = time.perf_counter()
        bare_decode_encode(clip, tmp / "bare.mp4", 16, "medium")
        bare = time.perf_counter() - t0
        t0 = time.perf_counter()
        api.run_task("swap", tmp / "swap.mp4", source=source, target=clip, progress=False)
        swap = time.perf_counter() - t0
    frames = round(args.seconds * 25)
    print(f"clip: {frames} frames {width}x{height}, one face per frame")
    print(f"bare PyAV decode+encode: {bare:.2f} s; geometric swap: {swap:.2f} s")
    print(f"ratio swap / bare decode+encode: {swap / bare:.2f}x")
    print(f"swap: {1000 * swap / frames:.0f} ms per face per frame")


if __name__ == "__main__":
    main()

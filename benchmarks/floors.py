"""What each piece of a face edit costs at the least on this machine, and the swap ratio those floors allow.

    python benchmarks/floors.py [--seconds 4] [--size 1280x720]

Issue 15 sets goals against a bare transcode (swap <= 3.0x, passthrough <= 1.5x, face analysis <= 10 ms a
face-frame). Whether a goal is reachable depends on what the pieces no implementation can skip cost here:
decoding to RGB and encoding with x264 (the bare transcode itself), MediaPipe's landmarker on one face crop
(every frame: it is what follows the face) and detector (frame + tiles, every detect interval), one remap of
a face-sized crop and one blend. Each is timed on real frames of the benchmark clip (the astronaut and
Grace Hopper portraits), in one run, as wall time and as CPU time of the whole process (x264 and PyAV's
decoder use threads). The floor ratio is what a swap doing nothing but these pieces would give with both
cores busy all the time: (bare CPU + the pieces' CPU) / cores over the bare transcode's wall time.
"""

from __future__ import annotations

import argparse
import itertools
import os
import tempfile
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
from common import bare_decode_encode, clip, sizes

from facex_video.core.constants import CROP_SIZE
from facex_video.faces.align import align_face, paste_face
from facex_video.faces.analyze import FaceAnalyzer
from facex_video.media.samples import demo_shots
from facex_video.media.source import open_source


def cost(fn: Callable[[], object], calls: int) -> tuple[float, float]:
    """(wall, CPU) ms a call of `fn`, over `calls` calls after one warm-up; CPU counts every thread."""
    fn()
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(calls):
        fn()
    return 1000 * (time.perf_counter() - wall) / calls, 1000 * (time.process_time() - cpu) / calls


def _encode_all(frames: list[np.ndarray], fps: int, dst: Path) -> None:
    """libx264 at CRF 16, preset medium, as the bare transcode encodes (its threads as it picks them)."""
    with av.open(str(dst), "w") as out:
        stream = out.add_stream("libx264", rate=Fraction(fps), options={"crf": "16", "preset": "medium"})
        stream.width, stream.height, stream.pix_fmt = frames[0].shape[1], frames[0].shape[0], "yuv420p"
        for rgb in frames:
            out.mux(stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")))
        out.mux(stream.encode(None))


def measure(seconds: float, size: tuple[int, int], fps: int, calls: int) -> dict[str, tuple[float, float]]:
    """(wall, CPU) ms of each piece, per frame or per call as its name says."""
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        src = clip(tmp / "clip.mp4", demo_shots()[1:], seconds, size, fps)
        source = open_source(src)
        n = source.frame_count
        frames = [rgb for _, rgb, _ in source.frames()]

        def per_frame(fn: Callable[[], object]) -> tuple[float, float]:
            """(wall, CPU) ms a frame of one pass over the clip."""
            wall, cpu = cost(fn, 1)
            return wall / n, cpu / n

        out = {"bare decode + encode, a frame": per_frame(lambda: bare_decode_encode(src, tmp / "bare.mp4")),
               "decode to RGB (PyAV), a frame": per_frame(lambda: list(source.frames())),
               "encode (libx264 CRF 16 medium), a frame": per_frame(lambda: _encode_all(frames, fps, tmp / "enc.mp4"))}
        with FaceAnalyzer() as analyzer:
            sample = frames[:: max(1, n // calls)][:calls]
            with_face = [(rgb, b[0]) for rgb in sample if (b := analyzer.detector.detect(rgb))]
            if not with_face:
                raise RuntimeError("the detector found no face in the benchmark clip")
            k = itertools.count()
            out["landmarker, a face crop"] = cost(
                lambda: analyzer.landmarker.landmarks(*with_face[next(k) % len(with_face)]), calls)
            k = itertools.count()
            out["detector, frame + tiles"] = cost(lambda: analyzer.detector.detect(sample[next(k) % len(sample)]),
                                                  calls)
            frame, box = with_face[len(with_face) // 2]
            aligned = align_face(frame, analyzer.landmarker.landmarks(frame, box).five_points())
        # the face's own 512 px crop: remapped (maps made once, ~3 px of displacement), blended with its
        # mirror image, pasted back where it came from
        crop, rng = aligned.image, np.random.default_rng(0)
        yy, xx = np.mgrid[0:CROP_SIZE, 0:CROP_SIZE].astype(np.float32)
        maps = cv2.convertMaps(xx + rng.uniform(-3, 3, xx.shape).astype(np.float32), yy, cv2.CV_16SC2)
        out["remap of a 512 px crop (maps made once)"] = cost(
            lambda: cv2.remap(crop, maps[0], maps[1], cv2.INTER_LINEAR), calls)
        alpha = cv2.GaussianBlur((rng.uniform(size=(CROP_SIZE, CROP_SIZE)) > 0.5).astype(np.float32), (0, 0), 8)
        mirror = np.ascontiguousarray(crop[:, ::-1])
        out["blend of a 512 px crop"] = cost(lambda: cv2.blendLinear(crop, mirror, alpha, 1 - alpha), calls)
        frame = frame.copy()
        out["paste of a 512 px crop into the frame"] = cost(
            lambda: paste_face(frame, crop, aligned.transform, alpha), calls)
    out["frames"] = (float(n), float(n))
    return out


def floor_ratio(pieces: dict[str, tuple[float, float]], interval: int, cores: int) -> dict[str, float]:
    """The lowest ratios the pieces allow (CPU summed and spread over `cores`, against the bare wall time)."""
    bare_wall, bare_cpu = pieces["bare decode + encode, a frame"]
    analysis = pieces["landmarker, a face crop"][1] + pieces["detector, frame + tiles"][1] / interval
    render = (pieces["remap of a 512 px crop (maps made once)"][1] + pieces["blend of a 512 px crop"][1]
              + pieces["paste of a 512 px crop into the frame"][1])
    decode = pieces["decode to RGB (PyAV), a frame"][1]
    # passthrough: the bare transcode, the analysis pass, the paste; swap: a second decode (analysis and
    # edit are two passes: a track's identity is known only once it has ended) and the render
    passthrough = bare_cpu + analysis + pieces["paste of a 512 px crop into the frame"][1]
    swap = bare_cpu + decode + analysis + render
    return {"analysis_ms": analysis, "passthrough": max(bare_wall, passthrough / cores) / bare_wall,
            "swap": max(bare_wall, swap / cores) / bare_wall}


def run(mode: str = "full") -> dict:
    s = sizes(mode)
    calls = {"full": 60, "quick": 30, "tiny": 3}[mode]
    pieces = measure(s.seconds, s.size, s.fps, calls)
    frames = int(pieces.pop("frames")[0])
    interval = max(1, round(0.2 * s.fps))  # edit/stages.detect_interval
    cores = len(os.sched_getaffinity(0))
    floors = floor_ratio(pieces, interval, cores)
    w, h = s.size
    return {
        "title": "Floors: the least each piece costs here",
        "notes": (f"The pieces no face edit can skip, each timed on real frames of the swap benchmark's clip "
                  f"({frames} frames, {w}x{h}, {s.fps} fps) in this one run: wall and CPU time (all threads of "
                  "the process: x264 and the decoder use threads). The floor ratios are what a pipeline doing "
                  f"only these pieces would give with all {cores} cores busy all the time: passthrough = bare "
                  "transcode + landmarker every frame + detector every 0.2 s + paste; swap adds a second decode "
                  "(a track's identity is known only when it has ended, so the edit is a second pass), one "
                  "remap and one blend of the face crop. Compare with the measured ratios and stages in the "
                  "passthrough and swap sections: everything above the floor is what the real analysis, FORD "
                  "and renderer do beyond the least."),
        "tables": [{
            "title": "each piece",
            "columns": ["piece", "wall ms", "CPU ms"],
            "rows": [[k, f"{wall:.2f}", f"{cpu:.2f}"] for k, (wall, cpu) in pieces.items()],
        }, {
            "title": "what the floors allow",
            "columns": ["measure", "floor", "issue 15's goal"],
            "rows": [
                [f"face analysis, ms per face-frame (landmarker + detector every {interval} frames)",
                 f"{floors['analysis_ms']:.1f}", "10"],
                *([["face analysis at 25 fps, the issue's clip (detector every 5 frames)",
                    f"{floor_ratio(pieces, 5, cores)['analysis_ms']:.1f}", "10"]] if interval != 5 else []),
                ["passthrough / bare transcode", f"{floors['passthrough']:.2f}x", "1.5x"],
                ["swap / bare transcode", f"{floors['swap']:.2f}x", "3.0x"],
            ],
        }],
        "plots": [{
            "name": "floors", "kind": "barh", "title": f"CPU ms of each piece, {w}x{h}",
            "xlabel": "CPU ms (per frame or per call)", "x": list(pieces),
            "series": {"CPU ms": [cpu for _, cpu in pieces.values()]},
        }],
        "numbers": {"pieces_ms": {k: {"wall": wall, "cpu": cpu} for k, (wall, cpu) in pieces.items()}, **floors},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--calls", type=int, default=60)
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    pieces = measure(args.seconds, (width, height), 25, args.calls)
    pieces.pop("frames")
    for k, (wall, cpu) in pieces.items():
        print(f"{k:<45} wall {wall:7.2f} ms   CPU {cpu:7.2f} ms")
    floors = floor_ratio(pieces, 5, len(os.sched_getaffinity(0)))
    print(f"floors: analysis {floors['analysis_ms']:.1f} ms a face-frame, passthrough {floors['passthrough']:.2f}x, "
          f"swap {floors['swap']:.2f}x")


if __name__ == "__main__":
    main()

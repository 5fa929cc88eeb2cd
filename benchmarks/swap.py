"""Geometric face swap cost against bare PyAV decode + H.264 encode of the same clip, one run; where the
time goes, stage by stage; and how it grows with frame size and with the number of faces.

    python benchmarks/swap.py [--seconds 4] [--size 1280x720]

Prints the ratio (swap time / bare decode+encode time), ms per face per frame of the whole task (both
tracking passes, FORD, assembly, rendering and compositing) and the time of each stage.
"""

from __future__ import annotations

import argparse
import functools
import tempfile
from pathlib import Path

import cv2
import numpy as np
from common import StageClock, bare_decode_encode, clip, sizes, timed

from facex_video import api
from facex_video.media import write_image
from facex_video.media.samples import demo_shots, load_sample
from facex_video.media.source import open_source
from facex_video.media.synth import Shot
from facex_video.video.config import RunConfig

DEFAULT = RunConfig(progress=False)  # the runner a user gets (`auto`: on a 2-CPU machine, inline on 2 threads)
STAGED = RunConfig(runner="inline", actors=1, progress=False)  # shard after shard, for the stage clock
ENCODE_STAGE = "encode (on the writer's own thread)"  # beside the other stages: not part of their wall time

FACE_CELLS = 4  # the faces scan frames hold up to this many portraits side by side, each in its own cell


def stage_clock() -> StageClock:
    """A clock on every stage a task run passes through (names as in docs/architecture.md)."""
    from facex_video.edit import face_edit as edit
    from facex_video.edit import stages
    from facex_video.faces.cuts import ShotCutDetector
    from facex_video.faces.track import FaceTracker
    from facex_video.media.encode import VideoWriter
    from facex_video.media.source import Source
    from facex_video.render.geometric import GeometricRenderer

    clock = StageClock()
    for owner, attr, stage in [
        (Source, "frames", "decode"),
        (stages, "analyze_tracked", "detect + landmarks"),
        (FaceTracker, "update", "track + cuts"),
        (ShotCutDetector, "update", "track + cuts"),
        (edit, "still_face", "source face (FORD + identity)"),
        (edit, "represent_face", "FORD per frame"),
        (edit, "assemble", "FORS assemble"),
        (GeometricRenderer, "render", "render (geometric)"),
        (edit, "paste_face", "paste back"),
        (VideoWriter, "_encode", ENCODE_STAGE),
    ]:
        clock.wrap(owner, attr, stage)
    return clock


def swap_clip(src: Path, source_photo: Path, out: Path, *, clock: StageClock | None = None) -> float:
    """Seconds of one `facex swap` of `src` on the default runner, or, with `clock`, shard after shard with
    its stages on the clock."""
    if clock is None:
        return timed(lambda: api.run_task("swap", out, source=source_photo, target=src, config=DEFAULT))
    with clock:
        return timed(lambda: api.run_task("swap", out, source=source_photo, target=src, config=STAGED))


def faces_frame(k: int, size: tuple[int, int]) -> np.ndarray:
    """A frame of FACE_CELLS equal cells, the first k holding Grace Hopper's portrait, the rest a plain
    grey wall: the faces scan keeps each face's size and the frame's size fixed while k grows."""
    w, h = size
    cell_w = w // FACE_CELLS
    portrait = load_sample("grace_hopper")
    scale = min(cell_w / portrait.shape[1], h / portrait.shape[0])
    face = cv2.resize(portrait, (int(portrait.shape[1] * scale), int(portrait.shape[0] * scale)),
                      interpolation=cv2.INTER_AREA)
    frame = np.full((h, w, 3), 128, np.uint8)
    for i in range(k):
        x0, y0 = i * cell_w + (cell_w - face.shape[1]) // 2, (h - face.shape[0]) // 2
        frame[y0 : y0 + face.shape[0], x0 : x0 + face.shape[1]] = face
    return frame


def run(mode: str = "full") -> dict:
    s = sizes(mode)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        source = tmp / "source.png"
        write_image(source, load_sample("tom_hanks"))
        portraits = demo_shots()[1:]  # the two single-face shots: one face per frame
        main_clip = clip(tmp / "clip.mp4", portraits, s.seconds, s.size, s.fps)
        frames = open_source(main_clip).frame_count
        bare = timed(lambda: bare_decode_encode(main_clip, tmp / "bare.mp4"))
        total = swap_clip(main_clip, source, tmp / "swap.mp4")
        clock = stage_clock()
        staged = swap_clip(main_clip, source, tmp / "staged.mp4", clock=clock)
        stage_s = dict(clock.seconds)
        stage_s["other (model loading, encoder flush, segment files, copies)"] = staged - sum(
            v for k, v in stage_s.items() if k != ENCODE_STAGE)

        res = []
        for i, size in enumerate(s.resolutions):
            c = clip(tmp / f"res{i}.mp4", demo_shots()[1:], s.seconds, size, s.fps)
            res.append((timed(functools.partial(bare_decode_encode, c, tmp / "bare_res.mp4")),
                        swap_clip(c, source, tmp / "swap_res.mp4")))
        faces = []
        for k in s.faces:
            c = clip(tmp / f"faces{k}.mp4", [Shot(faces_frame(k, s.size), 1.0, zoom=(1.0, 0.95))], s.seconds,
                     s.size, s.fps)
            faces.append(swap_clip(c, source, tmp / "swap_faces.mp4"))
    labels = [f"{w}x{h}" for w, h in s.resolutions]
    w, h = s.size
    ordered = sorted(stage_s.items(), key=lambda kv: -kv[1])
    return {
        "title": "Geometric swap: cost, stages, scaling",
        "notes": (f"`facex swap` with tom_hanks.png as the source onto a clip of two portraits with a cut "
                  f"({frames} frames, {w}x{h}, {s.fps} fps, one face per frame), against bare PyAV decode + "
                  "encode of the same clip in the same run, on the runner a user gets (`auto`: on a 2-CPU "
                  "machine, the inline runner on 2 threads). The stages are timed in another run, shard after "
                  "shard on one thread; their times are exclusive (a stage nested in another counts once), "
                  "both tracking passes are included, and encoding runs on the writer's own thread beside "
                  "the rest, so the stages add up to more than that run's wall time. The faces scan swaps a frame of "
                  f"{FACE_CELLS} equal cells, k of them holding a portrait, so frame and face size stay fixed."),
        "tables": [{
            "title": "swap against bare decode + encode",
            "columns": ["measure", "value"],
            "rows": [
                ["bare PyAV decode + encode", f"{bare:.2f} s"],
                ["geometric swap", f"{total:.2f} s"],
                ["**ratio swap / bare**", f"**{total / bare:.1f}x**"],
                ["geometric swap, shard after shard on one thread (the stage run)",
                 f"{staged:.2f} s = {staged / bare:.1f}x"],
                ["swap, whole run per frame (model loading and both passes included)",
                 f"{1000 * total / frames:.0f} ms"],
            ],
        }, {
            "title": "time per stage",
            "columns": ["stage", "seconds", "share", "ms per frame"],
            "rows": [[k, f"{v:.2f}", f"{100 * v / total:.0f} %", f"{1000 * v / frames:.1f}"] for k, v in ordered],
        }, {
            "title": "against frame size (one face per frame)",
            "columns": ["size", "bare fps", "swap fps", "ratio"],
            "rows": [[lab, f"{frames / b:.1f}", f"{frames / sw:.2f}", f"{sw / b:.1f}x"]
                     for lab, (b, sw) in zip(labels, res, strict=True)],
        }, {
            "title": "against the number of faces",
            "columns": ["faces per frame", "swap fps", "ms per face per frame"],
            "rows": [[k, f"{frames / t:.2f}", f"{1000 * t / (frames * k):.0f}"] for k, t in zip(s.faces, faces)],
        }],
        "plots": [
            {"name": "swap_stages", "kind": "barh", "title": f"Time per stage: geometric swap, {w}x{h}",
             "xlabel": "ms per frame", "x": [k for k, _ in ordered],
             "series": {"ms per frame": [1000 * v / frames for _, v in ordered]}},
            {"name": "swap_resolution", "kind": "line", "title": "Swap throughput against frame size",
             "xlabel": "frame size", "ylabel": "frames per second", "x": labels, "logy": True,
             "series": {"bare decode + encode": [frames / b for b, _ in res],
                        "geometric swap": [frames / sw for _, sw in res]}},
            {"name": "swap_faces", "kind": "line", "title": "Swap throughput against faces per frame",
             "xlabel": "faces per frame", "ylabel": "frames per second", "x": list(s.faces),
             "series": {"geometric swap": [frames / t for t in faces]}},
        ],
        "numbers": {"ratio": total / bare, "stages_s": stage_s, "total_s": total, "one_thread_s": staged},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--size", default="1280x720")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        source = tmp / "source.png"
        write_image(source, load_sample("tom_hanks"))
        src = clip(tmp / "clip.mp4", demo_shots()[1:], args.seconds, (width, height), 25)
        bare = timed(lambda: bare_decode_encode(src, tmp / "bare.mp4"))
        swap = swap_clip(src, source, tmp / "swap.mp4")
        clock = stage_clock()
        staged = swap_clip(src, source, tmp / "staged.mp4", clock=clock)
        frames = open_source(src).frame_count
    print(f"clip: {frames} frames {width}x{height}, one face per frame")
    print(f"bare PyAV decode+encode: {bare:.2f} s; geometric swap: {swap:.2f} s (default runner), "
          f"{staged:.2f} s (inline, one thread)")
    print(f"ratio swap / bare decode+encode: {swap / bare:.2f}x (default runner), {staged / bare:.2f}x (one thread)")
    print(f"swap: {1000 * swap / frames:.0f} ms per face per frame")
    print("stages of the one-thread run (encoding on its own thread):")
    for stage, seconds in sorted(clock.seconds.items(), key=lambda kv: -kv[1]):
        print(f"  {stage:<32} {1000 * seconds / frames:7.1f} ms per frame")


if __name__ == "__main__":
    main()

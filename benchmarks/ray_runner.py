"""The sharded video job's runners side by side, one run each, on clips made from a shipped photo:

    python benchmarks/ray_runner.py [--quick]

- Ray (2 edit actors) / inline wall time of a geometric swap on a 10 s and a 60 s clip, the inline runner
  on 2 threads (its default on 2 CPUs) and on 1 (shard after shard); the Ray figures include starting a
  local Ray, as a `facex swap --runner ray` without a cluster does;
- Ray with 2 actors / Ray with 1 actor on the same clip;
- peak RSS of a 60 s clip / a 10 s clip (inline runner on one thread, each in a fresh process): whether
  memory is bounded by the chunk, not the video (on two threads each thread's worker holds its own).
--quick: 4 s and 12 s clips. `run(mode)` returns the figures for benchmarks/run_all.py (tiny: 1 s and 3 s).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

from facex_video.media import write_image
from facex_video.media.samples import load_sample
from facex_video.media.synth import Shot, write_clip

FPS = Fraction(10)
SIZE = (480, 270)


def make_clip(path: Path, seconds: float) -> None:
    shot = Shot(load_sample("astronaut"), seconds=seconds, zoom=(1.0, 1.15), pan=((0.45, 0.4), (0.55, 0.42)))
    write_clip(path, [shot], size=SIZE, fps=FPS)


def child(args: list[str]) -> dict:
    """One job in a fresh process: its wall time and peak RSS."""
    proc = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run_child(clip: str, source: str, out: str, runner: str, actors: str) -> None:
    from facex_video import api
    from facex_video.video.config import RunConfig

    start = time.perf_counter()
    api.run_task("swap", out, source=source, target=clip, progress=False,
                 config=RunConfig(runner=runner, actors=int(actors) if actors != "0" else None))
    seconds = time.perf_counter() - start
    # VmHWM, not ru_maxrss: getrusage keeps the parent's peak across fork + exec
    hwm = next(int(line.split()[1]) for line in Path("/proc/self/status").read_text().splitlines()
               if line.startswith("VmHWM:"))
    print(json.dumps({"seconds": seconds, "peak_rss_mb": hwm / 1024}))


SECONDS = {"full": (10.0, 60.0), "quick": (4.0, 12.0), "tiny": (1.0, 3.0)}


def run(mode: str = "full") -> dict:
    """The figures, in benchmarks/run_all.py's format."""
    short, long = SECONDS[mode]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        source = tmp / "grace.png"
        write_image(source, load_sample("grace_hopper"))
        clips = {s: tmp / f"clip{s:g}.mp4" for s in (short, long)}
        for seconds, path in clips.items():
            make_clip(path, seconds)
        job = lambda clip, runner, actors: child([str(clip), str(source), str(tmp / "out.mp4"), runner, actors])  # noqa: E731
        inline, ray2 = job(clips[short], "inline", "2"), job(clips[short], "ray", "2")
        ray1, inline1 = job(clips[short], "ray", "1"), job(clips[short], "inline", "1")
        inline_long, ray2_long = job(clips[long], "inline", "2"), job(clips[long], "ray", "2")
        inline1_long = job(clips[long], "inline", "1")
    numbers = {
        "inline_s": round(inline["seconds"], 1), "ray_2_actors_s": round(ray2["seconds"], 1),
        "ray_1_actor_s": round(ray1["seconds"], 1), "inline_1_thread_s": round(inline1["seconds"], 1),
        "ray_over_inline": round(ray2["seconds"] / inline["seconds"], 2),
        "ray_over_inline_long": round(ray2_long["seconds"] / inline_long["seconds"], 2),
        "ray_over_inline_1_thread": round(ray2["seconds"] / inline1["seconds"], 2),
        "ray_over_inline_1_thread_long": round(ray2_long["seconds"] / inline1_long["seconds"], 2),
        "two_actors_over_one": round(ray2["seconds"] / ray1["seconds"], 2),
        # one thread: one worker whatever the length (on two threads a clip of one chunk never starts a second)
        "peak_rss_short_mb": round(inline1["peak_rss_mb"]), "peak_rss_long_mb": round(inline1_long["peak_rss_mb"]),
        "rss_long_over_short": round(inline1_long["peak_rss_mb"] / inline1["peak_rss_mb"], 2),
    }
    clip = f"{SIZE[0]}x{SIZE[1]} at {FPS} fps, one face"
    return {
        "title": "The sharded video job: Ray against inline, actors, memory",
        "notes": (f"Geometric swap of a {short:g} s clip ({clip}) by the inline runner on 2 threads and on 1 and "
                  f"by the Ray runner with 2 and 1 edit actors, and of a {long:g} s clip by the inline runner "
                  "(2 threads, 1) and Ray with 2 actors, "
                  "each in a fresh process (the Ray figures include starting a local Ray); "
                  f"peak RSS of the inline runner on one thread on a {long:g} s clip against the {short:g} s one "
                  "(on two threads each thread's worker holds its own working set). On 2 cores "
                  "the actors share the cores with Ray itself, so scaling shows on bigger machines."),
        "tables": [{"title": "runners", "columns": ["run", "seconds", "peak RSS, MB (Ray: the driver's)"],
                    "rows": [["inline, 2 threads", numbers["inline_s"], round(inline["peak_rss_mb"])],
                             ["inline, 1 thread", numbers["inline_1_thread_s"], numbers["peak_rss_short_mb"]],
                             ["Ray, 2 actors", numbers["ray_2_actors_s"], round(ray2["peak_rss_mb"])],
                             ["Ray, 1 actor", numbers["ray_1_actor_s"], round(ray1["peak_rss_mb"])],
                             [f"inline, 2 threads, {long:g} s clip", round(inline_long["seconds"], 1),
                              round(inline_long["peak_rss_mb"])],
                             [f"inline, 1 thread, {long:g} s clip", round(inline1_long["seconds"], 1),
                              numbers["peak_rss_long_mb"]],
                             [f"Ray, 2 actors, {long:g} s clip", round(ray2_long["seconds"], 1),
                              round(ray2_long["peak_rss_mb"])]]},
                   {"title": "ratios", "columns": ["ratio", "value"],
                    "rows": [[f"Ray (2 actors) / inline (2 threads), {short:g} s clip", numbers["ray_over_inline"]],
                             [f"Ray (2 actors) / inline (2 threads), {long:g} s clip",
                              numbers["ray_over_inline_long"]],
                             [f"Ray (2 actors) / inline (1 thread), {short:g} s clip",
                              numbers["ray_over_inline_1_thread"]],
                             [f"Ray (2 actors) / inline (1 thread), {long:g} s clip",
                              numbers["ray_over_inline_1_thread_long"]],
                             ["2 actors / 1 actor", numbers["two_actors_over_one"]],
                             [f"peak RSS {long:g} s / {short:g} s clip", numbers["rss_long_over_short"]]]}],
        "plots": [{"name": "ray_scaling", "kind": "bar", "title": f"Swap of a {short:g} s clip by runner",
                   "xlabel": "runner", "ylabel": "seconds",
                   "x": ["inline, 1 thread", "inline, 2 threads", "Ray, 1 actor", "Ray, 2 actors"],
                   "series": {"wall time": [numbers["inline_1_thread_s"], numbers["inline_s"],
                                            numbers["ray_1_actor_s"], numbers["ray_2_actors_s"]]}}],
        "numbers": numbers,
    }


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        run_child(*sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="4 s and 12 s clips")
    result = run("quick" if parser.parse_args().quick else "full")
    r = result["numbers"]
    print(result["notes"])
    print(f"inline 2 threads {r['inline_s']} s, 1 thread {r['inline_1_thread_s']} s; Ray 2 actors "
          f"{r['ray_2_actors_s']} s; Ray 1 actor {r['ray_1_actor_s']} s")
    print(f"ratio Ray (2 actors) / inline (2 threads): {r['ray_over_inline']:.2f}x (short clip), "
          f"{r['ray_over_inline_long']:.2f}x (long clip); / inline (1 thread): "
          f"{r['ray_over_inline_1_thread']:.2f}x, {r['ray_over_inline_1_thread_long']:.2f}x")
    print(f"ratio 2 actors / 1 actor: {r['two_actors_over_one']:.2f}x")
    print(f"peak RSS long / short clip: {r['rss_long_over_short']:.2f}x "
          f"({r['peak_rss_long_mb']} MB / {r['peak_rss_short_mb']} MB)")


if __name__ == "__main__":
    main()

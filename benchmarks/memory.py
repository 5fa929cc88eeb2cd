"""Peak memory against clip length: every stage streams, so a 60 s clip should need what a 10 s clip needs.

Each run is `facex passthrough`, `facex swap --runner inline` or `facex swap` (the default Ray runner, which
starts a local Ray) in its own process, on the demo clip stretched to each length. Memory is summed over the
command's process and every process it starts (Ray's gcs_server, raylet, agents, workers and edit actors),
sampled every 0.2 s (benchmarks/common.py peak_memory): counting only the driver hid a Ray run's growth.
The inline runner holds a worker (models and working set) per thread that has run a shard: a clip of one 4 s
chunk never starts the second, so the quick mode's 2 and 4 s clips show one worker and its 8 s clip two.

    python benchmarks/memory.py [--quick]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from common import PeakMemory, clip, facex_peak_memory, sizes

from facex_video.media import write_image
from facex_video.media.samples import demo_shots, load_sample

# full: the lengths the acceptance compares (issue 12), at the main 720p size
LENGTHS = {"full": (10.0, 60.0)}


def measure(lengths: tuple[float, ...], size: tuple[int, int], fps: int) -> dict[str, list[PeakMemory]]:
    """Peak memory of passthrough, inline swap and Ray swap for each clip length."""
    out: dict[str, list[PeakMemory]] = {"facex passthrough": [], "facex swap (inline)": [], "facex swap (Ray)": []}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        source = tmp / "source.png"
        write_image(source, load_sample("tom_hanks"))
        for i, seconds in enumerate(lengths):
            c = clip(tmp / f"clip{i}.mp4", demo_shots(), seconds, size, fps)
            swap = ["swap", "--source", str(source), "--target", str(c), "-o", str(tmp / "s.mp4"), "--quiet"]
            out["facex passthrough"].append(facex_peak_memory(["passthrough", str(c), "-o", str(tmp / "p.mp4"),
                                                               "--quiet"]))
            out["facex swap (inline)"].append(facex_peak_memory([*swap, "--runner", "inline"]))
            out["facex swap (Ray)"].append(facex_peak_memory([*swap, "--runner", "ray"]))
    return out


def _table(title: str, lengths: tuple[float, ...], mib: dict[str, list[float]]) -> dict:
    return {
        "title": title,
        "columns": ["clip length (s)", *mib],
        "rows": [[f"{sec:g}", *(f"{v[i]:.0f}" for v in mib.values())] for i, sec in enumerate(lengths)]
        + [["**longest / shortest**", *(f"**{v[-1] / v[0]:.2f}x**" for v in mib.values())]],
    }


def run(mode: str = "full") -> dict:
    s = sizes(mode)
    size = s.resolutions[0] if mode != "full" else s.size
    lengths = LENGTHS.get(mode, s.lengths)
    peaks = measure(lengths, size, s.fps)
    rss = {k: [p.rss_mb for p in v] for k, v in peaks.items()}
    pss = {k: [p.pss_mb for p in v] for k, v in peaks.items()}
    processes = max(p.processes for v in peaks.values() for p in v)
    return {
        "title": "Memory against clip length",
        "notes": (f"Peak memory of each command summed over all its processes (the Ray run: driver, gcs_server, "
                  f"raylet, agents, workers and edit actors: up to {processes} processes), sampled every 0.2 s, "
                  f"on the demo clip (six faces, a cut, two portraits) stretched to each length, {size[0]}x{size[1]} "
                  f"at {s.fps} fps. RSS counts a page shared by several processes (libraries, Ray's object store) "
                  "once per process; PSS splits it among them (and with any other process on the machine). "
                  "Most of it is the models and libraries; what "
                  "matters is how much it grows with the clip (issue 12 asks at most 1.15x from 10 s to 60 s)."),
        "tables": [_table("peak resident memory, summed RSS (MiB)", lengths, rss),
                   _table("peak proportional memory, summed PSS (MiB)", lengths, pss)],
        "plots": [{"name": "memory_length", "kind": "line", "title": "Peak memory (all processes) against clip length",
                   "xlabel": "clip length (s)", "ylabel": "peak summed RSS (MiB)", "x": list(lengths),
                   "series": rss, "ymin": 0}],
        "numbers": {"growth": {k: v[-1] / v[0] for k, v in rss.items()},
                    "growth_pss": {k: v[-1] / v[0] for k, v in pss.items()},
                    "peak_rss_mib": rss, "peak_pss_mib": pss},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    result = run("quick" if args.quick else "full")
    for table in result["tables"]:
        print(table["title"])
        print(" | ".join(table["columns"]))
        for row in table["rows"]:
            print(" | ".join(str(v).replace("*", "") for v in row))


if __name__ == "__main__":
    main()

"""Peak memory against clip length: every stage streams, so a 40 s clip should need what a 5 s clip needs.

Each run is `facex passthrough` / `facex swap` in its own process (its peak resident memory, VmHWM), on
the demo clip stretched to each length.

    python benchmarks/memory.py [--quick]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from common import clip, peak_rss_mb, sizes

from facex_video.media import write_image
from facex_video.samples import demo_shots, load_sample


def measure(lengths: tuple[float, ...], size: tuple[int, int], fps: int) -> dict[str, list[float]]:
    """Peak MiB of passthrough and swap for each clip length."""
    out: dict[str, list[float]] = {"facex passthrough": [], "facex swap": []}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        source = tmp / "source.png"
        write_image(source, load_sample("tom_hanks"))
        for i, seconds in enumerate(lengths):
            c = clip(tmp / f"clip{i}.mp4", demo_shots(), seconds, size, fps)
            out["facex passthrough"].append(peak_rss_mb(["passthrough", str(c), "-o", str(tmp / "p.mp4"),
                                                                 "--quiet"]))
            out["facex swap"].append(peak_rss_mb(["swap", "--source", str(source), "--target", str(c),
                                                          "-o", str(tmp / "s.mp4"), "--quiet"]))
    return out


def run(mode: str = "full") -> dict:
    s = sizes(mode)
    size = s.resolutions[0] if mode != "full" else s.size
    peaks = measure(s.lengths, size, s.fps)
    growth = {k: v[-1] / v[0] for k, v in peaks.items()}
    return {
        "title": "Memory against clip length",
        "notes": (f"Peak resident memory of one `facex` process on the demo clip (six faces, a cut, two portraits) "
                  f"stretched to each length, {size[0]}x{size[1]} at {s.fps} fps. Most of it is the models and "
                  "libraries; what matters is how much it grows with the clip (every stage streams frames)."),
        "tables": [{
            "title": "peak resident memory (MiB)",
            "columns": ["clip length (s)", *peaks],
            "rows": [[f"{sec:g}", *(f"{v[i]:.0f}" for v in peaks.values())] for i, sec in enumerate(s.lengths)]
            + [["**longest / shortest**", *(f"**{g:.2f}x**" for g in growth.values())]],
        }],
        "plots": [{"name": "memory_length", "kind": "line", "title": "Peak memory against clip length",
                   "xlabel": "clip length (s)", "ylabel": "peak resident memory (MiB)", "x": list(s.lengths),
                   "series": peaks, "ymin": 0}],
        "numbers": {"growth": growth},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    result = run("quick" if args.quick else "full")
    table = result["tables"][0]
    print(" | ".join(table["columns"]))
    for row in table["rows"]:
        print(" | ".join(str(v).replace("*", "") for v in row))


if __name__ == "__main__":
    main()

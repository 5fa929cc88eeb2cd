"""Run every benchmark in one go and write docs/benchmarks.md with its tables and PNG plots.

    python benchmarks/run_all.py [--quick] [--only swap,quality] [--md docs/benchmarks.md] [--img docs/img]

--only reruns those benchmarks and keeps the other sections of the last run of the same mode.

--quick takes minutes on 2 cores (short, small clips); the default (full) takes longer and gives the
numbers to quote. Every ratio in the report is measured side by side in the same run on the same machine,
which the report describes at its top.

Adding a benchmark: put `NAME.py` in this folder with `run(mode: str) -> dict`, mode one of "full",
"quick", "tiny" (tiny: seconds, for the test suite), and add NAME to BENCHMARKS. The dict:

    {"title": str, "notes": str (markdown),
     "tables": [{"title": str, "columns": [str, ...], "rows": [[cell, ...], ...]}],
     "plots": [{"name": file stem, "kind": "line" | "bar" | "barh", "title": str, "xlabel": str,
                "ylabel": str, "x": [label or number, ...], "series": {label: [y per x, ...]},
                optional "logy": bool, "ymin": float, "hlines": {label: y}}],
     "numbers": {...}  (optional, machine-readable headline numbers)}

Everything measured is also written to benchmarks.json beside the report; `--replot` redraws the report
and plots from it without measuring again (after a change to the plotting or the wording).

Plots are drawn from whatever results exist: a benchmark that fails is reported with its error and the
others still appear (the exit status is then 1).
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import platform
import subprocess
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
KEY_RERUN = "sections rerun later (--only)"
BENCHMARKS = ["passthrough", "swap", "floors", "memory", "quality", "ray_runner", "facex_renderer", "marking"]


def machine() -> dict[str, str]:
    """What the numbers ran on."""
    import numpy
    import torch

    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor() or "unknown")
    mem_kib = next((int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                    if line.startswith("MemTotal")), 0)
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                                check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    return {
        "CPU": cpu,
        "cores available": str(len(os.sched_getaffinity(0))),
        "load average at start": " ".join(f"{v:.2f}" for v in os.getloadavg()),
        "memory": f"{mem_kib / 2**20:.0f} GiB",
        "GPU": "none used (every benchmark here runs on the CPU)",
        "OS": platform.platform(),
        "Python / numpy / torch": f"{platform.python_version()} / {numpy.__version__} / {torch.__version__}",
        "facex commit": commit,
        "date (UTC)": datetime.now(UTC).strftime("%Y-%m-%d %H:%M"),
    }


def plot(spec: dict, path: Path) -> None:
    """One PNG from a plot spec (see the module docstring); non-finite values are left out of lines and
    drawn as a labelled bar at the top of a bar chart (PSNR of an untouched region is infinite)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, ax = plt.subplots(figsize=(9 if spec["kind"] == "barh" else 7, 4.2))
    x = spec["x"]
    series = spec["series"]
    if spec["kind"] == "line":
        numeric = all(isinstance(v, (int, float)) for v in x)
        xs = x if numeric else list(range(len(x)))
        for label, ys in series.items():
            pts = [(a, b) for a, b in zip(xs, ys) if b is not None and math.isfinite(b)]
            ax.plot([a for a, _ in pts], [b for _, b in pts], marker="o", label=label)
        ax.set_xticks(xs, [str(v) for v in x])
        if spec.get("logy"):
            ax.set_yscale("log")
    elif spec["kind"] == "bar":
        finite = [v for ys in series.values() for v in ys if v is not None and math.isfinite(v)]
        top = 1.15 * max(finite) if finite else 1.0
        width = 0.8 / len(series)
        for i, (label, ys) in enumerate(series.items()):
            pos = np.arange(len(x)) + (i - (len(series) - 1) / 2) * width
            drawn = [top if v is not None and math.isinf(v) else v for v in ys]
            bars = ax.bar(pos, [np.nan if v is None else v for v in drawn], width, label=label)
            for bar, v in zip(bars, ys):
                if v is not None and not math.isnan(v):
                    text = "inf" if math.isinf(v) else f"{v:.3g}"
                    ax.annotate(text, (bar.get_x() + bar.get_width() / 2, min(v, top)), ha="center", va="bottom",
                                fontsize=7)
        ax.set_xticks(range(len(x)), [str(v) for v in x])
        ax.set_ylim(0, 1.35 * top)  # room for the value labels and the legend
    elif spec["kind"] == "barh":
        (label, ys), = series.items()
        ax.barh(range(len(x)), ys, color="#4c72b0")
        ax.set_yticks(range(len(x)), [str(v) for v in x])
        ax.invert_yaxis()
        for i, v in enumerate(ys):
            ax.annotate(f"{v:.1f}", (v, i), xytext=(3, 0), textcoords="offset points", va="center", fontsize=8)
    else:
        raise ValueError(f"unknown plot kind {spec['kind']!r}")
    for label, y in spec.get("hlines", {}).items():
        ax.axhline(y, color="grey", linestyle="--", linewidth=1, label=label)
    if "ymin" in spec:  # from ymin, with room above the highest point for the legend
        ax.set_ylim(spec["ymin"], spec["ymin"] + 1.25 * (ax.get_ylim()[1] - spec["ymin"]))
    ax.set_title(spec["title"])
    ax.set_xlabel(spec.get("xlabel", ""))
    ax.set_ylabel(spec.get("ylabel", ""))
    ax.grid(alpha=0.3)
    if spec["kind"] != "barh":
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _table(table: dict) -> list[str]:
    lines = [f"**{table['title']}**", "", "| " + " | ".join(table["columns"]) + " |",
             "|" + "---|" * len(table["columns"])]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in table["rows"]]
    return lines + [""]


def report(results: dict[str, dict], errors: dict[str, str], info: dict[str, str], mode: str, seconds: float,
           md: Path, img: Path) -> None:
    """docs/benchmarks.md (tables, notes, plots) and its PNGs; plot paths are relative to the report."""
    img.mkdir(parents=True, exist_ok=True)
    rel = os.path.relpath(img, md.parent)
    busy = float(info["load average at start"].split()[0]) > float(info["cores available"])
    lines = ["# Benchmarks", "",
             f"Written by `python benchmarks/run_all.py{' --quick' if mode == 'quick' else ''}` "
             f"({mode} mode, {seconds / 60:.1f} min). Ratios are measured side by side in this one run; absolute "
             "times depend on the machine below and on what else it was doing."
             + (" The load average at the start was above the number of cores: other work shared the CPU, so "
                "absolute times are slower than on an idle machine and small differences are noise." if busy else ""),
             "",
             "| machine | |", "|---|---|", *[f"| {k} | {v} |" for k, v in info.items()], ""]
    for name in [n for n in BENCHMARKS if n in results or n in errors]:
        if name in errors:
            lines += [f"## {name}", "", "Failed in this run:", "", "```text", errors[name], "```", ""]
            continue
        r = results[name]
        lines += [f"## {r['title']}", "", f"`benchmarks/{name}.py`. {r.get('notes', '')}", ""]
        for table in r.get("tables", []):
            lines += _table(table)
        for spec in r.get("plots", []):
            file = img / f"bench_{spec['name']}.png"
            plot(spec, file)
            lines += [f"![{spec['title']}]({rel}/{file.name})", ""]
    md.parent.mkdir(parents=True, exist_ok=True)
    md.write_text("\n".join(lines))
    md.with_suffix(".json").write_text(json.dumps({"mode": mode, "seconds": seconds, "machine": info,
                                                  "results": results, "errors": errors}, indent=1, default=float))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="short, small clips: minutes on 2 cores")
    size.add_argument("--tiny", action="store_true", help="seconds per benchmark: for the test suite")
    parser.add_argument("--only", help=f"comma-separated subset of {','.join(BENCHMARKS)}")
    parser.add_argument("--md", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--img", type=Path, default=ROOT / "docs" / "img")
    parser.add_argument("--replot", action="store_true", help="redraw from the last run's benchmarks.json")
    args = parser.parse_args(argv)
    if args.replot:
        saved = json.loads(args.md.with_suffix(".json").read_text())
        report(saved["results"], saved["errors"], saved["machine"], saved["mode"], saved["seconds"], args.md, args.img)
        return 0
    mode = "tiny" if args.tiny else "quick" if args.quick else "full"
    names = args.only.split(",") if args.only else BENCHMARKS
    unknown = sorted(set(names) - set(BENCHMARKS))
    if unknown:
        parser.error(f"--only: unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}")
    sys.path.insert(0, str(HERE))
    info = machine()
    results, errors = {}, {}
    start = time.perf_counter()
    for name in names:
        t0 = time.perf_counter()
        print(f"{name} ({mode}) ...", flush=True)
        try:
            results[name] = importlib.import_module(name).run(mode)
        except Exception:  # noqa: BLE001  (one broken benchmark must not hide the others' numbers)
            errors[name] = traceback.format_exc(limit=3)
            print(errors[name], file=sys.stderr)
        print(f"{name}: {time.perf_counter() - t0:.0f} s", flush=True)
    seconds = time.perf_counter() - start
    saved_json = args.md.with_suffix(".json")
    if args.only and saved_json.is_file():  # the other sections stay as the last run of this mode left them
        saved = json.loads(saved_json.read_text())
        if saved["mode"] == mode:  # the header stays the whole run's; each rerun is listed with its own
            rerun = KEY_RERUN
            earlier = [r for r in saved["machine"].get(rerun, "").split("; ") if r]
            info = {**saved["machine"], rerun: "; ".join([*earlier, (
                f"{', '.join(names)} ({info['date (UTC)']}, commit {info['facex commit']}, "
                f"load {info['load average at start']})")])}
            results = {**{k: v for k, v in saved["results"].items() if k not in names}, **results}
            errors = {**{k: v for k, v in saved["errors"].items() if k not in names}, **errors}
            seconds = saved["seconds"]
    report(results, errors, info, mode, seconds, args.md, args.img)
    print(f"wrote {args.md} and its plots in {args.img}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())

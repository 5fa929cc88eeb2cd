"""Quality of every task on shipped photos, measured by `facex eval`'s metrics (facex_video/eval/report.py).

Each task runs as `api.run_task` on real portraits; the result is then scored against the input its recipe
names for each component: identity against the identity donor (and the canvas), landmarks and PSNR / SSIM
outside the head against the canvas, pose / expression / gaze against the input they come from.

    python benchmarks/quality.py [--quick]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from facex_video import api
from facex_video.eval.report import Metric, evaluate
from facex_video.media import write_image
from facex_video.media.samples import load_sample
from facex_video.tasks.assemble import Edits

# task -> run_task keywords; photo names stand for the files written from load_sample
CASES = {
    "swap": {"source": "grace_hopper", "target": "astronaut"},
    "headswap": {"source": "astronaut", "target": "grace_hopper"},
    "hairswap": {"source": "astronaut", "target": "grace_hopper"},
    "reenact": {"source": "astronaut", "driving": "grace_hopper"},
    "edit": {"target": "astronaut", "edits": Edits(yaw=10.0)},
    "inpaint": {"target": "astronaut", "inpaint_region": "eyes"},
    "mix": {"target": "astronaut", "take": {"expression": "grace_hopper"}},
}
TINY_CASES = ("swap", "edit")
# the kinds of facex eval's rows, each named by its grader: MediaPipe is what the renderer itself reads, dlib+PnP
# and dlib+iris share no model with it (eval/head_pose.py, eval/gaze_image.py)
COLUMNS = ("identity distance", "identity margin", "still reads as", "landmark NME", "pose error (MediaPipe)",
           "pose error (dlib+PnP)", "expression error", "gaze error (MediaPipe)", "gaze error (dlib+iris)",
           "PSNR outside", "SSIM outside")
GRADERS = ("dlib+PnP", "dlib+iris")


def _case(task: str, folder: Path) -> tuple[dict, dict]:
    """run_task keywords and evaluate keywords of a task, with photo names turned into files in `folder`."""
    photo = lambda name: str(folder / f"{name}.png")  # noqa: E731
    run_kw, eval_kw = {}, {}
    for key, value in CASES[task].items():
        if key in ("source", "target", "driving"):
            run_kw[key] = eval_kw[key] = photo(value)
        elif key == "take":
            run_kw[key] = eval_kw[key] = {c: photo(v) for c, v in value.items()}
        else:
            run_kw[key] = value
            if key == "edits":  # scored against the target plus the asked change
                eval_kw[key] = value
    return run_kw, eval_kw


def _kind(name: str) -> str | None:
    """A row's kind (COLUMNS): its leading words, and for pose and gaze the grader its name ends with."""
    grader = next((g for g in GRADERS if name.endswith(f"({g})")), "MediaPipe")
    for kind in COLUMNS:
        base = kind.split(" (")[0]
        if name.startswith(base) and (kind == base or kind.endswith(f"({grader})")):
            return kind
    return None


def _by_kind(rows: list[Metric]) -> dict[str, Metric]:
    """The metrics keyed by kind (COLUMNS); the identity distance to the identity donor comes first, the
    distance to the canvas (when another input) is 'identity distance (canvas)'."""
    out: dict[str, Metric] = {}
    for m in rows:
        kind = _kind(m.name)
        if kind is not None:
            out[kind if kind not in out else f"{kind} (canvas)"] = m
    return out


def run(mode: str = "full") -> dict:
    tasks = TINY_CASES if mode == "tiny" else tuple(CASES)
    measured: dict[str, dict[str, Metric]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for name in ("astronaut", "grace_hopper"):
            write_image(tmp / f"{name}.png", load_sample(name))
        for task in tasks:
            run_kw, eval_kw = _case(task, tmp)
            out = tmp / f"{task}.png"
            api.run_task(task, out, progress=False, **run_kw)
            measured[task] = _by_kind(evaluate(task, out, **eval_kw))

    def value(task: str, kind: str) -> float:
        m = measured[task].get(kind)
        return m.value if m else float("nan")

    def cell(task: str, kind: str) -> str:
        m = measured[task].get(kind)
        if m is None:
            return "-"
        number = f"{m.value:.3f}" if abs(m.value) != float("inf") else "inf"
        if " vs " not in m.name and " to " not in m.name:
            return number
        role = m.name.split(" vs ")[-1].split(" to ")[-1]  # the input it is measured against (the column names
        for grader in GRADERS:  # the grader)
            role = role.removesuffix(f" ({grader})")
        return f"{number} ({role})"

    rows = [[task, *(cell(task, k) for k in ("identity distance", "identity distance (canvas)", *COLUMNS[1:]))]
            for task in tasks]
    headers = ["task", "identity dist. (donor)", "identity dist. (canvas)", "identity margin", "still reads as canvas",
               "landmark NME", "pose err. MediaPipe (deg)", "pose err. dlib+PnP (deg)", "expression err.",
               "gaze err. MediaPipe (deg)", "gaze err. dlib+iris (deg)", "PSNR outside head (dB)", "SSIM outside head"]
    return {
        "title": "Quality per task (geometric backend, shipped photos)",
        "notes": ("Each task on the astronaut and Grace Hopper portraits (swap: Grace onto the astronaut; "
                  "headswap / hairswap: the astronaut's onto Grace; reenact: the astronaut driven by Grace's "
                  "photo; edit: yaw +10 degrees; inpaint: the eyes; mix: the astronaut with Grace's "
                  "expression), scored by `facex eval`. In brackets: the input each number is measured "
                  "against. Identity is dlib's distance (the same person below 0.6). For edit, pose and gaze "
                  "are scored against the target plus the asked change (`facex eval --yaw 10`). Graders: identity "
                  "and landmarks by dlib; pose and gaze twice, by MediaPipe (the model the renderer reads) and by "
                  "dlib+PnP / dlib+iris, which share no model with it. These two portraits are the faces the "
                  "renderer's constants were tuned on (docs/tuning.md): held-out results are there and in "
                  "tests/test_task_properties.py."),
        "tables": [{
            "title": "facex eval of each task",
            "columns": headers,
            "rows": rows,
        }],
        "plots": [
            {"name": "quality_identity", "kind": "bar", "title": "Identity after each task (dlib distance)",
             "ylabel": "identity distance", "x": list(tasks), "hlines": {"same person below 0.6": 0.6},
             "series": {"to the identity donor": [value(t, "identity distance") for t in tasks],
                        "to the canvas, when another input": [value(t, "identity distance (canvas)") for t in tasks]}},
            {"name": "quality_motion", "kind": "bar", "title": "Pose and gaze against the input they come from",
             "ylabel": "degrees", "x": list(tasks),
             "series": {"pose error (MediaPipe)": [value(t, "pose error (MediaPipe)") for t in tasks],
                        "pose error (dlib+PnP)": [value(t, "pose error (dlib+PnP)") for t in tasks],
                        "gaze error (MediaPipe)": [value(t, "gaze error (MediaPipe)") for t in tasks],
                        "gaze error (dlib+iris)": [value(t, "gaze error (dlib+iris)") for t in tasks]}},
            {"name": "quality_fidelity", "kind": "bar", "title": "What must stay: PSNR outside the head",
             "ylabel": "PSNR (dB)", "x": list(tasks),
             "series": {"PSNR outside the head": [value(t, "PSNR outside") for t in tasks]}},
        ],
        "numbers": {t: {k: m.value for k, m in ms.items()} for t, ms in measured.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true", help=f"only {', '.join(TINY_CASES)}")
    args = parser.parse_args()
    table = run("tiny" if args.tiny else "full")["tables"][0]
    print(" | ".join(table["columns"]))
    for row in table["rows"]:
        print(" | ".join(row))


if __name__ == "__main__":
    main()

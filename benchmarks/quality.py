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

# task -> run_task keywords; "a" and "b" stand for the two faces of a set (FACE_SETS)
CASES = {
    "swap": {"source": "b", "target": "a"},
    "headswap": {"source": "a", "target": "b"},
    "hairswap": {"source": "a", "target": "b"},
    "reenact": {"source": "a", "driving": "b"},
    "edit": {"target": "a", "edits": Edits(yaw=10.0)},
    "inpaint": {"target": "a", "inpaint_region": "eyes"},
    "mix": {"target": "a", "take": {"expression": "b"}},
}
# the faces the renderer's constants were tuned on, and two no constant was tuned on (docs/tuning.md): t1's
# face 0 and Tom Hanks, as level crops around the face (eval/turn.py)
FACE_SETS = {"tuned on": ("astronaut", "grace_hopper"), "held out": ("t1 face 0", "tom_hanks face 0")}
TUNED = "astronaut, Grace Hopper"  # the plots show the tuned set; the held-out set is its own table
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


def _faces(names: tuple[str, str]) -> tuple:
    """The two images of a set: shipped photos as they are, held-out faces as crops (eval/turn.py)."""
    if all(n in ("astronaut", "grace_hopper") for n in names):
        return tuple(load_sample(n) for n in names)
    from facex_video.eval.turn import turn_faces
    from facex_video.faces.analyze import FaceAnalyzer

    with FaceAnalyzer() as analyzer:
        crops = {f.name: f.image for f in turn_faces(analyzer, 320)}
    return tuple(crops[n] for n in names)


def _measure(tasks: tuple[str, ...], names: tuple[str, str]) -> dict[str, dict[str, Metric]]:
    measured = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for role, image in zip(("a", "b"), _faces(names), strict=True):
            write_image(folder / f"{role}.png", image)
        for task in tasks:
            run_kw, eval_kw = _case(task, folder)
            out = folder / f"{task}.png"
            api.run_task(task, out, progress=False, **run_kw)
            measured[task] = _by_kind(evaluate(task, out, **eval_kw))
    return measured


def run(mode: str = "full") -> dict:
    tasks = TINY_CASES if mode == "tiny" else tuple(CASES)
    sets = {k: v for k, v in FACE_SETS.items() if mode != "tiny" or k == "tuned on"}
    by_set = {label: _measure(tasks, names) for label, names in sets.items()}
    measured = by_set["tuned on"]

    def value(task: str, kind: str) -> float:
        m = measured[task].get(kind)
        return m.value if m else float("nan")

    def cell(measured: dict[str, dict[str, Metric]], task: str, kind: str) -> str:
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

    kinds = ("identity distance", "identity distance (canvas)", *COLUMNS[1:])
    headers = ["task", "identity dist. (donor)", "identity dist. (canvas)", "identity margin", "still reads as canvas",
               "landmark NME", "pose err. MediaPipe (deg)", "pose err. dlib+PnP (deg)", "expression err.",
               "gaze err. MediaPipe (deg)", "gaze err. dlib+iris (deg)", "PSNR outside head (dB)", "SSIM outside head"]
    return {
        "title": "Quality per task (geometric backend, shipped photos)",
        "notes": ("Each task on two faces, a and b (swap: b onto a; headswap / hairswap: a's onto b; reenact: a "
                  "driven by b's photo; edit: yaw +10 degrees; inpaint: the eyes; mix: a with b's expression), "
                  "scored by `facex eval`; once with a = the astronaut and b = Grace Hopper, the faces the "
                  "renderer's constants were tuned on, and once with a = t1's face 0 and b = Tom Hanks, which "
                  "none was tuned on. In brackets: the input each number is measured "
                  "against. Identity is dlib's distance (the same person below 0.6). For edit, pose and gaze "
                  "are scored against the target plus the asked change (`facex eval --yaw 10`). Graders: identity "
                  "and landmarks by dlib; pose and gaze twice, by MediaPipe (the model the renderer reads) and by "
                  "dlib+PnP / dlib+iris, which share no model with it (docs/tuning.md has the held-out edits "
                  "and the reenacted head turn). The outputs are the default ones, invisible watermark included: "
                  "its grain raises dlib's identity distances a little (+0.01 to +0.09 on small held-out faces, "
                  "docs/tuning.md)."),
        "tables": [{
            "title": f"facex eval of each task, faces {label}: {' and '.join(names)}",
            "columns": headers,
            "rows": [[task, *(cell(by_set[label], task, k) for k in kinds)] for task in tasks],
        } for label, names in sets.items()],
        "plots": [
            {"name": "quality_identity", "kind": "bar", "title": f"Identity after each task (dlib distance; {TUNED})",
             "ylabel": "identity distance", "x": list(tasks), "hlines": {"same person below 0.6": 0.6},
             "series": {"to the identity donor": [value(t, "identity distance") for t in tasks],
                        "to the canvas, when another input": [value(t, "identity distance (canvas)") for t in tasks]}},
            {"name": "quality_motion", "kind": "bar",
             "title": f"Pose and gaze against their input, by grader ({TUNED})",
             "ylabel": "degrees", "x": list(tasks),
             "series": {"pose error (MediaPipe)": [value(t, "pose error (MediaPipe)") for t in tasks],
                        "pose error (dlib+PnP)": [value(t, "pose error (dlib+PnP)") for t in tasks],
                        "gaze error (MediaPipe)": [value(t, "gaze error (MediaPipe)") for t in tasks],
                        "gaze error (dlib+iris)": [value(t, "gaze error (dlib+iris)") for t in tasks]}},
            {"name": "quality_fidelity", "kind": "bar", "title": f"What must stay: PSNR outside the head ({TUNED})",
             "ylabel": "PSNR (dB)", "x": list(tasks),
             "series": {"PSNR outside the head": [value(t, "PSNR outside") for t in tasks]}},
        ],
        "numbers": {**{t: {k: m.value for k, m in ms.items()} for t, ms in measured.items()},
                    **{f"{t} (held out)": {k: m.value for k, m in ms.items()}
                       for t, ms in by_set.get("held out", {}).items()}},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true", help=f"only {', '.join(TINY_CASES)}")
    args = parser.parse_args()
    for table in run("tiny" if args.tiny else "full")["tables"]:
        print(table["title"])
        print(" | ".join(table["columns"]))
        for row in table["rows"]:
            print(" | ".join(row))


if __name__ == "__main__":
    main()

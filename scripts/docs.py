"""`make docs`: run every command quoted in docs/guide.md and draw the guide's pictures from what they wrote.

The guide is the single source: each line of its ```console blocks is a `facex ...` command, run here, in
order, in a folder holding the shipped photos (see `prepare_inputs`), through `facex_video.cli.main`, as a
user would type it. For each command that writes an image or video (`-o`), docs/img/<output stem>.png
shows its inputs and its result side by side, labelled with the flag each input was given; a command
with `--preview` shows its own sheet instead, copied as it is. The FaceX method diagram is drawn too.
tests/test_guide.py runs the same commands, so a command in the guide that stops working fails the suite.

    python scripts/docs.py [--out docs/img] [--work DIR]
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import sys
import tempfile
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path

import numpy as np

from facex_video.tasks.table import TABLE

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "docs" / "guide.md"
SAMPLES = ("astronaut", "grace_hopper", "t1", "tom_hanks")
INPUT_FLAGS = ("--source", "--target", "--driving")
DIAGRAMS = ("facex_method.png",)
BENCHMARK_PREFIX = "bench_"  # the benchmark plots share docs/img; benchmarks/run_all.py draws those


def guide_commands(guide: Path = GUIDE) -> list[list[str]]:
    """argv of every line of the guide's ```console blocks (each line starts with `facex`)."""
    blocks = re.findall(r"^```console\n(.*?)^```", guide.read_text(), flags=re.M | re.S)
    commands = []
    for block in blocks:
        for line in block.splitlines():
            line = line.split("  #", 1)[0].strip()
            if not line:
                continue
            argv = shlex.split(line)
            if argv[0] != "facex":
                raise ValueError(f"{guide}: a console line must be a facex command, got {line!r}")
            commands.append(argv[1:])
    return commands


def guide_images(guide: Path = GUIDE) -> list[str]:
    """File names of the pictures the guide shows (img/NAME.png)."""
    return re.findall(r"\]\(img/([\w.-]+\.png)\)", guide.read_text())


def prepare_inputs(folder: Path, *, size: tuple[int, int] = (640, 360), fps: int = 12, seconds: float = 1.0) -> None:
    """The files the guide's commands name: the shipped photos as PNGs, `clip.mp4` (Grace Hopper's portrait,
    a hard cut, then a pan over t1.jpg's six faces), `driving.mp4` (Grace Hopper's portrait rolling her
    head and zooming in) and `plate.mov` (the portrait as a ProRes 422 HQ plate starting at 01:00:00:00)."""
    from facex_video.media import write_image
    from facex_video.media.samples import demo_shots, load_sample
    from facex_video.media.synth import Shot, write_clip

    folder.mkdir(parents=True, exist_ok=True)
    for name in SAMPLES:
        write_image(folder / f"{name}.png", load_sample(name))
    t1, grace = demo_shots()[:2]
    shots = [grace, t1]
    for shot in shots:
        shot.seconds = seconds / 2
    write_clip(folder / "clip.mp4", shots, size=size, fps=Fraction(fps))
    driving = Shot(load_sample("grace_hopper"), seconds=seconds, zoom=(1.0, 0.8), pan=((0.5, 0.4), (0.5, 0.38)),
                   rotate=(-12.0, 12.0))
    write_clip(folder / "driving.mp4", [driving], size=(size[1] // 2 * 2, size[1] // 2 * 2), fps=Fraction(fps))
    write_clip(folder / "plate.mov", [grace], size=size, fps=Fraction(fps), codec="prores", timecode="01:00:00:00")


@contextmanager
def working_dir(folder: Path):
    before = Path.cwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(before)


def run_commands(commands: list[list[str]], folder: Path) -> None:
    """Each command through the CLI's main, inside `folder`; a non-zero exit stops everything."""
    from facex_video.cli import main

    with working_dir(folder):
        for argv in commands:
            print("$ facex " + shlex.join(argv), flush=True)
            if main([*argv, "--quiet"] if _takes_quiet(argv) else argv) != 0:
                raise SystemExit(f"facex {shlex.join(argv)} failed")


def _takes_quiet(argv: list[str]) -> bool:
    return argv[0] not in ("eval", "models", "verify") and "--quiet" not in argv


def _flag(argv: list[str], name: str) -> str | None:
    return argv[argv.index(name) + 1] if name in argv else None


def _frames(path: Path, n: int) -> list[tuple[int, np.ndarray]]:
    """(index, RGB) of n frames spread over an image or video."""
    from facex_video.edit.stages import sample_indices
    from facex_video.media.source import open_source

    source = open_source(path)
    keep = set(sample_indices(source.frame_count, n))
    return [(i, rgb) for i, rgb, _ in source.frames() if i in keep]


def _face_window(rgb: np.ndarray, analyzer) -> tuple[slice, slice] | None:
    """A square around the largest face (1.8x its box), for the zoomed row."""
    from facex_video.eval.metrics import largest_face

    try:
        x0, y0, x1, y1 = largest_face(rgb, analyzer).box
    except ValueError:
        return None
    cx, cy, half = (x0 + x1) / 2, (y0 + y1) / 2, 0.9 * max(x1 - x0, y1 - y0)
    h, w = rgb.shape[:2]
    ys = slice(int(max(cy - half, 0)), int(min(cy + half, h)))
    xs = slice(int(max(cx - half, 0)), int(min(cx + half, w)))
    return ys, xs


def task_figure(argv: list[str], folder: Path, out: Path, analyzer) -> None:
    """Inputs and result of one task command: a still result gets a second row zoomed on the face (canvas
    input vs result, same window); a video result shows three frames of the footage above the result's,
    and those result frames zoomed on the face."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from facex_video.media import read_image

    task, result = argv[0], folder / _flag(argv, "-o")
    inputs = {flag: folder / _flag(argv, flag) for flag in INPUT_FLAGS if _flag(argv, flag)}
    labels = {flag: f"{flag} {path.name}" for flag, path in inputs.items()}
    if task == "mix":
        for part in _flag(argv, "--take").split(","):
            component, path = part.split("=")
            inputs[component] = folder / path
            labels[component] = f"--take {component}={path}"
    record = TABLE[task]
    stream_flag = f"--{record.stream_role}"
    stills = {flag: read_image(p) for flag, p in inputs.items() if flag != stream_flag or p.suffix == ".png"}
    title = "facex " + shlex.join(argv)
    if result.suffix == ".png":
        # the background's input (tasks/table.py); a mix composes onto its target
        canvas_flag = f"--{record.recipe['background']}" if record.recipe is not None else "--target"
        res = read_image(result)
        window = _face_window(res, analyzer)
        rows = 2 if window else 1
        cols = len(stills) + 1
        fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.4 * rows), squeeze=False)
        for ax, (flag, rgb) in zip(axes[0], [*stills.items(), ("result", res)]):
            ax.imshow(rgb)
            ax.set_title(labels.get(flag, flag), fontsize=9)
        if window:
            canvas = stills[canvas_flag]
            for ax in axes[1]:
                ax.axis("off")
            for ax, (label, rgb) in zip(axes[1][-2:], [(f"{canvas_flag} (face, zoomed)", canvas),
                                                       ("result (face, zoomed)", res)]):
                ax.imshow(rgb[window])
                ax.set_title(label, fontsize=9)
    else:
        before, after = _frames(inputs[stream_flag], 3), _frames(result, 3)
        cols = len(before) + (1 if stills else 0)
        fig, axes = plt.subplots(3, cols, figsize=(3.2 * cols, 3.0 * 3), squeeze=False)
        offset = 1 if stills else 0
        if stills:
            flag, rgb = next(iter(stills.items()))
            axes[0][0].imshow(rgb)
            axes[0][0].set_title(labels[flag], fontsize=9)
            axes[1][0].axis("off")
            axes[2][0].axis("off")
        for k, ((i, a), (_, b)) in enumerate(zip(before, after)):
            axes[0][k + offset].imshow(a)
            axes[0][k + offset].set_title(f"{labels[stream_flag]} #{i}", fontsize=9)
            axes[1][k + offset].imshow(b)
            axes[1][k + offset].set_title(f"result {result.name} #{i}", fontsize=9)
            window = _face_window(b, analyzer)
            axes[2][k + offset].imshow(b[window] if window else b)
            axes[2][k + offset].set_title(f"result #{i} (face, zoomed)", fontsize=9)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title, fontsize=10, family="monospace")
    fig.tight_layout()
    fig.savefig(out, dpi=80)
    plt.close(fig)


def method_diagram(out: Path) -> None:
    """The FaceX method as boxes and arrows: inputs -> FORD -> FORS -> renderer -> paste back -> output."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch

    fig, ax = plt.subplots(figsize=(15, 6.2))
    ax.set_xlim(0, 15)
    ax.set_ylim(0, 6.2)
    ax.axis("off")

    def box(x, y, w, h, title, body, colour):
        ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.05", fc=colour, ec="#333333", lw=1.2))
        ax.text(x + w / 2, y + h - 0.22, title, ha="center", va="top", fontsize=11, weight="bold")
        ax.text(x + w / 2, y + h - 0.62, body, ha="center", va="top", fontsize=8.5, linespacing=1.45)

    def arrow(x0, y0, x1, y1, text=""):
        ax.annotate("", xy=(x1, y1), xytext=(x0, y0), arrowprops=dict(arrowstyle="->", lw=1.5, color="#333333"))
        if text:
            ax.text((x0 + x1) / 2, (y0 + y1) / 2 + 0.12, text, ha="center", fontsize=8, style="italic")

    box(0.1, 3.6, 2.1, 2.3, "inputs", "source photo\n(identity donor,\nportrait to animate)\n\ntarget footage\n"
        "driving footage", "#e8f0fe")
    box(0.1, 0.4, 2.1, 2.6, "faces/", "detect (MediaPipe;\nSCRFD if given)\n478 landmarks\ntrack, cut-aware\n"
        "align to 512x512", "#f1f3f4")
    box(2.8, 0.4, 2.9, 5.5, "FORD  (ford/)", "decompose each face into\n\nIDENTITY\nembedding (dlib / ArcFace)\n"
        "neutral 3D shape\n\nINTRA-PERSONAL\n52 blendshapes\nyaw / pitch / roll\ngaze per eye\n\n"
        "ENVIRONMENT\nSH lighting (9 x RGB)\nregion masks: skin, eyes,\nlips, hair, occluders", "#fef7e0")
    box(6.3, 0.4, 2.6, 5.5, "FORS  (tasks/)", "assemble components\nfrom different inputs\n\n"
        "table.py: one record\nper task\nswap: identity <- source\nheadswap: + hair\nhairswap: hair only\n"
        "reenact: motion <- driving\nedit: + numeric deltas\ninpaint: masked region\nmix: any <- any\n\n"
        "-> AssembledFace\n(3D shape, texture,\nlighting, masks)", "#e6f4ea")
    box(9.5, 3.3, 3.1, 2.6, "render/", "one interface, three backends\n\ngeometric: mesh warp, SH relight,\n"
        "blend (CPU, no weights)\ninswapper: your ONNX, swap only\nfacex: FRC on frozen SD 1.5", "#fce8e6")
    box(9.5, 0.4, 3.1, 2.4, "FRC  (facex backend)", "identity / appearance tokens\nreplace the text prompt\n"
        "+ ControlNet-style controller\nfed the rendered condition\n(mesh, gaze, masked background)", "#f3e8fd")
    box(13.2, 2.0, 1.7, 2.6, "faces/\nmedia/", "\npaste crop back,\nblend, colour\n\nencode, copy\naudio -> output",
        "#e8f0fe")
    arrow(1.15, 3.6, 1.15, 3.05, "frames")
    arrow(2.2, 1.7, 2.8, 1.7, "aligned faces")
    arrow(5.7, 3.15, 6.3, 3.15, "representations")
    arrow(8.9, 4.6, 9.5, 4.6, "assembled")
    arrow(11.05, 2.85, 11.05, 3.3, "")
    arrow(12.6, 3.3, 13.2, 3.3, "crop, alpha")
    ax.set_title("FaceX: FORD decomposes, FORS assembles, a renderer draws", fontsize=13, weight="bold")
    fig.tight_layout()
    fig.savefig(out, dpi=90)
    plt.close(fig)


def build(out: Path, work: Path) -> list[Path]:
    """Prepare inputs in `work`, run the guide's commands there and write every picture into `out`."""
    from facex_video.faces.analyze import FaceAnalyzer

    out.mkdir(parents=True, exist_ok=True)
    prepare_inputs(work)
    commands = guide_commands()
    run_commands(commands, work)
    written = []
    shown = set(guide_images())
    with FaceAnalyzer() as analyzer:
        for argv in commands:
            preview = _flag(argv, "--preview")
            if preview:
                written.append(_copy_sheet(work / preview, out / Path(preview).name))
            output = _flag(argv, "-o")
            if argv[0] in _tasks() and output and not preview and f"{Path(output).stem}.png" in shown:
                figure = out / f"{Path(output).stem}.png"
                task_figure(argv, work, figure, analyzer)
                written.append(figure)
    method_diagram(out / DIAGRAMS[0])
    written.append(out / DIAGRAMS[0])
    for stale in set(out.glob("*.png")) - set(written):
        if not stale.name.startswith(BENCHMARK_PREFIX):  # a picture the guide no longer shows
            stale.unlink()
    return written


def _copy_sheet(src: Path, dst: Path, width: int = 760) -> Path:
    """A --preview sheet at most `width` px wide (a full-size sheet of a 720p clip is megabytes)."""
    import cv2

    from facex_video.media import read_image, write_image

    rgb = read_image(src)
    if rgb.shape[1] > width:
        rgb = cv2.resize(rgb, (width, round(rgb.shape[0] * width / rgb.shape[1])), interpolation=cv2.INTER_AREA)
    write_image(dst, rgb)
    return dst


def _tasks() -> set[str]:
    from facex_video.cli import TASK_HELP

    return set(TASK_HELP)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img")
    parser.add_argument("--work", type=Path, help="folder for the inputs and outputs (default: a temporary one)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        written = build(args.out, (args.work or Path(tmp)).resolve())
    missing = sorted(set(guide_images()) - {p.name for p in written})
    for path in written:
        print(f"wrote {path}")
    if missing:
        print(f"docs/guide.md shows pictures no command made: {', '.join(missing)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

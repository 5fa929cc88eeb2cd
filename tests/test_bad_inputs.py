"""Every command fails cleanly and never destroys an input (issue 12).

Bad inputs and options over every command: each exits 2 with exactly one line on stderr naming the file or
the flag, no traceback, nothing at the destination (no output, work directory, partial or lock file) and
every input's bytes unchanged. An output that is an input (the same path, a symbolic link, a hard link) is
refused before any work. One run at a time writes an output: a second names the holder's pid, and a lock
left by a killed run does not block the next.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import yaml

from facex_video.cli import main
from facex_video.core.outputs import OutputLock, lock_path_for, output_lock
from facex_video.media import probe, read_image, write_image
from facex_video.media.synth import Shot, write_clip
from facex_video.video.config import work_dir_for

FACEX = Path(sys.executable).with_name("facex")


@pytest.fixture(scope="module")
def d(tmp_path_factory, astronaut) -> Path:
    """The inputs every case reads: a 1 s 256x192 clip, the astronaut photo, and broken or faceless files."""
    root = tmp_path_factory.mktemp("inputs")
    write_clip(root / "clip.mp4", [Shot(astronaut, seconds=1.0)], size=(256, 192), fps=Fraction(10))
    write_image(root / "face.png", astronaut)
    write_image(root / "noface.png", np.full((96, 96, 3), 128, np.uint8))
    write_image(root / "small.png", np.full((40, 30, 3), 255, np.uint8))  # a mask of the wrong size
    (root / "broken.png").write_bytes(b"\x89PNG but not really")
    (root / "noise.mp4").write_bytes(np.random.default_rng(0).integers(0, 256, 50_000, dtype=np.uint8).tobytes())
    data = (root / "clip.mp4").read_bytes()
    (root / "half.mp4").write_bytes(data[: len(data) // 2])
    (root / "model.txt").write_text("not a model")
    (root / "garbage.onnx").write_bytes(b"\x00garbage onnx")
    (root / "v1-5.ckpt").write_bytes(b"\x80\x02}q\x00.")  # a pickle
    ckpt = root / "facex_ckpt"  # a checkpoint folder whose "safetensors" is a pickle renamed
    ckpt.mkdir()
    (ckpt / "config.json").write_text("{}")
    (ckpt / "diffusion_pytorch_model.safetensors").write_bytes(b"\x80\x02}q\x00." * 20)
    base = root / "sd15.safetensors"  # a real (empty) safetensors header: passes the cheap check
    header = b'{"__metadata__": {}}'
    base.write_bytes(len(header).to_bytes(8, "little") + header)
    return root


def _digests(root: Path) -> dict[str, str]:
    """Every file under root (hidden ones included) and its sha256: inputs intact, nothing added."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _bad(argv: list[str], capsys, expect: str | list[str], d: Path, out: Path) -> str:
    """Run argv in process; assert the refusal contract; return the error line."""
    before = _digests(d)
    rc = main(argv)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert rc == 2, (argv, rc, err)
    assert "Traceback" not in err, err
    assert len(lines) == 1, err
    assert lines[0].startswith("facex: error: "), lines
    for e in [expect] if isinstance(expect, str) else expect:
        assert e in lines[0], (e, lines[0])
    assert _digests(d) == before, "an input changed or something was written beside it"
    assert not out.exists() or list(out.iterdir()) == [], list(out.iterdir())
    return lines[0]


def _swap(d: Path, o: Path, *more: str, source: str = "face.png", target: str = "clip.mp4",
          out: str = "out.mp4", output: str | None = None) -> list[str]:
    """output: the -o argument as typed (a trailing slash kept), instead of o / out."""
    return ["swap", "--source", str(d / source), "--target", str(d / target), "-o", output or str(o / out),
            "--runner", "inline", "--quiet", *more]


def _edit(d: Path, o: Path, *more: str, target: str = "face.png", out: str = "out.png") -> list[str]:
    return ["edit", "--target", str(d / target), "-o", str(o / out), "--quiet", *more]


def _task(task: str, d: Path, o: Path, *more: str, target: str = "face.png", out: str = "out.png",
          source: str = "face.png") -> list[str]:
    stream = "--driving" if task == "reenact" else "--target"
    return [task, "--source", str(d / source), stream, str(d / target), "-o", str(o / out), "--quiet", *more]


# (id, argv from (inputs, out folder), what the one error line must name)
CASES = [
    # swap: numbers of the video job, unreadable or faceless stills, models, outputs
    ("swap-chunk-0", lambda d, o: _swap(d, o, "--chunk-seconds", "0"), "--chunk-seconds"),
    ("swap-chunk-negative", lambda d, o: _swap(d, o, "--chunk-seconds", "-1"), "--chunk-seconds"),
    ("swap-chunk-nan", lambda d, o: _swap(d, o, "--chunk-seconds", "nan"), "--chunk-seconds"),
    ("swap-chunk-inf", lambda d, o: _swap(d, o, "--chunk-seconds", "inf"), "--chunk-seconds"),
    ("swap-overlap-negative", lambda d, o: _swap(d, o, "--overlap-seconds", "-0.5"), "--overlap-seconds"),
    ("swap-overlap-nan", lambda d, o: _swap(d, o, "--overlap-seconds", "nan"), "--overlap-seconds"),
    ("swap-crf-99", lambda d, o: _swap(d, o, "--crf", "99"), "--crf"),
    ("swap-actors-0", lambda d, o: _swap(d, o, "--actors", "0"), "--actors"),
    ("swap-gpus-nan", lambda d, o: _swap(d, o, "--gpus-per-actor", "nan"), "--gpus-per-actor"),
    ("swap-gpus-negative", lambda d, o: _swap(d, o, "--gpus-per-actor", "-1"), "--gpus-per-actor"),
    ("swap-runner-unknown", lambda d, o: _swap(d, o, "--runner", "spark"), "--runner"),
    ("swap-source-no-face", lambda d, o: _swap(d, o, source="noface.png"), "noface.png"),
    ("swap-source-broken", lambda d, o: _swap(d, o, source="broken.png"), "broken.png"),
    ("swap-source-missing", lambda d, o: _swap(d, o, source="nope.png"), "nope.png"),
    ("swap-target-missing", lambda d, o: _swap(d, o, target="nope.mp4"), "nope.mp4"),
    ("swap-target-cut-in-half", lambda d, o: _swap(d, o, target="half.mp4"), "half.mp4"),
    ("swap-output-is-folder", lambda d, o: _swap(d, o, out=""), "-o is a folder"),
    ("swap-output-new-folder", lambda d, o: _swap(d, o, output=f"{o}/new/"), "-o is a folder"),
    ("passthrough-output-is-folder", lambda d, o: ["passthrough", str(d / "clip.mp4"), "-o", str(o)], "-o is a folder"),
    ("swap-face-not-there", lambda d, o: _swap(d, o, "--face", "99"),  # checked once the tracks are known
     ["--face", "no track 99 in clip.mp4", "its face tracks are 0"]),
    ("swap-output-extension", lambda d, o: _swap(d, o, out="out.txt"), "out.txt"),
    ("swap-video-to-image", lambda d, o: _swap(d, o, out="out.png"), "out.png"),
    ("swap-identity-model-not-onnx", lambda d, o: _swap(d, o, "--identity-model", str(d / "model.txt")),
     "--identity-model"),
    ("swap-detector-model-garbage", lambda d, o: _swap(d, o, "--detector-model", str(d / "garbage.onnx")),
     "--detector-model"),
    ("swap-inswapper-without-model", lambda d, o: _swap(d, o, "--backend", "inswapper"), "--swapper-model"),
    ("swap-facex-pickled-base", lambda d, o: _swap(d, o, "--backend", "facex", "--base-model", str(d / "v1-5.ckpt"),
                                                   "--facex-checkpoint", str(d / "facex_ckpt")),
     ["--base-model", "v1-5.ckpt"]),
    ("swap-facex-checkpoint-not-safetensors",
     lambda d, o: _swap(d, o, "--backend", "facex", "--base-model", str(d / "sd15.safetensors"),
                        "--facex-checkpoint", str(d / "facex_ckpt")), ["--facex-checkpoint", "not a .safetensors"]),
    ("swap-facex-strength-0", lambda d, o: _swap(d, o, "--backend", "facex", "--strength", "0"), "--strength"),
    ("swap-facex-guidance-nan", lambda d, o: _swap(d, o, "--backend", "facex", "--guidance", "nan"), "--guidance"),
    ("swap-preview-is-output", lambda d, o: _swap(d, o, "--preview", str(o / "out.mp4")), "--preview"),
    # edit: pose, gaze and blendshape numbers, track ids, unknown flags, unreadable footage
    ("edit-yaw-nan", lambda d, o: _edit(d, o, "--yaw", "nan"), "--yaw"),
    ("edit-yaw-inf", lambda d, o: _edit(d, o, "--yaw", "inf"), "--yaw"),
    ("edit-yaw-1000", lambda d, o: _edit(d, o, "--yaw", "1000"), "--yaw"),
    ("edit-pitch-90", lambda d, o: _edit(d, o, "--pitch", "90"), "--pitch"),
    ("edit-roll-abc", lambda d, o: _edit(d, o, "--roll", "abc"), "--roll"),
    ("edit-gaze-nan", lambda d, o: _edit(d, o, "--gaze", "5,nan"), "--gaze"),
    ("edit-gaze-100", lambda d, o: _edit(d, o, "--gaze", "100,0"), "--gaze"),
    ("edit-gaze-one-number", lambda d, o: _edit(d, o, "--gaze", "5"), "--gaze"),
    ("edit-smile-5", lambda d, o: _edit(d, o, "--smile", "5"), "--smile"),
    ("edit-blink-negative", lambda d, o: _edit(d, o, "--blink", "-0.5"), "--blink"),
    ("edit-jaw-open-nan", lambda d, o: _edit(d, o, "--jaw-open", "nan"), "--jaw-open"),
    ("edit-expr-abc", lambda d, o: _edit(d, o, "--expr", "mouthSmileLeft=abc"), "--expr"),
    ("edit-expr-2", lambda d, o: _edit(d, o, "--expr", "mouthSmileLeft=2"), "--expr"),
    ("edit-expr-unknown-name", lambda d, o: _edit(d, o, "--expr", "frown=0.5"), "--expr"),
    ("edit-expr-no-value", lambda d, o: _edit(d, o, "--expr", "mouthSmileLeft"), "--expr"),
    ("edit-face-negative", lambda d, o: _edit(d, o, "--face", "-1"), "--face"),
    ("edit-face-abc", lambda d, o: _edit(d, o, "--face", "abc"), "--face"),
    ("edit-unknown-flag", lambda d, o: _edit(d, o, "--frobnicate", "1"), "--frobnicate"),
    ("edit-target-noise", lambda d, o: _edit(d, o, target="noise.mp4", out="out.mp4"), "noise.mp4"),
    ("edit-missing-target-flag", lambda d, o: ["edit", "-o", str(o / "out.png")], "--target"),
    # reenact, headswap, hairswap
    ("reenact-driving-missing", lambda d, o: _task("reenact", d, o, target="nope.mp4", out="out.mp4"), "nope.mp4"),
    ("reenact-source-no-face", lambda d, o: _task("reenact", d, o, "--runner", "inline", source="noface.png",
                                                  target="clip.mp4", out="out.mp4"), "noface.png"),
    ("reenact-without-source", lambda d, o: ["reenact", "--driving", str(d / "clip.mp4"), "-o", str(o / "o.mp4")],
     "--source"),
    ("headswap-source-broken", lambda d, o: _task("headswap", d, o, source="broken.png"), "broken.png"),
    ("headswap-preset-unknown", lambda d, o: _task("headswap", d, o, "--preset", "warp"), "--preset"),
    ("hairswap-source-no-face", lambda d, o: _task("hairswap", d, o, source="noface.png"), "noface.png"),
    ("hairswap-preview-is-source", lambda d, o: _task("hairswap", d, o, "--preview", str(d / "face.png")),
     "--preview"),
    # inpaint
    ("inpaint-mask-missing", lambda d, o: ["inpaint", "--target", str(d / "face.png"), "-o", str(o / "out.png"),
                                           "--mask", str(d / "nope.png")], "nope.png"),
    ("inpaint-mask-wrong-size", lambda d, o: ["inpaint", "--target", str(d / "face.png"), "-o", str(o / "out.png"),
                                              "--mask", str(d / "small.png")], "small.png"),
    ("inpaint-mask-broken", lambda d, o: ["inpaint", "--target", str(d / "face.png"), "-o", str(o / "out.png"),
                                          "--mask", str(d / "broken.png")], "broken.png"),
    ("inpaint-region-unknown", lambda d, o: ["inpaint", "--target", str(d / "face.png"), "-o", str(o / "out.png"),
                                             "--region", "ears"], "--region"),
    # mix
    ("mix-take-unknown-component", lambda d, o: ["mix", "--target", str(d / "face.png"), "-o", str(o / "out.png"),
                                                  "--take", f"nose={d / 'face.png'}"], "--take"),
    ("mix-take-empty-path", lambda d, o: ["mix", "--target", str(d / "face.png"), "-o", str(o / "out.png"),
                                          "--take", "identity="], "--take"),
    ("mix-take-missing", lambda d, o: ["mix", "--target", str(d / "face.png"), "-o", str(o / "out.png"),
                                       "--take", f"identity={d / 'nope.png'}"], "nope.png"),
    ("mix-take-no-face", lambda d, o: ["mix", "--target", str(d / "face.png"), "-o", str(o / "out.png"),
                                       "--take", f"identity={d / 'noface.png'}"], "noface.png"),
    # analyze, tracks, passthrough
    ("analyze-not-parquet", lambda d, o: ["analyze", str(d / "face.png"), "-o", str(o / "out.csv")], "out.csv"),
    ("analyze-input-missing", lambda d, o: ["analyze", str(d / "nope.mp4"), "-o", str(o / "o.parquet")], "nope.mp4"),
    ("analyze-identity-model-garbage", lambda d, o: ["analyze", str(d / "face.png"), "-o", str(o / "o.parquet"),
                                                     "--identity-model", str(d / "garbage.onnx")], "--identity-model"),
    ("analyze-output-is-input", lambda d, o: ["analyze", str(d / "face.png"), "-o", str(d / "face.png")],
     "-o is the input"),
    ("tracks-input-broken", lambda d, o: ["tracks", str(d / "broken.png"), "-o", str(o / "t.json")], "broken.png"),
    ("tracks-output-is-input", lambda d, o: ["tracks", str(d / "clip.mp4"), "-o", str(d / "clip.mp4")],
     "-o is the input"),
    ("tracks-preview-is-input", lambda d, o: ["tracks", str(d / "face.png"), "-o", str(o / "t.json"),
                                              "--preview", str(d / "face.png")], "--preview"),
    ("passthrough-crf-negative", lambda d, o: ["passthrough", str(d / "clip.mp4"), "-o", str(o / "p.mp4"),
                                               "--crf", "-1"], "--crf"),
    ("passthrough-image-to-video", lambda d, o: ["passthrough", str(d / "face.png"), "-o", str(o / "p.mp4")],
     "p.mp4"),
    ("passthrough-output-is-input", lambda d, o: ["passthrough", str(d / "clip.mp4"), "-o", str(d / "clip.mp4")],
     "-o is the input"),
    ("passthrough-input-cut-in-half", lambda d, o: ["passthrough", str(d / "half.mp4"), "-o", str(o / "p.mp4")],
     "half.mp4"),
    # eval
    ("eval-json-is-result", lambda d, o: ["eval", "--task", "edit", "--target", str(d / "face.png"), "--result",
                                          str(d / "face.png"), "--json", str(d / "face.png")], "--json"),
    ("eval-yaw-nan", lambda d, o: ["eval", "--task", "edit", "--target", str(d / "face.png"), "--result",
                                   str(d / "face.png"), "--yaw", "nan"], "--yaw"),
    ("eval-result-missing", lambda d, o: ["eval", "--task", "edit", "--target", str(d / "face.png"), "--result",
                                          str(d / "nope.png")], "nope.png"),
    ("eval-needs-source", lambda d, o: ["eval", "--task", "swap", "--target", str(d / "face.png"), "--result",
                                        str(d / "face.png")], "--source"),
    ("eval-task-unknown", lambda d, o: ["eval", "--task", "morph", "--result", str(d / "face.png")], "--task"),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_a_bad_input_or_option_is_one_line_exit_2_and_touches_nothing(case, d, tmp_path, capsys):
    _, argv, expect = case
    out = tmp_path / "out"
    out.mkdir()
    _bad(argv(d, out), capsys, expect, d, out)


def _batch(d: Path, folder: Path, items, **top) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "edits.yaml"
    path.write_text(yaml.safe_dump({**top, "items": items}) if not isinstance(items, str) else items)
    return path


def _item(d: Path, name="a", output="out/a.png", **more) -> dict:
    return {"name": name, "task": "edit", "target": str(d / "face.png"), "output": output, **more}


BATCHES = [
    ("name-is-a-list", lambda d: [_item(d, name=["a", "b"])], "item 1: 'name'"),
    ("output-escapes-with-dotdot", lambda d: [_item(d, output="../../X.png")], "item 1 (a): output ../../X.png"),
    ("output-absolute-elsewhere", lambda d: [_item(d, output=str(d / "X.png"))], "item 1 (a): output"),
    ("preview-escapes", lambda d: [_item(d, preview="../X.png")], "item 1 (a): preview ../X.png"),
    ("two-items-one-output", lambda d: [_item(d), _item(d, name="b", output="out/../out/a.png")],
     "item 2 (b): output out/../out/a.png is also written by item 1 (a)"),
    ("yaw-1000", lambda d: [_item(d, yaw=1000)], ["item 1 (a)", "--yaw"]),
    ("smile-a-mapping", lambda d: [_item(d, smile={"x": 1})], ["item 1 (a)", "'smile'"]),
    ("task-unknown", lambda d: [_item(d, task="morph")], ["item 1 (a)", "task 'morph'"]),
    ("option-unknown", lambda d: [_item(d, frobnicate=1)], ["item 1 (a)", "--frobnicate"]),
    ("not-yaml", lambda d: "items: [\n", "not valid YAML"),
    ("item-not-a-mapping", lambda d: ["just a string"], "item 1: expected a mapping"),
]


@pytest.mark.parametrize("case", BATCHES, ids=[c[0] for c in BATCHES])
def test_a_bad_batch_is_refused_before_any_item_runs(case, d, tmp_path, capsys):
    _, items, expect = case
    folder = tmp_path / "shots" / "batch"
    path = _batch(d, folder, items(d))
    (folder / "out").mkdir()
    _bad(["batch", str(path)], capsys, [str(path.name), *([expect] if isinstance(expect, str) else expect)], d,
         folder / "out")
    assert sorted(p.name for p in folder.iterdir()) == ["edits.yaml", "out"]  # no status file either
    assert list((tmp_path / "shots").iterdir()) == [folder]


def test_batch_output_root_confines_and_must_exist(d, tmp_path, capsys):
    folder = tmp_path / "batch"
    path = _batch(d, folder, [_item(d, output=str(tmp_path / "elsewhere" / "a.png"))])
    _bad(["batch", str(path), "--output-root", str(tmp_path / "nope")], capsys, "nope", d, folder / "out")
    _bad(["batch", str(path)], capsys, "outside the output root", d, folder / "out")
    # the same item is fine under an --output-root that holds it (checked here without running it)
    from facex_video.cli.batch import load_items

    assert load_items(path, output_root=tmp_path)[0]["output"] == str(tmp_path / "elsewhere" / "a.png")


def test_batch_output_that_is_its_own_input_is_refused(d, tmp_path, capsys):
    folder = tmp_path / "batch"
    folder.mkdir()
    write_image(folder / "face.png", np.zeros((8, 8, 3), np.uint8))
    before = (folder / "face.png").read_bytes()
    path = _batch(d, folder, [{"name": "a", "task": "edit", "target": "face.png", "output": "./face.png"}])
    _bad(["batch", str(path)], capsys, ["item 1 (a)", "the target"], d, tmp_path / "none")
    assert (folder / "face.png").read_bytes() == before


# ------------------------------------------------------------------------------- an output that is an input


@pytest.fixture
def victims(d, tmp_path) -> Path:
    """Copies of the inputs a test may aim an output at (the module's own inputs stay untouched)."""
    for name in ("clip.mp4", "face.png"):
        (tmp_path / name).write_bytes((d / name).read_bytes())
    write_image(tmp_path / "portrait.png", read_image(d / "face.png")[::2, ::2].copy())
    return tmp_path


OUTPUT_IS_INPUT = [
    ("swap -o target (video)", lambda v: ["swap", "--source", str(v / "face.png"), "--target", str(v / "clip.mp4"),
                                          "-o", str(v / "clip.mp4"), "--runner", "inline"], "clip.mp4", "the target"),
    ("swap -o source (image)", lambda v: ["swap", "--source", str(v / "face.png"), "--target",
                                          str(v / "portrait.png"), "-o", str(v / "face.png")], "face.png",
     "the source"),
    ("swap -o target (image)", lambda v: ["swap", "--source", str(v / "face.png"), "--target",
                                          str(v / "portrait.png"), "-o", str(v / "portrait.png")], "portrait.png",
     "the target"),
    ("reenact -o driving", lambda v: ["reenact", "--source", str(v / "face.png"), "--driving", str(v / "clip.mp4"),
                                      "-o", str(v / "clip.mp4"), "--runner", "inline"], "clip.mp4",
     "the driving video"),
    ("edit -o target given relatively", lambda v: ["edit", "--target", str(v / "face.png"), "-o",
                                                   str(v / "sub" / ".." / "face.png")], "face.png", "the target"),
    ("mix -o a take", lambda v: ["mix", "--target", str(v / "portrait.png"), "--take", f"identity={v / 'face.png'}",
                                 "-o", str(v / "face.png")], "face.png", "identity take"),
    ("passthrough -o input", lambda v: ["passthrough", str(v / "clip.mp4"), "-o", str(v / "clip.mp4")], "clip.mp4",
     "the input"),
]


@pytest.mark.parametrize("case", OUTPUT_IS_INPUT, ids=[c[0] for c in OUTPUT_IS_INPUT])
def test_an_output_that_is_an_input_is_refused(case, victims, capsys):
    _, argv, name, role = case
    (victims / "sub").mkdir()
    line = _bad(argv(victims), capsys, [name, role], victims, victims / "empty")
    assert "destroy an input" in line


def test_a_symlink_or_hard_link_to_an_input_is_refused(victims, capsys):
    v = victims
    (v / "link.mp4").symlink_to(v / "clip.mp4")
    os.link(v / "clip.mp4", v / "hard.mp4")
    (v / "dir-link").symlink_to(v, target_is_directory=True)
    swap = ["swap", "--source", str(v / "face.png"), "--target", str(v / "clip.mp4"), "--runner", "inline"]
    assert "resolves to the target" in _bad([*swap, "-o", str(v / "link.mp4")], capsys, "link.mp4", v, v / "none")
    assert "hard link to the target" in _bad([*swap, "-o", str(v / "hard.mp4")], capsys, "hard.mp4", v, v / "none")
    _bad([*swap, "-o", str(v / "dir-link" / "clip.mp4")], capsys, "resolves to the target", v, v / "none")
    # the target given through a link, the output its real path
    swap_via_link = ["swap", "--source", str(v / "face.png"), "--target", str(v / "link.mp4"), "--runner", "inline"]
    _bad([*swap_via_link, "-o", str(v / "clip.mp4")], capsys, "resolves to the target", v, v / "none")
    # a link to the source image as the output of an image task
    (v / "src-link.png").symlink_to(v / "face.png")
    _bad(["swap", "--source", str(v / "face.png"), "--target", str(v / "portrait.png"), "-o", str(v / "src-link.png")],
         capsys, "resolves to the source", v, v / "none")
    assert (v / "link.mp4").is_symlink() and probe(v / "clip.mp4").frame_count == 10


def test_face_ids_are_checked_once_the_tracks_are_known(d, astronaut, grace_hopper, tmp_path, capsys):
    """An image with two faces: an id that is not there lists the ids there are; the count printed is the
    tracks edited, not the tracks found."""
    height = min(astronaut.shape[0], grace_hopper.shape[0])
    write_image(tmp_path / "two.png", np.hstack([astronaut[:height], grace_hopper[:height]]))
    edit = ["edit", "--target", str(tmp_path / "two.png"), "--smile", "0.5", "--quiet"]
    (tmp_path / "out").mkdir()
    _bad([*edit, "-o", str(tmp_path / "out" / "o.png"), "--face", "7"], capsys,
         ["--face", "no track 7 in two.png", "its face tracks are 0, 1"], d, tmp_path / "out")
    assert main([*edit, "-o", str(tmp_path / "o.png"), "--face", "1"]) == 0
    assert "edit: 1 face track(s) edited" in capsys.readouterr().out


# ------------------------------------------------------------------------------------------- one run per output


def test_a_second_run_on_a_locked_output_names_the_holder_and_keeps_its_work(d, tmp_path, capsys):
    out = tmp_path / "out.mp4"
    work = work_dir_for(out)
    work.mkdir()
    (work / "manifest.json").write_text('{"input": "another run\'s", "finished": {}}')  # another spec's work
    with output_lock(out):
        assert lock_path_for(out).read_text().strip() == str(os.getpid())
        line = _bad(_swap(d, tmp_path, out="out.mp4"), capsys, [str(out), f"pid {os.getpid()}"], d, tmp_path / "x")
        assert "another facex run" in line
        _bad(["passthrough", str(d / "clip.mp4"), "-o", str(out), "--quiet"], capsys, f"pid {os.getpid()}", d,
             tmp_path / "x")
        with output_lock(tmp_path / "img.png"):  # an image output is locked too
            _bad(_edit(d, tmp_path, "--smile", "0.5", out="img.png"), capsys, f"pid {os.getpid()}", d, tmp_path / "x")
    assert (work / "manifest.json").is_file() and not out.exists()  # the holder's work is untouched
    assert not lock_path_for(out).exists()  # released: the lock file goes with it


HOLD = ("import sys, time\nfrom facex_video.core.outputs import OutputLock\nOutputLock(sys.argv[1]).acquire()\n"
        "print('locked', flush=True)\ntime.sleep(120)\n")


def test_a_lock_left_by_a_killed_run_does_not_block_the_next(d, tmp_path, capsys):
    out = tmp_path / "swapped.mp4"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(out)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        _bad(_swap(d, tmp_path, out="swapped.mp4"), capsys, f"pid {holder.pid}", d, tmp_path / "x")
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
    assert lock_path_for(out).exists()  # the killed run's file is left behind, its lock is not
    assert main(_swap(d, tmp_path, out="swapped.mp4")) == 0
    assert "1 face track(s) edited" in capsys.readouterr().out
    assert probe(out).frame_count == 10
    assert not lock_path_for(out).exists() and not work_dir_for(out).exists()


def test_concurrent_runs_of_the_console_script_one_wins(d, tmp_path):
    """Two real `facex` processes started together on one output: one writes it, the other refuses at once
    naming the winner's pid (both check their inputs alike, so the loser reaches the lock while the winner
    has its whole job ahead of it)."""
    out = tmp_path / "one.mp4"
    # 4 chunks: a longer job; the work directory kept, to compare what was composed with an uncontended run's
    cmd = [str(FACEX), *_swap(d, tmp_path, "--chunk-seconds", "0.3", "--keep-work", out="one.mp4")]
    runs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = {p.pid: (p.communicate(timeout=240), p.returncode) for p in runs}
    codes = sorted(rc for _, rc in results.values())
    assert codes == [0, 2], results
    winner = next(pid for pid, (_, rc) in results.items() if rc == 0)
    (_, err), _ = next(r for r in results.values() if r[1] == 2)
    assert [line for line in err.splitlines() if line] == [
        f"facex: error: {out}: another facex run (pid {winner}) is writing this output; wait for it to finish "
        "or stop it, or give another output"]
    assert probe(out).frame_count == 10 and not lock_path_for(out).exists()
    alone = tmp_path / "alone.mp4"
    subprocess.run([str(FACEX), *_swap(d, tmp_path, "--chunk-seconds", "0.3", "--keep-work", out="alone.mp4")],
                   check=True, capture_output=True, timeout=240)

    def composed(output: Path) -> dict:  # the digest of every composed frame, as the job recorded them
        finished = json.loads((work_dir_for(output) / "manifest.json").read_text())["finished"]
        return {k: v for k, v in finished.items() if k.startswith("compose/")}

    assert composed(out) == composed(alone) and len(composed(out)) == 4


def test_the_lock_is_exclusive_and_reusable(tmp_path):
    from facex_video.core.errors import OutputBusyError

    out = tmp_path / "o.png"
    lock = OutputLock(out).acquire()
    with pytest.raises(OutputBusyError) as err:
        OutputLock(out).acquire()
    assert err.value.pid == os.getpid()
    lock.release()
    with output_lock(out):
        pass
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------------- the installed console script


@pytest.mark.parametrize("argv, expect", [
    (lambda d, o: _swap(d, o, "--chunk-seconds", "nan"), "--chunk-seconds"),
    (lambda d, o: _edit(d, o, "--expr", "mouthSmileLeft=abc"), "--expr"),
    (lambda d, o: ["swap", "--source", str(d / "face.png"), "--target", str(d / "clip.mp4"), "-o",
                   str(d / "clip.mp4"), "--runner", "inline"], "the target"),
    (lambda d, o: _swap(d, o, source="noface.png"), "noface.png"),  # MediaPipe loaded, then closed: no log line
    (lambda d, o: ["analyze", str(d / "face.png"), "-o", str(o / "a.parquet"), "--identity-model",
                   str(d / "garbage.onnx")], "--identity-model"),
], ids=["chunk-nan", "expr-abc", "output-is-target", "source-without-face", "identity-model-garbage"])
def test_the_console_script_refuses_in_one_line(argv, expect, d, tmp_path):
    before = _digests(d)
    r = subprocess.run([str(FACEX), *argv(d, tmp_path)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and expect in lines[0], r.stderr
    assert _digests(d) == before and list(tmp_path.iterdir()) == []

"""The `facex tracks` / `facex passthrough` commands end to end, on clips synthesised from shipped photos."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from conftest import psnr

from facex_video.cli import main
from facex_video.media import iter_chunks, probe
from facex_video.media.samples import demo_shots
from facex_video.media.synth import Shot, write_clip


@pytest.fixture(scope="module")
def pan_then_cut(tmp_path_factory, t1, grace_hopper) -> Path:
    """t1.jpg's six faces under a slow pan, then a hard cut to grace_hopper.jpg."""
    path = tmp_path_factory.mktemp("clips") / "pan_cut.mp4"
    write_clip(
        path,
        [
            Shot(t1, seconds=2.0, zoom=(0.95, 0.95), pan=((0.49, 0.40), (0.51, 0.40))),
            Shot(grace_hopper, seconds=1.0, zoom=(1.0, 0.95), pan=((0.5, 0.40), (0.5, 0.38))),
        ],
        size=(1280, 720),
        fps=Fraction(25),
    )
    return path


def test_tracks_six_before_the_cut_one_after(pan_then_cut, tmp_path):
    out, sheet = tmp_path / "tracks.json", tmp_path / "sheet.png"
    assert main(["tracks", str(pan_then_cut), "-o", str(out), "--preview", str(sheet), "--quiet"]) == 0
    doc = json.loads(out.read_text())
    cut = 50  # 2 s at 25 fps
    assert doc["shot_starts"] == [0, cut]
    before = [t for t in doc["tracks"] if t["last_frame"] < cut]
    after = [t for t in doc["tracks"] if t["first_frame"] >= cut]
    assert len(before) == 6 and len(after) == 1
    assert len(doc["tracks"]) == 7  # so no track spans the cut
    for t in before:  # each face is followed through the whole shot, not in pieces
        assert t["first_frame"] == 0 and t["last_frame"] == cut - 1
        assert len(t["boxes"]) == t["n_frames"] == cut
    assert sheet.stat().st_size > 10_000


@pytest.mark.slow
def test_passthrough_of_a_10s_720p_clip_with_audio(tmp_path):
    clip, out = tmp_path / "in.mp4", tmp_path / "out.mp4"
    shots = demo_shots()
    for s in shots:  # the demo recipe stretched to exactly 10 s
        s.seconds *= 10.0 / 10.0
    write_clip(clip, shots, size=(1280, 720), fps=Fraction(25))
    assert main(["passthrough", str(clip), "-o", str(out), "--quiet"]) == 0
    src, dst = probe(clip), probe(out)
    assert dst.frame_count == src.frame_count == 250
    assert dst.fps == src.fps == Fraction(25)
    assert (dst.width, dst.height) == (1280, 720)
    assert len(dst.audio) == 1 and dst.audio[0].duration is not None
    assert abs(dst.audio[0].duration - src.audio[0].duration) <= 1 / 25
    worst = min(
        psnr(a, b)
        for ca, cb in zip(iter_chunks(clip), iter_chunks(out))
        for a, b in zip(ca.frames, cb.frames)
    )
    assert worst >= 40.0, worst


def test_passthrough_of_an_image_keeps_it(tmp_path, astronaut):
    from facex_video.media import read_image, write_image

    src, out = tmp_path / "a.png", tmp_path / "b.png"
    write_image(src, astronaut)
    assert main(["passthrough", str(src), "-o", str(out), "--quiet"]) == 0
    assert psnr(read_image(out), astronaut) > 45


def test_no_face_passes_through_with_a_warning(tmp_path, capsys):
    from skimage import data

    clip, out = tmp_path / "cat.mp4", tmp_path / "out.mp4"
    # a cat: no human face (the coffee photo once stood here; the detector finds a 30 px "face" in its cup
    # in some encodes, at the 0.2 score threshold the landmarker then confirms)
    write_clip(clip, [Shot(np.ascontiguousarray(data.chelsea()), seconds=0.4)], size=(320, 240), audio=False)
    assert main(["passthrough", str(clip), "-o", str(out), "--quiet"]) == 0
    assert "no face" in capsys.readouterr().err
    assert probe(out).frame_count == 10


def _bad_inputs(tmp: Path, good_clip: Path) -> dict[str, Path]:
    empty = tmp / "empty.mp4"
    empty.write_bytes(b"")
    noise = tmp / "noise.mp4"
    noise.write_bytes(np.random.default_rng(0).integers(0, 256, 200_000, dtype=np.uint8).tobytes())
    truncated = tmp / "truncated.mp4"
    data = good_clip.read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    audio_only = tmp / "audio.m4a"
    with av.open(str(audio_only), "w") as c:
        s = c.add_stream("aac", rate=48000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate = 48000
        for i in range(20):
            frame.pts = i * 1024
            c.mux(s.encode(frame))
        c.mux(s.encode(None))
    return {"empty": empty, "noise": noise, "truncated": truncated, "audio-only": audio_only, "missing": tmp / "nope.mp4"}


@pytest.mark.parametrize("command", ["tracks", "passthrough"])
def test_bad_inputs_fail_clearly_and_write_nothing(command, tmp_path, pan_then_cut, capsys):
    ext = ".json" if command == "tracks" else ".mp4"
    for kind, path in _bad_inputs(tmp_path, pan_then_cut).items():
        out = tmp_path / f"out-{kind}{ext}"
        assert main([command, str(path), "-o", str(out), "--quiet"]) == 2, kind
        err = capsys.readouterr().err
        assert path.name in err and "error" in err, (kind, err)
        assert not out.exists(), kind
    assert not [p for p in tmp_path.iterdir() if ".partial" in p.name]


@contextlib.contextmanager
def read_only_folder(path: Path):
    """A folder nobody can write, root included (root ignores mode bits, not the immutable flag)."""
    path.mkdir()
    if os.geteuid() != 0:
        path.chmod(0o500)
        undo = ["chmod", "700", str(path)]
    elif subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode == 0:
        undo = ["chattr", "-i", str(path)]
    else:
        pytest.skip("root without chattr: cannot make a read-only folder here")
    try:
        yield path
    finally:
        subprocess.run(undo, check=True)


def test_unwritable_output_folder_fails_before_work(tmp_path, pan_then_cut, capsys):
    with read_only_folder(tmp_path / "ro") as ro:
        for command, name in [("passthrough", "o.mp4"), ("tracks", "t.json")]:
            assert main([command, str(pan_then_cut), "-o", str(ro / name), "--quiet"]) == 2
            assert "not writable" in capsys.readouterr().err
        assert list(ro.iterdir()) == []
    assert main(["passthrough", str(pan_then_cut), "-o", str(tmp_path / "no" / "such" / "o.mp4"), "--quiet"]) == 2
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "file").write_text("x")
    assert main(["passthrough", str(pan_then_cut), "-o", str(tmp_path / "file" / "o.mp4"), "--quiet"]) == 2
    assert "error" in capsys.readouterr().err


def test_console_script_runs_and_reports_errors(tmp_path):
    """The installed entry point, as a user types it: a clear one-line error and exit status 2."""
    facex = Path(sys.executable).with_name("facex")
    r = subprocess.run([str(facex), "tracks", str(tmp_path / "missing.mp4"), "-o", str(tmp_path / "t.json")],
                       capture_output=True, text=True)
    assert r.returncode == 2
    assert "missing.mp4" in r.stderr and "Traceback" not in r.stderr


def test_detector_model_flag_uses_the_users_scrfd(tmp_path, pan_then_cut, capsys):
    """`--detector-model` loads an SCRFD graph in place of MediaPipe's detector; a wrong file is one clear error."""
    import onnx
    from test_detect_scrfd import arcface_like_graph, scrfd_graph

    det, wrong = tmp_path / "det_10g.onnx", tmp_path / "w600k_r50.onnx"
    onnx.save(scrfd_graph(), det)
    onnx.save(arcface_like_graph(), wrong)
    black = tmp_path / "black.png"
    from facex_video.media import write_image

    write_image(black, np.zeros((240, 320, 3), np.uint8))
    out = tmp_path / "t.json"
    assert main(["tracks", str(black), "-o", str(out), "--detector-model", str(det), "--quiet"]) == 0
    assert json.loads(out.read_text())["tracks"] == []
    out.unlink()
    assert main(["tracks", str(black), "-o", str(out), "--detector-model", str(wrong), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "--detector-model" in err and "w600k_r50.onnx" in err
    assert not out.exists()


def test_models_list_shows_every_default_model_verified(capsys):
    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    for name in ["face_landmarker", "face_detector_full_range", "dlib_face_recognition"]:
        line = next(row for row in out.splitlines() if row.startswith(name))
        assert "verified" in line
    assert "--detector-model" in out  # the user-supplied models say which flag takes them


def test_missing_models_name_the_pull_command(tmp_path, monkeypatch, astronaut, capsys):
    from facex_video.media import write_image

    monkeypatch.setenv("FACEX_HOME", str(tmp_path / "empty-store"))
    image = tmp_path / "a.png"
    write_image(image, astronaut)
    assert main(["tracks", str(image), "-o", str(tmp_path / "t.json"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "face_detection_full_range_sparse.tflite: missing" in err and "facex models pull" in err
    assert not (tmp_path / "t.json").exists()

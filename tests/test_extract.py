"""The dataset extraction job: manifests, content keys, and resumable runs of jobs/extract.py on Ray over real clips."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pyarrow.parquet as pq
import pytest

from facex_video.core.errors import InputError, OutputError
from facex_video.core.fingerprint import input_key
from facex_video.ford.manifest import WorkDir, read_manifest
from facex_video.media.synth import Shot, write_clip

SCRIPT = Path(__file__).resolve().parents[1] / "jobs" / "extract.py"


# ------------------------------------------------------------------------------------------------ manifests


def test_csv_manifest_resolves_paths_from_its_folder(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    manifest = folder / "list.csv"
    manifest.write_text(f"id,path,note\nfirst,clips/a.mp4,x\n,{tmp_path / 'b.mp4'},\n\"3\",./c/../d.mp4,y\n")
    entries = read_manifest(manifest)
    assert [e.path for e in entries] == [folder / "clips" / "a.mp4", tmp_path / "b.mp4", folder / "d.mp4"]
    assert [e.id for e in entries] == ["first", None, "3"]
    assert [e.line for e in entries] == [2, 3, 4]
    assert entries[0].given == "clips/a.mp4"


def test_jsonl_manifest_skips_blank_lines_and_counts_them(tmp_path):
    manifest = tmp_path / "list.jsonl"
    manifest.write_text('{"path": "a.mp4", "id": 7}\n\n{"path": "sub/b.png"}\n')
    entries = read_manifest(manifest)
    assert [(e.path, e.id, e.line) for e in entries] == [(tmp_path / "a.mp4", "7", 1), (tmp_path / "sub" / "b.png", None, 3)]


@pytest.mark.parametrize(
    "name, text, problem",
    [
        ("m.csv", "file,id\na.mp4,1\n", "line 1: no 'path' column"),
        ("m.csv", "path,id\na.mp4,1\n,2\n", "line 3: empty path"),
        ("m.csv", "path\na.mp4\nx/../a.mp4\n", "line 3: a.mp4 is listed twice|line 3: x/../a.mp4 is listed twice"),
        ("m.csv", "path,id\na.mp4,k\nb.mp4,k\n", "line 3: id 'k' is used twice"),
        ("m.csv", "path\n", "lists no inputs"),
        ("m.jsonl", '{"path": "a.mp4"}\n{"path": \n', "line 2: not JSON"),
        ("m.jsonl", '{"path": "a.mp4"}\n\n["b.mp4"]\n', "line 3: expected an object"),
        ("m.jsonl", '{"file": "a.mp4"}\n', "line 1: 'path' must be a non-empty string"),
        ("m.jsonl", '{"path": "a.mp4"}\n{"path": "a.mp4"}\n', "line 2: a.mp4 is listed twice"),
        ("m.txt", "a.mp4\n", "a manifest is .csv or .jsonl"),
    ],
)
def test_bad_manifest_names_the_manifest_and_the_line(tmp_path, name, text, problem):
    manifest = tmp_path / name
    manifest.write_text(text)
    with pytest.raises(InputError, match=rf"{re.escape(str(manifest))}: ({problem})"):
        read_manifest(manifest)


def test_missing_manifest(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        read_manifest(tmp_path / "nope.csv")


# ------------------------------------------------------------------------------------------------ keys


def test_input_key_follows_content_not_name(tmp_path):
    data = np.random.default_rng(0).integers(0, 256, 300_000, dtype=np.uint8).tobytes()
    a = tmp_path / "a.mp4"
    a.write_bytes(data)
    key = input_key(a)
    assert re.fullmatch(r"[0-9a-f]{64}-300000", key)
    moved = tmp_path / "sub" / "renamed.mp4"
    moved.parent.mkdir()
    a.rename(moved)
    assert input_key(moved) == key
    twin = tmp_path / "twin.mp4"
    shutil.copy(moved, twin)
    assert input_key(twin) == key
    one_byte = bytearray(data)
    one_byte[123_456] ^= 1
    edited = tmp_path / "edited.mp4"
    edited.write_bytes(bytes(one_byte))
    assert input_key(edited) != key
    with open(moved, "ab") as f:  # changed in place: size and mtime change, the memo misses
        f.write(b"\0")
    assert input_key(moved) not in (key, input_key(edited))


def test_input_key_of_a_missing_file(tmp_path):
    with pytest.raises(InputError, match="gone.mp4: no such file"):
        input_key(tmp_path / "gone.mp4")


def test_workdir_refuses_shards_of_other_models(tmp_path):
    WorkDir(tmp_path / "out").prepare({"identity_model": None, "schema_version": "1"})
    WorkDir(tmp_path / "out").prepare({"identity_model": None, "schema_version": "1"})
    with pytest.raises(OutputError, match="holds shards made with"):
        WorkDir(tmp_path / "out").prepare({"identity_model": "/m/w600k_r50.onnx", "schema_version": "1"})


# ------------------------------------------------------------------------------------------------ the job

SIZE, FPS = (320, 240), Fraction(12)


def _run_job(manifest: Path, out: Path, *, address: str | None = None) -> tuple[subprocess.CompletedProcess, dict]:
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    if address:
        env["RAY_ADDRESS"] = address
    proc = subprocess.run([sys.executable, str(SCRIPT), str(manifest), "-o", str(out), "--actors", "2"],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode in (0, 1), proc.stderr[-3000:]
    return proc, json.loads((out / "summary.json").read_text())


def _by_input(summary: dict) -> dict[str, dict]:
    return {i["input"]: i for i in summary["inputs"]}


def _check_shard(path: Path) -> int:
    table = pq.read_table(path)
    assert table.num_rows > 0
    assert table.column("track_id").null_count == 0 and table.column("timestamp").null_count == 0
    assert 0 <= min(table.column("timestamp").to_pylist()) <= max(table.column("timestamp").to_pylist()) < 1.1
    for extras in table.column("extras").to_pylist():
        crop = cv2.imdecode(np.frombuffer(dict(extras)["crop_jpeg"], np.uint8), cv2.IMREAD_COLOR)
        assert crop.shape == (512, 512, 3)
    return table.num_rows


@pytest.mark.slow
def test_extract_job_is_resumable_and_records_failures(tmp_path, ray_address, astronaut, grace_hopper, t1):
    clips = tmp_path / "data" / "clips"
    clips.mkdir(parents=True)
    shots = {
        "astronaut.mp4": Shot(astronaut, 1.0, zoom=(0.8, 0.7), pan=((0.45, 0.35), (0.5, 0.3))),
        "hopper.mp4": Shot(grace_hopper, 1.0, zoom=(0.8, 0.75), pan=((0.5, 0.4), (0.52, 0.38))),
        "t1_face.mp4": Shot(t1[80:350, 144:504], 1.0, zoom=(1.0, 0.9)),  # one of t1's six faces
    }
    for name, shot in shots.items():
        write_clip(clips / name, [shot], size=SIZE, fps=FPS, audio=False)
    broken = clips / "broken.mp4"
    broken.write_bytes(np.random.default_rng(1).integers(0, 256, 50_000, dtype=np.uint8).tobytes())
    manifest = tmp_path / "data" / "manifest.csv"
    manifest.write_text("path,id\n" + "".join(f"clips/{n},{n[:-4]}\n" for n in [*shots, "broken.mp4"]))
    out = tmp_path / "out"

    # first run (a local cluster of its own): three shards, one failure record, exit 1
    proc, summary = _run_job(manifest, out)
    assert proc.returncode == 1
    assert summary["counts"] == {"done": 3, "skipped": 0, "failed": 1} and summary["analyzed"] == 4
    inputs = _by_input(summary)
    for name in shots:
        entry = inputs[f"clips/{name}"]
        assert entry["status"] == "done" and entry["tracks"] >= 1
        assert _check_shard(out / "shards" / f"{entry['key']}.parquet") == entry["rows"]
    assert inputs["clips/broken.mp4"]["status"] == "failed"
    records = [json.loads(p.read_text()) for p in (out / "failures").glob("*.json")]
    assert len(records) == 1 and records[0]["path"] == str(broken)
    assert records[0]["key"] == input_key(broken) and records[0]["error"] == "InputError"
    assert "broken.mp4" in records[0]["message"]
    assert "clips/broken.mp4: InputError" in proc.stdout

    # second run, one clip renamed: no analysis at all; the broken file's known failure is not retried
    (clips / "astronaut.mp4").rename(clips / "astronaut_renamed.mp4")
    manifest.write_text(manifest.read_text().replace("clips/astronaut.mp4", "clips/astronaut_renamed.mp4"))
    shards = {p: p.stat().st_mtime_ns for p in (out / "shards").glob("*.parquet")}
    proc, summary = _run_job(manifest, out)
    assert proc.returncode == 1
    assert summary["counts"] == {"done": 0, "skipped": 3, "failed": 1} and summary["analyzed"] == 0
    assert "ray_connect_seconds" not in summary  # Ray was not even started
    assert _by_input(summary)["clips/astronaut_renamed.mp4"]["rows"] == inputs["clips/astronaut.mp4"]["rows"]
    assert {p: p.stat().st_mtime_ns for p in (out / "shards").glob("*.parquet")} == shards

    # the broken file replaced by a real clip: only it is analysed, on the cluster the job joins
    write_clip(broken, [Shot(astronaut, 1.0, zoom=(0.7, 0.6), rotate=(-5.0, 5.0))], size=SIZE, fps=FPS, audio=False)
    proc, summary = _run_job(manifest, out, address=ray_address)
    assert proc.returncode == 0, proc.stdout
    assert summary["counts"] == {"done": 1, "skipped": 3, "failed": 0} and summary["analyzed"] == 1
    assert summary["ray_address"] == ray_address
    fixed = _by_input(summary)["clips/broken.mp4"]
    assert fixed["status"] == "done" and _check_shard(out / "shards" / f"{fixed['key']}.parquet") == fixed["rows"]
    assert not list((out / "failures").glob("*.json"))  # the stale record of the old bytes is gone
    assert all(p.stat().st_mtime_ns == t for p, t in shards.items())

"""A disk that fills while facex writes (issue 12): exit 2, one line naming the path it could not write,
nothing at the destination, no half-written file anywhere. The disk is a small tmpfs the test mounts, so
these run as root only (CI runs as root)."""

from __future__ import annotations

import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import pytest

from facex_video.media import Shot, write_clip, write_image
from facex_video.media.samples import sample_path

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")


@pytest.fixture
def small_disk(tmp_path, request):
    """A tmpfs of request.param bytes, unmounted after the test."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={request.param}", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    yield mount
    subprocess.run(["umount", str(mount)], check=True)


@pytest.fixture(scope="module")
def clip(tmp_path_factory, astronaut) -> Path:
    return write_clip(tmp_path_factory.mktemp("full") / "clip.mp4", [Shot(astronaut, 3.0)], size=(256, 192),
                      fps=Fraction(10))


def _facex(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "facex_video.cli", *args, "--quiet"], capture_output=True,
                          text=True, timeout=300)


def _half_written(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if ".partial-" in p.name]


def _one_line_naming(done: subprocess.CompletedProcess, path: str) -> None:
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert lines[0].startswith(f"facex: error: {path}") and "no space left on the device" in lines[0], lines


@pytest.mark.parametrize("small_disk", ["64k"], indirect=True)
def test_an_image_output_on_a_full_disk(small_disk, tmp_path):
    big = tmp_path / "big.png"  # 8 MB of noise: its PNG cannot fit in 64 kB
    import numpy as np

    write_image(big, np.random.default_rng(0).integers(0, 255, (1500, 1800, 3), np.uint8))
    out = small_disk / "out.png"
    _one_line_naming(_facex("passthrough", str(big), "-o", str(out)), str(out))
    assert list(small_disk.iterdir()) == []


@pytest.mark.parametrize("small_disk", ["64k"], indirect=True)
def test_a_parquet_output_on_a_full_disk(small_disk, clip):
    out = small_disk / "faces.parquet"
    _one_line_naming(_facex("analyze", str(clip), "-o", str(out), "--crops"), str(out))
    assert list(small_disk.iterdir()) == []


# 300 kB fills during the analysis shards, 3 MB while edited faces are written
@pytest.mark.parametrize("small_disk", ["300k", "3m"], indirect=True)
def test_the_sharded_job_on_a_full_disk_keeps_only_finished_shards(small_disk, clip):
    out = small_disk / "out.mp4"
    done = _facex("swap", "--source", str(sample_path("tom_hanks")), "--target", str(clip), "-o", str(out),
                  "--runner", "inline", "--chunk-seconds", "0.5")
    _one_line_naming(done, str(small_disk / f".{out.name}.facex-work"))
    assert "kept for a rerun to resume" in done.stderr
    assert not out.exists() and not _half_written(small_disk)
    assert sorted(p.name for p in small_disk.iterdir()) == [f".{out.name}.facex-work"]  # no lock, no temp

"""Training the FaceX controller: tiny models on 64 aligned crops that FORD extracts from the shipped photos
and clips made of them, in one process and as the Ray Train job (2 CPU workers), with resume."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch

from facex_video import api
from facex_video.media import write_image
from facex_video.media.samples import load_sample
from facex_video.media.synth import Shot, write_clip
from facex_video.render.facex.config import FaceXConfig
from facex_video.render.facex.pipeline import FaceXPipeline
from facex_video.render.facex.train import TrackPairs, TrainConfig, latest_checkpoint, train
from facex_video.render.facex.weights import load_controller

SCRIPT = Path(__file__).resolve().parents[1] / "jobs" / "train.py"
pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture(scope="module")
def shards(tmp_path_factory) -> list[Path]:
    """FORD shards with aligned crops: t1's six faces over 6 frames, two 12-13 frame portrait clips, 3 photos."""
    root = tmp_path_factory.mktemp("facex_shards")
    write_clip(root / "t1.mp4", [Shot(load_sample("t1"), seconds=0.6, zoom=(0.95, 0.95),
                                      pan=((0.49, 0.4), (0.51, 0.4)))], size=(640, 360), fps=Fraction(10))
    write_clip(root / "astronaut.mp4", [Shot(load_sample("astronaut"), seconds=1.3, zoom=(0.8, 0.7),
                                             pan=((0.45, 0.35), (0.5, 0.3)))], size=(320, 320), fps=Fraction(10))
    write_clip(root / "grace.mp4", [Shot(load_sample("grace_hopper"), seconds=1.2, zoom=(1.0, 0.9))],
               size=(320, 360), fps=Fraction(10))
    for name in ("tom_hanks", "astronaut", "grace_hopper"):
        write_image(root / f"{name}.png", load_sample(name))
    out = []
    for media in sorted(p for p in root.iterdir() if p.suffix in (".mp4", ".png")):
        out.append(root / f"{media.name}.parquet")
        api.analyze(media, out[-1], with_crops=True, progress=False)
    return out


@pytest.fixture(scope="module")
def data(shards) -> TrackPairs:
    return TrackPairs(shards, FaceXConfig.tiny().resolution)


def test_the_shards_hold_64_crops_and_pairs_come_from_one_track(data) -> None:
    assert len(data) == 64
    assert len(data.by_track) >= 10  # six t1 faces, two portrait clips, three photos
    batch = data.batch([0, 40, 63], np.random.default_rng(0))
    assert batch["target"].shape == (3, 64, 64, 3) and batch["condition"].shape == (3, 64, 64, 7)
    assert batch["identity"].shape == (3, 128)
    # the condition shows the crop outside the face and nothing of it inside
    cond = batch["condition"]
    inside = cond[..., 6] > 0.99
    assert 0.1 < inside.mean() < 0.8 and not cond[..., 3:6][inside].any()
    # a clip's frame takes its appearance from another frame of its track; a photo's from itself
    rng = np.random.default_rng(1)
    for i, frame in enumerate(data.frames):
        sample = data.sample(i, rng)
        single = len(data.by_track[frame.track]) == 1
        assert np.array_equal(sample["appearance"], sample["target"]) == single


@pytest.mark.slow
def test_sixty_steps_lower_the_loss_and_checkpoint(data, tmp_path) -> None:
    pipe = FaceXPipeline.build(FaceXConfig.tiny(), seed=0)
    config = TrainConfig(steps=60, batch_size=4, learning_rate=1e-3, checkpoint_every=30, seed=0)
    losses = train(pipe, data, config, tmp_path)
    first, last = np.mean(losses[:10]), np.mean(losses[-10:])
    print(f"loss: first 10 steps {first:.3f}, last 10 {last:.3f} ({last / first:.2f}x)")
    assert last < 0.8 * first
    assert sorted(p.name for p in tmp_path.glob("checkpoint-*")) == ["checkpoint-0000030", "checkpoint-0000060"]
    saved = load_controller(latest_checkpoint(tmp_path))
    for name, tensor in pipe.controller.state_dict().items():
        assert torch.equal(saved.state_dict()[name], tensor), name


def test_a_resumed_run_continues_exactly_where_it_stopped(data, tmp_path) -> None:
    config = TrainConfig(steps=4, batch_size=2, learning_rate=1e-3, checkpoint_every=2, seed=3)
    whole = FaceXPipeline.build(FaceXConfig.tiny(), seed=1)
    losses = train(whole, data, config, tmp_path / "whole")

    halves = tmp_path / "halves"
    first = train(FaceXPipeline.build(FaceXConfig.tiny(), seed=1), data,
                  TrainConfig(**{**config.__dict__, "steps": 2}), halves)
    resumed = FaceXPipeline.build(FaceXConfig.tiny(), seed=1)
    both = train(resumed, data, config, halves)
    # the first two steps are read back from the checkpoint: the resumed steps are the ones to compare
    assert first == losses[:2] and both[2:] == losses[2:]
    for name, tensor in whole.controller.state_dict().items():
        assert torch.equal(resumed.controller.state_dict()[name], tensor), name
    state = json.loads((latest_checkpoint(halves) / "training_state.json").read_text())
    assert state["step"] == 4 and len(state["losses"]) == 4


def _job(args: list[str], address: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "RAY_ADDRESS": address}
    return subprocess.run([sys.executable, str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_the_ray_job_trains_on_two_workers_and_resumes(shards, tmp_path, ray_address) -> None:
    base = tmp_path / "sd15"
    pipe = FaceXPipeline.build(FaceXConfig.tiny(), seed=0)
    pipe.unet.save_pretrained(base / "unet")
    pipe.vae.save_pretrained(base / "vae")
    out = tmp_path / "run"
    common = [str(shards[0].parent), "-o", str(out), "--base-model", str(base), "--preset", "tiny", "--workers", "2",
              "--batch-size", "2", "--checkpoint-every", "2"]
    proc = _job([*common, "--steps", "2"], ray_address)
    assert proc.returncode == 0, proc.stderr[-3000:]
    first = json.loads((out / "summary.json").read_text())
    assert first["step"] == 2 and first["resumed_from"] is None and first["workers"] == 2

    proc = _job([*common, "--steps", "4"], ray_address)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "resumed from checkpoint-0000002" in proc.stdout
    second = json.loads((out / "summary.json").read_text())
    assert second["step"] == 4 and second["losses"][:2] == first["losses"] and len(second["losses"]) == 4
    # every checkpoint is a FaceX checkpoint the renderer can load
    assert load_controller(out / "checkpoint-0000004").facex_config.resolution == 64

    bad = _job([str(tmp_path / "nothing"), "-o", str(out), "--base-model", str(base)], ray_address)
    assert bad.returncode == 2 and "nothing: not a Parquet shard" in bad.stderr


def test_bf16_mixed_precision_and_accumulation_train_and_fp16_needs_a_gpu(data, tmp_path) -> None:
    pipe = FaceXPipeline.build(FaceXConfig.tiny(), seed=0)
    before = {k: v.clone() for k, v in pipe.controller.state_dict().items()}
    config = TrainConfig(steps=2, batch_size=2, accumulate=2, mixed_precision="bf16", checkpoint_every=2)
    losses = train(pipe, data, config, tmp_path / "bf16")
    assert len(losses) == 2 and all(np.isfinite(losses))
    assert any(not torch.equal(before[k], v) for k, v in pipe.controller.state_dict().items())
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="fp16 needs a CUDA device"):
            train(pipe, data, TrainConfig(steps=1, mixed_precision="fp16"), tmp_path / "fp16")

"""Training the FaceX controller on the Parquet shards `jobs/extract.py` writes (`--crops`): the step, the data,
the checkpoints. `jobs/train.py` runs the same loop on Ray Train workers; `train` here runs it in one process.

Self-supervised pairs: a frame of a track is the target; its own landmarks, gaze and crop (outside the face)
draw the condition, exactly as the renderer draws one (render/facex/condition.py); identity (the track's embedding)
and appearance (the crop of another frame of the same track) make the tokens. So the controller must take
the face's look from the tokens and its geometry from the condition. UNet and VAE stay frozen; the loss is
the noise-prediction MSE at a uniformly drawn timestep; the tokens are zeroed for a fraction of samples so
classifier-free guidance has an unconditional branch to contrast with.

Determinism and resume: the samples and noise of step s depend only on (seed, s, rank), and a checkpoint holds
the controller, the optimizer state and the step, all in safetensors/JSON, so a resumed run continues the
very sequence an uninterrupted one would have taken.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn

from ...core.errors import InputError
from ...ford.regions import landmarks_to_crop
from ...ford.representation import Gaze
from .condition import condition_image, regenerate_area
from .pipeline import FaceXPipeline

CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")
OPTIMIZER_FILE = "optimizer.safetensors"
STATE_FILE = "training_state.json"


@dataclass
class TrainConfig:
    """Hyper-parameters. steps count optimizer steps; each takes `accumulate` batches of `batch_size`."""

    steps: int = 1000
    batch_size: int = 4
    accumulate: int = 1
    learning_rate: float = 1e-4
    weight_decay: float = 1e-2
    mixed_precision: str = "no"  # "no", "bf16" (CPU or GPU), "fp16" (GPU, with a gradient scaler)
    checkpoint_every: int = 500
    uncond_fraction: float = 0.1
    seed: int = 0


# ---------------------------------------------------------------------------------------------- data


@dataclass
class Frame:
    """One row of a shard, reduced to what a training sample needs (crop-px landmarks, the 512 px crop)."""

    track: tuple[str, int]
    crop_jpeg: bytes
    landmarks: np.ndarray
    gaze: Gaze
    embedding: np.ndarray


COLUMNS = ("source", "track_id", "identity_embedding", "gaze_right_yaw", "gaze_right_pitch", "gaze_left_yaw",
           "gaze_left_pitch", "landmarks_image", "crop_transform", "extras")


def read_frames(shard: str | Path) -> list[Frame]:
    """The training view of a shard: only the columns a sample needs (no mask PNGs are decoded)."""
    import pyarrow.parquet as pq

    frames = []
    for row in pq.read_table(shard, columns=list(COLUMNS)).to_pylist():
        extras = dict(row["extras"])
        if "crop_jpeg" not in extras:
            raise InputError(shard, "no aligned crops in it: extract with crops (jobs/extract.py stores them)")
        m = np.asarray(row["crop_transform"], np.float64).reshape(2, 3)
        landmarks = landmarks_to_crop(np.asarray(row["landmarks_image"], np.float64).reshape(-1, 3), m)
        gaze = Gaze(row["gaze_right_yaw"], row["gaze_right_pitch"], row["gaze_left_yaw"], row["gaze_left_pitch"])
        frames.append(Frame((row["source"], row["track_id"]), extras["crop_jpeg"], landmarks, gaze,
                            np.asarray(row["identity_embedding"], np.float32)))
    return frames


class TrackPairs:
    """Training samples from representation shards: sample i targets frame i, appearance from its track."""

    def __init__(self, shards: Sequence[str | Path], resolution: int):
        self.resolution = resolution
        self.frames: list[Frame] = [f for shard in shards for f in read_frames(shard)]
        if not self.frames:
            raise InputError(shards[0] if shards else "shards", "no face rows to train on")
        self.by_track: dict[tuple[str, int], list[int]] = {}
        for i, f in enumerate(self.frames):
            self.by_track.setdefault(f.track, []).append(i)

    def __len__(self) -> int:
        return len(self.frames)

    def _crop(self, i: int) -> np.ndarray:
        bgr = cv2.imdecode(np.frombuffer(self.frames[i].crop_jpeg, np.uint8), cv2.IMREAD_COLOR)
        if bgr is None:
            raise ValueError(f"frame {i}: its crop_jpeg is not a decodable image")
        return np.ascontiguousarray(bgr[..., ::-1])

    def sample(self, i: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        f = self.frames[i]
        crop = self._crop(i)
        others = [j for j in self.by_track[f.track] if j != i]  # a photo's single frame pairs with itself
        partner = int(rng.choice(others)) if others else i
        area = regenerate_area(f.landmarks)  # old and new face are one here: its own outline
        small = (self.resolution, self.resolution)
        return {
            "target": cv2.resize(crop, small, interpolation=cv2.INTER_AREA),
            "condition": condition_image(f.landmarks, f.gaze, crop, area, self.resolution),
            "appearance": cv2.resize(self._crop(partner), small, interpolation=cv2.INTER_AREA),
            "identity": f.embedding,
        }

    def batch(self, indices: Sequence[int] | np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
        samples = [self.sample(int(i), rng) for i in indices]
        return {k: np.stack([s[k] for s in samples]) for k in samples[0]}


# ---------------------------------------------------------------------------------------------- step


class ControllerStep(nn.Module):
    """The trainable part of one forward pass (tokens and residuals) as one module, so DDP sees all of it."""

    def __init__(self, controller: nn.Module):
        super().__init__()
        self.controller = controller

    def forward(self, latents, timesteps, identity, appearance, condition, keep):
        tokens = self.controller.tokens(identity, appearance) * keep[:, None, None]
        down, mid = self.controller(latents, timesteps, tokens, condition)
        return tokens, down, mid


def _images(x: np.ndarray, device: torch.device) -> torch.Tensor:
    return (torch.from_numpy(x).permute(0, 3, 1, 2).float() / 127.5 - 1).to(device)


def step_generators(seed: int, step: int, rank: int) -> tuple[np.random.Generator, torch.Generator]:
    """The randomness of one step: which samples (the same draw on every worker, each taking its share) and,
    per worker, the noise, timesteps and token dropout; fixed by (seed, step, rank) alone."""
    noise = np.random.SeedSequence([seed, step, rank]).generate_state(1)[0]
    return np.random.default_rng([seed, step]), torch.Generator().manual_seed(int(noise))


def loss_on(pipe: FaceXPipeline, model: nn.Module, batch: dict[str, np.ndarray], gen: torch.Generator,
            uncond_fraction: float, autocast) -> torch.Tensor:
    """Noise-prediction MSE of one batch (the UNet and VAE frozen, gradients only into `model`)."""
    from diffusers import DDPMScheduler

    device = pipe.unet.device
    noise_schedule = DDPMScheduler.from_config(pipe.scheduler.config)
    with torch.no_grad():
        latents = pipe.encode(_images(batch["target"], device))
        appearance = pipe.encode(_images(batch["appearance"], device))
    b = latents.shape[0]
    noise = torch.randn(latents.shape, generator=gen).to(device, latents.dtype)
    t = torch.randint(0, noise_schedule.config.num_train_timesteps, (b,), generator=gen).to(device)
    keep = (torch.rand(b, generator=gen) >= uncond_fraction).float().to(device)
    noisy = noise_schedule.add_noise(latents, noise, t)
    condition = torch.from_numpy(batch["condition"]).permute(0, 3, 1, 2).to(device)
    identity = torch.from_numpy(batch["identity"]).to(device)
    with autocast:
        tokens, down, mid = model(noisy, t, identity, appearance, condition, keep)
        pred = pipe.unet(noisy, t, encoder_hidden_states=tokens, down_block_additional_residuals=down,
                         mid_block_additional_residual=mid).sample
    return nn.functional.mse_loss(pred.float(), noise.float())


def _autocast(device: torch.device, mixed_precision: str):
    if mixed_precision == "no":
        return nullcontext()
    if mixed_precision == "fp16" and device.type != "cuda":
        raise ValueError("mixed precision fp16 needs a CUDA device; use bf16 on CPU")
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}[mixed_precision]
    return torch.autocast(device.type, dtype=dtype)


# ---------------------------------------------------------------------------------------------- checkpoints


def latest_checkpoint(out_dir: str | Path) -> Path | None:
    found = [(int(m[1]), p) for p in Path(out_dir).glob("checkpoint-*") if (m := CHECKPOINT.match(p.name))
             and (p / STATE_FILE).is_file()]
    return max(found)[1] if found else None


def save_checkpoint(out_dir: str | Path, step: int, controller, optimizer: torch.optim.Optimizer,
                    config: TrainConfig, losses: list[float]) -> Path:
    """out_dir/checkpoint-STEP: the controller (a --facex-checkpoint folder), optimizer tensors and the step.
    Written under a temporary name and renamed, so a killed job never leaves a half checkpoint."""
    from safetensors.torch import save_file

    final = Path(out_dir) / f"checkpoint-{step:07d}"
    tmp = final.with_name(final.name + ".partial")
    controller.save_pretrained(tmp, safe_serialization=True)
    state = optimizer.state_dict()
    tensors = {f"{i}.{k}": v.detach().cpu().contiguous() for i, s in state["state"].items() for k, v in s.items()}
    save_file(tensors, str(tmp / OPTIMIZER_FILE))
    (tmp / STATE_FILE).write_text(json.dumps({"step": step, "config": asdict(config), "losses": losses,
                                              "param_groups": state["param_groups"]}, indent=1))
    tmp.rename(final)
    return final


def load_checkpoint(path: Path, controller, optimizer: torch.optim.Optimizer) -> tuple[int, list[float]]:
    """Restore controller weights and optimizer state; returns (step, losses so far)."""
    from safetensors.torch import load_file

    from .weights import load_controller

    controller.load_state_dict(load_controller(path).state_dict())
    meta = json.loads((path / STATE_FILE).read_text())
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in load_file(str(path / OPTIMIZER_FILE)).items():
        i, name = key.split(".", 1)
        state.setdefault(int(i), {})[name] = value
    optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
    return int(meta["step"]), list(meta["losses"])


# ---------------------------------------------------------------------------------------------- loop


def train(
    pipe: FaceXPipeline,
    data: TrackPairs,
    config: TrainConfig,
    out_dir: str | Path,
    *,
    model: nn.Module | None = None,
    rank: int = 0,
    world: int = 1,
    resume: bool = True,
    on_step: Callable[[int, float, Path | None], None] | None = None,
) -> list[float]:
    """Train `pipe.controller` for config.steps optimizer steps (continuing from out_dir's latest checkpoint
    when `resume`); returns the loss of every step. model: the controller wrapped for distributed training
    (ControllerStep, possibly in DDP); rank/world: this worker's share of each batch's samples; rank 0 writes
    the checkpoints. on_step(step, loss, checkpoint or None) is called after every step."""
    model = model or ControllerStep(pipe.controller)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.learning_rate, weight_decay=config.weight_decay)
    device = pipe.unet.device
    autocast = _autocast(device, config.mixed_precision)
    scaler = torch.amp.GradScaler(device.type, enabled=config.mixed_precision == "fp16")
    step = 0
    losses: list[float] = []
    found = latest_checkpoint(out_dir) if resume else None
    if found is not None:
        step, losses = load_checkpoint(found, pipe.controller, optimizer)
    while step < config.steps:
        rng, gen = step_generators(config.seed, step, rank)
        optimizer.zero_grad(set_to_none=True)
        total = 0.0
        for _ in range(config.accumulate):
            indices = rng.integers(0, len(data), config.batch_size * world)[rank::world]
            loss = loss_on(pipe, model, data.batch(indices, rng), gen, config.uncond_fraction, autocast)
            scaler.scale(loss / config.accumulate).backward()
            total += float(loss.detach()) / config.accumulate
        scaler.step(optimizer)
        scaler.update()
        step += 1
        losses.append(total)
        saved = None
        if rank == 0 and (step % config.checkpoint_every == 0 or step == config.steps):
            saved = save_checkpoint(out_dir, step, pipe.controller, optimizer, config, losses)
        if on_step is not None:
            on_step(step, total, saved)
    model.eval()
    return losses

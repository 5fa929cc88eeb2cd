"""Train the FaceX controller on Ray Train: a TorchTrainer over the Parquet shards `jobs/extract.py` writes.

    python jobs/train.py SHARDS... -o OUT --base-model SD15 [--preset sd15|tiny] [--workers N] [--gpu]
                         [--steps N] [--batch-size B] [--accumulate K] [--lr LR] [--mixed-precision no|bf16|fp16]
                         [--checkpoint-every N] [--seed S] [--address ADDR]
    ray job submit --address ... --working-dir . -- python jobs/train.py /shared/ford/shards -o /shared/facex \\
        --base-model /shared/sd15 --workers 8 --gpu --mixed-precision fp16

SHARDS are Parquet files or folders of them (extracted with crops). The UNet and VAE of --base-model stay
frozen; a fresh controller is copied from its UNet (the same seed on every worker, so all start equal) and
trained data-parallel (DDP; each worker takes its share of every batch). Rank 0 writes OUT/checkpoint-STEP
every --checkpoint-every steps and at the end: each one is a --facex-checkpoint folder for `facex ...
--backend facex`, plus the optimizer state and step. A rerun with the same OUT resumes from the latest
checkpoint, the step count continuing (raise --steps to train further). OUT must be reachable under the same
path from every node. The loop itself lives in facex_video/render/facex/train.py; Ray appears only here.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from facex_video.cli import positive_int
from facex_video.core.errors import FacexError, InputError
from facex_video.render.facex.train import TrainConfig, latest_checkpoint
from facex_video.video.runner_ray import ray_session

PRESETS = ("sd15", "tiny")


def shard_files(paths: Sequence[str]) -> list[str]:
    """Every .parquet file named or inside a named folder (sorted, absolute), or an InputError."""
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files += sorted(p.rglob("*.parquet"))
        elif p.suffix == ".parquet" and p.is_file():
            files.append(p)
        else:
            raise InputError(p, "not a Parquet shard or a folder of them")
    if not files:
        raise InputError(paths[0], "no .parquet shards found")
    return [str(f.absolute()) for f in files]


def build_pipeline(base_model: str, preset: str, identity_dim: int, seed: int):
    """The frozen base from --base-model and a fresh controller copied from its UNet."""
    import torch

    from facex_video.render.facex.config import FaceXConfig
    from facex_video.render.facex.frc import FaceXController, plain_config
    from facex_video.render.facex.pipeline import FaceXPipeline
    from facex_video.render.facex.weights import load_base

    sizes = FaceXConfig.tiny() if preset == "tiny" else FaceXConfig.sd15()
    sizes.identity_dim = identity_dim
    unet, vae = load_base(base_model, sizes)
    config = FaceXConfig(**{**sizes.to_dict(), "unet": plain_config(unet.config), "vae": plain_config(vae.config),
                            "condition_embedding": sizes.condition_embedding})
    torch.manual_seed(seed)
    return FaceXPipeline.assemble(unet, vae, FaceXController.from_unet(unet, config), "ddim")


def worker(cfg: dict) -> None:
    """One Ray Train worker: its share of every step; rank 0 writes the checkpoints."""
    import ray.train
    import ray.train.torch
    import torch

    from facex_video.render.facex.train import ControllerStep, TrackPairs, train

    ctx = ray.train.get_context()
    rank, world = ctx.get_world_rank(), ctx.get_world_size()
    config = TrainConfig(**cfg["train"])
    pipe = build_pipeline(cfg["base_model"], cfg["preset"], cfg["identity_dim"], config.seed)
    pipe.placed(ray.train.torch.get_device(), torch.float32)
    data = TrackPairs(cfg["shards"], pipe.facex_config.resolution)
    model = ray.train.torch.prepare_model(ControllerStep(pipe.controller))

    def report(step: int, loss: float, saved: Path | None) -> None:
        ray.train.report({"step": step, "loss": loss, "checkpoint": str(saved) if saved else ""})

    train(pipe, data, config, cfg["out"], model=model, rank=rank, world=world, on_step=report)


def identity_dim(shards: list[str]) -> int:
    import pyarrow.parquet as pq

    return int(pq.read_schema(shards[0]).field("identity_embedding").type.list_size)


def run(args: argparse.Namespace) -> int:
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    shards = shard_files(args.shards)
    out = Path(args.output).absolute()
    out.mkdir(parents=True, exist_ok=True)
    train_config = TrainConfig(steps=args.steps, batch_size=args.batch_size, accumulate=args.accumulate,
                               learning_rate=args.lr, mixed_precision=args.mixed_precision,
                               checkpoint_every=args.checkpoint_every, seed=args.seed)
    resumed = latest_checkpoint(out)
    dim = identity_dim(shards)
    # the base model is checked here, in one line, before any worker starts
    build_pipeline(args.base_model, args.preset, dim, args.seed)
    with ray_session(args.address):
        trainer = TorchTrainer(
            worker,
            train_loop_config={"train": asdict(train_config), "shards": shards, "out": str(out),
                               "base_model": str(Path(args.base_model).absolute()), "preset": args.preset,
                               "identity_dim": dim},
            scaling_config=ScalingConfig(num_workers=args.workers, use_gpu=args.gpu),
            run_config=RunConfig(name="facex-train", storage_path=str(out / "ray")),
        )
        trainer.fit()
    final = latest_checkpoint(out)
    state = json.loads((final / "training_state.json").read_text()) if final else {}
    summary = {"output": str(out), "resumed_from": str(resumed) if resumed else None,
               "checkpoint": str(final) if final else None, "step": state.get("step"),
               "losses": state.get("losses", []), "workers": args.workers}
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    start = f"resumed from {resumed.name}, " if resumed else ""
    print(f"{start}trained to step {summary['step']} on {args.workers} worker(s); checkpoint: {final}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="train.py", description="Train the FaceX controller on Ray Train.")
    p.add_argument("shards", nargs="+", help="Parquet shards (or folders of them) written by jobs/extract.py")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="checkpoint folder (resumable)")
    p.add_argument("--base-model", required=True, metavar="PATH", help="Stable Diffusion 1.5 folder or .safetensors")
    p.add_argument("--preset", choices=PRESETS, default="sd15", help="controller sizes (tiny: tests) (default sd15)")
    p.add_argument("--workers", type=positive_int, default=2, help="Ray Train workers (default 2)")
    p.add_argument("--gpu", action="store_true", help="one GPU per worker")
    p.add_argument("--steps", type=positive_int, default=TrainConfig.steps, help="total optimizer steps")
    p.add_argument("--batch-size", type=positive_int, default=TrainConfig.batch_size,
                   help="samples per step per worker")
    p.add_argument("--accumulate", type=positive_int, default=1, help="gradient accumulation batches per step")
    p.add_argument("--lr", type=float, default=TrainConfig.learning_rate, help="AdamW learning rate")
    p.add_argument("--mixed-precision", choices=("no", "bf16", "fp16"), default="no")
    p.add_argument("--checkpoint-every", type=positive_int, default=TrainConfig.checkpoint_every)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--address", help="Ray cluster to join (default: RAY_ADDRESS, else a local cluster)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except FacexError as err:
        print(f"train: error: {err}", file=sys.stderr)
        return err.exit_code


if __name__ == "__main__":
    sys.exit(main())

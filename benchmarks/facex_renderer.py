"""FaceXPipeline per-frame time against denoising steps, resolution and batch size, one run, side by side.

    python benchmarks/facex_renderer.py [--preset tiny|sd15] [--device cpu|cuda] [--dtype fp32|fp16|bf16]
                                        [--steps 5,10,20] [--sizes 64,128,256] [--batches 1,2,4,8] [--repeat 3]

Weights are random (timing does not depend on their values): tiny is the test model, sd15 Stable Diffusion
1.5's real UNet/VAE architecture with the FaceX controller at its real size, so its figures are what a user's
weights cost. Each figure is the median of --repeat runs after one warm-up, divided by the batch size:
milliseconds per generated face (guidance on, i.e. two UNet and controller passes per step).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from facex_video.render.facex.config import FaceXConfig
from facex_video.render.facex.pipeline import FaceXPipeline, torch_device_dtype
from facex_video.render.facex.temporal import AnchorFrame


def ints(text: str) -> list[int]:
    return [int(v) for v in text.split(",")]


def per_frame_ms(pipe: FaceXPipeline, steps: int, size: int, batch: int, repeat: int, anchor: bool = False) -> float:
    """Median wall time of one batch, per frame, in ms (one warm-up first; CUDA synchronised)."""
    rng = np.random.default_rng(0)
    cond = rng.random((batch, size, size, 7), dtype=np.float32)
    ident = rng.standard_normal((batch, pipe.facex_config.identity_dim)).astype(np.float32)
    look = rng.integers(0, 255, (batch, size, size, 3), dtype=np.uint8)
    times = []
    for i in range(repeat + 1):
        frame_anchor = AnchorFrame() if anchor else None
        if frame_anchor is not None:  # the anchor is recorded once per track: time the frames after it
            pipe(cond, ident, look, steps=steps, seeds=range(batch), anchor=frame_anchor)
        if pipe.unet.device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        pipe(cond, ident, look, steps=steps, seeds=range(batch), anchor=frame_anchor)
        if pipe.unet.device.type == "cuda":
            torch.cuda.synchronize()
        if i:
            times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times) / batch


MODES = {"full": ([5, 10, 20], [64, 128, 256], [1, 2, 4, 8], 3), "quick": ([5, 10], [64, 128], [1, 2, 4], 2),
         "tiny": ([2, 4], [64], [1, 2], 1)}


def run(mode: str = "full") -> dict:
    """The tiny model's figures on the CPU in benchmarks/run_all.py's format (the sd15 preset: main())."""
    steps, sizes, batches, repeat = MODES[mode]
    pipe = FaceXPipeline.build(FaceXConfig.tiny())
    base_steps, base_size = steps[len(steps) // 2], sizes[min(1, len(sizes) - 1)]
    by_steps = [per_frame_ms(pipe, s, base_size, 1, repeat) for s in steps]
    by_size = [per_frame_ms(pipe, base_steps, size, 1, repeat) for size in sizes]
    by_batch = [per_frame_ms(pipe, base_steps, base_size, b, repeat) for b in batches]
    anchored = per_frame_ms(pipe, base_steps, base_size, 1, repeat, anchor=True)
    line = {"kind": "line", "ylabel": "ms per frame"}
    return {
        "title": "FaceX diffusion renderer (tiny model, CPU)",
        "notes": (f"FaceXPipeline with FaceXConfig.tiny() and random weights on the CPU ({torch.get_num_threads()} "
                  "threads), DDIM with guidance; medians per generated face. The SD 1.5 size runs with "
                  "`python benchmarks/facex_renderer.py --preset sd15` (minutes per frame on a CPU)."),
        "tables": [{"title": "per-frame time", "columns": ["setting", "ms per frame"],
                    "rows": [*[[f"{s} steps, {base_size} px", round(v, 1)] for s, v in zip(steps, by_steps)],
                             *[[f"{base_steps} steps, {z} px", round(v, 1)] for z, v in zip(sizes, by_size)],
                             *[[f"batch {b}, {base_steps} steps, {base_size} px", round(v, 1)]
                               for b, v in zip(batches, by_batch)],
                             [f"cross-frame attention, {base_steps} steps, {base_size} px", round(anchored, 1)]]}],
        "plots": [{**line, "name": "facex_steps", "title": "FaceX renderer: time against steps",
                   "xlabel": "denoising steps", "x": steps, "series": {f"{base_size} px": by_steps}},
                  {**line, "name": "facex_batch", "title": "FaceX renderer: time against batch size",
                   "xlabel": "batch size", "x": batches, "series": {f"{base_steps} steps": by_batch}}],
        "numbers": {"ms_by_steps": dict(zip(map(str, steps), by_steps)),
                    "ms_by_size": dict(zip(map(str, sizes), by_size)),
                    "ms_by_batch": dict(zip(map(str, batches), by_batch)), "ms_cross_frame": anchored},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", choices=("tiny", "sd15"), default="tiny")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", choices=("fp32", "fp16", "bf16"), default="fp32")
    parser.add_argument("--steps", type=ints, default=None, help="step counts (default 5,10,20)")
    parser.add_argument("--sizes", type=ints, default=None, help="resolutions (default tiny 64,128,256; sd15 256,512)")
    parser.add_argument("--batches", type=ints, default=None, help="batch sizes (default 1,2,4,8)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    device, dtype = torch_device_dtype(args.device, args.dtype)
    config = FaceXConfig.tiny() if args.preset == "tiny" else FaceXConfig.sd15()
    steps = args.steps or [5, 10, 20]
    sizes = args.sizes or ([64, 128, 256] if args.preset == "tiny" else [256, 512])
    batches = args.batches or [1, 2, 4, 8]
    base_steps, base_size = steps[len(steps) // 2], sizes[min(1, len(sizes) - 1)]
    pipe = FaceXPipeline.build(config).placed(device, dtype)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"FaceX pipeline, {args.preset} sizes, random weights, {args.dtype} on {name}; DDIM, guidance on")
    print(f"\nper-frame ms against steps (resolution {base_size}, batch 1)")
    for s in steps:
        print(f"  {s:>4} steps  {per_frame_ms(pipe, s, base_size, 1, args.repeat):9.1f} ms")
    print(f"\nper-frame ms against resolution ({base_steps} steps, batch 1)")
    for size in sizes:
        print(f"  {size:>4} px     {per_frame_ms(pipe, base_steps, size, 1, args.repeat):9.1f} ms")
    print(f"\nper-frame ms against batch size ({base_steps} steps, resolution {base_size})")
    for b in batches:
        print(f"  batch {b:>2}    {per_frame_ms(pipe, base_steps, base_size, b, args.repeat):9.1f} ms")
    print(f"\ncross-frame attention ({base_steps} steps, resolution {base_size}, batch 1): "
          f"{per_frame_ms(pipe, base_steps, base_size, 1, args.repeat, anchor=True):.1f} ms per frame after the anchor")


if __name__ == "__main__":
    main()

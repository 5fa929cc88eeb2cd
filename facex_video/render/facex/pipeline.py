"""FaceXPipeline: the frozen Stable Diffusion UNet and VAE steered by the FaceX controller (render/facex/frc.py).

One call renders a batch of frames: each frame brings its condition (render/facex/condition.py), its identity
embedding and its identity donor's crop (the appearance). Classifier-free guidance contrasts the identity
tokens with all-zero tokens. `strength` < 1 starts from a given image (the geometric render) noised to the
matching step (SDEdit), so only the detail is generated. The initial noise is drawn from a seed per frame
(or passed in, shared along a track: render/facex/temporal.py), on the CPU so a seed means the same noise on every
device. Schedulers: DDIM, DPM-Solver++ (multistep) and Euler, all deterministic given the noise.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import torch

# the defining modules rather than `from diffusers import ...`: under TYPE_CHECKING diffusers' __init__ binds
# these names to its dummy placeholder classes first, so type checkers would see placeholders
from diffusers.models.autoencoders.autoencoder_kl import AutoencoderKL
from diffusers.models.unets.unet_2d_condition import UNet2DConditionModel
from diffusers.pipelines.pipeline_utils import DiffusionPipeline
from diffusers.schedulers.scheduling_ddim import DDIMScheduler
from diffusers.schedulers.scheduling_dpmsolver_multistep import DPMSolverMultistepScheduler
from diffusers.schedulers.scheduling_euler_discrete import EulerDiscreteScheduler

from ...core.errors import ModelError
from .config import FaceXConfig
from .frc import FaceXController
from .temporal import AnchorFrame, CrossFrameAttention, track_noise

SCHEDULERS = {
    "ddim": (DDIMScheduler, {}),
    "dpm++": (DPMSolverMultistepScheduler, {"algorithm_type": "dpmsolver++"}),
    "euler": (EulerDiscreteScheduler, {}),
}
DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def torch_device_dtype(device: str, dtype: str) -> tuple[torch.device, torch.dtype]:
    """Checked `--device`/`--dtype`: fp16 needs CUDA (CPU half-precision kernels are missing or slow: use
    bf16 there), and cuda needs a visible GPU."""
    if dtype not in DTYPES:
        raise ModelError(f"--dtype {dtype}: choose one of {', '.join(DTYPES)}")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ModelError(f"--device {device}: no CUDA GPU is visible to torch; use --device cpu")
    if dtype == "fp16" and not device.startswith("cuda"):
        raise ModelError(f"--dtype fp16 needs --device cuda (on {device} use --dtype bf16 or fp32)")
    return torch.device(device), DTYPES[dtype]


class FaceXPipeline(DiffusionPipeline):
    """UNet and VAE (frozen), controller, scheduler; `__call__` renders a batch of frames (module docstring)."""

    # components, set by register_modules; declared for type checkers (DiffusionPipeline's __getattr__ is untyped)
    unet: UNet2DConditionModel
    vae: AutoencoderKL
    controller: FaceXController
    scheduler: Any  # DDIM, DPM-Solver++ or Euler: each has set_timesteps, timesteps, step, add_noise, ...

    def __init__(self, unet: UNet2DConditionModel, vae: AutoencoderKL, controller: FaceXController, scheduler):
        super().__init__()
        unet.requires_grad_(False)
        vae.requires_grad_(False)
        self.register_modules(unet=unet, vae=vae, controller=controller, scheduler=scheduler)
        self._cross_frame: CrossFrameAttention | None = None

    @classmethod
    def build(cls, config: FaceXConfig, seed: int = 0, scheduler: str = "ddim") -> FaceXPipeline:
        """Untrained weights of `config`'s sizes (tests, benchmarks, a base to start training from)."""
        config.check()
        torch.manual_seed(seed)
        unet, vae = UNet2DConditionModel(**config.unet), AutoencoderKL(**config.vae)
        return cls.assemble(unet, vae, FaceXController.from_unet(unet, config), scheduler)

    @classmethod
    def from_weights(cls, base_model: str | Path, checkpoint: str | Path, *, scheduler: str = "ddim",
                     device: str = "cpu", dtype: str = "fp32") -> FaceXPipeline:
        """A user's base model and FaceX checkpoint (render/facex/weights.py), moved to `device` in `dtype`."""
        from .weights import load_base, load_controller

        where, precision = torch_device_dtype(device, dtype)
        controller = load_controller(checkpoint)
        unet, vae = load_base(base_model, controller.facex_config)
        return cls.assemble(unet, vae, controller, scheduler).placed(where, precision)

    @classmethod
    def assemble(cls, unet, vae, controller: FaceXController, scheduler: str) -> FaceXPipeline:
        pipe = cls(unet.eval(), vae.eval(), controller.eval(), DDIMScheduler(**controller.facex_config.scheduler))
        pipe.use_scheduler(scheduler)
        return pipe

    def placed(self, device: torch.device, dtype: torch.dtype) -> FaceXPipeline:
        """On `device` in `dtype`; the VAE stays float32 under fp16 (SD's VAE overflows in half precision)."""
        from diffusers.utils import logging as diffusers_logging

        verbosity = diffusers_logging.get_verbosity()
        diffusers_logging.set_verbosity_error()  # its "keep modules in float32" notice: these models have none
        try:
            # ModelMixin.to is wrapped by functools.wraps, whose typeshed type is not a bound method
            self.unet.to(device, dtype)  # type: ignore[arg-type]
            self.controller.to(device, dtype)  # type: ignore[arg-type]
            self.vae.to(device, torch.float32 if dtype == torch.float16 else dtype)  # type: ignore[arg-type]
        finally:
            diffusers_logging.set_verbosity(verbosity)
        return self

    @property
    def facex_config(self) -> FaceXConfig:
        return self.controller.facex_config

    def use_scheduler(self, name: str) -> None:
        if name not in SCHEDULERS:
            raise ModelError(f"--scheduler {name}: choose one of {', '.join(SCHEDULERS)}")
        cls, extra = SCHEDULERS[name]
        self.scheduler = cls.from_config(self.scheduler.config, **extra)

    # ------------------------------------------------------------------------------------------ pieces

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """Scaled VAE latents (the distribution's mean) of images in [-1, 1], (B, 3, H, W)."""
        latents = self.vae.encode(images.to(self.vae.device, self.vae.dtype)).latent_dist.mean
        return (latents * self.vae.config["scaling_factor"]).to(self.unet.dtype)

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1], (B, 3, H, W), float32."""
        out = self.vae.decode((latents / self.vae.config["scaling_factor"]).to(self.vae.dtype)).sample
        return (out.float() / 2 + 0.5).clamp(0, 1)

    def predict_noise(self, latents: torch.Tensor, timestep: torch.Tensor, tokens: torch.Tensor,
                      condition: torch.Tensor) -> torch.Tensor:
        """The UNet's noise prediction with the controller's residuals added (training and sampling)."""
        down, mid = self.controller(latents, timestep, tokens, condition)
        return self.unet(latents, timestep, encoder_hidden_states=tokens, down_block_additional_residuals=down,
                         mid_block_additional_residual=mid).sample

    def _tensor(self, images: np.ndarray, *, signed: bool) -> torch.Tensor:
        """(B, H, W, C) uint8 or [0, 1] float -> (B, C, H, W) on the UNet's device ([-1, 1] if signed)."""
        x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float()
        if images.dtype == np.uint8:
            x = x / 255.0
        return (x * 2 - 1 if signed else x).to(self.unet.device)

    def _noise(self, noise: torch.Tensor | None, seeds: Sequence[int], shape: tuple[int, ...]) -> torch.Tensor:
        if noise is None:
            noise = torch.cat([track_noise(s, (1, *shape)) for s in seeds])
        return noise.to(self.unet.device, self.unet.dtype)

    def _timesteps(self, steps: int, strength: float) -> torch.Tensor:
        self.scheduler.set_timesteps(steps, device=self.unet.device)
        skip = steps - min(max(int(round(steps * strength)), 1), steps)
        order = getattr(self.scheduler, "order", 1)
        if hasattr(self.scheduler, "set_begin_index"):
            self.scheduler.set_begin_index(skip * order)
        return self.scheduler.timesteps[skip * order:]

    # ------------------------------------------------------------------------------------------ sampling

    @torch.no_grad()
    def __call__(
        self,
        condition: np.ndarray,
        identity: np.ndarray,
        appearance: np.ndarray,
        *,
        steps: int = 20,
        guidance_scale: float = 3.0,
        strength: float = 1.0,
        init: np.ndarray | None = None,
        seeds: Sequence[int] = (0,),
        noise: torch.Tensor | None = None,
        anchor: AnchorFrame | None = None,
    ) -> np.ndarray:
        """(B, H, W, 3) float32 in [0, 1] for B frames.

        condition (B, H, W, CONDITION_CHANNELS) in [0, 1]; identity (B, identity_dim); appearance and init
        (B, H, W, 3) uint8 at the model's resolution; seeds: one per frame unless `noise` (B or 1, 4, h, w)
        is given; anchor: cross-frame attention to this track's anchor (recorded by the first call)."""
        b, size = condition.shape[0], condition.shape[1]
        if not 0.0 < strength <= 1.0:
            raise ValueError(f"strength must be in (0, 1], got {strength}")
        if strength < 1.0 and init is None:
            raise ValueError("strength < 1 starts from an image: pass init")
        dtype = self.unet.dtype
        cond = self._tensor(condition, signed=False).to(dtype)
        ident = torch.from_numpy(np.asarray(identity, np.float32)).to(self.unet.device, dtype)
        tokens = self.controller.tokens(ident, self.encode(self._tensor(appearance, signed=True)))
        latent_shape = (int(self.unet.config["in_channels"]), size // self.facex_config.vae_factor,
                        size // self.facex_config.vae_factor)
        eps = self._noise(noise, list(seeds) if noise is None else [], latent_shape).expand(b, *latent_shape)
        timesteps = self._timesteps(steps, strength)
        if strength < 1.0 and init is not None:  # init is not None whenever strength < 1 (checked above)
            latents = self.scheduler.add_noise(self.encode(self._tensor(init, signed=True)), eps,
                                               timesteps[:1].repeat(b))
        else:
            latents = eps * self.scheduler.init_noise_sigma
        guided = guidance_scale > 1.0
        if guided:
            tokens, cond = torch.cat([torch.zeros_like(tokens), tokens]), torch.cat([cond, cond])
        if anchor is not None and self._cross_frame is None:
            self._cross_frame = CrossFrameAttention(self.unet)
        groups = 2 if guided else 1
        with self._cross_frame.using(anchor, groups) if self._cross_frame else nullcontext():
            for i, t in enumerate(timesteps):
                if self._cross_frame:
                    self._cross_frame.step = i
                x = torch.cat([latents] * groups)
                x = self.scheduler.scale_model_input(x, t)
                pred = self.predict_noise(x, t, tokens, cond)
                if guided:
                    uncond, cond_pred = pred.chunk(2)
                    pred = uncond + guidance_scale * (cond_pred - uncond)
                latents = self.scheduler.step(pred, t, latents).prev_sample
        return self.decode(latents).permute(0, 2, 3, 1).cpu().numpy()


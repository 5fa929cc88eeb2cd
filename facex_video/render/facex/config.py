"""FaceXConfig: the sizes of the FaceX model and of the Stable Diffusion base it steers.

`sd15()` is Stable Diffusion 1.5's own architecture (what users' weights have); `tiny()` is the same
architecture shrunk until a CPU runs it in milliseconds (the configs diffusers' own tests use), so every
code path is exercised without any downloaded weights. A controller records the base it was built on, so a
single-file base model (which carries no config) is rebuilt from the checkpoint's record.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from .condition import CONDITION_CHANNELS

SD15_UNET: dict[str, Any] = {
    "sample_size": 64, "in_channels": 4, "out_channels": 4, "layers_per_block": 2,
    "block_out_channels": [320, 640, 1280, 1280],
    "down_block_types": ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
    "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
    "cross_attention_dim": 768, "attention_head_dim": 8, "norm_num_groups": 32,
}
SD15_VAE: dict[str, Any] = {
    "sample_size": 512, "in_channels": 3, "out_channels": 3, "latent_channels": 4, "layers_per_block": 2,
    "block_out_channels": [128, 256, 512, 512], "down_block_types": ["DownEncoderBlock2D"] * 4,
    "up_block_types": ["UpDecoderBlock2D"] * 4, "norm_num_groups": 32, "scaling_factor": 0.18215,
}
SD15_SCHEDULER: dict[str, Any] = {
    "num_train_timesteps": 1000, "beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear",
    "clip_sample": False, "set_alpha_to_one": False, "steps_offset": 1,
}


@dataclass
class FaceXConfig:
    """Base UNet/VAE configs (diffusers keys), image resolution and the controller's own sizes.

    identity_dim: length of the identity embedding (dlib 128, ArcFace 512). identity_tokens and
    appearance_grid**2 appearance tokens replace the text embedding. condition_embedding: channels of the
    ControlNet condition encoder; it downsamples by 2**(len-1), which must equal the VAE's factor."""

    unet: dict[str, Any] = field(default_factory=lambda: dict(SD15_UNET))
    vae: dict[str, Any] = field(default_factory=lambda: dict(SD15_VAE))
    scheduler: dict[str, Any] = field(default_factory=lambda: dict(SD15_SCHEDULER))
    resolution: int = 512
    identity_dim: int = 128
    identity_tokens: int = 4
    appearance_grid: int = 4
    condition_channels: int = CONDITION_CHANNELS
    condition_embedding: tuple[int, ...] = (16, 32, 96, 256)

    @classmethod
    def sd15(cls, **overrides: Any) -> FaceXConfig:
        return cls(**overrides)

    @classmethod
    def tiny(cls, **overrides: Any) -> FaceXConfig:
        unet = {
            "sample_size": 16, "in_channels": 4, "out_channels": 4, "layers_per_block": 1,
            "block_out_channels": [16, 32], "down_block_types": ["CrossAttnDownBlock2D", "DownBlock2D"],
            "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D"], "cross_attention_dim": 32,
            "attention_head_dim": 4, "norm_num_groups": 8,
        }
        vae = {
            "sample_size": 64, "in_channels": 3, "out_channels": 3, "latent_channels": 4, "layers_per_block": 1,
            "block_out_channels": [16, 32, 32], "down_block_types": ["DownEncoderBlock2D"] * 3,
            "up_block_types": ["UpDecoderBlock2D"] * 3, "norm_num_groups": 8, "scaling_factor": 0.18215,
        }
        base = dict(unet=unet, vae=vae, resolution=64, identity_tokens=2, appearance_grid=2,
                    condition_embedding=(8, 16, 32))
        return cls(**{**base, **overrides})

    @property
    def vae_factor(self) -> int:
        return 2 ** (len(self.vae["block_out_channels"]) - 1)

    def check(self) -> None:
        """Reject sizes that cannot work together, before any weights are allocated."""
        if 2 ** (len(self.condition_embedding) - 1) != self.vae_factor:
            raise ValueError(f"condition_embedding {self.condition_embedding} downsamples by "
                             f"{2 ** (len(self.condition_embedding) - 1)}, the VAE by {self.vae_factor}")
        if self.resolution % (self.vae_factor * 2 ** (len(self.unet["block_out_channels"]) - 1)):
            raise ValueError(f"resolution {self.resolution} is not divisible by the VAE and UNet downsampling")

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["condition_embedding"] = list(self.condition_embedding)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FaceXConfig:
        return cls(**{**data, "condition_embedding": tuple(data["condition_embedding"])})

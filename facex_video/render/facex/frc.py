"""The Facial Representation Controller (FRC): how FaceX steers a frozen Stable Diffusion UNet.

Two parts, one module (one checkpoint):
- a tokenizer that turns the identity embedding and the identity donor's appearance into tokens of the
  UNet's cross-attention width. They take the place of CLIP's text embedding, so no text encoder exists
  anywhere; all-zero tokens are the "unconditional" input of classifier-free guidance. Appearance is read
  from the frozen VAE's latent of the donor crop (already a compact description of colour and texture),
  pooled to a grid of appearance_grid**2 tokens.
- a ControlNet-style controller: a copy of the UNet's encoder (initialised from its weights) that reads the
  spatial condition (render/facex/condition.py) and adds residuals to the UNet's skip connections through
  zero-initialised convolutions, so an untrained controller leaves the base model's output unchanged.
"""

from __future__ import annotations

from typing import Any

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.controlnets.controlnet import (
    ControlNetModel,  # not `from diffusers`: see render/facex/pipeline.py
)
from diffusers.models.modeling_utils import ModelMixin
from diffusers.models.unets.unet_2d_condition import UNet2DConditionModel
from torch import nn

from .config import FaceXConfig


def plain_config(config: Any) -> dict[str, Any]:
    """A diffusers config as a JSON-ready dict, without its private bookkeeping keys (_class_name, ...)."""
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in dict(config).items() if not k.startswith("_")}


class FaceXController(ModelMixin, ConfigMixin):
    """Identity/appearance tokens plus a condition-fed UNet-encoder copy (module docstring).

    `base` records the FaceXConfig (base UNet/VAE configs, resolution) the controller was built for."""

    config_name = "config.json"  # type: ignore[assignment]  # ConfigMixin declares it as None, not str | None

    @register_to_config
    def __init__(self, controlnet_config: dict[str, Any], base: dict[str, Any], identity_dim: int = 128,
                 identity_tokens: int = 4, appearance_grid: int = 4, latent_channels: int = 4):
        super().__init__()
        width = int(controlnet_config["cross_attention_dim"])
        self.controlnet = ControlNetModel(**controlnet_config)
        self.identity_proj = nn.Linear(identity_dim, identity_tokens * width)
        self.appearance = nn.Sequential(
            nn.Conv2d(latent_channels, width, 3, padding=1), nn.SiLU(), nn.Conv2d(width, width, 3, padding=1),
            nn.AdaptiveAvgPool2d(appearance_grid),
        )
        self.positions = nn.Parameter(torch.zeros(1, identity_tokens + appearance_grid**2, width))
        self.norm = nn.LayerNorm(width)

    @classmethod
    def from_unet(cls, unet: UNet2DConditionModel, config: FaceXConfig) -> FaceXController:
        """A fresh controller whose encoder copy starts as `unet`'s encoder (zero-initialised outputs)."""
        config.check()
        copy = ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=config.condition_embedding,
                                         conditioning_channels=config.condition_channels)
        controller = cls(controlnet_config=plain_config(copy.config), base=config.to_dict(),
                         identity_dim=config.identity_dim, identity_tokens=config.identity_tokens,
                         appearance_grid=config.appearance_grid,
                         latent_channels=int(config.vae["latent_channels"]))
        controller.controlnet.load_state_dict(copy.state_dict())
        return controller

    @property
    def facex_config(self) -> FaceXConfig:
        return FaceXConfig.from_dict(dict(self.config["base"]))

    def tokens(self, identity: torch.Tensor, appearance_latents: torch.Tensor) -> torch.Tensor:
        """(B, identity_tokens + appearance_grid**2, width) from identity (B, identity_dim) and the donor's
        scaled VAE latents (B, 4, h, w)."""
        b = identity.shape[0]
        width = self.positions.shape[-1]
        ident = self.identity_proj(identity).view(b, -1, width)
        look = self.appearance(appearance_latents).flatten(2).transpose(1, 2)
        return self.norm(torch.cat([ident, look], dim=1) + self.positions)

    def forward(self, sample: torch.Tensor, timestep: torch.Tensor | float, tokens: torch.Tensor,
                condition: torch.Tensor, scale: float = 1.0) -> tuple[tuple[torch.Tensor, ...], torch.Tensor]:
        """The residuals for the UNet's down blocks and mid block, for the noisy latents `sample`."""
        down, mid = self.controlnet(sample, timestep, encoder_hidden_states=tokens, controlnet_cond=condition,
                                    conditioning_scale=scale, return_dict=False)
        return down, mid

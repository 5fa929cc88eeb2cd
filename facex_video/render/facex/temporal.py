"""Temporal consistency of the diffusion renderer along one face track (docs/design.md §3).

Three mechanisms, each removing one source of frame-to-frame change that the footage does not have:
- shared noise: every frame of a track starts from the same initial noise (drawn once from the track's
  seed), so a still face is denoised along the same path in every frame;
- cross-frame attention: in the UNet's self-attention layers every frame also attends to the keys and
  values of an anchor frame (the track's first), so texture, colour and lighting are copied from one frame
  rather than re-invented per frame (the Text2Video-Zero / Tune-A-Video recipe; each frame keeps its own
  keys too, so a moving face is not forced onto the anchor's layout). The anchor's attention inputs are
  recorded per layer and denoising step while it is rendered; later frames read them. Memory: for SD 1.5 at
  512 px, 20 steps and guidance, about 1 GB per track in fp16 (16 layers, up to 4096 tokens x 320 channels);
- smoothed conditions: the assembled landmarks and gaze go through One Euro filters before the condition
  is drawn, so landmark jitter does not become shimmering geometry.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch
from diffusers.models.attention_processor import Attention, AttnProcessor2_0

from ...faces.smoothing import LandmarkSmoother, OneEuroFilter
from ...ford.representation import Gaze

if TYPE_CHECKING:
    from diffusers.models.unets.unet_2d_condition import UNet2DConditionModel

NOMINAL_FPS = 30.0  # renderers see frame counts, not timestamps: filters run on this clock


def track_noise(seed: int, shape: tuple[int, ...]) -> torch.Tensor:
    """The track's initial latent noise, the same on every device (drawn on the CPU, float32)."""
    return torch.randn(shape, generator=torch.Generator("cpu").manual_seed(int(seed)), dtype=torch.float32)


@dataclass
class AnchorFrame:
    """One track's anchor: its self-attention inputs by (layer, denoising step), once it has been rendered."""

    features: dict[tuple[str, int], torch.Tensor] = field(default_factory=dict)


class CrossFrameProcessor:
    """A self-attention processor whose keys/values also come from the anchor frame; plain otherwise."""

    def __init__(self, name: str, control: CrossFrameAttention):
        self.name = name
        self.control = control
        self.plain = AttnProcessor2_0()

    def __call__(self, attn: Attention, hidden_states: torch.Tensor, encoder_hidden_states=None,
                 attention_mask=None, temb=None, *args, **kwargs) -> torch.Tensor:
        c = self.control
        if c.anchor is None or encoder_hidden_states is not None or hidden_states.ndim != 3:
            return self.plain(attn, hidden_states, encoder_hidden_states, attention_mask, temb)
        b, length, width = hidden_states.shape
        frames = hidden_states.view(c.groups, b // c.groups, length, width)
        key = (self.name, c.step)
        if c.recording:  # the batch's first frame is the anchor; it is stored for the frames after it
            c.anchor.features[key] = frames[:, :1].detach().clone()
        anchor = c.anchor.features[key].to(frames.dtype).expand_as(frames)
        keys_values = torch.cat([frames, anchor], dim=2).reshape(b, 2 * length, width)
        return self.plain(attn, hidden_states, keys_values, attention_mask, temb)


class CrossFrameAttention:
    """Installs CrossFrameProcessor on every self-attention layer of a UNet; `using` switches it on per call."""

    def __init__(self, unet: UNet2DConditionModel):
        self.anchor: AnchorFrame | None = None
        self.recording = False
        self.step = 0
        self.groups = 1
        processors = {}
        for name, proc in unet.attn_processors.items():
            processors[name] = CrossFrameProcessor(name, self) if name.endswith("attn1.processor") else proc
        # diffusers types the argument as a closed union of its own processor classes; any callable works
        unet.set_attn_processor(processors)  # type: ignore[arg-type]

    @contextmanager
    def using(self, anchor: AnchorFrame | None, groups: int) -> Iterator[None]:
        """Within the block, attend to `anchor` (recording it first if it is still empty); None: off.
        groups: how many guidance branches the batch stacks (2 with classifier-free guidance)."""
        self.anchor, self.groups, self.step = anchor, groups, 0
        self.recording = anchor is not None and not anchor.features
        try:
            yield
        finally:
            self.anchor, self.recording = None, False


class ConditionSmoother:
    """One Euro filters over the assembled landmarks and gaze of one track, on a nominal frame clock."""

    def __init__(self) -> None:
        self._landmarks = LandmarkSmoother()
        self._gaze = OneEuroFilter()

    def __call__(self, landmarks: np.ndarray, gaze: Gaze, frame: int) -> tuple[np.ndarray, Gaze]:
        t = frame / NOMINAL_FPS
        smooth = self._landmarks(landmarks, t)
        g = self._gaze(np.array([gaze.right_yaw, gaze.right_pitch, gaze.left_yaw, gaze.left_pitch]), t)
        return smooth, Gaze(*(float(v) for v in g))

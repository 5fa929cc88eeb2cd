"""The `facex` backend: the paper's renderer, FaceXPipeline (render/facex/pipeline.py) behind the Renderer interface.

Per face: the assembled geometry (smoothed along the track), gaze and the canvas around the face become
the condition (render/facex/condition.py); the identity embedding and the donor's crop become the tokens; the
pipeline generates the face at the model's resolution, which is scaled to the 512 px crop and used inside
the regenerated area only (feathered), the canvas elsewhere, bit for bit. Which area: the old and new
face outlines for every task; plus both hair masks when the hair changes (headswap, hairswap; hairswap
regenerates the hair alone); only the given mask for inpaint.

Along a track (TrackState): one noise tensor from the renderer's seed and the track's, shared by all its
frames; its first frame is the anchor of cross-frame attention; conditions pass One Euro filters
(render/facex/temporal.py). `strength` < 1 starts each frame from the geometric renderer's result (SDEdit).
Weights: `--base-model` and `--facex-checkpoint` (render/facex/weights.py); nothing is downloaded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from ...core.errors import ModelError
from ...faces.blend import dilate, feathered_inside
from ...tasks.assemble import AssembledFace
from ...tasks.table import TABLE
from ..base import TrackState

if TYPE_CHECKING:
    import torch

    from .pipeline import FaceXPipeline
    from .temporal import AnchorFrame, ConditionSmoother

TASKS = frozenset(TABLE)
FEATHER_SIGMA = 4.0  # px in the 512 crop: alpha rises from 0 at the area's edge to 1 at 3 sigma (12 px) inside
MASK_MARGIN_PX = 14  # a given mask (inpaint, hair) is grown by this: alpha is 1 up to 2 px past the mask


@dataclass(frozen=True)
class FaceXOptions:
    """What `--backend facex` is given: weights, sampler and where it runs. The fields with a "flag" are its
    command-line options (render/registry.py; "limits": their range, checked by check_options); the others
    are for measurements."""

    base_model: str | Path | None = field(default=None, metadata={
        "flag": "--base-model", "file": True, "metavar": "PATH",
        "help": "Stable Diffusion 1.5: a diffusers folder or one .safetensors file"})
    checkpoint: str | Path | None = field(default=None, metadata={
        "flag": "--facex-checkpoint", "file": True, "metavar": "PATH",
        "help": "a FaceX checkpoint folder (written by jobs/train.py)"})
    steps: int = field(default=20, metadata={
        "flag": "--steps", "limits": {"lo": 1}, "help": "denoising steps, at least 1 (default 20)"})
    strength: float = field(default=1.0, metadata={
        "flag": "--strength", "limits": {"lo": 0.0, "hi": 1.0, "lo_open": True},
        "help": "above 0, at most 1: 1 = generate from noise; below 1 start from the geometric render (SDEdit) "
                "(default 1)"})
    guidance_scale: float = field(default=3.0, metadata={
        "flag": "--guidance", "limits": {"lo": 0.0}, "help": "classifier-free guidance scale, 0 or more (default 3)"})
    scheduler: str = field(default="ddim", metadata={
        "flag": "--scheduler", "choices": ("ddim", "dpm++", "euler"), "help": "sampler (default ddim)"})
    seed: int = field(default=0, metadata={
        "flag": "--seed", "help": "noise seed; each face track derives its own (default 0)"})
    device: str = field(default="cpu", metadata={"flag": "--device", "help": "cpu, cuda or cuda:N (default cpu)"})
    dtype: str = field(default="fp32", metadata={
        "flag": "--dtype", "choices": ("fp32", "fp16", "bf16"), "help": "precision (fp16: cuda only)"})
    cross_frame: bool = True  # the temporal mechanisms (render/facex/temporal.py), switchable for measurements
    smooth: bool = True
    shared_noise: bool = True


@dataclass
class _Track:
    """The renderer's memory of one track (render/facex/temporal.py)."""

    seed: int
    noise: torch.Tensor
    anchor: AnchorFrame | None
    smoother: ConditionSmoother | None
    geometric: TrackState = field(default_factory=lambda: TrackState(0))  # the SDEdit init's own state


def regenerated(assembled: AssembledFace, landmarks: np.ndarray) -> np.ndarray:
    """bool (512, 512): the area the result is generated in (module docstring)."""
    from .condition import regenerate_area

    masks = assembled.canvas_masks
    if assembled.task.draws == "mask" and assembled.inpaint_mask is not None:
        return dilate(assembled.inpaint_mask, MASK_MARGIN_PX)
    hair = masks["hair"] | assembled.texture_masks["hair"] if assembled.hair == "texture" else None
    if assembled.task.draws == "hair":
        return dilate(hair & ~masks["face_oval"], MASK_MARGIN_PX)
    return regenerate_area(landmarks, masks["face_oval"], hair)


Options = FaceXOptions  # the name render/registry.py looks for


def load(task: str, options: FaceXOptions) -> FaceXRenderer:
    """The renderer, its weights loaded (in each worker)."""
    return FaceXRenderer(options)


def check(task: str, options: FaceXOptions) -> None:
    """What can be checked before any weights load (they load in each worker): both paths given and there."""
    from .weights import BASE_FLAG, CHECKPOINT_FLAG, NEEDS_BOTH, check_weights

    if options.base_model is None or options.checkpoint is None:
        raise ModelError(NEEDS_BOTH)
    for flag, path in ((BASE_FLAG, options.base_model), (CHECKPOINT_FLAG, options.checkpoint)):
        if not Path(path).exists():
            raise ModelError(f"{flag} {path}: no such file or folder")
    if task not in TASKS:
        raise ModelError(f"--backend facex renders only {', '.join(sorted(TASKS))}, not {task}")
    check_options(options)
    check_weights(options.base_model, options.checkpoint)


def check_options(options: FaceXOptions) -> None:
    """The sampler's numbers in range (OptionError naming the flag)."""
    from ...core.errors import OptionError
    from ...core.options import number

    if isinstance(options.steps, bool) or not isinstance(options.steps, int) or options.steps < 1:
        raise OptionError("--steps", f"must be an integer, at least 1, got {options.steps!r}")
    number("--strength", options.strength, lo=0.0, hi=1.0, lo_open=True)
    number("--guidance", options.guidance_scale, lo=0.0)


class FaceXRenderer:
    """FaceX diffusion rendering of every task; `pipeline` given directly is for tests and benchmarks."""

    name = "facex"
    tasks = TASKS
    needs_identity = True  # every face, the edited footage's own included, is conditioned on its embedding

    def __init__(self, options: FaceXOptions, pipeline: FaceXPipeline | None = None):
        from .pipeline import FaceXPipeline
        from .weights import NEEDS_BOTH

        if pipeline is None:
            if options.base_model is None or options.checkpoint is None:
                raise ModelError(NEEDS_BOTH)
            pipeline = FaceXPipeline.from_weights(options.base_model, options.checkpoint, scheduler=options.scheduler,
                                                  device=options.device, dtype=options.dtype)
        else:
            pipeline.use_scheduler(options.scheduler)
        if not 0.0 < options.strength <= 1.0:
            raise ModelError(f"--strength {options.strength}: must be in (0, 1] (1 = generate from noise)")
        self.options = options
        self.pipe = pipeline
        self.size = pipeline.facex_config.resolution
        self.identity_dim = pipeline.facex_config.identity_dim
        self._geometric = None
        if options.strength < 1.0:
            from ..geometric import GeometricRenderer

            self._geometric = GeometricRenderer()

    def _track(self, state: TrackState) -> _Track:
        from .temporal import AnchorFrame, ConditionSmoother, track_noise

        # each render of a track's frame 0 starts the memory afresh: a caller that renders it twice gets the
        # same picture, and the anchor is the frame the output shows
        if state.memory is None or state.frames == 0:
            seed = int(np.random.SeedSequence([self.options.seed, state.seed]).generate_state(1)[0])
            latent = self.size // self.pipe.facex_config.vae_factor
            noise = track_noise(seed, (1, int(self.pipe.unet.config["in_channels"]), latent, latent))
            state.memory = _Track(seed, noise, AnchorFrame() if self.options.cross_frame else None,
                                           ConditionSmoother() if self.options.smooth else None,
                                           TrackState(state.track_id, state.seed))
        memory: _Track = state.memory
        return memory

    def identity(self, assembled: AssembledFace) -> np.ndarray:
        """The identity embedding, checked against what the checkpoint was trained on."""
        embedding = np.asarray(assembled.identity.embedding, np.float32).ravel()
        if embedding.size != self.identity_dim:
            raise ModelError(f"--facex-checkpoint was trained on {self.identity_dim}-D identity embeddings, the "
                             f"identity is {embedding.size}-D from {assembled.identity.encoder or 'no encoder'}: "
                             "pass the --identity-model it was trained with")
        return embedding

    def _small(self, rgb: np.ndarray) -> np.ndarray:
        return cv2.resize(rgb, (self.size, self.size), interpolation=cv2.INTER_AREA)

    def render(self, assembled: AssembledFace, track_state: TrackState) -> tuple[np.ndarray, np.ndarray]:
        """(crop uint8 (512, 512, 3), alpha float32 (512, 512)): generated inside the regenerated area."""
        from .condition import condition_image
        from .temporal import track_noise

        track = self._track(track_state)
        landmarks, gaze = assembled.landmarks, assembled.gaze
        if track.smoother is not None:
            landmarks, gaze = track.smoother(landmarks, gaze, track_state.frames)
        area = regenerated(assembled, landmarks)
        canvas = assembled.canvas_crop
        condition = condition_image(landmarks, gaze, canvas, area, self.size)
        init = None
        if self._geometric is not None:
            init = self._small(self._geometric.render(assembled, track.geometric)[0])[None]
        o = self.options
        noise = track.noise if o.shared_noise else track_noise(track.seed + track_state.frames, track.noise.shape)
        image = self.pipe(condition[None], self.identity(assembled)[None], self._small(assembled.texture_crop)[None],
                          steps=o.steps, guidance_scale=o.guidance_scale, strength=o.strength, init=init,
                          noise=noise, anchor=track.anchor)[0]
        full = cv2.resize((image * 255).round().astype(np.uint8), canvas.shape[1::-1], interpolation=cv2.INTER_CUBIC)
        alpha = feathered_inside(area, FEATHER_SIGMA)  # exactly 0 outside the area: the canvas stays bit for bit
        crop = np.where((alpha > 0)[..., None], full, canvas)
        return crop, alpha.astype(np.float32)

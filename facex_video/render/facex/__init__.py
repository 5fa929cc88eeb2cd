"""The `facex` backend: the paper's diffusion renderer (a controller steering a frozen Stable Diffusion 1.5),
its configuration, conditions, pipeline, temporal mechanisms, weights and trainer. The renderer and its
options are in renderer.py; render/registry.py reaches them through this package.

Nothing here may reach a model hub: the Hugging Face libraries this package imports are put in offline mode
here, before any of its modules first imports them (a user's weights are local files)."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

from .renderer import FaceXOptions, FaceXRenderer, Options, check, load  # noqa: E402  (after the offline switch)

__all__ = ["FaceXOptions", "FaceXRenderer", "Options", "check", "load"]

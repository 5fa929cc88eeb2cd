"""The renderer for `--backend`: one entry per backend, each imported only when chosen (the facex backend
pulls in diffusers and torch's model code)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import Renderer

if TYPE_CHECKING:
    from .facex import FaceXOptions

BACKENDS = ("geometric", "inswapper", "facex")


def load_renderer(backend: str, task: str, *, swapper_model: str | None = None,
                  facex: FaceXOptions | None = None) -> Renderer:
    """The renderer for `--backend`, checked against the task it must render (facex: its options)."""
    from ..errors import ModelError

    if backend == "geometric":
        from .geometric import GeometricRenderer

        renderer: Renderer = GeometricRenderer()
    elif backend == "inswapper":
        if swapper_model is None:
            raise ModelError("--backend inswapper needs --swapper-model PATH (insightface's inswapper_128.onnx)")
        from .inswapper import InswapperRenderer

        renderer = InswapperRenderer(swapper_model)
    elif backend == "facex":
        from .facex import FaceXOptions, FaceXRenderer

        renderer = FaceXRenderer(facex or FaceXOptions())
    else:
        raise ValueError(f"unknown backend {backend!r}; backends are {', '.join(BACKENDS)}")
    if task not in renderer.tasks:
        raise ModelError(f"--backend {backend} renders only {', '.join(sorted(renderer.tasks))}, not {task}")
    return renderer

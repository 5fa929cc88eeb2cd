"""The one renderer interface: `render(assembled, track_state) -> (crop, alpha)`.

Every backend (geometric, inswapper, facex) takes the same AssembledFace (fors/assemble.py), works in the
canvas face's aligned 512x512 crop and returns the edited crop (RGB uint8) and an alpha (float32 in
[0, 1]) saying where the crop replaces the canvas. The compose stage pastes it back into the frame.
TrackState carries what a backend keeps along one face track (colour statistics, noise seed, anchor frame)
so results stay temporally consistent; a new track starts a new state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from ..fors.assemble import AssembledFace

if TYPE_CHECKING:
    from .facex import FaceXOptions


@dataclass
class TrackState:
    """Per-track memory of a renderer; `frames` counts the frames rendered so far on this track."""

    track_id: int
    seed: int = 0
    frames: int = 0
    data: dict[str, Any] = field(default_factory=dict)


class Renderer(Protocol):
    """A rendering backend. `tasks` lists the tasks it can render (e.g. inswapper: swap only)."""

    name: str
    tasks: frozenset[str]

    def render(self, assembled: AssembledFace, track_state: TrackState) -> tuple[np.ndarray, np.ndarray]:
        ...


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

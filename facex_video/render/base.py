"""The one renderer interface: `render(assembled, track_state) -> (crop, alpha)`.

Every backend (geometric, inswapper, facex) takes the same AssembledFace (tasks/assemble.py), works in the
canvas face's aligned 512x512 crop and returns the edited crop (RGB uint8) and an alpha (float32 in
[0, 1]) saying where the crop replaces the canvas. The compose stage pastes it back into the frame.
TrackState carries what a backend keeps along one face track (colour statistics, noise seed, anchor frame)
so results stay temporally consistent; a new track starts a new state. Its `memory` belongs to the renderer
alone (the edit loop keeps its own per-track values beside it, edit/face_edit.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from ..tasks.assemble import AssembledFace


@dataclass
class TrackState:
    """Per-track memory of a renderer; `frames` counts the frames rendered so far on this track. memory:
    whatever the renderer keeps (its own type; None on a new track). keyframe: whether the frame being
    rendered is one of the track's keyframes (the edit loop's, 0.2 s apart), where analysis that holds for
    a shot and is kept in memory is redone."""

    track_id: int
    seed: int = 0
    frames: int = 0
    memory: Any = None
    keyframe: bool = True


class Renderer(Protocol):
    """A rendering backend. `tasks` lists the tasks it can render (e.g. inswapper: swap only).
    needs_identity: every face it renders, the footage's own included, needs its identity embedding."""

    name: str
    tasks: frozenset[str]
    needs_identity: bool

    def render(self, assembled: AssembledFace, track_state: TrackState) -> tuple[np.ndarray, np.ndarray]:
        ...


def check_renders(backend_name: str, renderer: Renderer, task: str) -> None:
    """ModelError when a backend cannot render `task`."""
    from ..core.errors import ModelError

    if task not in renderer.tasks:
        raise ModelError(f"--backend {backend_name} renders only {', '.join(sorted(renderer.tasks))}, not {task}")

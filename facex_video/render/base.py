"""The one renderer interface: `render(assembled, track_state) -> (crop, alpha)`.

Every backend (geometric, inswapper, facex) takes the same AssembledFace (tasks/assemble.py), works in the
canvas face's aligned 512x512 crop and returns the edited crop (RGB uint8) and an alpha (float32 in
[0, 1]) saying where the crop replaces the canvas. The compose stage pastes it back into the frame.
TrackState carries what a backend keeps along one face track (colour statistics, noise seed, anchor frame)
so results stay temporally consistent; a new track starts a new state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from ..tasks.assemble import AssembledFace


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

"""The geometric backend's renderer: each task to the part of the package that draws what it changes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...tasks.assemble import AssembledFace
from ...tasks.table import TABLE
from ..base import TrackState
from .face import render_face
from .hair import render_hair
from .inpaint import render_inpaint

TASKS = frozenset(TABLE)


class GeometricRenderer:
    """Mesh warp + SH relighting + region blending of the identity texture (the package's docstring)."""

    name = "geometric"
    tasks = TASKS
    needs_identity = False  # identity is the donor's pixels, not an embedding

    def render(self, assembled: AssembledFace, track_state: TrackState) -> tuple[np.ndarray, np.ndarray]:
        """(crop uint8 (512, 512, 3), alpha float32 (512, 512)): the canvas crop with the edited face in it
        and where it differs from the canvas (0 = the canvas pixel, exactly)."""
        if assembled.task.draws == "mask":
            return render_inpaint(assembled)
        if assembled.task.draws == "hair":
            return render_hair(assembled)
        return render_face(assembled, track_state)


@dataclass(frozen=True)
class Options:
    """The geometric backend takes no options (render/registry.py)."""


def check(task: str, options: Options) -> None:
    """Nothing to load, and every task renders: nothing can fail up front."""


def load(task: str, options: Options) -> GeometricRenderer:
    return GeometricRenderer()

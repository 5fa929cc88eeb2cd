"""Every FaceX task is one record in one table: which input each component of the representation comes
from, which input streams, and what the task asks of the command line and of the renderers.

Callers read a record's fields; nothing outside this module spells a task's name to decide what to do
(tests/test_architecture.py checks). Roles name inputs: "source" (the identity donor or the portrait to
animate), "target" (the footage being edited), "driving" (the performance that drives a reenactment). The
"background" component's role is the canvas: the input whose frames the result is composed onto and whose
timeline the output follows ("driving" supplies the timeline of a reenactment).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

COMPONENTS = ("identity", "expression", "pose", "gaze", "lighting", "hair", "background")
ROLES = ("source", "target", "driving")

_T = "target"
_S = "source"
_D = "driving"


def _row(identity, expression, pose, gaze, lighting, hair, background) -> Mapping[str, str]:
    roles = (identity, expression, pose, gaze, lighting, hair, background)
    return MappingProxyType(dict(zip(COMPONENTS, roles, strict=True)))


@dataclass(frozen=True)
class Task:
    """One task. recipe: component -> role (None: chosen per run, from `--take`). stream_role: the footage
    input, whose frames and timeline the output has. needs_source: a still `--source` image is required.
    draws: what a renderer regenerates (the face, only the hair, or a masked area). texture: the component
    whose input supplies the drawn face's pixels. identity_conditioned: renderers condition on the identity
    (not when the face stays the target's own and only its hair changes). takes_edits / takes_mask /
    takes_components: the task's own options (numeric deltas; a region or mask; `--take`)."""

    name: str
    help: str
    recipe: Mapping[str, str] | None
    stream_role: str = _T
    needs_source: bool = False
    draws: Literal["face", "hair", "mask"] = "face"
    texture: str = "identity"
    identity_conditioned: bool = True
    takes_edits: bool = False
    takes_mask: bool = False
    takes_components: bool = False

    def components(self, take: Mapping[str, str] | None = None) -> dict[str, str]:
        """The component -> role map; for a task without a fixed recipe, `take` names a role per component
        (the others: target).

        >>> TABLE["headswap"].components()["hair"]
        'source'
        """
        if self.recipe is not None:
            return dict(self.recipe)
        if not take:
            raise ValueError(f"{self.name} needs --take COMPONENT=INPUT,... (e.g. identity=a.jpg,expression=b.mp4)")
        unknown = set(take) - set(COMPONENTS)
        if unknown:
            raise ValueError(f"unknown component(s) {sorted(unknown)}; components are {', '.join(COMPONENTS)}")
        return {c: take.get(c, _T) for c in COMPONENTS}


TABLE: Mapping[str, Task] = MappingProxyType({t.name: t for t in (
    Task("swap", "put the source's face (identity) on every face of the target",
         _row(_S, _T, _T, _T, _T, _T, _T), needs_source=True),
    Task("headswap", "put the source's head (identity and hair) on the target",
         _row(_S, _T, _T, _T, _T, _S, _T), needs_source=True),
    Task("hairswap", "give the target the source's hair",
         _row(_T, _T, _T, _T, _T, _S, _T), needs_source=True, draws="hair", texture="hair",
         identity_conditioned=False),
    Task("reenact", "animate the source portrait with the driving video's expression, pose and gaze",
         _row(_S, _D, _D, _D, _S, _S, _S), stream_role=_D, needs_source=True),
    Task("edit", "change pose and gaze of the target's faces by numbers",
         _row(_T, _T, _T, _T, _T, _T, _T), takes_edits=True),
    Task("inpaint", "regenerate a region of the target's faces",
         _row(_T, _T, _T, _T, _T, _T, _T), draws="mask", takes_mask=True),
    Task("mix", "any component from any input: --take identity=a.jpg,gaze=b.jpg", None, takes_components=True),
)})
# the tasks whose recipe is fixed (mix takes its own per run)
TASKS: Mapping[str, Task] = MappingProxyType({n: t for n, t in TABLE.items() if t.recipe is not None})


def task(name: str | Task) -> Task:
    """The record of a task, by name (a record is returned as it is)."""
    if isinstance(name, Task):
        return name
    if name not in TABLE:
        raise ValueError(f"unknown task {name!r}; tasks are {', '.join(TABLE)}")
    return TABLE[name]


def recipe(name: str, take: Mapping[str, str] | None = None) -> dict[str, str]:
    """The component -> role map of task `name` (see Task.components)."""
    return task(name).components(take)


def canvas_role(components: Mapping[str, str]) -> str:
    """The input whose frames are composed onto: where the background comes from."""
    return components["background"]


def changes_identity(components: Mapping[str, str]) -> bool:
    """Whether the face put on the canvas is someone else's: its identity comes from another input than the
    canvas (swap, headswap, a mix taking the identity from elsewhere)."""
    return components["identity"] != components["background"]

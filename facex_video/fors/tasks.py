"""Every FaceX task is a recipe: which input each component of the representation comes from.

One table (DESIGN.md section 5), not a class per task. Roles name inputs: "source" (the identity donor or
the portrait to animate), "target" (the footage being edited), "driving" (the performance that drives a
reenactment). The "background" component's role is the canvas: the input whose frames the result is
composed onto and whose timeline the output follows ("driving" supplies the timeline of a reenactment).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

COMPONENTS = ("identity", "expression", "pose", "gaze", "lighting", "hair", "background")
ROLES = ("source", "target", "driving")

_T = "target"
_S = "source"
_D = "driving"


def _row(identity, expression, pose, gaze, lighting, hair, background) -> Mapping[str, str]:
    roles = (identity, expression, pose, gaze, lighting, hair, background)
    return MappingProxyType(dict(zip(COMPONENTS, roles, strict=True)))


TASKS: Mapping[str, Mapping[str, str]] = MappingProxyType({
    "swap": _row(_S, _T, _T, _T, _T, _T, _T),
    "headswap": _row(_S, _T, _T, _T, _T, _S, _T),
    "hairswap": _row(_T, _T, _T, _T, _T, _S, _T),
    "reenact": _row(_S, _D, _D, _D, _S, _S, _S),
    "edit": _row(_T, _T, _T, _T, _T, _T, _T),  # plus numeric deltas on expression, pose and gaze
    "inpaint": _row(_T, _T, _T, _T, _T, _T, _T),  # plus a mask whose area is regenerated
})


def recipe(task: str, take: Mapping[str, str] | None = None) -> dict[str, str]:
    """The component -> role map of `task`; for "mix", `take` names a role per component (others: target).

    >>> recipe("headswap")["hair"]
    'source'
    """
    if task == "mix":
        if not take:
            raise ValueError("mix needs --take COMPONENT=INPUT,... (e.g. identity=a.jpg,expression=b.mp4)")
        unknown = set(take) - set(COMPONENTS)
        if unknown:
            raise ValueError(f"unknown component(s) {sorted(unknown)}; components are {', '.join(COMPONENTS)}")
        return {c: take.get(c, _T) for c in COMPONENTS}
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; tasks are {', '.join([*TASKS, 'mix'])}")
    return dict(TASKS[task])


def canvas_role(components: Mapping[str, str]) -> str:
    """The input whose frames are composed onto: where the background comes from."""
    return components["background"]

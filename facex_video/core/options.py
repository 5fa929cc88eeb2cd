"""The documented ranges of numeric options, checked the same way by the CLI (argparse types) and the Python
API (api.edit_spec, RunConfig): a value that is not a finite number in its range is an OptionError naming
the flag, before any work."""

from __future__ import annotations

import math
import numbers

from .errors import OptionError

POSE_LIMIT_DEG = 45.0  # --yaw / --pitch / --roll: degrees added to the head pose, each within +-45
GAZE_LIMIT_DEG = 30.0  # --gaze YAW,PITCH: degrees added to both eyes, each within +-30
WEIGHT_RANGE = (0.0, 1.0)  # blendshape targets (--smile, --blink, --jaw-open, --expr NAME=VALUE)


def parse_number(flag: str, text: str) -> float:
    """A float from the command line; OptionError for text that is not a number."""
    try:
        return float(text)
    except (TypeError, ValueError):
        raise OptionError(flag, f"expected a number, got {text!r}") from None


def number(flag: str, value: float, *, lo: float | None = None, hi: float | None = None, lo_open: bool = False,
           unit: str = "") -> float:
    """`value` as a float if it is finite and within [lo, hi] ((lo, hi] when lo_open); else OptionError."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise OptionError(flag, f"expected a number, got {value!r}")
    value = float(value)
    unit = f" {unit}" if unit else ""
    if not math.isfinite(value):
        raise OptionError(flag, f"must be a finite number, got {value}")
    if lo is not None and hi is not None and not lo_open and not lo <= value <= hi:
        raise OptionError(flag, f"must be within {lo:g} to {hi:g}{unit}, got {value:g}")
    if lo is not None and (value <= lo if lo_open else value < lo):
        raise OptionError(flag, f"must be {'greater than' if lo_open else 'at least'} {lo:g}{unit}, got {value:g}")
    if hi is not None and value > hi:
        raise OptionError(flag, f"must be at most {hi:g}{unit}, got {value:g}")
    return value


def pose_angle(flag: str, value: float) -> float:
    return number(flag, value, lo=-POSE_LIMIT_DEG, hi=POSE_LIMIT_DEG, unit="degrees")


def gaze_angle(flag: str, value: float) -> float:
    return number(flag, value, lo=-GAZE_LIMIT_DEG, hi=GAZE_LIMIT_DEG, unit="degrees")


def weight(flag: str, value: float) -> float:
    return number(flag, value, lo=WEIGHT_RANGE[0], hi=WEIGHT_RANGE[1])


def check_edits(edits) -> None:
    """OptionError for any number of an `Edits` (tasks/assemble.py) outside its range, naming the flag."""
    for flag, value in (("--yaw", edits.yaw), ("--pitch", edits.pitch), ("--roll", edits.roll)):
        pose_angle(flag, value)
    if edits.gaze is not None:
        if len(edits.gaze) != 2:
            raise OptionError("--gaze", f"takes YAW,PITCH, got {edits.gaze!r}")
        for value in edits.gaze:
            gaze_angle("--gaze", value)
    for name, value in (edits.expression or {}).items():
        weight(f"--expr {name}", value)


def track_ids(faces) -> None:
    """--face values: non-negative integers (the ids `facex tracks` prints)."""
    for face in faces:
        if isinstance(face, bool) or not isinstance(face, numbers.Integral) or face < 0:
            raise OptionError("--face", f"track ids are integers from 0 (as `facex tracks` prints them), got {face!r}")

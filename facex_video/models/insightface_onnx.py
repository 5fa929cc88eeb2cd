"""Loading a user's insightface ONNX file (ArcFace, SCRFD, inswapper) by path, with errors naming the flag.

insightface's `model_zoo.get_model` decides what a file is from its graph (inputs, outputs, shapes), and
treats any name not ending in .onnx as a model-pack name under ~/.insightface. One loader checks both, so
a wrong file fails at load time with the flag's name, not mid-video with a shape error.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

from ..core.errors import ModelError


def describe(found: object) -> str:
    """What insightface's router made of a file, for an error message."""
    if found is None:
        return "insightface recognises no model type in it"
    task = getattr(found, "taskname", "")
    return f"insightface reads it as {type(found).__name__}" + (f", a {task} model" if task else "")


def load_insightface_model(path: str | Path, kind: type, *, flag: str, expected: str, what: str):
    """The insightface model object for `path` if insightface routes it to `kind`; else ModelError.

    what: the noun for the error ("an ArcFace model"); expected: what a right file looks like.
    """
    from insightface.model_zoo import get_model

    path = Path(path).expanduser()
    if not path.is_file():
        raise ModelError(f"{flag} {path}: missing (no such file), {expected}")
    if path.suffix.lower() != ".onnx":
        raise ModelError(f"{flag} {path}: insightface only loads files named *.onnx; {expected}")
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # some model classes print their shapes on load
            found = get_model(str(path), providers=["CPUExecutionProvider"])
    except Exception as err:  # onnx, onnxruntime and insightface's router raise many unrelated types
        raise ModelError(f"{flag} {path}: not a loadable ONNX model ({err}); {expected}") from err
    if not isinstance(found, kind):
        raise ModelError(f"{flag} {path}: not {what} ({describe(found)}); {expected}")
    return found

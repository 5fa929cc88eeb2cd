"""The backends of `--backend`, one record each: adding a backend is one entry here plus its module.

A backend module (imported only when chosen: the facex backend pulls in diffusers and torch's model code)
defines `Options`, a dataclass of what it is given (its fields' metadata name the flag, help and metavar;
the CLI and `facex batch` build their options from them), `check(task, options)`, run once before any work
(cheap: what is missing or wrong fails at once, with the flag's name), and `load(task, options)`, which
builds the renderer in each worker.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from types import ModuleType
from typing import Any

from .base import Renderer


def _geometric() -> ModuleType:
    from . import geometric

    return geometric


def _inswapper() -> ModuleType:
    from . import inswapper

    return inswapper


def _facex() -> ModuleType:
    from .facex import renderer as facex

    return facex


@dataclass(frozen=True)
class Backend:
    name: str
    help: str
    module: Callable[[], ModuleType]  # the backend's module, imported when called

    @property
    def options_type(self) -> type:
        return self.module().Options

    def options(self, given: Any = None) -> Any:
        """The backend's options: `given` (an Options of this backend) or its defaults."""
        cls = self.options_type
        if given is None:
            return cls()
        if not isinstance(given, cls):
            raise TypeError(f"--backend {self.name} takes {cls.__name__}, not {type(given).__name__}")
        return given

    def check(self, task: str, options: Any) -> None:
        self.module().check(task, options)

    def load(self, task: str, options: Any) -> Renderer:
        renderer: Renderer = self.module().load(task, options)
        return renderer


BACKENDS = {b.name: b for b in (
    Backend("geometric", "warps the identity donor's own pixels; CPU, no weights (default)", _geometric),
    Backend("inswapper", "insightface's inswapper_128.onnx, swap only (--swapper-model)", _inswapper),
    Backend("facex", "the paper's diffusion renderer (--base-model, --facex-checkpoint)", _facex),
)}


def backend(name: str) -> Backend:
    """The record of `--backend name` (OptionError listing the backends for an unknown one)."""
    from ..core.errors import OptionError

    if name not in BACKENDS:
        raise OptionError("--backend", f"must be one of {', '.join(BACKENDS)}, got {name!r}")
    return BACKENDS[name]


def option_files(options: Any) -> dict[str, str]:
    """flag -> path of every file a backend's options name (fields with metadata "file": True)."""
    return {f.metadata["flag"]: str(getattr(options, f.name)) for f in fields(options)
            if f.metadata.get("file") and getattr(options, f.name) is not None}


def with_absolute_files(options: Any) -> Any:
    """The options with every file made absolute, as Ray workers in other directories need them."""
    from dataclasses import replace

    return replace(options, **{f.name: str(Path(getattr(options, f.name)).absolute()) for f in fields(options)
                               if f.metadata.get("file") and getattr(options, f.name) is not None})


def load_renderer(name: str, task: str, options: Any = None) -> Renderer:
    """The renderer of `--backend name` for `task`, built from its options (defaults when None)."""
    entry = backend(name)
    return entry.load(task, entry.options(options))

"""What a task run does (EditSpec) and how it is run (RunConfig), as plain picklable values.

An EditSpec travels to every worker of a sharded run, which builds its models from it once, and its digest
(content of every input file + every setting that changes pixels) keys the run's finished shards, so a
rerun with the same inputs and settings resumes and any change starts over.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .fingerprint import input_key
from .tasks.assemble import Edits
from .tasks.table import TABLE, Task

if TYPE_CHECKING:
    from .render.facex import FaceXOptions

RUNNERS = ("ray", "inline")


@dataclass(frozen=True)
class EditSpec:
    """A task on one footage stream. stills: role -> still image path (e.g. the swap source); components:
    component -> role (tasks/table.py). faces: final track ids to edit (None: all)."""

    task: str
    stream: str
    stills: dict[str, str]
    components: dict[str, str]
    edits: Edits | None = None
    faces: frozenset[int] | None = None
    inpaint_region: str | None = None
    inpaint_mask: str | None = None
    backend: str = "geometric"
    swapper_model: str | None = None
    identity_model: str | None = None
    detector_model: str | None = None
    identity_weight: float = 0.5
    facex: FaceXOptions | None = None  # weights and sampler of the facex backend

    @property
    def record(self) -> Task:
        """The task's record (tasks/table.py): what the task takes and draws."""
        return TABLE[self.task]

    @property
    def stream_role(self) -> str:
        return self.record.stream_role

    def files(self) -> list[str]:
        """Every file whose content the result depends on."""
        paths: list[str | Path | None] = [self.stream, *self.stills.values(), self.inpaint_mask, self.swapper_model,
                                          self.identity_model, self.detector_model]
        if self.facex is not None:
            paths += [self.facex.base_model, self.facex.checkpoint]
        return [str(p) for p in paths if p is not None]

    def digest(self) -> str:
        """sha256 over the settings and the content of every input file (renames keep it, edits change it)."""
        settings = asdict(self)
        settings["faces"] = sorted(self.faces) if self.faces is not None else None
        for key in ("stream", "stills", "inpaint_mask", "swapper_model", "identity_model", "detector_model"):
            settings.pop(key)
        # a weights folder (diffusers layout, a FaceX checkpoint) is keyed by its files' keys
        content = {p: input_key(p) if not Path(p).is_dir() else
                   "+".join(input_key(f) for f in sorted(Path(p).rglob("*")) if f.is_file()) for p in self.files()}
        doc = {"settings": settings, "stills": {r: content[p] for r, p in sorted(self.stills.items())},
               "stream": content[self.stream], "files": sorted(content.values())}
        return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()


@dataclass(frozen=True)
class RunConfig:
    """How a video task runs. chunk_seconds / overlap_seconds: the time shards (video/plan.py).
    actors / gpus_per_actor: the Ray edit pool (default: one actor per CPU; fractional GPUs allowed).
    fresh: drop the finished shards of an earlier run. keep_work: keep the work directory after success."""

    runner: str = "inline"
    actors: int | None = None
    gpus_per_actor: float = 0.0
    chunk_seconds: float = 4.0
    overlap_seconds: float = 0.4
    crf: int = 16
    preset: str = "medium"
    fresh: bool = False
    keep_work: bool = False
    progress: bool = True
    address: str | None = None

    def __post_init__(self) -> None:
        """OptionError (a ValueError) naming the flag for any value out of its range."""
        from .errors import OptionError
        from .options import number

        if self.runner not in RUNNERS:
            raise OptionError("--runner", f"must be one of {', '.join(RUNNERS)}, got {self.runner!r}")
        number("--chunk-seconds", self.chunk_seconds, lo=0.0, lo_open=True, unit="s")
        number("--overlap-seconds", self.overlap_seconds, lo=0.0, unit="s")
        if self.actors is not None and (isinstance(self.actors, bool) or not isinstance(self.actors, int)
                                        or self.actors < 1):
            raise OptionError("--actors", f"must be an integer, at least 1, got {self.actors!r}")
        number("--gpus-per-actor", self.gpus_per_actor, lo=0.0)
        if isinstance(self.crf, bool) or not isinstance(self.crf, int) or not 0 <= self.crf <= 51:
            raise OptionError("--crf", f"must be an integer within 0 to 51, got {self.crf!r}")


def work_dir_for(output: str | Path) -> Path:
    """The work directory of an output: beside it, hidden, named after it; absolute, because Ray workers
    do not share the driver's working directory."""
    output = Path(output).absolute()
    return output.with_name(f".{output.name}.facex-work")

"""What a task run does (EditSpec), as plain picklable values (how it runs is video/config.py's RunConfig).

An EditSpec travels to every worker of a sharded run, which builds its models from it once, and its digest
(content of every input file + every setting that changes pixels) keys the run's finished shards, so a
rerun with the same inputs and settings resumes and any change starts over.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from ..core.fingerprint import input_key
from ..media.source import Source, content_key, open_source
from ..tasks.assemble import Edits
from ..tasks.table import TABLE, Task


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
    backend_options: Any = None  # the backend's Options (render/registry.py), its files absolute
    identity_model: str | None = None
    detector_model: str | None = None
    identity_weight: float = 0.5
    stream_fps: Fraction | None = None  # an image sequence's frame rate (--fps); a video has its own
    frames: tuple[int, int] | None = None  # only frames [start, stop) of the stream, as a clip of their own
    watermark: bool = True  # the invisible watermark in every edited face (faces/watermark.py)

    def open_stream(self) -> Source:
        """The footage as this task sees it: the stream at its rate, cut to `frames`."""
        stream = open_source(self.stream, self.stream_fps)
        return stream.window(*self.frames) if self.frames is not None else stream

    @property
    def record(self) -> Task:
        """The task's record (tasks/table.py): what the task takes and draws."""
        return TABLE[self.task]

    @property
    def stream_role(self) -> str:
        return self.record.stream_role

    def files(self) -> list[str]:
        """Every file whose content the result depends on."""
        from ..render.registry import option_files

        paths: list[str | Path | None] = [self.stream, *self.stills.values(), self.inpaint_mask,
                                          self.identity_model, self.detector_model]
        if self.backend_options is not None:
            paths += option_files(self.backend_options).values()
        return [str(p) for p in paths if p is not None]

    def digest(self) -> str:
        """sha256 over the settings and the content of every input file (renames keep it, edits change it)."""
        settings = asdict(self)
        settings["faces"] = sorted(self.faces) if self.faces is not None else None
        for key in ("stream", "stills", "inpaint_mask", "identity_model", "detector_model"):
            settings.pop(key)
        if self.backend_options is not None:  # its files count by content, below, not by path
            from ..render.registry import option_files

            files = set(option_files(self.backend_options).values())
            settings["backend_options"] = {k: v for k, v in settings["backend_options"].items() if str(v) not in files}
        # a weights folder (diffusers layout, a FaceX checkpoint) is keyed by its files' keys
        content = {p: content_key(p) if not Path(p).is_dir() else
                   "+".join(input_key(f) for f in sorted(Path(p).rglob("*")) if f.is_file()) for p in self.files()}
        doc = {"settings": settings, "stills": {r: content[p] for r, p in sorted(self.stills.items())},
               "stream": content[self.stream], "files": sorted(content.values())}
        return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()

"""The sharded video job's work directory: where each shard's result lives, and which shards an earlier run
finished (the manifest that makes a rerun resume)."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

from ..core.atomic import write_text_atomic
from ..edit.spec import EditSpec
from ..media.source import content_key
from .config import RunConfig, output_of, work_dir_for
from .plan import Chunk

log = logging.getLogger("facex_video")

KINDS = {"analyze": ".npz", "edit": "", "compose": None}  # shard kind -> suffix of its result (None: the output's)


class WorkLayout:
    """Where each shard's result lives in a work directory (shared by every worker of the job)."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.output = output_of(self.root)
        self.suffixes = {**KINDS, "compose": self.output.suffix or ".mp4"}

    def path(self, kind: str, name: str) -> Path:
        return self.root / kind / f"{name}{self.suffixes[kind]}"

    def preview(self, index: int) -> Path:
        return self.root / "preview" / f"frame-{index:06d}.npz"


class JobWork(WorkLayout):
    """The driver's view of the work directory: which shards of this (input, spec) pair are finished.

    manifest.json holds the input's content key, the spec digest, the chunk plan, the encoder settings and the
    finished shards; a shard counts as finished when the manifest lists it and its file exists. Anything else
    at the same output (or --fresh) starts the directory over."""

    def __init__(self, output: str | Path, spec: EditSpec, config: RunConfig, chunks: list[Chunk]):
        super().__init__(work_dir_for(output))
        # everything that changes a shard's content: the inputs and spec, the chunking, the encoder settings
        self.key = {"input": content_key(spec.stream), "spec": spec.digest(),
                    "chunks": [[c.start, c.stop, c.lead_start] for c in chunks],
                    "encoder": [config.codec, config.crf, config.preset]}
        fresh = config.fresh
        manifest = self.root / "manifest.json"
        before = json.loads(manifest.read_text()) if manifest.is_file() else None
        if fresh or (before is not None and {k: before.get(k) for k in self.key} != self.key):
            if before is not None and not fresh:
                log.info("%s: made for another input or spec; starting over", self.root)
            shutil.rmtree(self.root, ignore_errors=True)
            before = None
        for kind in (*KINDS, "preview", "actors"):
            (self.root / kind).mkdir(parents=True, exist_ok=True)
        listed = before["finished"] if before else {}
        self.finished_shards = {s: v for s, v in listed.items() if self.path(*s.split("/", 1)).exists()}
        self.skipped: dict[str, int] = {kind: 0 for kind in KINDS}
        self.computed: dict[str, int] = {kind: 0 for kind in KINDS}

    def skip_if_finished(self, kind: str, name: str) -> bool:
        """Whether an earlier run finished the shard; it is then counted as skipped."""
        done = f"{kind}/{name}" in self.finished_shards
        self.skipped[kind] += done
        return done

    def mark(self, kind: str, name: str, value: int | list[str]) -> None:
        self.finished_shards[f"{kind}/{name}"] = value
        self.computed[kind] += 1
        write_text_atomic(self.root / "manifest.json",
                          json.dumps({**self.key, "finished": self.finished_shards}, indent=1))

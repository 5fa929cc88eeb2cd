"""The shards of the video job as typed records, and the worker that runs them in one process.

A shard is a record (AnalyzeShard, EditShard, ComposeShard) that names its work and frames and runs itself on
a ShardWorker; the runners (runner_inline.py in process, runner_ray.py on a cluster) move records and call
`run`, so both give identical frames and neither dispatches on strings.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import ClassVar, Protocol

import numpy as np

from ..core.allocator import keep_freed_memory
from ..edit.face_edit import LoadedTask
from ..edit.spec import EditSpec
from ..faces.analyze import FaceAnalyzer
from ..media.formats import Encoding
from ..media.marks import EditMark
from ..media.source import open_source
from .plan import Chunk, ChunkFaces, Segment
from .shard_stages import compose_chunk, edit_segment, track_chunk
from .work import WorkLayout


def still_rgb(path: str) -> np.ndarray:
    """The frame a still input stands for: the image, or a video's first frame."""
    return next(open_source(path).frames())[1]


class ShardWorker:
    """Runs shards of one job in one process (the driver inline, or a Ray task or actor); loads the models
    on first use and keeps them. parallel: other processes run shards at the same time (Ray), so a chunk's
    encoder keeps to one thread; alone (inline), it takes the threads x264 offers. halt: once set, a running
    shard stops at its next frame (shard_stages.Halted): the inline runner's threads when the run ends."""

    def __init__(self, spec: EditSpec, work_root: str, encoding: Encoding, *, parallel: bool = True,
                 halt: threading.Event | None = None):
        self.spec, self.layout, self.encoding = spec, WorkLayout(work_root), encoding
        self.parallel, self.halt = parallel, halt
        self.source = spec.open_stream()
        keep_freed_memory()
        self._faces: tuple[int, ChunkFaces] | None = None

    @cached_property
    def analyzer(self) -> FaceAnalyzer:
        return FaceAnalyzer(detector_model=self.spec.detector_model)

    @cached_property
    def task(self) -> LoadedTask:
        from ..edit.face_edit import build_task

        return build_task(self.spec, self.analyzer)

    def analyze(self, chunk: Chunk) -> int:
        return track_chunk(self.source, chunk, self.analyzer, self.layout.path("analyze", chunk.name), self.halt)

    def edit(self, segment: Segment, neutral: np.ndarray) -> int:
        if self._faces is None or self._faces[0] != segment.chunk:  # segments come grouped by chunk
            chunk = f"chunk-{segment.chunk:04d}"
            self._faces = (segment.chunk, ChunkFaces.load(self.layout.path("analyze", chunk)))
        return edit_segment(self.task, self.source, self._faces[1], segment, neutral,
                            self.layout.path("edit", segment.name), self.halt)

    def compose(self, chunk: Chunk, segments: list[str], previews: list[int], mark: EditMark | None = None
                ) -> list[str]:
        background = self.spec.components["background"]
        canvas = still_rgb(self.spec.stills[background]) if background in self.spec.stills else None
        return compose_chunk(self.source, chunk, [self.layout.path("edit", s) for s in segments],
                             self.layout.path("compose", chunk.name), canvas=canvas,
                             encoding=self.encoding, output=self.layout.output,
                             previews={i: self.layout.preview(i) for i in previews},
                             single_thread=self.parallel, mark=mark, halt=self.halt)

    def close(self) -> None:
        if "analyzer" in self.__dict__:
            self.analyzer.close()


@dataclass(frozen=True)
class AnalyzeShard:
    """Detect and track every face of one chunk (from its lead frames on)."""

    chunk: Chunk
    kind: ClassVar[str] = "analyze"
    on_actor: ClassVar[bool] = False  # a task: it needs no models held between shards beyond the analyzer
    needs: ClassVar[tuple[str, ...]] = ()  # shards ("kind/name") that must finish before this one starts

    @property
    def name(self) -> str:
        return self.chunk.name

    @property
    def frames(self) -> tuple[int, int]:
        return self.chunk.lead_start, self.chunk.stop

    def run(self, worker: ShardWorker) -> int:
        return worker.analyze(self.chunk)


@dataclass(frozen=True, eq=False)
class EditShard:
    """Render one track segment, with the track's neutral shape."""

    segment: Segment
    neutral: np.ndarray
    kind: ClassVar[str] = "edit"
    on_actor: ClassVar[bool] = True  # runs where the renderer is loaded once (Ray's edit actors)
    needs: ClassVar[tuple[str, ...]] = ()

    @property
    def name(self) -> str:
        return self.segment.name

    @property
    def frames(self) -> tuple[int, int]:
        return self.segment.lead_start, self.segment.stop

    def run(self, worker: ShardWorker) -> int:
        return worker.edit(self.segment, self.neutral)


@dataclass(frozen=True)
class ComposeShard:
    """Paste a chunk's edited segments into its frames and encode it; previews: frames to keep for a sheet."""

    chunk: Chunk
    segments: list[str] = field(default_factory=list)
    previews: list[int] = field(default_factory=list)
    mark: EditMark | None = None  # what the job did, for the output's frames to carry (media/marks.py)
    kind: ClassVar[str] = "compose"
    on_actor: ClassVar[bool] = False

    @property
    def name(self) -> str:
        return self.chunk.name

    @property
    def frames(self) -> tuple[int, int]:
        return self.chunk.start, self.chunk.stop

    @property
    def needs(self) -> tuple[str, ...]:
        """Its segments' edit shards: a runner composes a chunk as soon as they are done."""
        return tuple(f"edit/{s}" for s in self.segments)

    def run(self, worker: ShardWorker) -> list[str]:
        return worker.compose(self.chunk, self.segments, self.previews, self.mark)


Shard = AnalyzeShard | EditShard | ComposeShard


def shard_key(shard: Shard) -> str:
    """"kind/name": how the manifest, `needs` and the runners name a shard."""
    return f"{shard.kind}/{shard.name}"


class Runner(Protocol):
    """Runs shards and yields (kind, name, value) as each finishes, in any order, a shard only once the
    shards of the same list it `needs` have finished; raises ShardError for a shard that fails after its
    retries."""

    def run(self, work: list[Shard]) -> Iterator[tuple[str, str, int | list[str]]]:
        ...

    def close(self) -> None:
        ...



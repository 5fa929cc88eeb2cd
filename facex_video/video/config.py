"""How a video task runs (RunConfig), as plain picklable values, and where its work directory is."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from ..media.formats import Encoding

RUNNERS = ("auto", "ray", "inline")
LOCAL_THREADS = 2  # the inline runner's threads by default, at most (video/runner_inline.py)
WORK_SUFFIX = ".facex-work"


@dataclass(frozen=True)
class RunConfig:
    """How a video task runs. chunk_seconds / overlap_seconds: the time shards (video/plan.py).
    actors: the Ray runner's edit actors (default: one per CPU of the cluster), the inline runner's threads
    (default: one per CPU, at most LOCAL_THREADS). gpus_per_actor: fractional GPUs allowed.
    codec / crf / preset: the output's video coding (media/formats.Encoding).
    fresh: drop the finished shards of an earlier run. keep_work: keep the work directory after success.
    runner: "ray" runs the shards on a Ray cluster (--address / RAY_ADDRESS, else a local one); "inline" in
    this process, on threads; "auto" (the default, for the CLI and the API alike) picks one: `runner_used`."""

    runner: str = "auto"
    actors: int | None = None
    gpus_per_actor: float = 0.0
    chunk_seconds: float = 4.0
    overlap_seconds: float = 0.4
    crf: int = 16
    preset: str = "medium"
    codec: str = "same"
    sign_cert: str | None = None  # C2PA signing certificate chain (PEM) and key: media/credentials.py
    sign_key: str | None = None
    fresh: bool = False
    keep_work: bool = False
    progress: bool = True
    address: str | None = None

    def __post_init__(self) -> None:
        """OptionError (a ValueError) naming the flag for any value out of its range."""
        from ..core.errors import OptionError
        from ..core.options import number

        if self.runner not in RUNNERS:
            raise OptionError("--runner", f"must be one of {', '.join(RUNNERS)}, got {self.runner!r}")
        number("--chunk-seconds", self.chunk_seconds, lo=0.0, lo_open=True, unit="s")
        number("--overlap-seconds", self.overlap_seconds, lo=0.0, unit="s")
        if self.actors is not None and (isinstance(self.actors, bool) or not isinstance(self.actors, int)
                                        or self.actors < 1):
            raise OptionError("--actors", f"must be an integer, at least 1, got {self.actors!r}")
        number("--gpus-per-actor", self.gpus_per_actor, lo=0.0)
        self.encoding  # noqa: B018 (checks --codec, --crf and --preset now)

    @property
    def runner_used(self) -> str:
        """The runner `runner` stands for. auto: Ray where a cluster is named (address, RAY_ADDRESS), Ray
        already runs in this process, or this machine has more CPUs than the inline runner's threads use;
        else inline. Measured on 2 CPUs (docs/benchmarks.md): the inline runner's two threads match a local
        Ray's two actors on a 60 s 720p swap and skip its ~8 s start, which is most of a short clip's time."""
        if self.runner != "auto":
            return self.runner
        ray = sys.modules.get("ray")
        if self.address or os.environ.get("RAY_ADDRESS") or (ray is not None and ray.is_initialized()):
            return "ray"
        return "ray" if local_cpus() > LOCAL_THREADS else "inline"

    @property
    def encoding(self) -> Encoding:
        """The output's video coding as asked (media/formats.py)."""
        return Encoding(self.codec, self.crf, self.preset)


def local_cpus() -> int:
    """CPUs this process may run on (its affinity, which a container's cpuset narrows)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def work_dir_for(output: str | Path) -> Path:
    """The work directory of an output: beside it, hidden, named after it; absolute, because Ray workers
    do not share the driver's working directory."""
    output = Path(output).absolute()
    return output.with_name(f".{output.name}{WORK_SUFFIX}")


def output_of(work_root: str | Path) -> Path:
    """The output a work directory (work_dir_for) is for: composed chunks are written in the output's own
    container (so the codec they hold is one the output can hold), or as its sequence's files."""
    root = Path(work_root)
    name = root.name[1:-len(WORK_SUFFIX)] if root.name.endswith(WORK_SUFFIX) else root.name
    return root.with_name(name)

"""How a video task runs (RunConfig), as plain picklable values, and where its work directory is."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..media.formats import Encoding

RUNNERS = ("ray", "inline")
WORK_SUFFIX = ".facex-work"


@dataclass(frozen=True)
class RunConfig:
    """How a video task runs. chunk_seconds / overlap_seconds: the time shards (video/plan.py).
    actors / gpus_per_actor: the Ray edit pool (default: one actor per CPU; fractional GPUs allowed).
    codec / crf / preset: the output's video coding (media/formats.Encoding).
    fresh: drop the finished shards of an earlier run. keep_work: keep the work directory after success.
    runner: "ray" by default, for the CLI and the API alike; "inline" runs every shard in this process."""

    runner: str = "ray"
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
    def encoding(self) -> Encoding:
        """The output's video coding as asked (media/formats.py)."""
        return Encoding(self.codec, self.crf, self.preset)


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

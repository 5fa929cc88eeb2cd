"""The sharded job in this process, shard after shard: for tests, debugging (`--runner inline`) and machines
without Ray. Runs the same ShardWorker methods as the Ray runner, so it composes the same frames (their
digests are equal; the H.264 bitstreams are not, as x264 encodes here with its own threads)."""

from __future__ import annotations

from collections.abc import Iterator

from ..core.errors import InputError, OutputError, ShardError
from ..edit.spec import EditSpec
from .config import RunConfig
from .shards import Shard, ShardWorker


class InlineRunner:
    def __init__(self, spec: EditSpec, config: RunConfig, work_root: str):
        self.worker = ShardWorker(spec, work_root, config.encoding, parallel=False)

    def run(self, work: list[Shard]) -> Iterator[tuple[str, str, int | list[str]]]:
        """In list order, which must put every shard after those it needs."""
        later = {f"{shard.kind}/{shard.name}" for shard in work}
        for shard in work:
            later.discard(f"{shard.kind}/{shard.name}")
            if not later.isdisjoint(shard.needs):
                raise ValueError(f"{shard.kind}/{shard.name} is listed before shards it needs")
            try:
                value = shard.run(self.worker)
            except (InputError, OutputError):
                raise  # the input is bad (a frame that does not decode) or the disk full: the user's one line
            except Exception as exc:
                raise ShardError(f"{shard.kind}/{shard.name}", shard.frames, exc) from exc
            yield shard.kind, shard.name, value

    def close(self) -> None:
        self.worker.close()

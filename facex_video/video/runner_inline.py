"""The sharded job in this process, shard after shard: for tests, debugging (`--runner inline`) and machines
without Ray. Runs the same ShardWorker methods as the Ray runner, so it gives the same frames."""

from __future__ import annotations

from collections.abc import Iterator

from ..errors import InputError, OutputError, ShardError
from ..spec import EditSpec, RunConfig
from .job import ShardWorker, Work, shard_frames


class InlineRunner:
    def __init__(self, spec: EditSpec, config: RunConfig, work_root: str):
        self.worker = ShardWorker(spec, work_root, config.crf, config.preset)

    def run(self, work: list[Work]) -> Iterator[tuple[str, str, int | list[str]]]:
        for item in work:
            kind, what = item[0], item[1]
            try:
                value = getattr(self.worker, kind)(*item[1:])
            except (InputError, OutputError):
                raise  # the input is bad (a frame that does not decode) or the disk full: the user's one line
            except Exception as exc:
                raise ShardError(f"{kind}/{what.name}", shard_frames(item), exc) from exc
            yield kind, what.name, value

    def close(self) -> None:
        self.worker.close()

"""The sharded job in this process: on 2-CPU machines (runner `auto` picks it there), for tests, debugging
(`--runner inline --actors 1`) and machines without Ray. Runs the same ShardWorker methods as the Ray runner,
so it composes the same frames (their digests are equal; the H.264 bitstreams are not, as x264 encodes here
with its own threads).

With one thread, shard after shard in list order. With more, shards run on that many threads, each with a
ShardWorker (its own models) of its own, a shard as soon as the shards it `needs` are done: the heavy work
(MediaPipe, OpenCV, NumPy's large-array loops, x264) lets go of the GIL, so a second thread keeps the second
core busy where one thread left it idle half the time, without Ray's start-up (~8 s) or a process per worker.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from ..core.errors import InputError, OutputError, ShardError
from ..edit.spec import EditSpec
from .config import LOCAL_THREADS, RunConfig, local_cpus
from .shards import Shard, ShardWorker, shard_key


class InlineRunner:
    def __init__(self, spec: EditSpec, config: RunConfig, work_root: str):
        self.spec, self.encoding, self.work_root = spec, config.encoding, work_root
        self.threads = config.actors or min(local_cpus(), LOCAL_THREADS)
        self.workers: list[ShardWorker] = []
        self.idle: queue.SimpleQueue[ShardWorker] = queue.SimpleQueue()
        self.halt = threading.Event()  # set when the run unwinds: the shards still running stop at a frame
        self.running: dict[Future, Shard] = {}

    def run(self, work: list[Shard]) -> Iterator[tuple[str, str, int | list[str]]]:
        """In list order on one thread, which must put every shard after those it needs; on several, each
        shard once those it needs are done, yielded as it finishes."""
        if self.threads == 1:
            yield from self._in_order(work)
            return
        pending = list(work)
        order = {id(shard): i for i, shard in enumerate(work)}
        unfinished = {shard_key(shard) for shard in work}
        running = self.running
        failed: list[tuple[int, Shard, Future]] = []
        with ThreadPoolExecutor(self.threads, thread_name_prefix="facex-shard") as pool, self._halting():
            # a failure leaves this block only once the shards still running are done (threads cannot be
            # stopped, and their workers' models must not close under them); nothing new starts meanwhile.
            # An interrupt (Ctrl-C, SIGTERM) or the caller letting go of this generator halts them at their
            # next frame instead
            while running or (pending and not failed):
                while len(running) < self.threads and not failed:
                    shard = next((s for s in pending if unfinished.isdisjoint(s.needs)), None)
                    if shard is None:
                        break
                    pending.remove(shard)
                    running[pool.submit(self._run_shard, shard)] = shard
                if not running:
                    raise RuntimeError(f"shards wait for shards not in the job: {[s.name for s in pending]}")
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    shard = running.pop(future)
                    if future.exception() is not None:
                        failed.append((order[id(shard)], shard, future))
                        continue
                    unfinished.discard(shard_key(shard))
                    yield shard.kind, shard.name, future.result()
        if failed:  # the first listed of those that failed, whichever thread lost the race
            _, shard, future = min(failed, key=lambda f: f[0])
            _result(shard, future.result)

    @contextlib.contextmanager
    def _halting(self) -> Iterator[None]:
        """Sets `halt` when the block is left by an exception (GeneratorExit included)."""
        try:
            yield
        except BaseException:
            self.halt.set()
            raise

    def _in_order(self, work: list[Shard]) -> Iterator[tuple[str, str, int | list[str]]]:
        later = {shard_key(shard) for shard in work}
        for shard in work:
            later.discard(shard_key(shard))
            if not later.isdisjoint(shard.needs):
                raise ValueError(f"{shard_key(shard)} is listed before shards it needs")
            yield shard.kind, shard.name, _result(shard, lambda s=shard: self._run_shard(s))

    def _run_shard(self, shard: Shard) -> int | list[str]:
        """On a free worker (a new one while fewer than `threads` exist)."""
        try:
            worker = self.idle.get_nowait()
        except queue.Empty:
            worker = ShardWorker(self.spec, self.work_root, self.encoding, parallel=False, halt=self.halt)
            self.workers.append(worker)
        try:
            return shard.run(worker)
        finally:
            self.idle.put(worker)

    def close(self) -> None:
        """Halts and waits for shards still running (an interrupt can land while `run` is suspended at a
        yield, before its generator is closed), then closes the workers' models."""
        self.halt.set()
        wait(list(self.running))
        for worker in self.workers:
            worker.close()


def _result(shard: Shard, get) -> int | list[str]:
    """What the shard returned, or the error the user sees for it."""
    try:
        return get()
    except (InputError, OutputError):
        raise  # the input is bad (a frame that does not decode) or the disk full: the user's one line
    except Exception as exc:
        raise ShardError(shard_key(shard), shard.frames, exc) from exc

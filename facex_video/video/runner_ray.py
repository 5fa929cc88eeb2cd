"""The sharded job on a Ray cluster: the only module of facex_video that imports ray.

Analysis and composition run as tasks (retried when their worker dies); track segments run on a pool of
edit actors that load the renderer once (`--actors N`, `--gpus-per-actor F`, fractional allowed), restarted
when their process dies, with the segment in flight retried. A shard whose own code fails is not retried (the
same frames fail the same way): the job stops with a ShardError naming it. Only shard descriptions and
counts travel through the object store; frames and crops go through the work directory, and at most
IN_FLIGHT_PER_CPU shards per CPU are submitted at once, so memory stays bounded however long the video.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import re
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, cast

import ray
from ray.exceptions import RayError, RayTaskError

from ..core.allocator import ARENA_MAX
from ..core.errors import ClusterError, InputError, OutputError, ShardError
from ..edit.spec import EditSpec
from ..media.formats import Encoding
from .config import RunConfig
from .shards import Shard, ShardWorker, shard_key

if TYPE_CHECKING:
    from ray.actor import ActorClass

log = logging.getLogger("facex_video")

RETRIES = 2  # a task or actor call whose worker dies is run up to twice more
IN_FLIGHT_PER_CPU = 2
# the few heaps core/allocator.py sets, given to our workers when they start: glibc fixes its heap limit
# when a thread first needs a heap of its own, which Ray's threads do before a worker imports facex_video,
# so the mallopt there comes too late in a Ray worker. Each chunk's encoder thread then took a heap of its
# own and kept what it freed (keep_freed_memory): a worker composing 7-8 chunks of a 60 s 720p clip one
# after another grew to 1.3-1.6 GB (measured per process; in one process of our own the same composes stay
# flat). With the variable, a worker composing 3 chunks: 760 -> 620 MiB
WORKER_ENV = {"env_vars": {"MALLOC_ARENA_MAX": str(ARENA_MAX)}}


def connect(address: str | None, quiet: bool = False) -> bool:
    """Join `address`, the cluster of RAY_ADDRESS (what `ray job submit` sets) or the one this process is
    already in; else start a local one, on loopback only, without a dashboard. Returns whether this call
    started Ray (and must shut it down). quiet: Ray's own log lines only for errors."""
    if ray.is_initialized():
        return False
    level = logging.ERROR if quiet else logging.WARNING
    joining = address or os.environ.get("RAY_ADDRESS")
    with _keep_sigterm_handler():
        if joining:
            with _loopback_only() if _on_loopback(joining) else contextlib.nullcontext():
                ray.init(address=address or "auto", log_to_driver=False, logging_level=level)
            return False
        with _loopback_only():
            ray.init(include_dashboard=False, log_to_driver=False, logging_level=level)
    return True


def _on_loopback(address: str) -> bool:
    """Whether a cluster address (host:port) is on this machine's loopback: a driver joining such a head
    must take 127.0.0.1 as its own node IP too, or Ray never finds the local raylet (measured: it hangs)."""
    host = address.rsplit(":", 1)[0].strip("[]")
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name, or "auto"
        return False


@contextlib.contextmanager
def _loopback_only() -> Iterator[None]:
    """Ray binds its servers to the node's IP, which it takes from the interface that routes outward, even
    with `_node_ip_address="127.0.0.1"` (ray.init resolves loopback to that IP). Ray's own switch for a
    laptop-only node makes the node IP 127.0.0.1: the processes the head starts inherit it from the
    environment, and this process reads it from ray_constants (computed at import, hence set here too).
    Measured with psutil on Ray 2.60: without it GCS, raylet and workers listen on `::`, the agents on
    0.0.0.0 and the node IP; with it every socket is on 127.0.0.1."""
    from ray._private import ray_constants

    saved = os.environ.get(ray_constants.ENABLE_RAY_CLUSTERS_ENV_VAR), ray_constants.ENABLE_RAY_CLUSTER
    os.environ[ray_constants.ENABLE_RAY_CLUSTERS_ENV_VAR] = "0"
    ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = saved[1]
        if saved[0] is None:
            os.environ.pop(ray_constants.ENABLE_RAY_CLUSTERS_ENV_VAR)
        else:
            os.environ[ray_constants.ENABLE_RAY_CLUSTERS_ENV_VAR] = saved[0]


@contextlib.contextmanager
def _keep_sigterm_handler() -> Iterator[None]:
    """ray.init installs its own SIGTERM handler, which kills the node and exits 1 without a word; keep
    the caller's (the CLI turns SIGTERM into a clean stop, like Ctrl-C)."""
    main = threading.current_thread() is threading.main_thread()
    handler = signal.getsignal(signal.SIGTERM) if main else None
    try:
        yield
    finally:
        if main and handler is not None:  # None: set outside Python, nothing to restore
            signal.signal(signal.SIGTERM, handler)


@contextlib.contextmanager
def ray_session(address: str | None, quiet: bool = False) -> Iterator[None]:
    """Connected to Ray for the block (see connect); shut down after if the block started it."""
    started = connect(address, quiet)
    try:
        yield
    finally:
        if started:
            ray.shutdown()


_worker: tuple[tuple, ShardWorker] | None = None  # this Ray worker process's, kept for the job's next task


def _shard(spec: EditSpec, work_root: str, encoding: Encoding, shard: Shard) -> int | list[str]:
    """One analyze or compose shard. Ray reuses worker processes for tasks, so the models the last task of
    the same job loaded are kept (an analysis task would otherwise spend ~1 s loading them)."""
    global _worker
    key = (spec.digest(), work_root, encoding)
    if _worker is None or _worker[0] != key:
        if _worker is not None:
            _worker[1].close()
        _worker = (key, ShardWorker(spec, work_root, encoding))
    return shard.run(_worker[1])


_shard_task = ray.remote(_shard)


@ray.remote
class EditActor:
    """Holds the models of one job and edits track segments with them, one at a time."""

    def __init__(self, spec: EditSpec, work_root: str, encoding: Encoding):
        self.worker = ShardWorker(spec, work_root, encoding)
        self.worker.task  # noqa: B018 (loads the renderer and still faces now, not on the first segment)
        # the pid, for operators (and the fault test) to find this actor's process
        (Path(work_root) / "actors" / f"{os.getpid()}.pid").write_text(str(os.getpid()))

    def run(self, shard: Shard) -> int | list[str]:
        return shard.run(self.worker)


# what @ray.remote made of EditActor: mypy does not apply a class decorator's return type to the class
_EditActorClass = cast("ActorClass[EditActor]", EditActor)


def original(exc: RayError) -> BaseException | str:
    """The error a shard's own code raised, not Ray's wrapper: the cause of a task error, else (an actor
    whose constructor failed, a lost worker) the last `Name: message` line of Ray's report."""
    if isinstance(exc, RayTaskError) and isinstance(exc.cause, Exception) and not isinstance(exc.cause, RayError):
        return exc.cause
    lines = [ln.strip() for ln in str(exc).splitlines()]
    raised = [ln for ln in lines if re.match(r"^[A-Za-z_][\w.]*(Error|Exception): ", ln)
              and not ln.startswith(("ray.exceptions.", "UnserializableException"))]
    return raised[-1] if raised else f"{type(exc).__name__}: {next((ln for ln in lines if ln), '')}"


class RayRunner:
    def __init__(self, spec: EditSpec, config: RunConfig, work_root: str):
        self.spec, self.config, self.work_root = spec, config, work_root
        self.started = connect(config.address, quiet=not config.progress)
        self.cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
        self.actors: list = []
        gpus = ray.cluster_resources().get("GPU", 0)
        if config.gpus_per_actor > gpus:  # now, before a frame is decoded, not when the edit stage begins
            self.close()
            raise ClusterError(f"--gpus-per-actor {config.gpus_per_actor:g} but the Ray cluster has {gpus:g} "
                               "GPUs; use 0 for CPU actors")

    def _actor_pool(self) -> list:
        if not self.actors:
            n = self.config.actors or self.cpus
            options = {"num_cpus": 1, "num_gpus": self.config.gpus_per_actor, "max_restarts": RETRIES,
                       "max_task_retries": RETRIES, "runtime_env": WORKER_ENV}
            self.actors = [_EditActorClass.options(**options).remote(self.spec, self.work_root,
                                                               self.config.encoding) for _ in range(n)]
        return self.actors

    def run(self, work: list[Shard]) -> Iterator[tuple[str, str, int | list[str]]]:
        """Submit in list order what is ready (its `needs` finished; an actor idle for an actor's shard),
        with bounded in-flight work; yield each shard as it finishes. An actor with no actor work left is
        released at once, so its CPU takes the tasks behind it (a chunk's compose while another actor still
        edits a long segment)."""
        pending = list(work)
        unfinished = {shard_key(shard) for shard in work}
        running: dict = {}  # ObjectRef -> (shard, actor or None)
        idle = list(self._actor_pool()) if any(shard.on_actor for shard in work) else []
        limit = IN_FLIGHT_PER_CPU * self.cpus
        try:
            while pending or running:
                while len(running) < limit:
                    shard = next((s for s in pending if (idle or not s.on_actor) and unfinished.isdisjoint(s.needs)),
                                 None)
                    if shard is None:
                        break
                    pending.remove(shard)
                    if shard.on_actor:
                        actor = idle.pop()
                        ref = actor.run.remote(shard)
                    else:
                        actor = None
                        ref = _shard_task.options(num_cpus=1, max_retries=RETRIES, runtime_env=WORKER_ENV).remote(
                            self.spec, self.work_root, self.config.encoding, shard)
                    running[ref] = (shard, actor)
                if not running:
                    raise RuntimeError(f"shards wait for shards not in the job: {[s.name for s in pending]}")
                [ref], _ = ray.wait(list(running), num_returns=1)
                shard, actor = running.pop(ref)
                try:
                    value = ray.get(ref)
                except RayError as exc:  # the shard's code raised, or its worker died more often than RETRIES
                    cause = original(exc)
                    if isinstance(cause, (InputError, OutputError)):  # a bad input, a full disk: the user's line
                        raise cause from None
                    raise ShardError(shard_key(shard), shard.frames, cause) from None
                unfinished.discard(shard_key(shard))
                if actor is not None:
                    if any(s.on_actor for s in pending):
                        idle.append(actor)
                    else:  # its CPU is free for the tasks
                        ray.kill(actor)
                        self.actors.remove(actor)
                yield shard.kind, shard.name, value
            self._release()  # the actors hold their CPUs: free them for the next stage's tasks
        finally:  # a failed job: drop the tasks still running (the actors go in close)
            for ref, (_, actor) in running.items():
                if actor is None:
                    ray.cancel(ref, force=True)

    def _release(self) -> None:
        for actor in self.actors:
            ray.kill(actor)
        self.actors = []

    def close(self) -> None:
        self._release()
        if self.started:
            ray.shutdown()

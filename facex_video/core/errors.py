"""Errors a user can act on. The CLI prints them as one line and exits non-zero, without a traceback."""

from __future__ import annotations

from pathlib import Path


class FacexError(Exception):
    """Base class: anything the user can fix (bad input, missing model, unwritable output)."""

    exit_code = 2


class InputError(FacexError):
    """An input file that cannot be used; the message always names the file and the problem."""

    def __init__(self, path: str | Path, problem: str):
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")

    def __reduce__(self):  # picklable, so it crosses from a Ray worker to the driver as itself
        return type(self), (self.path, self.problem)


class OutputError(FacexError):
    """An output that cannot be written (folder missing or read-only, unsupported extension)."""

    def __init__(self, path: str | Path, problem: str):
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")

    def __reduce__(self):
        return type(self), (self.path, self.problem)


class DiskFullError(OutputError):
    """No space left on the device (or the quota spent) while writing path; note: what was kept, if anything."""

    def __init__(self, path: str | Path, note: str = ""):
        self.note = note
        super().__init__(path, f"no space left on the device{note}")

    def __reduce__(self):
        return type(self), (self.path, self.note)


class OutputBusyError(OutputError):
    """An output another facex run is writing right now (it holds the output's lock); pid: that run's, if known."""

    def __init__(self, path: str | Path, pid: int | None = None):
        self.pid = pid
        holder = f"pid {pid}" if pid is not None else "another process"
        super().__init__(path, f"another facex run ({holder}) is writing this output; wait for it to finish or "
                               "stop it, or give another output")

    def __reduce__(self):
        return type(self), (self.path, self.pid)


class OptionError(FacexError, ValueError):
    """An option whose value cannot be used (not a number, out of its range); the message names the flag.
    Also a ValueError, for Python callers that passed the value directly."""

    def __init__(self, flag: str, problem: str):
        self.flag = flag
        self.problem = problem
        super().__init__(f"{flag}: {problem}")

    def __reduce__(self):
        return type(self), (self.flag, self.problem)


class UsageError(FacexError):
    """A command line argparse cannot parse (unknown flag, missing argument, a value its type refuses): the
    CLI prints it as one line, like every other error, and exits 2."""


class ModelError(FacexError):
    """A model file that is missing or corrupt; the message names the command that fixes it."""


class ShardError(FacexError):
    """A shard of a sharded video job that failed (after its retries): names the shard, its frames and the
    original error, so a user can find the frames that break it."""

    exit_code = 1

    def __init__(self, shard: str, frames: tuple[int, int], error: BaseException | str):
        self.shard, self.frames = shard, frames
        self.error = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
        super().__init__(f"shard {shard} (frames {frames[0]}-{frames[1] - 1}) failed: {self.error}")

    def __reduce__(self):
        return type(self), (self.shard, self.frames, self.error)


class ClusterError(FacexError):
    """A Ray cluster that cannot run the job as asked (e.g. GPUs per actor it does not have)."""

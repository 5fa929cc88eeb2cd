"""Outputs never destroy inputs, and one run at a time writes an output.

`check_not_input` refuses, before any work, an output that is one of the command's inputs: the same path, a
symbolic link that resolves to it (or an input that resolves to the output), or a hard link to the same file.

`output_lock` is an exclusive OS lock (flock) on a hidden file beside the output, `.NAME.facex-lock`, held for
the whole run: a second run on the same output fails at once, naming the holder's pid (written into the lock
file). The kernel drops the lock when its process ends however it ends, so a killed run never blocks the next;
the file it leaves behind is harmless and taken over by the next run.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

from .errors import OutputBusyError, OutputError

PathLike = str | Path


def _same_file(a: Path, b: Path) -> str | None:
    """How `a` (an output) and `b` (an input) are one file: "is", "resolves to", "is a hard link to"; or None."""
    if os.path.abspath(a) == os.path.abspath(b):
        return "is"
    if os.path.realpath(a) == os.path.realpath(b):
        return "resolves to"
    try:
        sa, sb = os.stat(a), os.stat(b)
    except OSError:  # either one missing: no file to share
        return None
    if (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino):
        return "is a hard link to"
    return None


def check_not_input(output: PathLike | None, inputs: Mapping[str, PathLike | None], *, flag: str = "-o") -> None:
    """OutputError naming `output` and the input it is, if writing `output` could touch any of `inputs`
    (role -> path; None entries are skipped)."""
    if output is None:
        return
    out = Path(output)
    for role, path in inputs.items():
        if path is None:
            continue
        how = _same_file(out, Path(path))
        if how is not None:
            shown = "" if how == "is" and str(path) == str(output) else f" {path}"
            raise OutputError(out, f"{flag} {how} the {role}{shown}; writing it would destroy an input: "
                                   "give another output")


def check_distinct_outputs(outputs: Mapping[str, PathLike | None]) -> None:
    """OutputError if two outputs of one command (flag -> path) are one file."""
    seen: list[tuple[str, Path]] = []
    for flag, path in outputs.items():
        if path is None:
            continue
        for other_flag, other in seen:
            if _same_file(Path(path), other) is not None:
                raise OutputError(path, f"{flag} and {other_flag} are the same file; give two different paths")
        seen.append((flag, Path(path)))


def lock_path_for(output: PathLike) -> Path:
    """The lock file of an output: hidden, beside it, named after it."""
    output = Path(output).absolute()
    return output.with_name(f".{output.name}.facex-lock")


def _holder(fd: int) -> int | None:
    """The pid written in a held lock file (the holder writes it just after locking: wait briefly for it)."""
    for _ in range(20):
        try:
            text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
        except OSError:
            return None
        if text.isdigit():
            return int(text)
        time.sleep(0.01)
    return None


class OutputLock:
    """The exclusive lock of one output (module docstring). Not re-entrant: take it once per run."""

    def __init__(self, output: PathLike):
        self.output = Path(output)
        self.path = lock_path_for(output)
        self._fd: int | None = None

    def acquire(self) -> OutputLock:
        """Take the lock or raise OutputBusyError (naming the holder's pid); OutputError if it cannot be made."""
        while True:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as e:
                raise OutputError(self.output, f"cannot create its lock file {self.path} ({e.strerror})") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                pid = _holder(fd)
                os.close(fd)
                raise OutputBusyError(self.output, pid) from None
            except OSError as e:
                os.close(fd)
                raise OutputError(self.output, f"cannot lock {self.path} ({e.strerror})") from None
            # a releasing holder unlinks the file: the lock is only ours if the path still names what we locked
            try:
                st = os.stat(self.path)
            except FileNotFoundError:
                st = None
            mine = os.fstat(fd)
            if st is not None and (st.st_dev, st.st_ino) == (mine.st_dev, mine.st_ino):
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            st = os.stat(self.path)
            mine = os.fstat(self._fd)
            if (st.st_dev, st.st_ino) == (mine.st_dev, mine.st_ino):
                os.unlink(self.path)  # while still holding it, so nobody locks a file about to vanish
        except OSError:
            pass
        os.close(self._fd)  # closing the last descriptor releases the lock
        self._fd = None

    def __enter__(self) -> OutputLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


@contextlib.contextmanager
def output_lock(output: PathLike) -> Iterator[OutputLock]:
    """Hold the output's lock for the body (module docstring)."""
    with OutputLock(output) as lock:
        yield lock


def check_outputs(inputs: Mapping[str, str | Path | None], output: str | Path,
                  preview: str | Path | None = None) -> None:
    """Before any work: no output (-o, --preview) is a folder (one that exists, or a path ending in a
    separator, as `-o results/` means one), one of the command's inputs (role -> path), or the other output."""
    for flag, path in (("-o", output), ("--preview", preview)):
        if path is not None and (Path(path).is_dir() or str(path).endswith(("/", os.sep))):
            raise OutputError(path, f"{flag} is a folder; give a file name")
    check_not_input(output, inputs)
    check_not_input(preview, inputs, flag="--preview")
    check_distinct_outputs({"-o": output, "--preview": preview})

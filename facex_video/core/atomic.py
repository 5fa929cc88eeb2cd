"""Outputs appear whole or not at all: write to a hidden temporary beside the destination, then rename."""

from __future__ import annotations

import contextlib
import errno
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

from .errors import DiskFullError, OutputError


def check_writable_dir(path: str | Path) -> None:
    """Fail before any work if the destination's folder is missing or cannot be written."""
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise OutputError(path, "is a folder; give a file name")
    if parent.exists() and not parent.is_dir():
        raise OutputError(path, f"{parent} is not a folder")
    if not parent.is_dir():
        raise OutputError(path, f"output folder {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(path, f"output folder {parent} is not writable")


NO_ROOM = (errno.ENOSPC, errno.EDQUOT)  # a full disk or an exhausted quota


def write_failed(dest: str | Path, exc: OSError) -> OutputError:
    """The one-line error for a write to dest that raised exc: a full disk says so."""
    if exc.errno in NO_ROOM:
        return DiskFullError(dest)
    return OutputError(dest, f"writing failed ({exc.strerror or exc})")


@contextlib.contextmanager
def naming_full_disk(dest: str | Path) -> Iterator[None]:
    """A write that fails for want of space becomes one DiskFullError naming dest (the OSError of a failed
    write() names no file, and pyarrow's names none either)."""
    try:
        yield
    except OSError as exc:
        if exc.errno not in NO_ROOM:
            raise
        raise DiskFullError(dest) from exc


def partial_path(dest: Path) -> Path:
    """Hidden temporary beside dest, same extension (muxers and encoders pick the format from it)."""
    return dest.with_name(f".{dest.stem}.partial-{uuid.uuid4().hex[:8]}{dest.suffix}")


@contextlib.contextmanager
def atomic_path(dest: str | Path) -> Iterator[Path]:
    """Yield a temporary path in dest's folder; on success rename it onto dest, on error delete it (a full
    disk is reported naming dest)."""
    dest = Path(dest)
    check_writable_dir(dest)
    tmp = partial_path(dest)
    try:
        with naming_full_disk(dest):
            yield tmp
            os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text_atomic(dest: str | Path, text: str) -> None:
    """Write a small text file (JSON, YAML) atomically."""
    with atomic_path(dest) as tmp:
        tmp.write_text(text)

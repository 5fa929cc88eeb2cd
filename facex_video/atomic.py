"""Outputs appear whole or not at all: write to a hidden temporary beside the destination, then rename."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

from .errors import OutputError


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


def partial_path(dest: Path) -> Path:
    """Hidden temporary beside dest, same extension (muxers and encoders pick the format from it)."""
    return dest.with_name(f".{dest.stem}.partial-{uuid.uuid4().hex[:8]}{dest.suffix}")


@contextlib.contextmanager
def atomic_path(dest: str | Path) -> Iterator[Path]:
    """Yield a temporary path in dest's folder; on success rename it onto dest, on error delete it."""
    dest = Path(dest)
    check_writable_dir(dest)
    tmp = partial_path(dest)
    try:
        yield tmp
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text_atomic(dest: str | Path, text: str) -> None:
    """Write a small text file (JSON, YAML) atomically."""
    with atomic_path(dest) as tmp:
        tmp.write_text(text)

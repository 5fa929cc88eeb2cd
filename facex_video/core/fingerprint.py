"""Inputs named by their content: the key a run's work is filed under, so a renamed input keeps its work
and an edited one starts over."""

from __future__ import annotations

import hashlib
import stat
from pathlib import Path

from .errors import InputError

_KEYS: dict[tuple[str, int, int], str] = {}


def input_key(path: str | Path) -> str:
    """`<sha256 of the bytes>-<size>`: names an input's work by content, so renames keep it and edits redo it.

    Hashing streams the file; the result is remembered in-process by (path, size, mtime_ns).
    """
    path = Path(path)
    try:
        st = path.stat()
    except FileNotFoundError:
        raise InputError(path, "no such file") from None
    except OSError as exc:
        raise InputError(path, f"cannot read: {exc.strerror}") from None
    if not stat.S_ISREG(st.st_mode):
        raise InputError(path, "not a regular file")
    memo = (str(path.absolute()), st.st_size, st.st_mtime_ns)
    if memo not in _KEYS:
        try:
            with open(path, "rb") as f:
                digest = hashlib.file_digest(f, "sha256").hexdigest()
        except OSError as exc:
            raise InputError(path, f"cannot read: {exc.strerror}") from None
        _KEYS[memo] = f"{digest}-{st.st_size}"
    return _KEYS[memo]

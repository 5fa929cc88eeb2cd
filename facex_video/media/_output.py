"""Up-front output checks and the whole-or-nothing protocol shared by the video, sequence and image writers."""

from __future__ import annotations

import tempfile
from collections.abc import Iterable
from pathlib import Path

from ..core.atomic import check_writable_dir
from ..core.errors import OutputError


class WholeOrNothing:
    """`with writer:` closes (publishes) the output when the block ends normally and aborts it (nothing at the
    destination) when it raises; subclasses define close() and abort()."""

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def close(self) -> None:
        raise NotImplementedError

    def abort(self) -> None:
        raise NotImplementedError


def check_output_path(path: Path, extensions: Iterable[str], kind: str) -> None:
    """Fail before heavy work: unknown extension, missing folder, or a folder we cannot create files in.

    A real file is created and removed because permission bits lie (root ignores them; read-only
    mounts and ACLs do not show in os.access).
    """
    extensions = sorted(extensions)
    if path.suffix.lower() not in extensions:
        raise OutputError(path, f"unsupported {kind} extension {path.suffix or '(none)'!r}; "
                                f"use one of {', '.join(extensions)}")
    check_writable_dir(path)
    try:
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.stem}.partial-", suffix=".probe"):
            pass
    except OSError as e:
        raise OutputError(path, f"cannot create files in {path.parent} ({e.strerror})") from None


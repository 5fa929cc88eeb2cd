"""Loading MediaPipe Tasks models quietly and from local files only (no hub, no bundled-asset lookup)."""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

# MediaPipe's C++ core logs through glog and TFLite prints to fd 2 directly: keep the user's terminal clean.
os.environ.setdefault("GLOG_minloglevel", "2")


@contextlib.contextmanager
def _fd2_to(fileno: int) -> Iterator[None]:
    """Point fd 2 at `fileno` for the block, then back; redirects nothing when the process has no usable
    fd 2 (e.g. embedded interpreters)."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    os.dup2(fileno, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


@contextlib.contextmanager
def quiet_native_stderr() -> Iterator[None]:
    """Silence fd 2 while native code initialises (TFLite's 'Sparsity tensors' notice, glog banners)."""
    with open(os.devnull, "wb") as devnull, _fd2_to(devnull.fileno()):
        yield


# Notices MediaPipe's graph threads print to fd 2 *during inference*. It logs through absl before
# InitGoogle(), which always writes to stderr and reads no environment variable to stop it, so the
# only way to keep a user's terminal (and our one-line errors) clean is to catch fd 2 around the call.
# The alignment notice depends on where the heap put an internal tensor: rare and harmless (it copies).
_HARMLESS_NOTICE = re.compile(
    rb"Input tensor memory is not aligned|Feedback manager requires|Logging before InitGoogle"
    rb"|Created TensorFlow Lite XNNPACK delegate"
)
_capture_lock = threading.Lock()
_capture_file = None


@contextlib.contextmanager
def harmless_notices_dropped() -> Iterator[None]:
    """Catch fd 2 around an inference call; pass on every line except MediaPipe's known harmless notices.

    A file, not a pipe: a pipe could fill and block the graph thread that writes to it. Costs a few
    microseconds per call (two dup2 and an fstat) when nothing is printed.
    """
    global _capture_file
    with _capture_lock:
        if _capture_file is None:
            _capture_file = tempfile.TemporaryFile()
        try:
            with _fd2_to(_capture_file.fileno()):
                yield
        finally:  # also when the call raised: what it printed may say why
            if os.fstat(_capture_file.fileno()).st_size:
                _capture_file.seek(0)
                caught = _capture_file.read()
                _capture_file.seek(0)
                _capture_file.truncate()
                kept = [line for line in caught.splitlines(keepends=True) if not _HARMLESS_NOTICE.search(line)]
                if kept:
                    os.write(2, b"".join(kept))


def base_options(model: Path):
    """BaseOptions reading the model bytes ourselves, so MediaPipe never resolves paths on its own."""
    from mediapipe.tasks.python import BaseOptions

    return BaseOptions(model_asset_buffer=Path(model).read_bytes())


def mp_image(rgb):
    """Wrap an RGB uint8 array as a MediaPipe image (it needs C-contiguous memory)."""
    import mediapipe as mp
    import numpy as np

    return mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(rgb))

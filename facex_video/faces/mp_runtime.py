"""Loading MediaPipe Tasks models quietly and from local files only (no hub, no bundled-asset lookup)."""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import importlib.util
import os
import re
import sys
import tempfile
import threading
import types
from collections.abc import Iterator, Sequence
from pathlib import Path

# MediaPipe's C++ core logs through glog and TFLite prints to fd 2 directly: keep the user's terminal clean.
os.environ.setdefault("GLOG_minloglevel", "2")

# mediapipe's vision package imports its drawing helpers, which import matplotlib.pyplot: ~0.4 s of every
# process's start (each CLI run, each Ray worker) for code this project never calls
LAZY_MODULES = frozenset({"mediapipe.tasks.python.vision.drawing_utils",
                          "mediapipe.tasks.python.vision.drawing_styles"})


class _LazyFinder(importlib.abc.MetaPathFinder):
    """Finds LAZY_MODULES as the path finder does, with a LazyLoader (the standard library's: the module runs
    on first attribute access), so anyone who does use them still gets them."""

    def find_spec(self, name: str, path: Sequence[str] | None, target: types.ModuleType | None = None
                  ) -> importlib.machinery.ModuleSpec | None:
        if name not in LAZY_MODULES:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is not None and spec.loader is not None:
            spec.loader = importlib.util.LazyLoader(spec.loader)
        return spec


if not any(isinstance(f, _LazyFinder) for f in sys.meta_path):
    sys.meta_path.insert(0, _LazyFinder())


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


# fd 2 is the process's, not a thread's: every redirection of it goes through _fd2_state. Model loading
# (quiet_native_stderr) has fd 2 to itself; inference calls (harmless_notices_dropped) share one capture,
# counted, so the threads of the inline runner infer side by side (a lock around each call would run
# MediaPipe one thread at a time) and only the last one out gives fd 2 back.
_fd2_state = threading.Condition()
_capturing = 0  # inference calls inside harmless_notices_dropped now
_capture_file = None
_real_fd2: int | None = None  # fd 2 as it was before the capture began


@contextlib.contextmanager
def quiet_native_stderr() -> Iterator[None]:
    """Silence fd 2 while native code initialises (TFLite's 'Sparsity tensors' notice, glog banners); waits
    until no inference call holds fd 2 captured, and keeps others from starting until it is done."""
    with _fd2_state:
        _fd2_state.wait_for(lambda: _capturing == 0)
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


@contextlib.contextmanager
def harmless_notices_dropped() -> Iterator[None]:
    """Catch fd 2 around an inference call; pass on every line except MediaPipe's known harmless notices
    (to fd 2 as it was: what other threads print meanwhile is caught and passed on too).

    A file, not a pipe: a pipe could fill and block the graph thread that writes to it. Costs a few
    microseconds per call (two dup2 and an fstat) when nothing is printed.
    """
    global _capture_file, _capturing, _real_fd2
    with _fd2_state:
        if _capturing == 0:
            if _capture_file is None:
                _capture_file = tempfile.TemporaryFile()
            try:
                _real_fd2 = os.dup(2)
            except OSError:  # no usable fd 2 (an embedded interpreter): nothing to redirect
                _real_fd2 = None
            if _real_fd2 is not None:
                os.dup2(_capture_file.fileno(), 2)
        _capturing += 1
    try:
        yield
    finally:  # also when the call raised: what it printed may say why
        with _fd2_state:
            _capturing -= 1
            if _real_fd2 is not None:
                _pass_on_caught(_capture_file, _real_fd2)
                if _capturing == 0:
                    os.dup2(_real_fd2, 2)
                    os.close(_real_fd2)
                    _real_fd2 = None
            if _capturing == 0:
                _fd2_state.notify_all()


def _pass_on_caught(capture, real_fd2: int) -> None:
    """What was printed into the capture so far, less the harmless notices, to the real fd 2."""
    if os.fstat(capture.fileno()).st_size:
        capture.seek(0)
        caught = capture.read()
        capture.seek(0)
        capture.truncate()
        kept = [line for line in caught.splitlines(keepends=True) if not _HARMLESS_NOTICE.search(line)]
        if kept:
            os.write(real_fd2, b"".join(kept))


def base_options(model: Path):
    """BaseOptions reading the model bytes ourselves, so MediaPipe never resolves paths on its own."""
    from mediapipe.tasks.python import BaseOptions

    return BaseOptions(model_asset_buffer=Path(model).read_bytes())


def mp_image(rgb):
    """Wrap an RGB uint8 array as a MediaPipe image (it needs C-contiguous memory)."""
    import mediapipe as mp
    import numpy as np

    return mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(rgb))

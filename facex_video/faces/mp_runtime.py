"""Loading MediaPipe Tasks models quietly and from local files only (no hub, no bundled-asset lookup)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

# MediaPipe's C++ core logs through glog and TFLite prints to fd 2 directly: keep the user's terminal clean.
os.environ.setdefault("GLOG_minloglevel", "2")


@contextlib.contextmanager
def quiet_native_stderr() -> Iterator[None]:
    """Silence fd 2 while native code initialises (TFLite's 'Sparsity tensors' notice, glog banners)."""
    try:
        saved = os.dup(2)
    except OSError:  # no usable fd 2 (e.g. embedded interpreters): nothing to silence
        yield
        return
    with open(os.devnull, "wb") as devnull:
        os.dup2(devnull.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def base_options(model: Path):
    """BaseOptions reading the model bytes ourselves, so MediaPipe never resolves paths on its own."""
    from mediapipe.tasks.python import BaseOptions

    return BaseOptions(model_asset_buffer=Path(model).read_bytes())


def mp_image(rgb):
    """Wrap an RGB uint8 array as a MediaPipe image (it needs C-contiguous memory)."""
    import mediapipe as mp
    import numpy as np

    return mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(rgb))

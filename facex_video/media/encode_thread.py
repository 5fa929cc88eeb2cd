"""A video writer's encoder on a thread of its own (media/encode.VideoWriter)."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable

import av

ENCODE_QUEUE = 3  # frames waiting for a writer's encoder thread: rides out one slow frame; ~8 MB at 720p


class EncoderThread:
    """Converts, encodes and muxes a writer's frames on a thread of its own, in order, so the caller decodes,
    analyses or renders the next frame meanwhile: PyAV lets go of the GIL inside swscale and the encoder
    (measured: 100 720p frames of libx264 medium and 100 of ~20 ms NumPy/OpenCV work, 8.7 s one after the
    other, 6.8 s side by side). The encoder's own settings, hence its bitstream, are unchanged. The first
    error is kept and raised to the caller at its next put or at finish."""

    def __init__(self, encode: Callable[[av.VideoFrame], None]):
        self._encode = encode
        self._queue: queue.Queue[av.VideoFrame | None] = queue.Queue(ENCODE_QUEUE)
        self._error: BaseException | None = None
        self._dropping = False
        self._thread = threading.Thread(target=self._run, name="facex-encode", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (frame := self._queue.get()) is not None:
            if self._error is None and not self._dropping:
                try:
                    self._encode(frame)
                except BaseException as e:  # noqa: BLE001 (raised again on the caller's thread)
                    self._error = e

    def put(self, frame: av.VideoFrame) -> None:
        self._raise()
        self._queue.put(frame)

    def finish(self) -> None:
        """Wait until every frame put is encoded; raise the first error."""
        self._queue.put(None)
        self._thread.join()
        self._raise()

    def drop(self) -> None:
        """Stop, leaving the frames not yet encoded."""
        self._dropping = True
        self._queue.put(None)  # the thread skips what is queued before it
        self._thread.join()

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error

"""A frame number burnt into a corner of a test frame, as dailies burn in timecode: it makes every frame of a
conformance clip tell which input frame it is, even where the camera barely moves between frames."""

from __future__ import annotations

import numpy as np

BITS = 12  # frames 0..4095
BLOCK = 8  # px: big enough to survive 4:2:0 chroma and a low bitrate
PITCH = 10  # px from one bit to the next


def stamp(rgb: np.ndarray, number: int) -> np.ndarray:
    """A copy of `rgb` with `number` as white/black blocks along the bottom-left edge."""
    if not 0 <= number < 2**BITS:
        raise ValueError(f"number must be in 0..{2**BITS - 1}, got {number}")
    out = rgb.copy()
    y = out.shape[0] - BLOCK - 2
    out[y - 2:y + BLOCK + 2, :BITS * PITCH + 2] = 128  # a grey band the blocks stand on
    for k in range(BITS):
        x = 2 + k * PITCH
        out[y:y + BLOCK, x:x + BLOCK] = 255 if number >> k & 1 else 0
    return out


def read_stamp(rgb: np.ndarray) -> int:
    """The number `stamp` burnt into an upright frame, read from each block's centre."""
    y = rgb.shape[0] - BLOCK - 2
    number = 0
    for k in range(BITS):
        x = 2 + k * PITCH
        if rgb[y + 2:y + BLOCK - 2, x + 2:x + BLOCK - 2].mean() > 128:
            number |= 1 << k
    return number

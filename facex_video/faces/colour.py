"""Colour matching of an edited face to the skin around it, steady along a video track.

Statistics are per channel in CIE Lab (float, L in 0-100): moving a and b moves hue and saturation without
touching lightness, so a tone correction does not flatten the shading a relighting step put in. The
transfer is Reinhard et al.'s (2001) mean/std match, with the std ratio clamped: a wrinkled or freckled
face has a wider spread than a smooth one, and matching it exactly would amplify or erase that texture.
The local shading match then moves the light's layout (the low frequencies over the skin) as well.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

SHADING_SUPPORT = 0.3  # mask density (blurred) from which on the local shading match applies in full
MIN_PIXELS = 50  # fewer samples than this give no reliable statistics: the transfer is left as identity


@dataclass(frozen=True)
class ColourTransfer:
    """Lab' = gain * Lab + offset, per channel."""

    gain: np.ndarray
    offset: np.ndarray

    @classmethod
    def identity(cls) -> ColourTransfer:
        return cls(np.ones(3), np.zeros(3))

    def smoothed(self, previous: ColourTransfer | None, keep: float) -> ColourTransfer:
        """Exponential moving average with the previous frame's transfer: `keep` of the old one, so the
        colour of a face does not flicker with the per-frame statistics."""
        if previous is None:
            return self
        return ColourTransfer(keep * previous.gain + (1 - keep) * self.gain,
                              keep * previous.offset + (1 - keep) * self.offset)

    def apply(self, rgb: np.ndarray) -> np.ndarray:
        """float32 RGB in [0, 1] (any leading shape, last axis 3) -> the same, transferred."""
        lab = rgb_to_lab(rgb)
        return lab_to_rgb(lab * self.gain.astype(np.float32) + self.offset.astype(np.float32))


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """float32 RGB in [0, 1], shape (..., 3) -> float32 Lab of the same shape."""
    x = np.ascontiguousarray(np.clip(rgb, 0, 1), np.float32)
    return cv2.cvtColor(x.reshape(-1, 1, 3), cv2.COLOR_RGB2Lab).reshape(x.shape)


def lab_to_rgb(lab: np.ndarray) -> np.ndarray:
    """float32 Lab, shape (..., 3) -> float32 RGB clipped to [0, 1]."""
    x = np.ascontiguousarray(lab, np.float32)
    return np.clip(cv2.cvtColor(x.reshape(-1, 1, 3), cv2.COLOR_Lab2RGB).reshape(x.shape), 0, 1)


def match_statistics(source: np.ndarray, target: np.ndarray, max_gain: float = 1.3,
                     max_chroma_gain: float = 2.0) -> ColourTransfer:
    """The transfer that gives `source` pixels (n, 3) float RGB in [0, 1] the Lab lightness mean and
    (clamped) spread of `target` pixels (m, 3), and its mean a and b by a (clamped) scale plus, when the
    scale is clamped short, a shift toward the target's hue; identity when either side has fewer than
    MIN_PIXELS samples."""
    if len(source) < MIN_PIXELS or len(target) < MIN_PIXELS:
        return ColourTransfer.identity()
    s, t = rgb_to_lab(source), rgb_to_lab(target)
    ms, mt = s.mean(axis=0).astype(np.float64), t.mean(axis=0).astype(np.float64)
    gain = np.empty(3)
    gain[0] = np.clip(t[:, 0].std() / max(float(s[:, 0].std()), 1e-3), 1 / max_gain, max_gain)
    same_side = (ms[1:] * mt[1:] > 0) & (np.abs(ms[1:]) > 1.0)
    gain[1:] = np.where(same_side, np.clip(mt[1:] / np.where(same_side, ms[1:], 1.0), 1 / max_chroma_gain,
                                           max_chroma_gain), 1.0)
    offset = np.array([mt[0] - gain[0] * ms[0], 0.0, 0.0])
    # what the clamped scale leaves short of the target's mean chroma is added as a shift, but only toward the
    # target's hue (a near-grey source, e.g. a black-and-white photo, must still take on skin colour; a shift
    # away from it would turn pale pixels cyan)
    residual = mt[1:] - gain[1:] * ms[1:]
    toward = np.sign(residual) == np.sign(mt[1:])
    offset[1:] = np.where(same_side, np.where(toward, residual, 0.0), mt[1:] - ms[1:])
    return ColourTransfer(gain, offset)


def match_shading(image: np.ndarray, reference: np.ndarray, mask: np.ndarray, sigma: float) -> np.ndarray:
    """float32 RGB `image` (h, w, 3, [0, 1]) with its low frequencies in Lab (blurred by `sigma` px over
    `mask` only: a normalised convolution, so eyes, brows and hair around the skin do not leak in) replaced
    by `reference`'s. A global match leaves the light's layout: a donor lit from one side keeps a bright
    forehead and nose over a target face in shade, which reads as a pasted patch; at a sigma of a few
    percent of the face the eyes, nose and mouth of the image keep their own shapes."""
    w = mask.astype(np.float32)
    support = cv2.GaussianBlur(w, (0, 0), sigma)[..., None]
    norm = np.maximum(support, 1e-3)
    lab, ref = rgb_to_lab(image), rgb_to_lab(reference)
    low = cv2.GaussianBlur(lab * w[..., None], (0, 0), sigma) / norm
    low_ref = cv2.GaussianBlur(ref * w[..., None], (0, 0), sigma) / norm
    # far from the mask the averages rest on a few pixels: the correction fades out there
    return lab_to_rgb(lab + np.clip(support / SHADING_SUPPORT, 0.0, 1.0) * (low_ref - low))

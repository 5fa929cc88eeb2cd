"""Colour matching of an edited face to the skin around it, steady along a video track.

Statistics are per channel in CIE Lab (float, L in 0-100): moving a and b moves hue and saturation without
touching lightness, so a tone correction does not flatten the shading a relighting step put in. The
transfer is Reinhard et al.'s (2001) mean/std match, with the std ratio clamped: a wrinkled or freckled
face has a wider spread than a smooth one, and matching it exactly would amplify or erase that texture.
The local shading match then moves the light's layout (the low frequencies over the skin) as well.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

SHADING_SUPPORT = 0.3  # mask density (blurred) from which on the local shading match applies in full
SHADING_SAMPLES = 5  # the shading match's coarse grid has at least this many px per sigma
SHADING_REACH = 3.0  # sigmas around the mask's box the shading match reaches: past them its support is < 0.3%
MIN_PIXELS = 50  # fewer samples than this give no reliable statistics: the transfer is left as identity
MAX_PIXELS = 20000  # samples a side's statistics take at most (evenly strided) of a face's ~10^5 skin
# pixels: a fifth of the Lab conversions; six still tasks' results moved by at most 2 levels


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
    return cv2.cvtColor(_rows(x), cv2.COLOR_RGB2Lab).reshape(x.shape)


def lab_to_rgb(lab: np.ndarray) -> np.ndarray:
    """float32 Lab, shape (..., 3) -> float32 RGB clipped to [0, 1]."""
    x = np.ascontiguousarray(lab, np.float32)
    return np.clip(cv2.cvtColor(_rows(x), cv2.COLOR_Lab2RGB).reshape(x.shape), 0, 1)


def _rows(x: np.ndarray) -> np.ndarray:
    """(..., 3) -> a 3-channel image for cvtColor: an image keeps its rows, a list of pixels is one row (as a
    column of one-pixel rows it took 5x the time: 2.8 -> 0.56 ms for 75k pixels; Lab -> RGB moves by at most
    0.0012 of a level, cvtColor's vector and scalar paths rounding apart)."""
    return x.reshape(-1, x.shape[-2], 3) if x.ndim >= 3 else x.reshape(1, -1, 3)


def match_statistics(source: np.ndarray, target: np.ndarray, max_gain: float = 1.3,
                     max_chroma_gain: float = 2.0) -> ColourTransfer:
    """The transfer that gives `source` pixels (n, 3) float RGB in [0, 1] the Lab lightness mean and
    (clamped) spread of `target` pixels (m, 3), and its mean a and b by a (clamped) scale plus, when the
    scale is clamped short, a shift toward the target's hue; identity when either side has fewer than
    MIN_PIXELS samples."""
    if len(source) < MIN_PIXELS or len(target) < MIN_PIXELS:
        return ColourTransfer.identity()
    s = rgb_to_lab(source[:: -(-len(source) // MAX_PIXELS)])
    t = rgb_to_lab(target[:: -(-len(target) // MAX_PIXELS)])
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
    percent of the face the eyes, nose and mouth of the image keep their own shapes.

    How: low_ref - low (= blur(mask * (ref - image)) / support, one blur by linearity) and the support are
    smooth at the scale of sigma, so they are computed on a grid `f` times coarser, samples at most
    sigma / SHADING_SAMPLES px apart (4 px at sigma 20): mask * (ref - image) in Lab and the mask are
    area-averaged to it, blurred there and interpolated back, which loses nothing visible (< 1/255 on the
    mask) and costs a fraction of three full-resolution blurs. The fade clip(support / SHADING_SUPPORT) is
    applied at full resolution, its kink just outside the mask is not rounded off. Lab conversions and the
    correction cover only the mask's box grown by SHADING_REACH sigmas (past it the support is under 0.3%,
    the correction under 1% of the difference): outside, the output is `image` itself, bit for bit."""
    h, w = mask.shape
    out = image.astype(np.float32, copy=True)
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if not len(rows):
        return out
    f = int(np.clip(sigma // SHADING_SAMPLES, 1, 4))  # full-resolution px per coarse-grid px
    lh, lw = -(-h // f), -(-w // f)  # coarse grid, covering the image
    # the mask's box (b) and the box the correction reaches (a), in coarse px
    by0, by1, bx0, bx1 = rows[0] // f, rows[-1] // f + 1, cols[0] // f, cols[-1] // f + 1
    r = math.ceil(SHADING_REACH * sigma / f)
    ay0, ay1, ax0, ax1 = max(by0 - r, 0), min(by1 + r, lh), max(bx0 - r, 0), min(bx1 + r, lw)
    lab = rgb_to_lab(image[ay0 * f:ay1 * f, ax0 * f:ax1 * f])
    ys, xs = slice(by0 * f, by1 * f), slice(bx0 * f, bx1 * f)
    weight = mask[ys, xs].astype(np.float32)
    mh, mw = weight.shape
    oy, ox = (by0 - ay0) * f, (bx0 - ax0) * f
    # low_ref - low = blur(mask * (ref - lab)) / support: one 3-channel blur, with the support as a 4th channel;
    # zero-padded to whole coarse px where the image's size is not a multiple of f
    fine = np.zeros(((by1 - by0) * f, (bx1 - bx0) * f, 4), np.float32)
    fine[:mh, :mw, :3] = (rgb_to_lab(reference[ys, xs]) - lab[oy:oy + mh, ox:ox + mw]) * weight[..., None]
    fine[:mh, :mw, 3] = weight
    coarse = np.zeros((lh, lw, 4), np.float32)
    coarse[by0:by1, bx0:bx1] = cv2.resize(fine, (bx1 - bx0, by1 - by0), interpolation=cv2.INTER_AREA)
    # the area average and the linear interpolation back each blur a little (variance (f^2 - 1) / 12 and about
    # (f^2 - 1) / 6 px^2): the coarse blur is narrowed by as much. At the image's edges it mirrors as near as it
    # can to where the full-resolution default (reflect-101) does: on the edge pixel's centre
    border = cv2.BORDER_REFLECT if f > 2 else cv2.BORDER_REFLECT_101
    coarse = cv2.GaussianBlur(coarse, (0, 0), math.sqrt(sigma**2 - (f * f - 1) / 4) / f, borderType=border)
    coarse[..., :3] = coarse[..., :3] / np.maximum(coarse[..., 3:], 1e-3)  # low_ref - low
    # interpolated with one coarse px more on each side where there is one, so the box's edge is not clamped
    uy0, uy1, ux0, ux1 = max(ay0 - 1, 0), min(ay1 + 1, lh), max(ax0 - 1, 0), min(ax1 + 1, lw)
    up = cv2.resize(coarse[uy0:uy1, ux0:ux1], ((ux1 - ux0) * f, (uy1 - uy0) * f), interpolation=cv2.INTER_LINEAR)
    oy, ox = (ay0 - uy0) * f, (ax0 - ux0) * f
    up = up[oy:oy + lab.shape[0], ox:ox + lab.shape[1]]
    # far from the mask the averages rest on a few pixels: the correction fades out there (at full resolution:
    # interpolated, the clip's kink just outside the mask would be rounded off, up to ~3/255)
    lab += np.clip(up[..., 3:] * (1 / SHADING_SUPPORT), 0.0, 1.0) * up[..., :3]
    out[ay0 * f:ay1 * f, ax0 * f:ax1 * f] = lab_to_rgb(lab)
    return out

"""Canonical 512x512 face crops and their exact inverse: paste an (edited) crop back into its frame.

The template is the FFHQ-style 5-point layout used by GFPGAN/CodeFormer (facexlib) at 512 px: eyes,
nose tip and mouth corners sit in the middle, leaving room for hair, ears and chin, which FORD's
environment (hair, background) and the head/hair tasks need. A similarity transform (rotation, uniform
scale, translation) maps the frame to the crop; pasting uses its analytic inverse, so crop -> paste of an
unchanged crop returns the frame up to resampling error.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from ..core.constants import CROP_SIZE
from .blend import window

# a watermark's luma offsets (float32, 8-bit scale) for the frame region of this origin (x, y) and size (w, h)
Grain = Callable[[tuple[int, int], tuple[int, int]], np.ndarray]

# eye centres (subject's right eye first = image left), nose tip, mouth corners, at 512 x 512
TEMPLATE_512 = np.array(
    [
        [192.98138, 239.94708],
        [318.90277, 240.1936],
        [256.63416, 314.01935],
        [201.26117, 371.41043],
        [313.08905, 371.15118],
    ]
)


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (Umeyama 1991) mapping src (n, 2) onto dst (n, 2), as a 2x3 matrix."""
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    mu_s, mu_d = src.mean(axis=0), dst.mean(axis=0)
    s, d = src - mu_s, dst - mu_d
    cov = d.T @ s / len(src)
    u, sig, vt = np.linalg.svd(cov)
    sign = np.diag([1.0, np.sign(np.linalg.det(u) * np.linalg.det(vt)) or 1.0])
    rot = u @ sign @ vt
    scale = np.trace(np.diag(sig) @ sign) / (s**2).sum(axis=1).mean()
    m = np.zeros((2, 3))
    m[:, :2] = scale * rot
    m[:, 2] = mu_d - m[:, :2] @ mu_s
    return m


def alignment_matrix(five_points: np.ndarray, size: int = CROP_SIZE) -> np.ndarray:
    """2x3 frame -> crop transform putting the 5 points on the canonical template at `size` px."""
    return similarity_transform(five_points, TEMPLATE_512 * (size / CROP_SIZE))


def invert(m: np.ndarray) -> np.ndarray:
    """Analytic inverse of a 2x3 affine matrix."""
    return cv2.invertAffineTransform(np.asarray(m, np.float64))


def crop_face(frame: np.ndarray, m: np.ndarray, size: int = CROP_SIZE) -> np.ndarray:
    """The canonical crop of a face: frame resampled through `m` (bicubic, edges replicated)."""
    return cv2.warpAffine(frame, m, (size, size), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)


@dataclass(frozen=True)
class AlignedCrop:
    """A face's canonical crop and the frame -> crop transform that made it, made once per face and frame and
    shared by FORD and the renderer's inputs (each 512 px bicubic resample of a 720p frame costs ~4 ms)."""

    image: np.ndarray
    transform: np.ndarray


def align_face(frame: np.ndarray, five_points: np.ndarray) -> AlignedCrop:
    """The AlignedCrop of the face whose five points are given."""
    m = alignment_matrix(five_points)
    return AlignedCrop(crop_face(frame, m), m)


@functools.lru_cache(maxsize=8)
def feather_mask(size: int = CROP_SIZE, margin: float = 0.06) -> np.ndarray:
    """float32 (size, size) alpha that is 1 inside and ramps smoothly to 0 over the outer `margin`.

    Cached (every face of every frame uses it): treat the returned array as read-only."""
    ramp = np.clip(np.minimum(np.arange(size) + 0.5, size - np.arange(size) - 0.5) / (margin * size), 0, 1)
    ramp = ramp * ramp * (3 - 2 * ramp)  # smoothstep: no visible seam where the ramp meets the plateau
    mask = np.outer(ramp, ramp).astype(np.float32)
    mask.flags.writeable = False
    return mask


def paste_face(
    frame: np.ndarray, crop: np.ndarray, m: np.ndarray, alpha: np.ndarray | None = None, mark: Grain | None = None
) -> np.ndarray:
    """Blend `crop` back into `frame` (in place, returned) through the inverse of `m`.

    alpha: (size, size) float in [0, 1] in crop coordinates (e.g. a renderer's face mask); it is
    multiplied by the feathered border so the crop's square edge never shows. Only the region the crop
    covers is resampled, so the cost scales with the face, not the frame. A uint16 frame (a deep plate on the
    full 16-bit scale) or a float one (an EXR sequence, sRGB-encoded, 1.0 = white, brighter values allowed)
    takes a uint8 crop scaled to it: outside the face its values stay as they are.
    mark: a synthesised face's watermark grain (faces/watermark.Stamp.grain), added where the face is pasted,
    in frame pixels (a large face's crop is coarser than the frame and could not hold the grain).
    """
    size = crop.shape[0]
    weight = feather_mask(size) if alpha is None else feather_mask(size) * np.asarray(alpha, np.float32)
    box = window(weight)
    if box is None:
        return frame
    # only where the weight reaches (a renderer's alpha is often a fraction of the crop), with a margin
    # for the interpolation kernels
    lo = np.array([box[1].start, box[0].start]) - 3.0
    hi = np.array([box[1].stop - 1, box[0].stop - 1]) + 4.0
    inv = invert(m)
    corners = np.array([lo, [hi[0], lo[1]], [lo[0], hi[1]], hi], np.float64) @ inv[:, :2].T + inv[:, 2]
    h, w = frame.shape[:2]
    x0, y0 = np.maximum(np.floor(corners.min(axis=0)).astype(int) - 2, 0)
    x1, y1 = np.minimum(np.ceil(corners.max(axis=0)).astype(int) + 2, [w, h])
    if x1 <= x0 or y1 <= y0:
        return frame
    roi_inv = inv.copy()
    roi_inv[:, 2] -= [x0, y0]
    roi_size = (int(x1 - x0), int(y1 - y0))
    patch = cv2.warpAffine(crop, roi_inv, roi_size, flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
    a = cv2.warpAffine(weight, roi_inv, roi_size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    grain = mark((int(x0), int(y0)), roi_size) if mark is not None else None
    if frame.dtype == np.uint8 and crop.dtype == np.uint8:
        # 8-bit frames (most footage) blend in one OpenCV pass: the float32 arithmetic below over a large
        # face's region cost 5 ms more (measured on a 600x560 px region); results within one level of it
        if grain is not None:
            patch = cv2.add(patch, cv2.merge([grain, grain, grain]), dtype=cv2.CV_8U)
        frame[y0:y1, x0:x1] = cv2.blendLinear(patch, frame[y0:y1, x0:x1], a, 1.0 - a)
        return frame
    a = a[..., None]
    roi = frame[y0:y1, x0:x1].astype(np.float32)
    face = patch.astype(np.float32)
    if grain is not None:
        face += grain[..., None] * np.float32(np.iinfo(crop.dtype).max / 255)
    if np.issubdtype(frame.dtype, np.floating):  # no rounding, no ceiling: over-white values stay
        frame[y0:y1, x0:x1] = roi + a * (face / np.iinfo(crop.dtype).max - roi)
        return frame
    top = float(np.iinfo(frame.dtype).max)
    scale = top / np.iinfo(crop.dtype).max
    face = face * scale if scale != 1 else face
    frame[y0:y1, x0:x1] = np.clip(roi + a * (face - roi) + 0.5, 0, top).astype(frame.dtype)
    return frame

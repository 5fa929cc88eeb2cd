"""An invisible watermark in edited faces, found again in a single frame lifted out of the file (issue 17).

What it is: a keyed, periodic noise tile (TILE px square, band-passed to grains of ~1-3 px) added to the luma
of the pasted face, weighted by the paste's alpha, so only edited face pixels change. The tile is laid on the
rendered face's own aligned coordinates (its five points' frame -> crop transform), scaled so that one tile
pixel is about one frame pixel: it moves, zooms and turns with the face, as H.264's motion compensation
expects. (Laid on the frame's grid, a zooming face's P-frames carried a shifted copy and detection after a CRF
28 re-encode fell from z ~20 to ~4 within half a second: measured in the prototype of this module.) The scale
is one of LEVELS_PER_OCTAVE steps per octave, kept along a track while the face's size stays within 1.5 steps
of it (`track_level`), so the lattice does not jump from frame to frame.

Found by: the face's landmarks in the frame give its aligned transform again; for the scale levels near it and
a few small scale/rotation corrections (landmarks read on the result are not the ones it was drawn with), the
whitened luma inside the face (and, for a hair swap, the head) is resampled on the tile's grid, folded modulo
TILE (every repeat of the tile averaged into one) and cross-correlated with the tile circularly (any
translation); the peak's height over the spread of the correlation surface is the score. THRESHOLD was set on
unedited faces (docs/tuning.md).

Written here rather than taken from `invisible-watermark` (diffusers' SDXL mark): its DWT-DCT mark was found
in 0 of 20 frames after an H.264 encode at CRF 28 (measured), and it knows nothing of faces moving under a
codec. The key is public: this mark says "edited", it is not a secret and not proof against a determined
remover.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np

from .align import alignment_matrix
from .types import five_points

KEY = 0xFACE17  # seed of the public tile
TILE = 64  # tile side, px
GRAIN = 1.0  # Gaussian sigma of the noise grain, tile px
BAND = 6.0  # grains coarser than this sigma (tile px) are removed: the detector whitens them away anyway
AMPLITUDE = 3.0  # std of the luma offset on the 8-bit scale where alpha is 1, at level 1 and up (amplitude())
LEVELS_PER_OCTAVE = 4
WHITEN = 1.5  # sigma (frame px) of the low-pass the detector subtracts from luma
# the whitened luma is divided by its local spread (Gaussian window of this sigma, frame px) plus a floor
# (8-bit levels), so textured skin, lashes and lips count less than smooth cheeks: Tom Hanks' 112 px face,
# swapped and grained at twice AMPLITUDE, read 6.4 -> 10.1 (CRF 16) and 4.9 -> 7.5 (CRF 28); unedited faces
# stayed at or below 5.3
LOCAL_SPREAD = (2.0, 0.5)
# the search the detector runs around the landmarks' transform: levels within 3/8 octave, these relative
# scales and rotations (radians)
SEARCH_LEVELS = 3
SEARCH_SCALES = (0.96, 0.98, 1.0, 1.02, 1.04)
SEARCH_ROTATIONS = (-0.03, 0.0, 0.03)
REFINE_STEPS = (0.01, 0.005)  # relative scale steps of the refinement (rotation: 1.5x in radians)
# where the detector looks, as (grow, lift) of the landmarks' hull: the face; the head with its hair (a hair
# swap edits no face pixel)
REGIONS = ((1.0, 0.0), (1.7, 0.25))
THRESHOLD = 7.0  # score above which a face is marked (see module docstring)


@functools.lru_cache(maxsize=1)
def tile() -> np.ndarray:
    """The (TILE, TILE) float32 tile, zero mean and unit std, periodic: white noise band-passed in Fourier."""
    rng = np.random.default_rng(KEY)
    u = np.fft.fftfreq(TILE)[:, None] ** 2 + np.fft.fftfreq(TILE)[None, :] ** 2
    band = np.exp(-2 * (np.pi * GRAIN) ** 2 * u) - np.exp(-2 * (np.pi * BAND) ** 2 * u)
    p = np.real(np.fft.ifft2(np.fft.fft2(rng.standard_normal((TILE, TILE))) * band))
    p = (p / p.std()).astype(np.float32)
    p.flags.writeable = False
    return p


def _scale(m: np.ndarray) -> float:
    """Crop px per frame px of a similarity transform."""
    return float(np.sqrt(abs(np.linalg.det(np.asarray(m)[:, :2]))))


def _level(k: float) -> float:
    return float(2.0 ** (np.round(np.log2(k) * LEVELS_PER_OCTAVE) / LEVELS_PER_OCTAVE))


def track_level(level: float | None, m: np.ndarray) -> float:
    """The tile's scale for this frame of a track: kept from the previous frame (`level`) while the face's
    crop scale stays within 1.5 steps of it, else the step nearest the face's scale."""
    k = _scale(m)
    if level is None or abs(np.log2(k / level)) > 1.5 / LEVELS_PER_OCTAVE:
        return _level(k)
    return level


def _tile_transform(m: np.ndarray, level: float) -> np.ndarray:
    """frame -> tile coordinates (2x3)."""
    return np.asarray(m, np.float64) / level


@dataclass(frozen=True)
class Stamp:
    """Where one edited face's grain lies: the frame -> aligned crop transform of the face as rendered (its
    own five points, so the lattice follows a turned or reenacted head as the picture does) and the tile
    scale level along its track."""

    level: float
    transform: np.ndarray

    def to_row(self) -> np.ndarray:
        """(7,) float64: the level, then the transform (a segment file's row; all zeros: no stamp)."""
        return np.concatenate([[self.level], np.asarray(self.transform, np.float64).ravel()])

    @classmethod
    def from_row(cls, row: np.ndarray) -> Stamp | None:
        return cls(float(row[0]), np.asarray(row[1:], np.float64).reshape(2, 3)) if row[0] > 0 else None

    def grain(self, origin: tuple[int, int], size: tuple[int, int]) -> np.ndarray:
        """The luma offsets (float32, 8-bit scale, alpha not applied) of the frame region `size` (w, h) at
        `origin` (x, y)."""
        return grain(self.transform, self.level, origin, size)


def face_stamp(level: float | None, crop_transform: np.ndarray, landmarks: np.ndarray) -> Stamp:
    """The Stamp of a face rendered with `landmarks` ((478, 2+) px of the crop `crop_transform` maps the frame
    to), its level kept from the track's previous frame (`level`) where it still fits (track_level)."""
    inverse = cv2.invertAffineTransform(np.asarray(crop_transform, np.float64))
    points = five_points(np.asarray(landmarks, np.float64)[:, :2]) @ inverse[:, :2].T + inverse[:, 2]
    m = alignment_matrix(points)
    return Stamp(track_level(level, m), m)


def grain(m: np.ndarray, level: float, origin: tuple[int, int], size: tuple[int, int]) -> np.ndarray:
    """The luma offsets (float32, 8-bit scale, alpha not applied) of a frame region `size` (w, h) at `origin`
    (x, y), for the face whose frame -> aligned crop transform is m, at tile scale `level`."""
    a = _tile_transform(m, level)
    a[:, 2] += a[:, :2] @ np.asarray(origin, np.float64)
    # the tile repeated over the tile-grid cells the region reaches, so the warp never leaves it: OpenCV's
    # BORDER_WRAP takes a per-pixel slow path (3.2 -> 0.9 ms for a 640 px face region, values within 1e-3
    # of a level); the shift is whole tiles, so the lattice is the same
    w, h = size
    corners = np.array([[0, 0, 1], [w, 0, 1], [0, h, 1], [w, h, 1]], np.float64) @ a.T
    lo = np.floor(corners.min(axis=0) / TILE) - 1
    cells = (np.ceil(corners.max(axis=0) / TILE) + 1 - lo).astype(int)
    a[:, 2] -= lo * TILE
    # the 64 px tile scaled before it is repeated, not the face-sized result: this runs on every pasted face
    lattice = np.tile(tile() * np.float32(amplitude(level)), (cells[1], cells[0]))
    return cv2.warpAffine(lattice, a, size, flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REPLICATE)


def amplitude(level: float) -> float:
    """The grain's std (8-bit luma) at a tile scale level: AMPLITUDE, times the square root of the level below
    1. The score grows with the amplitude and with the square root of the face's area, which falls as
    1 / level^2: a large face (larger on screen than its 512 px crop, where grain shows most) is found at
    less. A small face would need more, but twice AMPLITUDE showed as sandpaper on 130 px faces at 1:1, so
    small faces keep AMPLITUDE and the smallest are not found (docs/tuning.md)."""
    return AMPLITUDE * min(1.0, float(np.sqrt(level)))


@dataclass(frozen=True)
class Score:
    """The detector's reading of one face: the score, and the tile scale level where it peaked."""

    score: float
    level: float


def whiten(rgb: np.ndarray) -> np.ndarray:
    """float32 luma of an RGB frame (8-bit scale whatever its depth) minus its low-pass, over its local
    spread: the host picture's large structures and strong textures, which hide the mark, removed."""
    y = cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV)[..., 0].astype(np.float32)
    if rgb.dtype != np.uint8:
        y *= 255.0 / (1.0 if np.issubdtype(rgb.dtype, np.floating) else np.iinfo(rgb.dtype).max)
    residual = y - cv2.GaussianBlur(y, (0, 0), WHITEN)
    sigma, floor = LOCAL_SPREAD
    return residual / (np.sqrt(cv2.GaussianBlur(residual * residual, (0, 0), sigma)) + floor)


@functools.lru_cache(maxsize=1)
def _tile_spectrum() -> np.ndarray:
    p = tile()
    whitened = p - cv2.GaussianBlur(np.tile(p, (3, 3)), (0, 0), WHITEN)[TILE:2 * TILE, TILE:2 * TILE]
    return np.conj(np.fft.fft2(whitened))


def _fold_score(residual: np.ndarray, mask: np.ndarray, a: np.ndarray, box: np.ndarray) -> float:
    """Correlation peak score of `residual` resampled on the tile grid through `a` (frame -> tile) over the
    face's frame `box` (x0, y0, x1, y1)."""
    corners = np.array([[box[0], box[1]], [box[2], box[1]], [box[0], box[3]], [box[2], box[3]]])
    q = corners @ a[:, :2].T + a[:, 2]
    q0 = np.floor(q.min(axis=0)).astype(int) - 1
    q1 = np.ceil(q.max(axis=0)).astype(int) + 1
    b = a.copy()
    b[:, 2] -= q0
    size = (int(q1[0] - q0[0]), int(q1[1] - q0[1]))
    g = cv2.warpAffine(residual, b, size, flags=cv2.INTER_LINEAR)
    w = cv2.warpAffine(mask, b, size, flags=cv2.INTER_LINEAR)
    rows = (np.arange(size[1]) + q0[1]) % TILE
    cols = (np.arange(size[0]) + q0[0]) % TILE
    index = (rows[:, None] * TILE + cols[None, :]).ravel()
    total = np.bincount(index, g.ravel(), TILE * TILE)
    weight = np.bincount(index, w.ravel(), TILE * TILE)
    seen = weight > 0.5
    if seen.sum() < TILE * TILE // 2:
        return 0.0
    folded = np.where(seen, total / np.maximum(weight, 1e-6), 0.0)
    folded[seen] -= folded[seen].mean()
    c = np.real(np.fft.ifft2(np.fft.fft2(folded.reshape(TILE, TILE)) * _tile_spectrum()))
    median = np.median(c)
    spread = 1.4826 * np.median(np.abs(c - median))
    return float((c.max() - median) / spread) if spread > 0 else 0.0


def face_mask(shape: tuple[int, ...], landmarks: np.ndarray, grow: float = 1.0, lift: float = 0.0) -> np.ndarray:
    """float32 mask of a face's landmark hull, eroded a little (the paste's alpha falls off at its edge);
    grown `grow` times about its centre and lifted by `lift` of its height (to take in hair)."""
    points = np.asarray(landmarks, np.float64)[:, :2]
    centre = points.mean(axis=0)
    points = (points - centre) * grow + centre - [0.0, lift * np.ptp(points[:, 1])]
    mask = np.zeros(shape[:2], np.uint8)
    cv2.fillConvexPoly(mask, cv2.convexHull(np.round(points).astype(np.int32)), 1)
    return cv2.erode(mask, np.ones((5, 5), np.uint8)).astype(np.float32)


def score_face(residual: np.ndarray, landmarks: np.ndarray, m: np.ndarray) -> Score:
    """The best score over the search around the face's crop transform `m` (from its landmarks), in each of
    REGIONS around the face.

    residual: `whiten(frame)`; landmarks: (n, 2+) frame px of the face."""
    return max((_score_region(residual, face_mask(residual.shape, landmarks, *region), m) for region in REGIONS),
               key=lambda s: s.score)


def _score_region(residual: np.ndarray, mask: np.ndarray, m: np.ndarray) -> Score:
    ys, xs = np.nonzero(mask)
    if len(xs) < TILE * TILE // 2:
        return Score(0.0, 0.0)
    box = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float64)
    spread = 1.4826 * np.median(np.abs(residual[ys, xs])) + 1e-3
    # clipped: edges (eyes, lips) would outweigh the grain
    clipped = np.clip(residual, -2.5 * spread, 2.5 * spread) * mask
    centre = np.array([xs.mean(), ys.mean()])

    def score(level: float, scale: float, angle: float) -> float:
        base = _tile_transform(m, level)
        a = np.zeros((2, 3))
        a[:, :2] = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]) @ base[:, :2]
        a[:, 2] = base[:, :2] @ centre + base[:, 2] - a[:, :2] @ centre  # turned and scaled about the face's centre
        return _fold_score(clipped, mask, a, box)

    k = _scale(m)
    levels = {_level(k * 2.0 ** (s / (2 * LEVELS_PER_OCTAVE))) for s in range(-SEARCH_LEVELS, SEARCH_LEVELS + 1)}
    found = max((score(level, scale, angle), level, scale, angle) for level in sorted(levels)
                 for scale in SEARCH_SCALES for angle in SEARCH_ROTATIONS)
    # then finer around the best: a large face's grain is many tile lengths across, so a 1 % scale error
    # already costs half the score there (measured: 11.6 -> 26.2 on a 470 px face with a finer grid)
    for step in REFINE_STEPS:
        _, level, scale, angle = found
        found = max(found, *((score(level, scale + ds * step, angle + da * step * 1.5), level, scale + ds * step,
                              angle + da * step * 1.5) for ds in (-1, 0, 1) for da in (-1, 0, 1) if ds or da))
    return Score(found[0], found[1])

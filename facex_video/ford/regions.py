"""Region masks of FORD's environment (docs/design.md §2), in the aligned 512x512 crop.

No face-parsing network ships in a package (docs/design.md §1), so the masks come from the landmark mesh,
with two colour models for what the mesh cannot see:
- mesh polygons: face_oval, brows, eyes, iris, lips, mouth_interior (REGION_CONTOURS filled with cv2);
- occluder: pixels inside the face oval whose chroma a skin-colour Gaussian rejects (hands, glasses, food);
- hair: GrabCut seeded from the mesh geometry (see `_hair_mask`);
- skin: the face oval minus every other face part, the occluders and the hair (bangs) over it;
- background: neither face oval nor hair: the scene, and also the body, neck, ears and the upper forehead
  (MediaPipe's oval tops out mid-forehead), which no mask here claims.

All masks are bool (512, 512). The crop is aligned (faces/align.py), so the face always has about the same
size there and the fixed pixel sizes below (kernels, margins) hold for every face.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np

from ..core.constants import CROP_SIZE
from ..faces.blend import window
from .mesh import LEFT_IRIS_CENTRE, REGION_CONTOURS, RIGHT_IRIS_CENTRE, canonical_mesh
from .representation import MASK_NAMES

_SHIFT = 4  # fixed-point bits for cv2 polygon drawing: landmarks are sub-pixel
GRABCUT_SIZE = 80  # GrabCut runs on a downscaled crop: its max-flow costs ~10 ms here, 50-100 ms at 128 px
GRABCUT_ITERATIONS = 2
SKIN_COLOUR_CHI2 = 9.0  # squared Mahalanobis distance (Lab) within which a face pixel is certainly skin
OCCLUDER_CHI2 = 25.0  # squared Mahalanobis distance (hue, log-chroma) beyond which a pixel is not skin
PARTS_MARGIN = 7  # px: lashes, brow hairs and lip edges just outside the part polygons are neither skin
# samples nor occluders


def landmarks_to_crop(landmarks: np.ndarray, m: np.ndarray) -> np.ndarray:
    """(478, 3) frame landmarks -> crop: x, y through the 2x3 similarity `m`, z times its scale, so z stays
    on the x scale (MediaPipe's relative depth: smaller z = closer to the camera)."""
    m = np.asarray(m, np.float64)
    lm = np.asarray(landmarks, np.float64)
    out = np.empty_like(lm)
    out[:, :2] = lm[:, :2] @ m[:, :2].T + m[:, 2]
    out[:, 2] = lm[:, 2] * np.sqrt(abs(np.linalg.det(m[:, :2])))
    return out


def polygon_mask(points: np.ndarray, size: int = CROP_SIZE) -> np.ndarray:
    """bool (size, size): the closed polygon through `points` (n, 2) pixels, with sub-pixel vertices."""
    out = np.zeros((size, size), np.uint8)
    pts = np.round(np.asarray(points, np.float64)[:, :2] * (1 << _SHIFT)).astype(np.int32)
    cv2.fillPoly(out, [pts], 1, lineType=cv2.LINE_8, shift=_SHIFT)
    return out.astype(bool)


def _contour(landmarks_crop: np.ndarray, name: str, size: int = CROP_SIZE) -> np.ndarray:
    return polygon_mask(landmarks_crop[list(REGION_CONTOURS[name])], size)


def _iris(landmarks_crop: np.ndarray, centre: int, ring: str) -> np.ndarray:
    """A disc at the iris centre with the mean radius of its 4 boundary landmarks (the iris is round; the
    4-point polygon would be a diamond)."""
    c = landmarks_crop[centre, :2]
    r = float(np.linalg.norm(landmarks_crop[list(REGION_CONTOURS[ring]), :2] - c, axis=1).mean())
    out = np.zeros((CROP_SIZE, CROP_SIZE), np.uint8)
    cv2.circle(out, tuple(np.round(c * (1 << _SHIFT)).astype(int)), int(round(r * (1 << _SHIFT))), 1, -1,
               cv2.LINE_8, _SHIFT)
    return out.astype(bool)


@functools.lru_cache(maxsize=1)
def _skin_sample_triangles() -> np.ndarray:
    """Mesh triangles on the cheeks, the nose and the chin (canonical cm, x right, y up): skin that is
    rarely covered. The forehead is left out because bangs and hats cover it so often."""
    mesh = canonical_mesh()
    c = mesh.vertices[mesh.triangles].mean(axis=1)
    ax, y = np.abs(c[:, 0]), c[:, 1]
    cheeks = (ax >= 2.0) & (ax <= 5.5) & (y >= -3.0) & (y <= 0.8)
    nose = (ax <= 1.2) & (y >= -0.5) & (y <= 2.5)
    chin = (ax <= 1.8) & (y >= -8.3) & (y <= -6.3)
    return mesh.triangles[cheeks | nose | chin]


def _front_triangles_mask(landmarks_crop: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """bool (512, 512) covered by those of `triangles` that face the camera in the crop (a turned head
    hides part of the far cheek behind the nose)."""
    p = landmarks_crop[:, :2][triangles]
    e1, e2 = p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]
    signed = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]
    mesh = canonical_mesh()
    q = mesh.vertices[:, :2][triangles] * [1, -1]  # canonical y is up, the crop's is down
    f1, f2 = q[:, 1] - q[:, 0], q[:, 2] - q[:, 0]
    front = np.sign(signed) == np.sign(f1[:, 0] * f2[:, 1] - f1[:, 1] * f2[:, 0])
    out = np.zeros((CROP_SIZE, CROP_SIZE), np.uint8)
    pts = np.round(p[front] * (1 << _SHIFT)).astype(np.int32)
    for tri in pts:
        cv2.fillConvexPoly(out, tri, 1, cv2.LINE_8, _SHIFT)
    return out.astype(bool)


@functools.lru_cache
def _chi2_truncation(dim: int, keep: float) -> tuple[float, float]:
    """The `keep` quantile k of chi2(`dim`) and E[d2 | d2 < k] / dim; cached: these constants cost scipy
    ~0.1 ms each, per fit of every frame. Written with the regularised gamma functions, as scipy.stats' chi2
    computes them (the same values, bit for bit): importing scipy.stats cost every process 0.29 s."""
    from scipy.special import gammainc, gammaincinv  # here: a run that fits no skin model never loads scipy

    k = 2.0 * float(gammaincinv(dim / 2, keep))
    return k, float(gammainc((dim + 2) / 2, k / 2) / keep)


def _robust_gaussian(x: np.ndarray, iterations: int = 4, keep: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of the bulk of samples `x` (n, d): start from the median and MAD, then refit a
    few times on the samples inside the `keep` quantile of chi2(d), so up to ~40% outliers (a hand on one
    cheek) are ignored. The covariance is rescaled for the truncation:
    E[d2 | d2 < k] = d F_(d+2)(k) / F_d(k)."""
    dim = x.shape[1]
    k, shrink = _chi2_truncation(dim, keep)
    mean = np.median(x, axis=0)
    cov = np.diag((np.median(np.abs(x - mean), axis=0) * 1.4826 + 1e-3) ** 2)
    for _ in range(iterations):
        inl = x[_mahalanobis2(x, mean, np.linalg.inv(cov)) < k]
        if len(inl) <= 10 * dim:
            break
        mean = inl.mean(axis=0)
        cov = np.cov(inl.T) / shrink + np.eye(dim) * 1e-4
    return mean, cov


@functools.lru_cache(maxsize=1)
def _hue_chroma_lut() -> np.ndarray:
    """(65536, 2) float32: OpenCV's 8-bit Lab (a, b) -> (hue angle in radians, log(1 + chroma)).

    Hue and log-chroma rather than a*b*: shading scales chroma (a shadowed cheek is a duller, darker skin of
    the same hue), which stretches a*b* toward grey, where grey occluders live; in log-chroma it is a shift
    the Gaussian absorbs, and grey (chroma ~0) stays far away."""
    a, b = np.meshgrid(np.arange(256) - 128.0, np.arange(256) - 128.0, indexing="ij")
    return np.stack([np.arctan2(b, a), np.log1p(np.hypot(a, b))], -1).reshape(-1, 2).astype(np.float32)


def _mahalanobis2(x: np.ndarray, mean: np.ndarray, inv_cov: np.ndarray) -> np.ndarray:
    """Squared Mahalanobis distance of x (..., d), in x's float type."""
    d = x - mean.astype(x.dtype)
    return ((d @ inv_cov.astype(x.dtype)) * d).sum(axis=-1)


@dataclass(frozen=True)
class SkinColour:
    """This face's skin colour, fitted robustly on the cheek, nose and chin triangles (rarely occluded):

    chroma: Gaussian of (hue, log-chroma), blind to shading: tells occluders from skin;
    colour: Gaussian of OpenCV 8-bit Lab, lightness included (one-sided: brighter than the mean skin counts
    as the mean, a highlight): tells hair of a skin-like hue (brown, blond, red) from the evenly lit forehead,
    where the chroma model cannot;
    bright: the skin's 90th-percentile lightness, above which a desaturated pixel is a highlight.
    """

    chroma_mean: np.ndarray
    chroma_inv_cov: np.ndarray
    colour_mean: np.ndarray
    colour_inv_cov: np.ndarray
    bright: float

    @classmethod
    def fit(cls, crop: np.ndarray, landmarks_crop: np.ndarray, exclude: np.ndarray) -> SkinColour | None:
        """None when too little of the sampled skin is visible."""
        sample = _front_triangles_mask(landmarks_crop, _skin_sample_triangles()) & ~exclude
        box = window(sample)
        if box is None or sample.sum() < 50:
            return None
        lab = cv2.cvtColor(crop[box], cv2.COLOR_RGB2Lab)[sample[box]][:: max(1, int(sample.sum()) // 4000)]
        chroma = _hue_chroma_lut()[lab[:, 1].astype(np.int32) * 256 + lab[:, 2]].astype(np.float64)
        cm, cc = _robust_gaussian(chroma)
        lm, lc = _robust_gaussian(lab.astype(np.float64))
        return cls(cm, np.linalg.inv(cc), lm, np.linalg.inv(lc), float(np.percentile(lab[:, 0], 90)))

    def chroma_distance(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per pixel of `rgb` (h, w, 3): squared Mahalanobis distance (float32) to the chroma model, and the
        8-bit lightness."""
        lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2Lab)
        chroma = _hue_chroma_lut()[lab[..., 1].astype(np.int32) * 256 + lab[..., 2]]
        return _mahalanobis2(chroma, self.chroma_mean, self.chroma_inv_cov), lab[..., 0]

    def colour_distance(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per pixel of `rgb` (h, w, 3): squared Mahalanobis distance (float32) to the colour model, and the
        8-bit lightness."""
        lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2Lab)
        colour = lab.astype(np.float32)
        colour[..., 0] = np.minimum(colour[..., 0], self.colour_mean[0])  # brighter than skin: a highlight
        return _mahalanobis2(colour, self.colour_mean, self.colour_inv_cov), lab[..., 0]


def _occluder_mask(crop: np.ndarray, skin: SkinColour | None, face_oval: np.ndarray,
                   parts: np.ndarray) -> np.ndarray:
    """Pixels of the face oval that do not look like this face's skin (hands, glasses, microphones, hair
    strands of another hue): skin-colour distance beyond OCCLUDER_CHI2. `parts` (eyes, brows, lips, mouth,
    slightly dilated) are never candidates, nor are pixels brighter than the skin's 90th percentile:
    specular highlights are desaturated skin, and far more common than white occluders. Opening, closing and
    a minimum blob size (0.4% of the oval) remove speckle."""
    out = np.zeros_like(face_oval)
    box = window(face_oval)
    if skin is None or box is None:
        return out
    ys, xs = box
    d2, light = skin.chroma_distance(crop[ys, xs])
    cand = (d2 > OCCLUDER_CHI2) & (light <= skin.bright) & face_oval[ys, xs] & ~parts[ys, xs]
    cand = cv2.morphologyEx(cand.astype(np.uint8), cv2.MORPH_OPEN, disc(5))
    cand = cv2.morphologyEx(cand, cv2.MORPH_CLOSE, disc(9))
    _, labels, stats, _ = cv2.connectedComponentsWithStats(cand, connectivity=8)
    big = np.flatnonzero(stats[1:, cv2.CC_STAT_AREA] >= 0.004 * face_oval.sum()) + 1
    out[ys, xs] = np.isin(labels, big) & face_oval[ys, xs]
    return out


def disc(size: int) -> np.ndarray:
    """uint8 (size, size): an elliptic structuring element `size` px across (odd: centred)."""
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))


def grown_parts(parts: np.ndarray) -> np.ndarray:
    """bool: the face parts `parts` (eyes, brows, lips, mouth interior) grown by PARTS_MARGIN, what a skin
    sample leaves out and no occluder test looks at."""
    out = np.zeros(parts.shape, bool)
    box = window(parts, PARTS_MARGIN)
    if box is not None:
        out[box] = cv2.dilate(parts[box].astype(np.uint8), disc(2 * PARTS_MARGIN + 1)) > 0
    return out


def forehead_band(landmarks_crop: np.ndarray, face_oval: np.ndarray) -> np.ndarray:
    """The face oval above the eyebrows' top edge: where bangs fall over the face."""
    brows = landmarks_crop[list(REGION_CONTOURS["right_eyebrow"] + REGION_CONTOURS["left_eyebrow"]), 1]
    band = face_oval.copy()
    band[max(0, int(np.ceil(brows.min()))):] = False
    return band


def _shift_up(mask: np.ndarray, rows: int) -> np.ndarray:
    out = np.zeros_like(mask)
    if rows < mask.shape[0]:
        out[: mask.shape[0] - rows] = mask[rows:]
    return out


@dataclass(frozen=True)
class _HeadLayout:
    """The face at GRABCUT_SIZE: landmarks (x, y), oval mask, the oval's width and height, the head ellipse
    (semi-axes W and 1.1 H, centred 0.1 H above the oval's centre: hair stays inside it), pixel grids."""

    lm: np.ndarray
    oval: np.ndarray
    width: float
    height: float
    head: np.ndarray
    yy: np.ndarray
    xx: np.ndarray

    @classmethod
    def of(cls, landmarks_crop: np.ndarray, size: int) -> _HeadLayout:
        n = GRABCUT_SIZE
        lm = landmarks_crop[:, :2] * (n / size)
        pts = lm[list(REGION_CONTOURS["face_oval"])]
        width, height = float(np.ptp(pts[:, 0])), float(np.ptp(pts[:, 1]))
        cx, cy = pts.mean(axis=0)
        yy, xx = np.mgrid[:n, :n]
        head = ((xx - cx) / width) ** 2 + ((yy - cy + 0.1 * height) / (1.1 * height)) ** 2 <= 1.0
        return cls(lm, polygon_mask(pts, n), width, height, head, yy, xx)

    def shrink(self, mask: np.ndarray) -> np.ndarray:
        """A crop-size mask at GRABCUT_SIZE: true where any of its pixels was."""
        return cv2.resize(mask.astype(np.uint8), self.oval.shape[::-1], interpolation=cv2.INTER_AREA) > 0


def _upper_forehead(layout: _HeadLayout) -> np.ndarray:
    """Up to 0.2 H above the face oval: forehead the oval leaves out, below the hairline on most heads."""
    return _shift_up(layout.oval, max(1, int(round(0.2 * layout.height)))) & ~layout.oval


def _upsample(mask: np.ndarray, size: int) -> np.ndarray:
    return cv2.resize(mask.astype(np.uint8) * 255, (size, size), interpolation=cv2.INTER_LINEAR) >= 128


def _hair_cut(small: np.ndarray, layout: _HeadLayout, skin_like: np.ndarray, forehead: np.ndarray,
              parts: np.ndarray) -> np.ndarray:
    """Hair (and headwear) by GrabCut (colour GMMs + graph cut) on `small`, the crop at GRABCUT_SIZE,
    seeded from the mesh the way GrabCut's own rectangle start is (known background around, probable object
    inside). With the face oval W wide and H high (its top, landmark 10, is mid-forehead, not the hairline):

    - definite not-hair: outside the head ellipse down to the chin (scene; below the chin long hair may hang
      outside it); skin-coloured pixels (`skin_like`, SkinColour.colour) of the oval's core, of its forehead
      band and of the upper forehead the oval leaves out (0.2 H above it): skin colours go to the background;
    - definite hair: a patch 0.22-0.30 H above the oval's top, 0.3 W wide, where the pixel is not
      skin-coloured: the crown, covered by hair or headwear on all but bald heads (a bald crown stays
      undecided);
    - probable hair: the rest of the head ellipse above the mouth line, outside the oval;
    - probable not-hair: everything else: the ellipse below the mouth line (neck, collar and long hair,
      which colour decides), non-skin pixels of the forehead (bangs win them by colour), eyes, brows, lips.
    The cut keeps its connected parts that reach above the mouth line outside the oval and is upsampled to
    the crop's size; region_masks keeps it outside the face oval or inside its forehead band.

    Known misses: hair whose colour the scene or the skin also has (long blond or red hair filling the crop
    puts hair colours into the definite background), dark headwear against a dark scene.
    """
    g = layout
    tx, ty = g.lm[10]
    upper = g.yy < g.lm[[61, 291], 1].mean()
    crown = (g.yy >= ty - 0.30 * g.height) & (g.yy <= ty - 0.22 * g.height)
    crown &= np.abs(g.xx - tx) <= 0.15 * g.width
    core = cv2.erode(g.oval.astype(np.uint8), disc(max(3, int(0.25 * g.width) | 1))).astype(bool)

    mask = np.full(g.oval.shape, cv2.GC_PR_BGD, np.uint8)
    mask[g.head & upper & ~g.oval] = cv2.GC_PR_FGD
    mask[~g.head & (g.yy < g.lm[152, 1])] = cv2.GC_BGD
    mask[(core | g.shrink(forehead) | _upper_forehead(g)) & skin_like & ~g.shrink(parts)] = cv2.GC_BGD
    mask[crown & ~skin_like] = cv2.GC_FGD
    if not np.isin(mask, (cv2.GC_FGD, cv2.GC_PR_FGD)).any():
        return np.zeros((CROP_SIZE, CROP_SIZE), bool)
    bgd, fgd = np.zeros((1, 65)), np.zeros((1, 65))
    cv2.setRNGSeed(0)  # GrabCut's k-means start draws from OpenCV's global RNG: same face, same mask
    # the stubs want a rect, but with GC_INIT_WITH_MASK OpenCV takes None (the rect is unused)
    cv2.grabCut(small, mask, None, bgd, fgd, GRABCUT_ITERATIONS, cv2.GC_INIT_WITH_MASK)  # type: ignore[call-overload]
    fg = np.isin(mask, (cv2.GC_FGD, cv2.GC_PR_FGD))
    return _upsample(touching(fg, upper & ~g.oval), CROP_SIZE)


def touching(mask: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """The connected parts of `mask` that overlap `seeds`."""
    out = np.zeros(mask.shape, bool)
    box = window(mask)
    if box is not None:
        part = mask[box]
        _, labels = cv2.connectedComponents(part.astype(np.uint8), connectivity=8)
        hit = np.unique(labels[seeds[box] & part])
        out[box] = np.isin(labels, hit[hit > 0])
    return out


@dataclass(frozen=True)
class ShotRegions:
    """The slow part of region_masks, which a track may reuse for a few frames (the edit loop's keyframes,
    0.2 s apart): this face's skin-colour model (SkinColour) and GrabCut's hair (the cut, before the face
    oval of the frame it is used on is taken out). In the aligned crop, which follows the face, neither
    changes visibly within 0.2 s of a shot; together they are ~15 of region_masks' ~25 ms. Occluders and
    every mask drawn from the landmarks are made on every frame."""

    skin: SkinColour | None
    hair: np.ndarray


def _part_masks(lm: np.ndarray) -> dict[str, np.ndarray]:
    """The masks drawn from the landmarks alone (MASK_NAMES' face parts, `parts`: all of them)."""
    face_oval = _contour(lm, "face_oval")
    eyes = _contour(lm, "right_eye") | _contour(lm, "left_eye")
    brows = _contour(lm, "right_eyebrow") | _contour(lm, "left_eyebrow")
    iris = (_iris(lm, RIGHT_IRIS_CENTRE, "right_iris") | _iris(lm, LEFT_IRIS_CENTRE, "left_iris")) & eyes
    mouth_interior = _contour(lm, "lips_inner")
    lips = _contour(lm, "lips_outer") & ~mouth_interior
    return {"face_oval": face_oval, "eyes": eyes, "brows": brows, "iris": iris, "lips": lips,
            "mouth_interior": mouth_interior, "parts": eyes | brows | lips | mouth_interior}


def _checked(crop: np.ndarray, landmarks_crop: np.ndarray) -> np.ndarray:
    if crop.shape != (CROP_SIZE, CROP_SIZE, 3) or crop.dtype != np.uint8:
        raise ValueError(f"expected a {CROP_SIZE}x{CROP_SIZE} RGB uint8 crop, got {crop.shape} {crop.dtype}")
    return np.asarray(landmarks_crop, np.float64)


def shot_regions(crop: np.ndarray, landmarks_crop: np.ndarray) -> ShotRegions:
    """The ShotRegions of one face (arguments as region_masks')."""
    lm = _checked(crop, landmarks_crop)
    part = _part_masks(lm)
    return _shot_regions(crop, lm, part, grown_parts(part["parts"]))


def _shot_regions(crop: np.ndarray, lm: np.ndarray, part: dict[str, np.ndarray],
                  parts_dilated: np.ndarray) -> ShotRegions:
    skin_colour = SkinColour.fit(crop, lm, parts_dilated)
    layout = _HeadLayout.of(lm, CROP_SIZE)
    small = cv2.resize(crop, layout.oval.shape[::-1], interpolation=cv2.INTER_AREA)
    skin_like = np.zeros_like(layout.oval) if skin_colour is None else (
        skin_colour.colour_distance(small)[0] < SKIN_COLOUR_CHI2)
    return ShotRegions(skin_colour, _hair_cut(small, layout, skin_like, forehead_band(lm, part["face_oval"]),
                                              parts_dilated))


def region_masks(crop: np.ndarray, landmarks_crop: np.ndarray, shot: ShotRegions | None = None
                 ) -> dict[str, np.ndarray]:
    """Every FORD mask (MASK_NAMES) of one face: bool (512, 512) in the aligned crop.

    crop: (512, 512, 3) RGB uint8; landmarks_crop: (478, 3) from `landmarks_to_crop`; shot: this track's
    ShotRegions from a keyframe at most 0.2 s back (made from this frame if not given).
    """
    lm = _checked(crop, landmarks_crop)
    part = _part_masks(lm)
    parts_dilated = grown_parts(part["parts"])
    shot = shot if shot is not None else _shot_regions(crop, lm, part, parts_dilated)
    face_oval = part["face_oval"]
    hair = shot.hair & (~face_oval | forehead_band(lm, face_oval))
    occluder = _occluder_mask(crop, shot.skin, face_oval, parts_dilated) & ~hair
    skin = face_oval & ~part["parts"] & ~occluder & ~hair
    masks = {**part, "skin": skin, "hair": hair, "occluder": occluder, "background": ~(face_oval | hair)}
    return {name: masks[name] for name in MASK_NAMES}

"""Gaze read from the image by a grader that shares no model with the renderer (issue 14, "honest quality").

The renderer moves irises by FORD's eyeball model on MediaPipe's iris landmarks (ford/gaze.py,
render/geometric/gaze.py), so reading its gaze edits back through MediaPipe is circular. Here:

- the eye: dlib's 68-point eye contour (6 points an eye: two corners, two points on each lid), from the same
  mirror-averaged, HOG-started landmarks as the pose grader (eval/head_pose.face_landmarks68);
- the iris: found by image analysis inside that contour, in a patch resampled so the eye is PATCH_EYE_PX wide
  with its corners level: the dark disc of an anatomical iris size (IRIS_RADII) whose visible part is darkest
  against the rest of the visible eye (the ring around it: sclera). Only pixels inside the contour count, so
  the lids may cover part of the disc (they do: the upper lid covers 1-3 mm of the iris) and the disc's
  position is fixed by the limbus where it shows, beside the sclera. Glints are removed first (a grey-level
  opening, which removes bright spots smaller than the iris);
- the eyeball: anatomical constants, not fitted to any photo. The iris centre (limbus plane) turns on a sphere
  of radius sqrt(R^2 - r^2) = 10.4 mm about the eye's centre of rotation, R = 12 mm (half the ~24 mm globe:
  Bekerman et al., "Variations in eyeball diameters of the healthy adults", J. Ophthalmology 2014) and
  r = 5.85 mm (half the 11.7 mm horizontal visible iris diameter: Rüfer et al., "White-to-white corneal
  diameter", Cornea 2005); the eye's corners are PALPEBRAL_FISSURE_MM apart (ex-en: 25-28 mm in "Normative
  findings for periocular anthropometric measurements among Chinese young adults in Hong Kong", BioMed Res.
  Int. 2013, table 2; "about 30 mm" in textbooks). So the iris moves EYEBALL_RADIUS = 10.4 / 28 = 0.37 eye
  widths times sin(angle). Zero gaze (the eye looking along the head's forward axis): sideways, the iris
  centre on the corners' midpoint, the usual assumption of landmark-based gaze estimators (the two eyes'
  small nasal/temporal offsets cancel in their mean); vertically, the iris resting on the lower lid, whose
  margin lies at or up to 1 mm above the inferior limbus in primary gaze (J. Dutton, "Surgical management of
  eyelid retraction in thyroid eye disease"): LOWER_LID_ON_IRIS. The lower lid follows the eye a little in
  down-gaze, so absolute pitch reads somewhat small; how far a person's rest position differs from these
  norms (a few percent of the eye width) is the grader's absolute bias, which a before/after change cancels.

Angles, as ford/gaze.py's Gaze: eye-in-head, degrees, eyes named from the subject; yaw > 0 = the eye looks
toward the image's right, pitch > 0 = up. They are measured in the eye's own image frame (the corners' line),
which removes the head's roll and, to first order, its yaw and pitch; a turned head still leaks into the
reading by how far the iris sits in front of the corners (no anatomical norm found for that depth, so it is
not modelled): compare images of the same head pose, which is what `gaze_change` does.

A reading is invalid (angles NaN, `reason` says why) when the eye is narrower than MIN_EYE_PX, when its lids
are closer than MIN_OPENNESS eye widths (closed, or a blink), when no disc inside the contour is darker than
its surround by MIN_CONTRAST grey levels (no iris: covered, painted over, or a contour off the eye), or when
the darkest disc lies where the eyeball model cannot turn the iris (a shadow in a corner, not an iris).

Measured on the shipped photos (tests/test_graders.py): an iris moved 0.1 eye widths in the image reads within
2 degrees of the 15.5 the model says; absolute readings of eyes looking into the camera land within ~12 degrees
of it, the noise being dlib's corners (on grace_hopper, behind glasses, they move 0.1 eye widths with the
starting box). t1's small squinting eyes mostly read as closed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np

from .head_pose import face_landmarks68
from .metrics import largest_face

if TYPE_CHECKING:
    from ..faces.analyze import FaceAnalyzer

PALPEBRAL_FISSURE_MM = 28.0
EYEBALL_RADIUS = float(np.sqrt(12.0**2 - 5.85**2)) / PALPEBRAL_FISSURE_MM  # eye widths (0.37)
IRIS_RADIUS = 5.85 / PALPEBRAL_FISSURE_MM  # eye widths (0.21)
LOWER_LID_ON_IRIS = 0.5 / PALPEBRAL_FISSURE_MM  # eye widths of the iris the lower lid covers at rest (0-1 mm)
IRIS_RADII = tuple(IRIS_RADIUS * f for f in (0.8, 0.9, 1.0, 1.1, 1.2))  # searched: the iris/fissure ratio
# varies person to person (fissure length SD ~1.7 mm) and dlib's corners sit a little inside or outside the canthi
PATCH_EYE_PX = 64  # the eye's width in the analysis patch (px): an iris radius of ~13 px
PATCH_SIZE = (1.5, 1.0)  # patch width, height in eye widths, centred on the corners' midpoint
GLINT_SIZE = 0.14  # eye widths: bright spots narrower than this are opened away (glints, not sclera)
CONTOUR_GROW = 0.08  # eye widths the contour is grown by: dlib's lid points sit up to this far inside the
# visible opening (on grace_hopper, behind glasses, its upper lid ran across the iris)
RING = (1.15, 1.6)  # the surround of the disc, in disc radii
MIN_DISC_VISIBLE = 0.3  # share of the disc inside the contour for a candidate to count
MIN_EYE_PX = 10.0  # the eye's width in the image below which the iris is a few pixels: no reading
MIN_OPENNESS = 0.2  # lid gap / eye width: the eye aspect ratio below which Soukupova and Cech ("Real-time eye
# blink detection using facial landmarks", CVWW 2016) call an eye closed
MIN_CONTRAST = 12.0  # grey levels (0-255) the visible iris must be darker than the visible eye around it

# dlib 68-point eye contours: image-left corner, upper lid (2), image-right corner, lower lid (2)
RIGHT_EYE_68 = (36, 37, 38, 39, 40, 41)  # the subject's right eye, on the image's left
LEFT_EYE_68 = (42, 43, 44, 45, 46, 47)


@dataclass
class EyeReading:
    """One eye's gaze (degrees, NaN when not valid) and what it was read from.

    iris_px: (2,) the iris centre in frame px (NaN if none found). width_px: corner to corner. openness: the
    lids' gap over the width. contrast: grey levels between the iris disc and its surround."""

    yaw: float
    pitch: float
    valid: bool
    reason: str
    iris_px: np.ndarray
    width_px: float
    openness: float
    contrast: float


@dataclass
class ImageGaze:
    """Both eyes of a face; yaw and pitch are the mean over the valid eyes (NaN when neither is)."""

    right: EyeReading
    left: EyeReading

    @property
    def eyes(self) -> list[EyeReading]:
        return [e for e in (self.right, self.left) if e.valid]

    @property
    def valid(self) -> bool:
        return bool(self.eyes)

    @property
    def yaw(self) -> float:
        return float(np.mean([e.yaw for e in self.eyes])) if self.eyes else float("nan")

    @property
    def pitch(self) -> float:
        return float(np.mean([e.pitch for e in self.eyes])) if self.eyes else float("nan")


@dataclass
class GazeChange:
    """after's gaze minus before's (degrees), over the eyes valid in both images; NaN when none is."""

    yaw: float
    pitch: float
    before: ImageGaze
    after: ImageGaze

    @property
    def valid(self) -> bool:
        return bool(np.isfinite(self.yaw))


def _disc_kernels(radius: float) -> tuple[np.ndarray, np.ndarray]:
    """Anti-aliased disc of `radius` px and the ring around it (RING), as float32 kernels."""
    outer = RING[1] * radius
    n = int(np.ceil(outer)) + 1
    yy, xx = np.mgrid[-n : n + 1, -n : n + 1]
    dist = np.hypot(xx, yy)
    disc = np.clip(radius + 0.5 - dist, 0.0, 1.0)
    ring = np.clip(outer + 0.5 - dist, 0.0, 1.0) - np.clip(RING[0] * radius + 0.5 - dist, 0.0, 1.0)
    return disc.astype(np.float32), ring.astype(np.float32)


def _parabola_peak(a: float, b: float, c: float) -> float:
    """Offset (-0.5..0.5) of the vertex of the parabola through (-1, a), (0, b), (1, c), b the largest."""
    den = a - 2 * b + c
    if not (np.isfinite(a) and np.isfinite(c)) or den >= 0:
        return 0.0  # a neighbour outside the searched centres: keep the whole pixel
    return float(np.clip(0.5 * (a - c) / den, -0.5, 0.5))


def find_iris(grey: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, float]:
    """(x, y) patch px of the iris centre and its contrast (grey levels) in a patch whose eye is
    PATCH_EYE_PX wide; contrast 0 and centre NaN when no candidate disc is visible enough.

    For each radius of IRIS_RADII and each centre across the opening (`mask`) and up to an iris radius above or
    below it, the mean grey of the disc's visible pixels (inside `mask`) is compared with its ring's visible
    pixels; the best (radius, centre) wins and its centre is refined to a fraction of a pixel by a parabola
    through its neighbours' scores."""
    m = mask.astype(np.float32)
    gm = grey.astype(np.float32) * m
    # centres: between the opening's corners, up to an iris radius above or below it (lids cover the iris)
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return np.array([np.nan, np.nan]), 0.0
    reach = int(np.ceil(IRIS_RADIUS * PATCH_EYE_PX))
    centres = np.zeros(mask.shape, bool)
    centres[max(ys.min() - reach, 0) : ys.max() + reach + 1, xs.min() : xs.max() + 1] = True
    best: tuple[float, int, int, np.ndarray] | None = None
    for radius in IRIS_RADII:
        disc, ring = _disc_kernels(radius * PATCH_EYE_PX)
        in_sum = cv2.filter2D(gm, -1, disc, borderType=cv2.BORDER_CONSTANT)
        in_n = cv2.filter2D(m, -1, disc, borderType=cv2.BORDER_CONSTANT)
        out_sum = cv2.filter2D(gm, -1, ring, borderType=cv2.BORDER_CONSTANT)
        out_n = cv2.filter2D(m, -1, ring, borderType=cv2.BORDER_CONSTANT)
        usable = (in_n >= MIN_DISC_VISIBLE * disc.sum()) & (out_n >= 1.0) & centres
        score = np.where(usable, out_sum / np.maximum(out_n, 1e-6) - in_sum / np.maximum(in_n, 1e-6), -np.inf)
        row, col = np.unravel_index(int(np.argmax(score)), score.shape)
        if np.isfinite(score[row, col]) and (best is None or score[row, col] > best[0]):
            best = (float(score[row, col]), int(col), int(row), score)
    if best is None:
        return np.array([np.nan, np.nan]), 0.0
    value, x, y, score = best
    h, w = score.shape
    dx = _parabola_peak(score[y, x - 1], value, score[y, x + 1]) if 0 < x < w - 1 else 0.0
    dy = _parabola_peak(score[y - 1, x], value, score[y + 1, x]) if 0 < y < h - 1 else 0.0
    return np.array([x + dx, y + dy]), value


def _invalid(reason: str, width: float, openness: float, contrast: float = 0.0,
             iris: np.ndarray | None = None) -> EyeReading:
    iris = iris if iris is not None else np.array([np.nan, np.nan])
    return EyeReading(float("nan"), float("nan"), False, reason, iris, width, openness, contrast)


def read_eye(rgb: np.ndarray, contour: np.ndarray) -> EyeReading:
    """The gaze of one eye from its (6, 2) dlib contour in frame px (order of RIGHT_EYE_68: image-left
    corner, upper lid, image-right corner, lower lid); see the module docstring."""
    p = np.asarray(contour, np.float64)
    a, b = p[0], p[3]
    width = float(np.linalg.norm(b - a))
    openness = float((np.linalg.norm(p[1] - p[5]) + np.linalg.norm(p[2] - p[4])) / (2 * max(width, 1e-9)))
    if width < MIN_EYE_PX:
        return _invalid("eye too small", width, openness)
    if openness < MIN_OPENNESS:
        return _invalid("eye closed", width, openness)
    # the patch: x along the corners (image-left to image-right), y down, the eye PATCH_EYE_PX wide
    ex = (b - a) / width
    scale = PATCH_EYE_PX / width
    size = (int(round(PATCH_SIZE[0] * PATCH_EYE_PX)), int(round(PATCH_SIZE[1] * PATCH_EYE_PX)))
    rot = scale * np.array([[ex[0], ex[1]], [-ex[1], ex[0]]])
    to_patch = np.hstack([rot, (np.array(size) / 2 - rot @ ((a + b) / 2))[:, None]])
    patch = cv2.warpAffine(np.ascontiguousarray(rgb), to_patch, size, flags=cv2.INTER_CUBIC,
                           borderMode=cv2.BORDER_REPLICATE)
    grey = cv2.cvtColor(patch, cv2.COLOR_RGB2GRAY)
    glint = int(round(GLINT_SIZE * PATCH_EYE_PX)) | 1
    grey = cv2.morphologyEx(grey, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (glint, glint)))
    corners_patch = p @ to_patch[:, :2].T + to_patch[:, 2]
    mask = np.zeros(grey.shape, np.uint8)
    cv2.fillPoly(mask, [np.round(corners_patch * 16).astype(np.int32)], 1, lineType=cv2.LINE_8, shift=4)
    grow = int(round(CONTOUR_GROW * PATCH_EYE_PX))
    mask = cv2.dilate(mask, np.ones((2 * grow + 1, 1), np.uint8)).astype(bool)  # up and down, not past the corners
    centre, contrast = find_iris(grey, mask)
    back = cv2.invertAffineTransform(to_patch)
    iris_px = back[:, :2] @ centre + back[:, 2] if np.isfinite(centre).all() else centre
    if contrast < MIN_CONTRAST:
        return _invalid("iris not found", width, openness, contrast, iris_px)
    h = (centre[0] - size[0] / 2) / PATCH_EYE_PX
    # zero pitch: the iris resting on the lower lid (the lid's margin at the inferior limbus), at the iris's column
    lower = corners_patch[[0, 5, 4, 3]]
    lid_y = float(np.interp(centre[0], lower[:, 0], lower[:, 1]))
    v = (lid_y - centre[1]) / PATCH_EYE_PX - (IRIS_RADIUS - LOWER_LID_ON_IRIS)
    if abs(h) >= EYEBALL_RADIUS or abs(v) >= EYEBALL_RADIUS:
        return _invalid("iris off the eyeball", width, openness, contrast, iris_px)
    pitch = float(np.arcsin(v / EYEBALL_RADIUS))
    yaw = float(np.arcsin(np.clip(h / (EYEBALL_RADIUS * np.cos(pitch)), -1.0, 1.0)))
    return EyeReading(float(np.degrees(yaw)), float(np.degrees(pitch)), True, "", iris_px, width, openness,
                      contrast)


def gaze_from_landmarks(rgb: np.ndarray, landmarks68: np.ndarray) -> ImageGaze:
    """Both eyes' gaze of the face whose (68, 2) dlib landmarks are given."""
    lm = np.asarray(landmarks68, np.float64)
    return ImageGaze(right=read_eye(rgb, lm[list(RIGHT_EYE_68)]), left=read_eye(rgb, lm[list(LEFT_EYE_68)]))


def image_gaze(rgb: np.ndarray, box: np.ndarray) -> ImageGaze:
    """Both eyes' gaze of the face in `box` (x0, y0, x1, y1 frame px, any detector's)."""
    return gaze_from_landmarks(rgb, face_landmarks68(rgb, box))


def largest_face_gaze(rgb: np.ndarray, analyzer: FaceAnalyzer, what: str = "image") -> ImageGaze:
    """image_gaze of the largest face of an image; ValueError if there is none."""
    return image_gaze(rgb, largest_face(rgb, analyzer, what).box)


def gaze_change(before: np.ndarray, after: np.ndarray, box: np.ndarray, *, after_box: np.ndarray | None = None,
                fixed_eyes: bool = True) -> GazeChange:
    """How far the gaze of one face turned from `before` to `after` (two images of it; `box` in `before`, and in
    `after` too unless `after_box` says where it is there).

    fixed_eyes: read both images within the eye contours found on `before` (right for a gaze edit, where the
    head and lids stay put: dlib's eye points drift a little with the iris, and would absorb part of its move);
    False finds the contours in each image (when the head moved, or the face is elsewhere in `after`)."""
    if fixed_eyes and after_box is not None and not np.allclose(after_box[:4], box[:4]):
        raise ValueError("fixed_eyes needs the face in the same place in both images")
    lm_before = face_landmarks68(before, box)
    lm_after = lm_before if fixed_eyes else face_landmarks68(after, box if after_box is None else after_box)
    a, b = gaze_from_landmarks(before, lm_before), gaze_from_landmarks(after, lm_after)
    pairs = [(x, y) for x, y in ((a.right, b.right), (a.left, b.left)) if x.valid and y.valid]
    if not pairs:
        return GazeChange(float("nan"), float("nan"), a, b)
    return GazeChange(float(np.mean([y.yaw - x.yaw for x, y in pairs])),
                      float(np.mean([y.pitch - x.pitch for x, y in pairs])), a, b)

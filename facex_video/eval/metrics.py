"""The measurements every task's tests and benchmarks use on real outputs (docs/architecture.md, `eval/`).

Each one is chosen to be independent of what produced the result where it can be:
- identity: a face recognition network (dlib's by default) on faces found afresh in both images, as the
  encoder's own distance and as the cosine similarity of the embeddings;
- landmarks: dlib's 68-point regression-tree predictor, not the MediaPipe mesh that drives the warps, so a
  renderer cannot score well by agreeing with its own geometry;
- PSNR / SSIM outside the edited region: what a face edit must leave alone;
- flicker: temporal change of aligned face crops once residual alignment jitter is registered away, i.e.
  what a viewer sees as the face itself shimmering;
- pose / expression / gaze errors between two FORD representations (re-analysed outputs vs. what was asked);
- track purity: whether face tracks stay inside one shot of a reference cut list (a track that runs over a
  cut glues two people together and an edit would carry one's state into the other).
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Sequence
from typing import TYPE_CHECKING

import cv2
import numpy as np

from ..faces.align import invert
from ..faces.detect import box_area
from ..faces.types import FaceDetection
from ..ford.geometry import BLENDSHAPE_NAMES
from ..ford.identity import DlibIdentityEncoder, IdentityEncoder
from ..ford.representation import FacialRepresentation, Gaze

if TYPE_CHECKING:
    from ..faces.analyze import FaceAnalyzer

# dlib's 68-point layout: outer corners of the subject's right eye (image left) and left eye
OUTER_EYE_CORNERS_68 = (36, 45)
# the central face region of an aligned crop (fractions of its size): brows to chin, cheek to cheek
FACE_REGION = ((0.30, 0.85), (0.25, 0.75))  # (y0, y1), (x0, x1)
HEAD_MARGIN_PX = 64  # px of the 512 crop: an eighth of it, past the blend's feather and a turned head's rim
SSIM_WINDOW = 7  # skimage's default: a pixel's SSIM sees the 7x7 square around it


# ---------------------------------------------------------------------------------------------- identity


@functools.lru_cache(maxsize=1)
def _dlib_encoder() -> DlibIdentityEncoder:
    return DlibIdentityEncoder()


def largest_face(rgb: np.ndarray, analyzer: FaceAnalyzer, what: str = "image") -> FaceDetection:
    """The largest face of an image (the subject of a portrait or an edited shot); ValueError if none."""
    faces = analyzer.analyze(np.ascontiguousarray(rgb))
    if not faces:
        raise ValueError(f"no face found in the {what}")
    return max(faces, key=lambda f: box_area(f.box))


def cosine_similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine of the angle between two embeddings: 1 for the same direction, whatever the encoder."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(a @ b / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-12))


def identity_scores(
    img_a: np.ndarray, img_b: np.ndarray, *, analyzer: FaceAnalyzer, encoder: IdentityEncoder | None = None
) -> tuple[float, float]:
    """(distance, cosine similarity) between the identities of the largest face of each image: the distance
    in `encoder`'s own metric (dlib's Euclidean distance by default: the same person below 0.6)."""
    encoder = encoder if encoder is not None else _dlib_encoder()
    a = encoder.embed(img_a, largest_face(img_a, analyzer, "first image"))
    b = encoder.embed(img_b, largest_face(img_b, analyzer, "second image"))
    return encoder.distance(a, b), cosine_similarity(a, b)


def identity_distance(
    img_a: np.ndarray, img_b: np.ndarray, *, analyzer: FaceAnalyzer, encoder: IdentityEncoder | None = None
) -> float:
    """The distance of identity_scores (dlib's Euclidean distance by default)."""
    return identity_scores(img_a, img_b, analyzer=analyzer, encoder=encoder)[0]


# ---------------------------------------------------------------------------------------------- landmarks


@functools.lru_cache(maxsize=1)
def _shape_predictor_68():
    import dlib

    from ..models.store import model_path

    return dlib.shape_predictor(str(model_path("dlib_shape_predictor_68")))


def dlib_landmarks68(rgb: np.ndarray, box: np.ndarray) -> np.ndarray:
    """(68, 2) float64 dlib landmarks of the face in `box` (x0, y0, x1, y1, frame px). dlib reports whole
    pixels, so a point carries up to 0.5 px of rounding."""
    import dlib

    x0, y0, x1, y1 = (int(round(float(v))) for v in box[:4])
    shape = _shape_predictor_68()(np.ascontiguousarray(rgb), dlib.rectangle(x0, y0, x1, y1))
    return np.array([(p.x, p.y) for p in shape.parts()], np.float64)


def landmark_nme(result_rgb: np.ndarray, target_rgb: np.ndarray, box: np.ndarray) -> float:
    """Mean 68-point distance between the result's and the target's faces in one `box`, divided by the
    target's inter-ocular distance (outer eye corners 36/45): the normalised mean error of face alignment
    benchmarks, so 0.04 means 4 % of the eye distance whatever the face's size."""
    target = dlib_landmarks68(target_rgb, box)
    result = dlib_landmarks68(result_rgb, box)
    iod = float(np.linalg.norm(target[OUTER_EYE_CORNERS_68[1]] - target[OUTER_EYE_CORNERS_68[0]]))
    return float(np.linalg.norm(result - target, axis=1).mean() / iod)


# ---------------------------------------------------------------------------------------------- fidelity


def psnr(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Peak signal-to-noise ratio (dB) of two uint8 images over the pixels where `mask` (H, W) is true
    (all pixels by default), all channels; inf when they are equal there."""
    diff = a.astype(np.float64) - b.astype(np.float64)
    if mask is not None:
        diff = diff[np.asarray(mask, bool)]
    if diff.size == 0:
        raise ValueError("psnr over an empty mask")
    mse = float(np.mean(diff**2))
    return float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))


def _grown(region_mask: np.ndarray, px: int) -> np.ndarray:
    region = np.asarray(region_mask, bool)
    if px <= 0:
        return region
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * px + 1, 2 * px + 1))
    return cv2.dilate(region.astype(np.uint8), disc).astype(bool)


def head_region(masks: dict[str, np.ndarray], crop_transform: np.ndarray, frame_shape: tuple[int, ...], *,
                with_hair: bool = True, margin_px: int = HEAD_MARGIN_PX) -> np.ndarray:
    """(H, W) bool mask of the frame a face edit may touch: the face's FORD face oval (and hair) in its
    aligned crop, grown by `margin_px` crop pixels each way (the blend's reach), warped into the frame."""
    region = masks["face_oval"] | masks["hair"] if with_hair else masks["face_oval"]
    kernel = np.ones((2 * margin_px + 1, 2 * margin_px + 1), np.uint8)
    grown = cv2.dilate(region.astype(np.uint8), kernel)
    h, w = frame_shape[:2]
    return cv2.warpAffine(grown, invert(crop_transform), (w, h), flags=cv2.INTER_NEAREST) > 0


def psnr_outside(result: np.ndarray, target: np.ndarray, region_mask: np.ndarray, *, margin_px: int = 0) -> float:
    """PSNR over the pixels outside `region_mask` grown by `margin_px` (e.g. the blended face region and the
    reach of its feather): what an edit must leave as it was."""
    return psnr(result, target, ~_grown(region_mask, margin_px))


def ssim_outside(result: np.ndarray, target: np.ndarray, region_mask: np.ndarray, *, margin_px: int = 0) -> float:
    """Mean SSIM outside `region_mask` grown by `margin_px` and then by SSIM's square window, so no window
    that counts sees a pixel of the region."""
    from skimage.metrics import structural_similarity

    window = np.ones((SSIM_WINDOW, SSIM_WINDOW), np.uint8)
    outside = ~cv2.dilate(_grown(region_mask, margin_px).astype(np.uint8), window).astype(bool)
    if not outside.any():
        raise ValueError("ssim_outside: the region covers the whole image")
    _, ssim_map = structural_similarity(result, target, win_size=SSIM_WINDOW, channel_axis=-1, data_range=255,
                                        full=True)
    return float(ssim_map[outside].mean())


# ---------------------------------------------------------------------------------------------- temporal


def face_region(size: int) -> tuple[slice, slice]:
    """The central face region (rows, columns) of an aligned `size` px crop (FACE_REGION)."""
    (y0, y1), (x0, x1) = FACE_REGION
    return slice(int(y0 * size), int(y1 * size)), slice(int(x0 * size), int(x1 * size))


def _grey(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY).astype(np.float32)


def register_translation(reference: np.ndarray, moving: np.ndarray) -> np.ndarray:
    """`moving` (RGB) shifted by the sub-pixel translation that best lines its central face region up with
    `reference`'s (phase correlation with a Hann window), so only what changed in the face remains."""
    rows, cols = face_region(reference.shape[0])
    a, b = _grey(reference)[rows, cols], _grey(moving)[rows, cols]
    window = cv2.createHanningWindow(a.shape[::-1], cv2.CV_32F)
    (dx, dy), _ = cv2.phaseCorrelate(a, b, window)
    back = np.array([[1, 0, -dx], [0, 1, -dy]], np.float64)
    h, w = moving.shape[:2]
    return cv2.warpAffine(moving, back, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def crop_change(before: np.ndarray, after: np.ndarray, *, register: bool = True) -> float:
    """Mean absolute difference (grey levels, RGB) of two consecutive aligned crops over the central face
    region, `after` first registered onto `before` by a small translation (one step of `flicker`)."""
    rows, cols = face_region(before.shape[0])
    if register:
        after = register_translation(before, after)
    return float(np.abs(after[rows, cols].astype(np.float64) - before[rows, cols]).mean())


def flicker(crops: Sequence[np.ndarray], *, register: bool = True) -> float:
    """Mean crop_change between consecutive aligned face crops.

    The crops come aligned to the canonical layout (faces/align.py), but landmark noise leaves a pixel or
    so of jitter; registration cancels it so the number measures the face's own shimmer (texture, colour,
    shape popping), which is what a renderer adds. 0 for a still clip."""
    if len(crops) < 2:
        raise ValueError("flicker needs at least two crops")
    return float(np.mean([crop_change(a, b, register=register) for a, b in itertools.pairwise(crops)]))


# ---------------------------------------------------------------------------------------------- tracks


def track_purity(tracks: Sequence[Sequence[int] | np.ndarray], shot_starts: Sequence[int]) -> float:
    """Share of face-frames that lie in their track's majority shot, over all tracks.

    tracks: each track's frame indices; shot_starts: the first frame of each shot of a reference cut list
    (frame 0 first). 1.0 when no track crosses a cut; a track running half-way into the next shot scores
    its larger part."""
    starts = np.asarray(sorted(shot_starts), np.int64)
    if len(starts) == 0 or starts[0] != 0:
        raise ValueError("shot_starts must begin with frame 0")
    kept = total = 0
    for frames in tracks:
        shots = np.searchsorted(starts, np.asarray(frames, np.int64), side="right") - 1
        if len(shots):
            kept += int(np.bincount(shots).max())
            total += len(shots)
    if total == 0:
        raise ValueError("track_purity needs at least one tracked frame")
    return kept / total


# ---------------------------------------------------------------------------------------------- FORD errors


def _wrap(degrees: np.ndarray) -> np.ndarray:
    return (np.asarray(degrees, np.float64) + 180.0) % 360.0 - 180.0


def pose_delta(a: FacialRepresentation, b: FacialRepresentation) -> np.ndarray:
    """(3,) b's yaw, pitch, roll minus a's, degrees in [-180, 180) (signs as in ford/geometry.py)."""
    pa, pb = a.intra.pose, b.intra.pose
    return _wrap(np.array([pb.yaw - pa.yaw, pb.pitch - pa.pitch, pb.roll - pa.roll]))


def pose_error(a: FacialRepresentation, b: FacialRepresentation) -> float:
    """The largest of the yaw, pitch and roll differences (degrees): 'within 3 degrees' holds on every axis."""
    return float(np.abs(pose_delta(a, b)).max())


def expression_error(a: FacialRepresentation, b: FacialRepresentation, names: Sequence[str] | None = None) -> float:
    """Mean absolute difference of blendshape weights (0-1), over `names` or every blendshape but '_neutral'
    (MediaPipe's score for no expression, which is not a deformation)."""
    names = [n for n in BLENDSHAPE_NAMES if n != "_neutral"] if names is None else list(names)
    unknown = set(names) - set(BLENDSHAPE_NAMES)
    if unknown:
        raise ValueError(f"unknown blendshapes {sorted(unknown)}")
    ids = [BLENDSHAPE_NAMES.index(n) for n in names]
    return float(np.abs(b.intra.expression[ids].astype(np.float64) - a.intra.expression[ids]).mean())


def gaze_delta(a: FacialRepresentation, b: FacialRepresentation) -> np.ndarray:
    """(2,) b's gaze yaw and pitch minus a's, averaged over the two eyes (degrees, signs as in ford/gaze.py)."""
    ga, gb = a.intra.gaze, b.intra.gaze
    return np.array([
        ((gb.right_yaw - ga.right_yaw) + (gb.left_yaw - ga.left_yaw)) / 2,
        ((gb.right_pitch - ga.right_pitch) + (gb.left_pitch - ga.left_pitch)) / 2,
    ])


def _directions(g: Gaze) -> np.ndarray:
    """(2, 3) unit gaze vectors of the right and left eye from yaw and pitch."""
    yaw = np.radians([g.right_yaw, g.left_yaw])
    pitch = np.radians([g.right_pitch, g.left_pitch])
    return np.stack([np.sin(yaw) * np.cos(pitch), np.sin(pitch), np.cos(yaw) * np.cos(pitch)], axis=1)


def gaze_error(a: FacialRepresentation, b: FacialRepresentation) -> float:
    """Angle between a's and b's gaze directions (degrees), averaged over the two eyes."""
    da, db = _directions(a.intra.gaze), _directions(b.intra.gaze)
    angles = np.arctan2(np.linalg.norm(np.cross(da, db), axis=1), (da * db).sum(axis=1))  # exact near 0
    return float(np.degrees(angles).mean())

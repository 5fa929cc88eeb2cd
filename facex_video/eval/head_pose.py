"""Head pose graded by a model the renderer never sees: dlib's 68 landmarks and cv2.solvePnP against a
generic 3D head (issue 14, "honest quality").

The renderer is steered by MediaPipe (its mesh, its facial transformation matrix, ford/geometry.py's
head_pose), so grading its pose edits with MediaPipe is circular: a renderer could agree with its own
geometry and still show the wrong head. This grader shares no model with it: the landmarks come from dlib's
regression-tree predictor (eval/metrics.dlib_landmarks68) and the 3D points from a published anthropometric
head, not from MediaPipe's canonical mesh nor from our photos.

Landmarks: eval/metrics.dlib_landmarks68 started from dlib's own HOG face box (the box its predictor was
trained on; another detector's box only says where to look) and averaged with the mirror image's
(face_landmarks68).

3D model: the 14-point "anthropometric 3D model" of the ISR, University of Coimbra
(http://aifi.isr.uc.pt/Downloads/OpenGL/glAnthropometric3DModel.cpp; P. Martins and J. Batista, "Accurate
single view model-based head pose estimation", IEEE FG 2008), in cm, as mapped onto dlib's 68-point layout
by github.com/lincolnhard/head-pose-estimation (brow ends 17/21/22/26, eye corners 36/39/42/45, nose wings
31/35, mouth corners 48/54, lower lip 57, chin 8). The model is left-right symmetric, so only which of each
pair lies on the image's left matters: here the subject's right (dlib 17, 36, 31, 48: the image's left on a
frontal face) has x < 0, in the head frame of ford/geometry.py (x right, y up, z toward the viewer).

Camera (an assumption, no calibration is known): square pixels, no distortion, principal point at the image
centre, focal length the image's width (a ~53 degree field, a phone or webcam lens) but never shorter than
the focal that puts the face NOMINAL_DISTANCE_CM from the lens, so a tight crop (tom_hanks is a 112 px aligned
face) is not read as a face a hand's width from the camera, whose perspective would bend the fit.

Angles: ford/geometry.py's convention exactly (R = Rz(roll) Ry(yaw) Rx(-pitch); + yaw = nose toward the
image's right, + pitch = up, + roll = counter-clockwise on screen), of the head as seen along the line of
sight from the camera to the head (the camera turned to look straight at the head, turned the least way):
that is what the face shows and what MediaPipe's crop-centred matrix reports, and it does not change when
the face sits off the image centre or the image is cropped. `PnpPose.camera_*` keep the angles in the
camera's own axes.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np

from .metrics import dlib_landmarks68, largest_face

if TYPE_CHECKING:
    from ..faces.analyze import FaceAnalyzer

# dlib 68-point index -> (x, y, z) cm in the head frame (x right, y up, z toward the viewer): Martins and
# Batista's anthropometric model (module docstring), x signs set so the subject's right is x < 0.
MODEL_68: dict[int, tuple[float, float, float]] = {
    17: (-6.825897, 6.760612, 4.402142),  # subject's right brow, outer end
    21: (-1.330353, 7.122144, 6.903745),  # subject's right brow, inner end
    22: (1.330353, 7.122144, 6.903745),  # subject's left brow, inner end
    26: (6.825897, 6.760612, 4.402142),  # subject's left brow, outer end
    36: (-5.311432, 5.485328, 3.987654),  # subject's right eye, outer corner
    39: (-1.789930, 5.393625, 4.413414),  # subject's right eye, inner corner
    42: (1.789930, 5.393625, 4.413414),  # subject's left eye, inner corner
    45: (5.311432, 5.485328, 3.987654),  # subject's left eye, outer corner
    31: (-2.005628, 1.409845, 6.165652),  # nose wing, subject's right
    35: (2.005628, 1.409845, 6.165652),  # nose wing, subject's left
    48: (-2.774015, -2.080775, 5.048531),  # mouth corner, subject's right
    54: (2.774015, -2.080775, 5.048531),  # mouth corner, subject's left
    57: (0.000000, -3.116408, 6.097667),  # lower lip, centre
    8: (0.000000, -7.415691, 4.070434),  # chin
}
MODEL_IDS = np.array(list(MODEL_68))
# dlib 68-point index of each point's mirror image (jaw, brows, nose, eyes, outer and inner lips)
MIRROR_68 = np.array(
    [*range(16, -1, -1), *range(26, 16, -1), 27, 28, 29, 30, 35, 34, 33, 32, 31,
     45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40,
     54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55, 64, 63, 62, 61, 60, 67, 66, 65]
)
MODEL_POINTS = np.array(list(MODEL_68.values()), np.float64)
# MODEL_68's points as MediaPipe mesh landmarks at the same places (a brow's end: the mean of its upper and
# lower contours' ends), so a geometry given as MediaPipe's points (a renderer's asked face) can be read by
# this grader without any image: how it reads the asked shape, beside how it reads the picture drawn of it
MEDIAPIPE_OF_68 = {17: (70, 46), 21: (107, 55), 22: (336, 285), 26: (300, 276), 36: (33,), 39: (133,), 42: (362,),
                   45: (263,), 31: (98,), 35: (327,), 48: (61,), 54: (291,), 57: (17,), 8: (152,)}
HOG_FACE_PX = 160  # px the face's box is scaled to before dlib's HOG detector looks (its window is 80 px)
HOG_MIN_OVERLAP = 0.3  # of the given box covered by the HOG box for the two to be the same face
NOMINAL_DISTANCE_CM = 50.0  # the nearest a face is assumed to be from the lens (a selfie at arm's length)
START_JITTER = 0.05  # of the start box's size: the predictor also starts from boxes moved and scaled this much
# (face_landmarks68); on the shipped faces under sub-pixel shifts and 1-3 % rescales (no renderer involved)
# it halved the pose reading's spread (median 0.39 -> 0.19 degrees, worst 1.93 -> 0.68 on grace_hopper)
_HEAD_TO_CV = np.diag([1.0, -1.0, -1.0])  # head/camera frame of ford/geometry.py <-> OpenCV's (x right, y down)


@dataclass
class PnpPose:
    """Head pose from dlib 68 + solvePnP, degrees (ford/geometry.py's signs), as seen along the line of sight.

    camera_*: the same rotation in the camera's axes (differs for a face off the image centre).
    rotation: 3x3, head frame -> view frame, both x right, y up, z toward the viewer (ford's frames).
    reprojection_px: RMS distance of the model's projected points to dlib's, in image pixels: a fit much
    worse than a few percent of the face width means the landmarks or the face are not what the model is.
    """

    yaw: float
    pitch: float
    roll: float
    camera_yaw: float
    camera_pitch: float
    camera_roll: float
    rotation: np.ndarray
    translation_cm: np.ndarray
    focal_px: float
    reprojection_px: float


@functools.lru_cache(maxsize=1)
def _hog_detector():
    import dlib

    return dlib.get_frontal_face_detector()


def dlib_face_box(rgb: np.ndarray, box: np.ndarray) -> np.ndarray | None:
    """dlib's own HOG face box (x0, y0, x1, y1 frame px) for the face in another detector's `box`, or None.

    dlib's 68-point predictor was trained on the HOG detector's boxes (tighter, brows to chin); started from
    another detector's box it keeps a frontal shape on a turned face (t1's 50-degree profile read -5 degrees
    of yaw from MediaPipe's box, -51 from HOG's). The region around `box` is scaled so the face is about
    HOG_FACE_PX wide, and the HOG box overlapping `box` most is taken."""
    x0, y0, x1, y1 = (float(v) for v in box[:4])
    side = max(x1 - x0, y1 - y0, 1.0)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    scale = HOG_FACE_PX / side
    half = side  # a region twice the box's size, centred on it
    to_region = np.array([[scale, 0, (half - cx) * scale], [0, scale, (half - cy) * scale]])
    size = int(round(2 * half * scale))
    region = cv2.warpAffine(np.ascontiguousarray(rgb), to_region, (size, size), flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_REPLICATE)
    best, best_overlap = None, HOG_MIN_OVERLAP
    for rect in _hog_detector()(region, 0):
        found = np.array([rect.left(), rect.top(), rect.right(), rect.bottom()], np.float64)
        found = (found - [(half - cx) * scale, (half - cy) * scale] * 2) / scale
        iw = min(found[2], x1) - max(found[0], x0)
        ih = min(found[3], y1) - max(found[1], y0)
        overlap = max(iw, 0.0) * max(ih, 0.0) / max((x1 - x0) * (y1 - y0), 1e-9)
        if overlap > best_overlap:
            best, best_overlap = found, overlap
    return best


def _mirrored_box(box: np.ndarray, width: int) -> np.ndarray:
    x0, y0, x1, y1 = (float(v) for v in box[:4])
    return np.array([width - 1 - x1, y0, width - 1 - x0, y1])


def face_landmarks68(rgb: np.ndarray, box: np.ndarray) -> np.ndarray:
    """(68, 2) dlib landmarks of the face in `box`: started from dlib's own HOG box where it finds the face
    (dlib_face_box), else from `box`, and from that box moved by START_JITTER of its size left, right, up and
    down and scaled by 1 +- START_JITTER; each averaged with the landmarks of the mirror image (mirrored
    back, left and right points swapped), and all averaged.

    dlib's predictor is not mirror-symmetric: on t1's faces the yaw of a face and of its mirror image differed
    by up to 6 degrees beyond the sign; the mirror average halves that part of its error and keeps the signs
    honest. Its regression trees also depend on where they start: a start box a few pixels off (HOG's boxes
    come in steps) moved a reading by degrees; the seven starts average that out."""
    start = dlib_face_box(rgb, box)
    start = start if start is not None else np.asarray(box[:4], np.float64)
    width = rgb.shape[1]
    flipped = np.ascontiguousarray(rgb[:, ::-1])
    centre, size = (start[:2] + start[2:4]) / 2, start[2:4] - start[:2]
    readings = []
    for dx, dy, scale in ((0, 0, 1), (1, 0, 1), (-1, 0, 1), (0, 1, 1), (0, -1, 1), (0, 0, 1 + START_JITTER),
                          (0, 0, 1 - START_JITTER)):
        c = centre + START_JITTER * np.array([dx, dy]) * size
        b = np.r_[c - scale * size / 2, c + scale * size / 2]
        direct = dlib_landmarks68(rgb, b)
        mirrored = dlib_landmarks68(flipped, _mirrored_box(b, width))
        mirrored[:, 0] = width - 1 - mirrored[:, 0]
        readings.append((direct + mirrored[MIRROR_68]) / 2)
    return np.mean(readings, axis=0)


def euler_angles(r: np.ndarray) -> tuple[float, float, float]:
    """(yaw, pitch, roll) degrees of a rotation R = Rz(roll) Ry(yaw) Rx(-pitch) in ford's frame: the same
    decomposition as ford/geometry.head_pose (written out here so the grader does not call the renderer's code)."""
    yaw = np.degrees(np.arcsin(np.clip(-r[2, 0], -1.0, 1.0)))
    pitch = -np.degrees(np.arctan2(r[2, 1], r[2, 2]))
    roll = np.degrees(np.arctan2(r[1, 0], r[0, 0]))
    return float(yaw), float(pitch), float(roll)


def focal_length(image_shape: tuple[int, ...], landmarks68: np.ndarray) -> float:
    """The assumed focal length (px): the image's width, or longer if the face would then be nearer than
    NOMINAL_DISTANCE_CM (outer eye corners' distance in px against the model's, in cm)."""
    model_eyes = float(np.linalg.norm(np.subtract(MODEL_68[45], MODEL_68[36])[:2]))
    eyes_px = float(np.linalg.norm(landmarks68[45] - landmarks68[36]))
    return max(float(image_shape[1]), eyes_px / model_eyes * NOMINAL_DISTANCE_CM)


def _towards_axis(direction: np.ndarray) -> np.ndarray:
    """The smallest rotation taking the unit vector `direction` onto the optical axis (0, 0, 1)."""
    d = direction / np.linalg.norm(direction)
    axis = np.cross(d, [0.0, 0.0, 1.0])
    sin = float(np.linalg.norm(axis))
    if sin < 1e-12:
        return np.eye(3)
    angle = np.arctan2(sin, float(d[2]))
    rot, _ = cv2.Rodrigues(axis / sin * angle)
    return np.asarray(rot, np.float64)


def pose_from_landmarks(landmarks68: np.ndarray, image_shape: tuple[int, ...]) -> PnpPose:
    """PnpPose of a face from its (68, 2) dlib landmarks in an image of `image_shape` (module docstring)."""
    image_points = np.asarray(landmarks68, np.float64)[MODEL_IDS]
    h, w = image_shape[:2]
    f = focal_length(image_shape, np.asarray(landmarks68, np.float64))
    camera = np.array([[f, 0.0, w / 2.0], [0.0, f, h / 2.0], [0.0, 0.0, 1.0]])
    object_points = MODEL_POINTS @ _HEAD_TO_CV  # into OpenCV's object frame (y down, z away)
    # SQPnP finds the global minimum (no back-facing local solution), Levenberg-Marquardt polishes it
    ok, rvec, tvec = cv2.solvePnP(object_points, image_points, camera, None, flags=cv2.SOLVEPNP_SQPNP)
    if not ok:
        raise ValueError("solvePnP found no head pose")
    rvec, tvec = cv2.solvePnPRefineLM(object_points, image_points, camera, None, rvec, tvec)
    r_cv, _ = cv2.Rodrigues(rvec)
    t_cv = np.asarray(tvec, np.float64).reshape(3)
    projected, _ = cv2.projectPoints(object_points, rvec, tvec, camera, None)
    rms = float(np.sqrt(np.mean(np.sum((projected.reshape(-1, 2) - image_points) ** 2, axis=1))))
    r_camera = _HEAD_TO_CV @ r_cv @ _HEAD_TO_CV
    r_view = _HEAD_TO_CV @ _towards_axis(t_cv) @ r_cv @ _HEAD_TO_CV
    yaw, pitch, roll = euler_angles(r_view)
    cyaw, cpitch, croll = euler_angles(r_camera)
    return PnpPose(yaw=yaw, pitch=pitch, roll=roll, camera_yaw=cyaw, camera_pitch=cpitch, camera_roll=croll,
                   rotation=r_view, translation_cm=_HEAD_TO_CV @ t_cv, focal_px=f, reprojection_px=rms)


def landmarks68_of_mediapipe(points: np.ndarray) -> np.ndarray:
    """(68, k) of MediaPipe-indexed (478, k) points (image px, or 3D): MODEL_68's rows filled (MEDIAPIPE_OF_68),
    the rest 0 (pose_from_landmarks reads only those rows)."""
    p = np.asarray(points, np.float64)
    out = np.zeros((68, p.shape[1]))
    for k, ids in MEDIAPIPE_OF_68.items():
        out[k] = p[list(ids)].mean(axis=0)
    return out


def pnp_head_pose(rgb: np.ndarray, box: np.ndarray) -> PnpPose:
    """PnpPose of the face in `box` (x0, y0, x1, y1 frame px; any detector's box: it carries no pose)."""
    return pose_from_landmarks(face_landmarks68(rgb, box), rgb.shape)


def largest_face_pose(rgb: np.ndarray, analyzer: FaceAnalyzer, what: str = "image") -> PnpPose:
    """PnpPose of the largest face of an image (its box from the analyzer's detector); ValueError if none."""
    return pnp_head_pose(rgb, largest_face(rgb, analyzer, what).box)


def pose_difference(a: PnpPose, b: PnpPose) -> np.ndarray:
    """(3,) b's yaw, pitch, roll minus a's, degrees in [-180, 180)."""
    d = np.array([b.yaw - a.yaw, b.pitch - a.pitch, b.roll - a.roll])
    return (d + 180.0) % 360.0 - 180.0

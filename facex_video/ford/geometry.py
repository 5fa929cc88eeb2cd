"""Head pose, landmarks in the canonical head frame, and the track's neutral 3D shape (docs/design.md §2).

Frames. The camera frame and the canonical head frame share one orientation: x toward the image's right,
y up, z toward the viewer (MediaPipe's canonical mesh: the nose tip has the largest z, the subject's right
eye, landmark 33, has x < 0). MediaPipe's image landmarks are x right, y down, z growing away from the
camera (the nose tip has the smallest z), so they enter this frame as (x, -y, -z): a proper rotation.

Head pose convention: the rotation R of the facial transformation matrix (canonical model -> camera) is
decomposed as R = Rz(roll) @ Ry(yaw) @ Rx(-pitch), i.e. pitch about the head's ear-to-ear axis, then yaw
about the vertical axis, then roll in the image plane. Roll is applied last so an in-plane rotation of the
image changes roll only, and a mirror image negates yaw and roll and keeps pitch. Signs as seen in the image:

- yaw > 0: the nose turns toward the image's right (the subject turns to their left);
- pitch > 0: the nose turns up (the subject looks up);
- roll > 0: the face is rotated counter-clockwise on screen (the top of the head toward the image's left,
  toward the subject's right shoulder).
"""

from __future__ import annotations

import numpy as np

from .mesh import canonical_mesh
from .representation import HeadPose

# The whole head as an ellipsoid in the canonical face frame (cm; the canonical mesh's chin is at y = -9.4,
# its glabella at z = 5.5, its face sides at x = +-7.7): adult head breadth ~15.5 cm, length (glabella to
# the back of the head) ~19.5 cm, height (chin to vertex) ~23 cm, averages of anthropometric surveys
# (e.g. Gordon et al., ANSUR II, 2014), rounded; not fitted to any photo. A head turns about a point near
# its centre (the neck's joints lie under it), so its centre is also the pivot of a turned head.
HEAD_CENTRE_CM = (0.0, 2.1, -4.25)
HEAD_SEMI_AXES_CM = (7.75, 11.5, 9.75)

# MediaPipe FaceLandmarker's 52 blendshape categories in output order (tests check them against the model).
BLENDSHAPE_NAMES: tuple[str, ...] = (
    "_neutral", "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight",
    "cheekPuff", "cheekSquintLeft", "cheekSquintRight", "eyeBlinkLeft", "eyeBlinkRight", "eyeLookDownLeft",
    "eyeLookDownRight", "eyeLookInLeft", "eyeLookInRight", "eyeLookOutLeft", "eyeLookOutRight", "eyeLookUpLeft",
    "eyeLookUpRight", "eyeSquintLeft", "eyeSquintRight", "eyeWideLeft", "eyeWideRight", "jawForward", "jawLeft",
    "jawOpen", "jawRight", "mouthClose", "mouthDimpleLeft", "mouthDimpleRight", "mouthFrownLeft",
    "mouthFrownRight", "mouthFunnel", "mouthLeft", "mouthLowerDownLeft", "mouthLowerDownRight", "mouthPressLeft",
    "mouthPressRight", "mouthPucker", "mouthRight", "mouthRollLower", "mouthRollUpper", "mouthShrugLower",
    "mouthShrugUpper", "mouthSmileLeft", "mouthSmileRight", "mouthStretchLeft", "mouthStretchRight",
    "mouthUpperUpLeft", "mouthUpperUpRight", "noseSneerLeft", "noseSneerRight",
)
# Blendshapes that deform the face's shape: not '_neutral' (a score, not a deformation) and not eyeLook*
# (gaze moves the iris, which the neutral shape should not be chosen by).
EXPRESSION_IDS = np.array(
    [i for i, n in enumerate(BLENDSHAPE_NAMES) if n != "_neutral" and not n.startswith("eyeLook")]
)


def head_pose(pose_matrix: np.ndarray) -> HeadPose:
    """Yaw, pitch, roll (degrees, convention in the module docstring), translation (cm) and scale from
    MediaPipe's facial transformation matrix.

    The 3x3 block may carry a uniform scale: it is the mean singular value, and the rotation is the nearest
    proper rotation (SVD), which also absorbs the float noise of the reported matrix. The translation is in
    the landmarker's virtual camera for the crop it ran on (faces/landmarks.py), so only its depth is
    comparable across faces; the rotation is what the image shows.
    """
    m = np.asarray(pose_matrix, np.float64)
    u, sv, vt = np.linalg.svd(m[:3, :3])
    r = u @ np.diag([1.0, 1.0, np.sign(np.linalg.det(u @ vt))]) @ vt
    yaw = np.degrees(np.arcsin(np.clip(-r[2, 0], -1.0, 1.0)))
    pitch = -np.degrees(np.arctan2(r[2, 1], r[2, 2]))
    roll = np.degrees(np.arctan2(r[1, 0], r[0, 0]))
    return HeadPose(yaw=float(yaw), pitch=float(pitch), roll=float(roll), translation=m[:3, 3].copy(),
                    scale=float(sv.mean()))


def pose_rotation(pose: HeadPose) -> np.ndarray:
    """The 3x3 rotation of a HeadPose, R = Rz(roll) @ Ry(yaw) @ Rx(-pitch) (the inverse of `head_pose`)."""
    y, p, r = np.radians([pose.yaw, -pose.pitch, pose.roll])
    rx = np.array([[1, 0, 0], [0, np.cos(p), -np.sin(p)], [0, np.sin(p), np.cos(p)]])
    ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    rz = np.array([[np.cos(r), -np.sin(r), 0], [np.sin(r), np.cos(r), 0], [0, 0, 1]])
    return rz @ ry @ rx


def similarity_3d(src: np.ndarray, dst: np.ndarray, weights: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Weighted Umeyama: s, R (3x3, det +1), t minimising sum_i w_i |dst_i - (s R src_i + t)|^2.

    The reflection guard keeps R a rotation, so a mirrored cloud is never 'fitted' by flipping it.
    """
    w = weights / weights.sum()
    mu_s, mu_d = w @ src, w @ dst
    sc, dc = src - mu_s, dst - mu_d
    u, d, vt = np.linalg.svd((dc * w[:, None]).T @ sc)
    flip = np.diag([1.0, 1.0, np.sign(np.linalg.det(u) * np.linalg.det(vt))])
    r = u @ flip @ vt
    s = float(np.trace(np.diag(d) @ flip) / (w @ (sc**2).sum(axis=1)))
    return s, r, mu_d - s * r @ mu_s


def landmark_rotation(landmarks: np.ndarray) -> np.ndarray:
    """Rotation (3x3) taking the canonical head frame to the image's axes turned to x right, y up, z toward
    the viewer: the pose the landmarks themselves show, exactly consistent with `canonical_landmarks` (the
    inverse of its fit's rotation), unlike MediaPipe's matrix, which is solved separately."""
    mesh = canonical_mesh()
    p = np.asarray(landmarks, np.float64) * np.array([1.0, -1.0, -1.0])
    ids = mesh.procrustes_ids
    _, r, _ = similarity_3d(p[ids], mesh.vertices[ids], mesh.procrustes_weights)
    return r.T


def canonical_landmarks(landmarks: np.ndarray) -> np.ndarray:
    """(478, 3) image landmarks (px, z on the x scale) -> (478, 3) float64 cm in the canonical head frame.

    A similarity fitted on MediaPipe's own procrustes landmarks (33 points that barely move with expression:
    forehead, nose, eye corners, cheeks, jaw sides; weighted as MediaPipe weights them) removes pose and size, so
    what differs from the canonical mesh afterwards is the person's shape and expression, measured in cm.
    MediaPipe's depth is relative and the image is near-orthographic at face scale, so no perspective is
    undone: a strongly foreshortened face keeps a small perspective residual.
    """
    mesh = canonical_mesh()
    p = np.asarray(landmarks, np.float64) * np.array([1.0, -1.0, -1.0])
    ids = mesh.procrustes_ids
    s, r, t = similarity_3d(p[ids], mesh.vertices[ids], mesh.procrustes_weights)
    return s * p @ r.T + t


def expression_energy(blendshapes: np.ndarray) -> float:
    """How far a face is from neutral: the L2 norm of its shape-changing blendshape weights (eyeLook*
    and '_neutral' excluded). Only a ranking matters: MediaPipe gives neutral faces small non-zero scores."""
    b = np.asarray(blendshapes, np.float64)
    return float(np.linalg.norm(b[EXPRESSION_IDS]))


def neutral_shape(shapes: np.ndarray, blendshapes: np.ndarray, fraction: float = 0.25) -> np.ndarray:
    """The track's neutral 3D shape (478, 3) cm from canonical landmarks (n, 478, 3) and blendshapes (n, 52).

    An approximation: MediaPipe gives expression weights but no blendshape basis, so expressions cannot be
    subtracted exactly. Instead the `fraction` of frames with the lowest expression energy (at least one) is
    kept and each coordinate is their weighted median, weights 1 / (energy + 0.05): the median ignores
    the odd frame with a landmark glitch or a remaining expression, the weights favour the calmest frames.
    """
    shapes = np.asarray(shapes, np.float64)
    energy = np.array([expression_energy(b) for b in blendshapes])
    if len(shapes) == 0 or len(energy) != len(shapes):
        raise ValueError(f"need as many blendshape rows as shapes, at least one: {len(energy)} vs {len(shapes)}")
    keep = np.argsort(energy, kind="stable")[: max(1, int(np.ceil(fraction * len(shapes))))]
    return _weighted_median(shapes[keep], 1.0 / (energy[keep] + 0.05)).astype(np.float32)


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Per-element weighted median along axis 0: the smallest value whose cumulative weight reaches half."""
    order = np.argsort(values, axis=0, kind="stable")
    v = np.take_along_axis(values, order, axis=0)
    cw = np.cumsum(weights[order], axis=0)
    idx = (cw < 0.5 * cw[-1:]).sum(axis=0, keepdims=True)
    return np.take_along_axis(v, idx, axis=0)[0]

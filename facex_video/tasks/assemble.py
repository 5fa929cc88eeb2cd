"""Assembly: one AssembledFace per output frame, from components taken from different inputs.

Geometry is rebuilt in the canonical head frame (cm): the identity's neutral shape plus the expression
input's displacement from its own neutral shape, rotated by the chosen pose and projected (weak
perspective) into the canvas face's aligned 512x512 crop, where it is placed over the canvas face.
Everything a renderer needs travels in crop coordinates, so renderers never see whole frames.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np

from ..core.constants import CROP_SIZE, NUM_LANDMARKS
from ..faces.align import crop_face
from ..ford.geometry import HEAD_CENTRE_CM, landmark_rotation, pose_rotation
from ..ford.mesh import REGION_CONTOURS, canonical_mesh
from ..ford.regions import landmarks_to_crop
from ..ford.representation import FacialRepresentation, Gaze, HeadPose, Identity
from .expression import apply_expression
from .table import Task, changes_identity
from .table import task as as_task


@dataclass
class FaceInput:
    """One face of one input: the image it is in and its FORD representation."""

    rgb: np.ndarray
    rep: FacialRepresentation
    aligned: np.ndarray | None = field(default=None, repr=False, compare=False)  # crop() once made

    def crop(self) -> np.ndarray:
        """The face's own aligned 512x512 crop, resampled once per input (a still's is reused every frame)."""
        if self.aligned is None:
            self.aligned = crop_face(self.rgb, self.rep.environment.crop_transform)
        return self.aligned

    def landmarks_crop(self) -> np.ndarray:
        """Its landmarks in its own aligned crop (px)."""
        return landmarks_to_crop(self.rep.intra.landmarks_image.astype(np.float64), self.rep.environment.crop_transform)


@dataclass
class Edits:
    """Numeric deltas of `facex edit`: degrees for pose and gaze, absolute blendshape targets by name."""

    yaw: float = 0.0
    pitch: float = 0.0
    roll: float = 0.0
    gaze: tuple[float, float] | None = None  # yaw, pitch degrees, added to both eyes
    expression: dict[str, float] = field(default_factory=dict)


@dataclass
class AssembledFace:
    """Everything a renderer needs for one output face, in the canvas face's aligned crop (512 px).

    canvas_*: the face being replaced, in the frame the result is composed onto (target footage, or the
    portrait of a reenactment). texture_*: the identity donor, in its own aligned crop. landmarks: the
    assembled geometry (478, 3) in canvas-crop px (z on the x scale, MediaPipe's sign: larger z = farther).
    hair: which input's hair the result shows ("canvas" or "texture"). inpaint_mask: canvas-crop area to
    regenerate (inpaint task). identity/expression/pose: the assembled components themselves, for
    renderers that condition on them (facex, inswapper). changes_identity: the face put on the canvas is
    someone else's (the identity comes from another input than the canvas). mouth_*: the expression
    input's face in its own aligned crop, when it is neither the canvas nor the texture (a reenactment's
    driving frame): what a mouth the assembly opens wider than either of those shows may borrow (teeth,
    tongue), None otherwise.
    """

    task: Task
    changes_identity: bool
    crop_transform: np.ndarray
    canvas_crop: np.ndarray
    canvas_landmarks: np.ndarray
    canvas_masks: dict[str, np.ndarray]
    canvas_lighting: np.ndarray
    texture_crop: np.ndarray
    texture_landmarks: np.ndarray
    texture_masks: dict[str, np.ndarray]
    texture_lighting: np.ndarray
    texture_gaze: Gaze
    landmarks: np.ndarray
    gaze: Gaze
    lighting: np.ndarray
    hair: str
    identity: Identity
    expression: np.ndarray
    pose: HeadPose
    inpaint_mask: np.ndarray | None = None
    mouth_crop: np.ndarray | None = None
    mouth_landmarks: np.ndarray | None = None


def posed_shape(shape_cm: np.ndarray, rotation: np.ndarray) -> np.ndarray:
    """(478, 3) head-frame points rotated into image axes: x right, y down, z away (cm)."""
    return (shape_cm @ rotation.T) * np.array([1.0, -1.0, -1.0])


@functools.lru_cache(maxsize=1)
def expression_free_weights() -> np.ndarray:
    """(478, 1) weight per landmark of how much the identity's shape may move it: 0 on the lips, eyes,
    irises and brows (where a single photo's 'neutral' shape still holds its expression), 1 elsewhere,
    with a smooth falloff over ~1.5 cm on the canonical mesh."""
    mesh = canonical_mesh()
    expressive = sorted({i for name in ("lips_outer", "lips_inner", "right_eye", "left_eye", "right_eyebrow",
                                        "left_eyebrow") for i in REGION_CONTOURS[name]})
    verts = mesh.vertices
    d = np.linalg.norm(verts[:, None] - verts[None, expressive], axis=-1).min(axis=1)
    w = np.clip(d / 1.5, 0, 1)
    w = np.concatenate([w, np.zeros(NUM_LANDMARKS - len(w))])  # the iris points follow the eyes
    return (w * w * (3 - 2 * w))[:, None]


def assembled_shape(identity: FacialRepresentation, expression: FacialRepresentation, weight: float) -> np.ndarray:
    """The 3D shape (cm, head frame): the expression input's shape, moved toward the identity's neutral
    shape by `weight` where expressions do not act (face outline, nose, cheeks, forehead).

    Identity shape enters as an offset between the two neutral shapes, so the expression input keeps its
    mouth, eyes and brows exactly; weight 1 gives the identity's proportions, 0 the expression input's."""
    offset = identity.identity.neutral_shape.astype(np.float64) - expression.identity.neutral_shape
    return expression.intra.landmarks_3d + weight * expression_free_weights() * offset


def crop_rotation(m: np.ndarray) -> np.ndarray:
    """The in-plane rotation of a frame -> crop similarity, as a 3x3 rotation in head axes (y up, z to viewer)."""
    a = np.asarray(m, np.float64)[:, :2]
    a = a / np.sqrt(abs(np.linalg.det(a)))
    out = np.eye(3)
    out[:2, :2] = np.diag([1.0, -1.0]) @ a @ np.diag([1.0, -1.0])
    return out


def pose_of(rep: FacialRepresentation, edits: Edits | None = None) -> np.ndarray:
    """The rotation a face shows (from its own landmarks, consistent with its landmarks_3d), with edit
    deltas applied in the camera frame: R' = R(pose + delta) R(pose)^T R."""
    rotation = landmark_rotation(rep.intra.landmarks_image)
    if edits is None or not (edits.yaw or edits.pitch or edits.roll):
        return rotation
    pose = rep.intra.pose
    return pose_rotation(edited_pose(pose, edits)) @ pose_rotation(pose).T @ rotation


def place_like(points: np.ndarray, reference: np.ndarray, turn: np.ndarray | None = None) -> np.ndarray:
    """Scale and translate posed points (cm, image axes) so their rigid core lies on `reference` (px).

    The scale and shift are a least-squares fit over MediaPipe's procrustes landmarks (forehead, nose,
    eye corners: parts expressions barely move), so the new face sits where the reference face is. A head
    turned from the reference's pose by `turn` (the new rotation minus the reference's, crop axes, y up)
    turns about its centre (HEAD_CENTRE_CM), not about its face: its rigid core then moves by what that
    turn does to the core's offset from the centre, and the outline of the head stays where it was.
    """
    mesh = canonical_mesh()
    ids, w = mesh.procrustes_ids, mesh.procrustes_weights / mesh.procrustes_weights.sum()
    src, dst = points[ids, :2], reference[ids, :2]
    mu_s, mu_d = w @ src, w @ dst
    scale = float((w * ((src - mu_s) * (dst - mu_d)).sum(axis=1)).sum() / (w @ ((src - mu_s) ** 2).sum(axis=1)))
    out = points * scale
    out[:, :2] += mu_d - scale * mu_s
    out[:, 2] -= out[ids, 2].mean() - reference[ids, 2].mean()
    if turn is not None:
        core = w @ mesh.vertices[ids]
        out += scale * (turn @ (core - np.asarray(HEAD_CENTRE_CM))) * np.array([1.0, -1.0, -1.0])
    return out


def edited_pose(pose: HeadPose, edits: Edits | None) -> HeadPose:
    if edits is None:
        return pose
    return HeadPose(pose.yaw + edits.yaw, pose.pitch + edits.pitch, pose.roll + edits.roll, pose.translation,
                    pose.scale)


def edited_gaze(gaze: Gaze, edits: Edits | None) -> Gaze:
    if edits is None or edits.gaze is None:
        return gaze
    dy, dp = edits.gaze
    return Gaze(gaze.right_yaw + dy, gaze.right_pitch + dp, gaze.left_yaw + dy, gaze.left_pitch + dp)


def assemble(
    task: str | Task,
    *,
    canvas: FaceInput,
    identity: FaceInput,
    expression: FacialRepresentation,
    pose: FacialRepresentation,
    gaze: FacialRepresentation,
    lighting: FacialRepresentation,
    hair: str = "canvas",
    edits: Edits | None = None,
    inpaint_mask: np.ndarray | None = None,
    identity_weight: float = 0.5,
    mouth: FaceInput | None = None,
) -> AssembledFace:
    """Combine components into one AssembledFace over `canvas`'s face (see the module docstring). `mouth`:
    the expression input as a FaceInput, when it is another input than the canvas and the texture."""
    task = as_task(task)
    m = canvas.rep.environment.crop_transform
    canvas_landmarks = canvas.landmarks_crop()
    canvas_crop, texture_crop = canvas.crop(), identity.crop()
    # a fixed recipe says whether the identity is another input's; a mix may take it from the canvas's own
    others = (changes_identity(task.recipe) if task.recipe is not None
              else not np.array_equal(texture_crop, canvas_crop))
    shape = assembled_shape(identity.rep, expression, identity_weight)
    if edits is not None and edits.expression:
        shape = apply_expression(shape, expression.intra.expression, edits.expression)
    the_pose = edited_pose(pose.intra.pose, edits)
    # rotate into the canvas crop's axes, then place the new head on the canvas face's rigid core
    rotation = crop_rotation(m) @ pose_of(pose, edits)
    turn = rotation - landmark_rotation(canvas_landmarks)
    landmarks = place_like(posed_shape(shape, rotation), canvas_landmarks, turn)
    return AssembledFace(
        task=task,
        changes_identity=others,
        crop_transform=m,
        canvas_crop=canvas_crop,
        canvas_landmarks=canvas_landmarks,
        canvas_masks=canvas.rep.environment.masks,
        canvas_lighting=canvas.rep.environment.lighting_sh,
        texture_crop=texture_crop,
        texture_landmarks=identity.landmarks_crop(),
        texture_masks=identity.rep.environment.masks,
        texture_lighting=identity.rep.environment.lighting_sh,
        texture_gaze=identity.rep.intra.gaze,
        landmarks=landmarks,
        gaze=edited_gaze(gaze.intra.gaze, edits),
        lighting=lighting.environment.lighting_sh,
        hair=hair,
        identity=identity.rep.identity,
        expression=expression.intra.expression,
        pose=the_pose,
        inpaint_mask=inpaint_mask,
        mouth_crop=None if mouth is None else mouth.crop(),
        mouth_landmarks=None if mouth is None else mouth.landmarks_crop(),
    )


__all__ = ["CROP_SIZE", "AssembledFace", "Edits", "FaceInput", "assemble"]

"""A driving sequence whose head really turns, for grading reenactment on yaw and pitch, not only roll.

No package ships a video of a head turning (docs/design.md §1), and a turn drawn by our own renderer would
grade the renderer against itself. So the sequence is made of real faces: every face of the photos that
ship in packages (t1.jpg's six, the astronaut, Grace Hopper, Tom Hanks) and its mirror image (a mirrored
face is a real face turned the other way), each cropped around its face at one scale, its eyes levelled (an
in-plane rotation, which leaves yaw and pitch as photographed), and ordered by yaw from one side to the
other. Each face is one shot: the cut between two faces starts a new face track, as in an edited film.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..faces.analyze import FaceAnalyzer
from ..faces.types import LEFT_EYE_CORNERS, RIGHT_EYE_CORNERS
from ..ford.geometry import head_pose
from ..media.samples import load_sample
from ..media.synth import Shot

PHOTOS = ("t1", "astronaut", "grace_hopper", "tom_hanks")
FACE_FRACTION = 0.45  # the face box's side as a fraction of the crop's: the whole head and some background


@dataclass(frozen=True)
class TurnFace:
    """One real face of the sequence: a square crop, eyes level; yaw is MediaPipe's reading, used only to
    order the faces (graders read the pose afresh)."""

    image: np.ndarray
    yaw: float
    name: str


def _level_crop(rgb: np.ndarray, box: np.ndarray, landmarks: np.ndarray, size: int) -> np.ndarray:
    """A size x size crop centred on the face box, rotated so the eyes are level, the box FACE_FRACTION of it."""
    right = landmarks[list(RIGHT_EYE_CORNERS), :2].mean(axis=0)
    left = landmarks[list(LEFT_EYE_CORNERS), :2].mean(axis=0)
    dx, dy = left - right
    roll = float(np.degrees(np.arctan2(dy, dx)))
    centre = ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)
    side = max(box[2] - box[0], box[3] - box[1]) / FACE_FRACTION
    m = cv2.getRotationMatrix2D(centre, roll, size / side)
    m[:, 2] += np.array([size / 2, size / 2]) - np.array(centre)
    # outside a small photo (Tom Hanks' is 112 px): its mean colour, not smeared edges or a mirrored face
    fill = tuple(float(c) for c in rgb.reshape(-1, 3).mean(axis=0))
    return cv2.warpAffine(rgb, m, (size, size), flags=cv2.INTER_AREA if side > size else cv2.INTER_CUBIC,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=fill)


def turn_faces(analyzer: FaceAnalyzer, size: int = 256) -> list[TurnFace]:
    """Every face of PHOTOS and its mirror image, as level crops, ordered by yaw."""
    faces = []
    for photo in PHOTOS:
        rgb = load_sample(photo)
        for mirrored, image in ((False, rgb), (True, np.ascontiguousarray(rgb[:, ::-1]))):
            # numbered left to right in the photo as it ships (a mirror image's faces right to left)
            order = sorted(analyzer.analyze(image), key=lambda f: float(f.box[0]) * (-1 if mirrored else 1))
            for k, face in enumerate(order):
                crop = _level_crop(image, face.box, face.landmarks, size)
                name = f"{photo} face {k}{' mirrored' if mirrored else ''}"
                faces.append(TurnFace(crop, head_pose(face.pose_matrix).yaw, name))
    return sorted(faces, key=lambda f: f.yaw)


def turn_shots(faces: list[TurnFace], seconds: float) -> list[Shot]:
    """One still shot per face, in order: a clip for media.synth.write_clip."""
    return [Shot(f.image, seconds=seconds) for f in faces]

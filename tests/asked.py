"""What the geometric renderer was asked to draw, beside what it drew: the assembled faces it renders, recorded,
and their landmarks read by the PnP grader (eval/head_pose.py) with no image, as a perfect picture of that
geometry would place its points (tests/test_task_properties.py, tests/test_reenact_turn.py)."""

from __future__ import annotations

import numpy as np
import pytest

from facex_video.eval.head_pose import PnpPose, landmarks68_of_mediapipe, pose_from_landmarks
from facex_video.faces.align import invert
from facex_video.ford.regions import landmarks_to_crop
from facex_video.render.geometric.renderer import GeometricRenderer


def record_asked(patch: pytest.MonkeyPatch) -> list[tuple[int, int, object]]:
    """A list that fills, while `patch` holds, with (track, frame of the track, assembled face) of every face
    the geometric renderer draws."""
    asked: list[tuple[int, int, object]] = []
    render = GeometricRenderer.render

    def recording(self, assembled, state):
        asked.append((state.track_id, state.frames, assembled))
        return render(self, assembled, state)

    patch.setattr(GeometricRenderer, "render", recording)
    return asked


def asked_pose(assembled, crop_points: np.ndarray, shape: tuple[int, ...]) -> PnpPose:
    """The PnP grader's pose of MediaPipe-indexed points in the assembled face's crop (its `landmarks`, or the
    canvas's), taken to the frame of `shape` they belong to."""
    points = landmarks_to_crop(np.asarray(crop_points, np.float64), invert(assembled.crop_transform))
    return pose_from_landmarks(landmarks68_of_mediapipe(points[:, :2]), shape)

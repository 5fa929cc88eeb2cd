"""Eye-in-head gaze (ford/gaze.py) on real photos: symmetry, rotation, the eyeLook* blendshapes, iris moves."""

from __future__ import annotations

import cv2
import numpy as np

from facex_video.ford.gaze import EYEBALL_RADIUS, eye_gaze
from facex_video.ford.geometry import BLENDSHAPE_NAMES
from facex_video.ford.representation import Gaze

T1 = ("rachel", "monica", "ross", "matthew", "joey", "phoebe")  # left to right
RIGHT_IRIS = list(range(468, 473))
LEFT_IRIS = list(range(473, 478))


def blend(face, name: str) -> float:
    return float(face.blendshapes[BLENDSHAPE_NAMES.index(name)])


def only_face(analyzer, rgb: np.ndarray):
    faces = analyzer.analyze(rgb)
    assert len(faces) == 1
    return faces[0]


def yaws(g: Gaze) -> np.ndarray:
    return np.array([g.right_yaw, g.left_yaw])


def pitches(g: Gaze) -> np.ndarray:
    return np.array([g.right_pitch, g.left_pitch])


def test_mirror_image_mirrors_the_gaze(analyzer, astronaut, t1):
    a = eye_gaze(only_face(analyzer, astronaut).landmarks)
    b = eye_gaze(only_face(analyzer, np.ascontiguousarray(np.fliplr(astronaut))).landmarks)
    # the mirror's right eye is the original's left eye
    assert abs(a.right_yaw + b.left_yaw) < 3 and abs(a.left_yaw + b.right_yaw) < 3
    assert abs(a.right_pitch - b.left_pitch) < 3 and abs(a.left_pitch - b.right_pitch) < 3

    # Monica looks clearly sideways; her mirror image looks the other way by as much
    mirrored = analyzer.analyze(np.ascontiguousarray(np.fliplr(t1)))[::-1]
    monica = T1.index("monica")
    a, b = eye_gaze(analyzer.analyze(t1)[monica].landmarks), eye_gaze(mirrored[monica].landmarks)
    assert min(yaws(a)) > 8
    assert abs(a.right_yaw + b.left_yaw) < 3 and abs(a.left_yaw + b.right_yaw) < 3


def test_in_plane_rotation_barely_changes_the_gaze(analyzer, astronaut):
    face = only_face(analyzer, astronaut)
    centre = (face.box[:2] + face.box[2:]) / 2
    m = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), 15.0, 1.0)
    rotated = only_face(analyzer, cv2.warpAffine(astronaut, m, astronaut.shape[1::-1], borderMode=cv2.BORDER_REFLECT))
    a, b = eye_gaze(face.landmarks), eye_gaze(rotated.landmarks)
    # MediaPipe's iris and eye corners move by 1-2 % of the eye width when the photo is resampled (~2 degrees)
    assert np.abs(yaws(a) - yaws(b)).max() < 3 and np.abs(pitches(a) - pitches(b)).max() < 3
    assert abs(yaws(a).mean() - yaws(b).mean()) < 2  # the two eyes together


def test_signs_agree_with_the_eyelook_blendshapes_and_with_the_photo(analyzer, t1):
    faces = analyzer.analyze(t1)
    assert len(faces) == 6
    checked = 0
    for face in faces:
        g = eye_gaze(face.landmarks)
        # yaw > 0 is toward the subject's left: the left eye looks out, the right eye looks in
        for yaw, toward_left, toward_right in (
            (g.right_yaw, blend(face, "eyeLookInRight"), blend(face, "eyeLookOutRight")),
            (g.left_yaw, blend(face, "eyeLookOutLeft"), blend(face, "eyeLookInLeft")),
        ):
            if abs(toward_left - toward_right) > 0.5:
                assert np.sign(yaw) == np.sign(toward_left - toward_right) and abs(yaw) > 5
                checked += 1
        for pitch, side in ((g.right_pitch, "Right"), (g.left_pitch, "Left")):
            up, down = blend(face, f"eyeLookUp{side}"), blend(face, f"eyeLookDown{side}")
            if abs(up - down) > 0.5:
                assert np.sign(pitch) == np.sign(up - down) and abs(pitch) > 5
                checked += 1
    assert checked >= 8
    # what a person sees: Ross looks toward the image's left, Monica toward its right, Rachel looks down
    gaze = {name: eye_gaze(f.landmarks) for name, f in zip(T1, faces)}
    assert max(yaws(gaze["ross"])) < -10
    assert min(yaws(gaze["monica"])) > 5
    assert max(pitches(gaze["rachel"])) < -8


def test_moving_the_iris_moves_the_gaze_the_same_way(analyzer, grace_hopper):
    face = only_face(analyzer, grace_hopper)
    lm = face.landmarks.astype(np.float64)
    steps = np.linspace(-0.15, 0.15, 7)  # eye widths
    for eye, (a, b), iris in (("right", (33, 133), RIGHT_IRIS), ("left", (362, 263), LEFT_IRIS)):
        along = lm[b, :2] - lm[a, :2]  # toward the image's right, one eye width long
        up = np.array([along[1], -along[0]])  # image y points down
        yaw, pitch = [], []
        for k in steps:
            moved = lm.copy()
            moved[iris, :2] += k * along
            yaw.append(getattr(eye_gaze(moved), f"{eye}_yaw"))
            moved = lm.copy()
            moved[iris, :2] += k * up
            pitch.append(getattr(eye_gaze(moved), f"{eye}_pitch"))
        yaw, pitch = np.array(yaw), np.array(pitch)
        assert np.all(np.diff(yaw) > 0) and np.all(np.diff(pitch) > 0)
        # the eyeball model: an iris moved by 0.15 eye widths turns the eye by about asin(0.15 / 0.4)
        expected = np.degrees(np.arcsin(0.15 / EYEBALL_RADIUS))
        assert abs((yaw[-1] - yaw[0]) / 2 - expected) < 3 and abs((pitch[-1] - pitch[0]) / 2 - expected) < 3

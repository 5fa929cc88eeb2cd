"""Head pose, canonical landmarks and the neutral shape (ford/geometry.py), on real photos and synthetic clouds."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from facex_video.ford.geometry import (
    BLENDSHAPE_NAMES,
    canonical_landmarks,
    expression_energy,
    head_pose,
    neutral_shape,
    similarity_3d,
)
from facex_video.ford.mesh import canonical_mesh
from facex_video.media.samples import load_sample

# t1.jpg's six faces, left to right as FaceAnalyzer returns them
T1 = ("rachel", "monica", "ross", "matthew", "joey", "phoebe")


def rot_x(a: float) -> np.ndarray:
    c, s = np.cos(np.radians(a)), np.sin(np.radians(a))
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])


def rot_y(a: float) -> np.ndarray:
    c, s = np.cos(np.radians(a)), np.sin(np.radians(a))
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def rot_z(a: float) -> np.ndarray:
    c, s = np.cos(np.radians(a)), np.sin(np.radians(a))
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


def pose_matrix(yaw: float, pitch: float, roll: float, scale: float, t: np.ndarray) -> np.ndarray:
    m = np.eye(4)
    m[:3, :3] = scale * rot_z(roll) @ rot_y(yaw) @ rot_x(-pitch)
    m[:3, 3] = t
    return m


def rotate_about(img: np.ndarray, centre: np.ndarray, degrees: float) -> np.ndarray:
    """cv2's positive angle turns the image counter-clockwise on screen."""
    m = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), degrees, 1.0)
    return cv2.warpAffine(img, m, (img.shape[1], img.shape[0]), borderMode=cv2.BORDER_REFLECT)


def only_face(analyzer, rgb: np.ndarray):
    faces = analyzer.analyze(rgb)
    assert len(faces) == 1
    return faces[0]


def test_blendshape_names_match_the_model():
    from mediapipe.tasks.python import vision

    from facex_video.faces.mp_runtime import base_options, mp_image, quiet_native_stderr
    from facex_video.models.store import model_path

    options = vision.FaceLandmarkerOptions(
        base_options=base_options(model_path("face_landmarker")), output_face_blendshapes=True
    )
    with quiet_native_stderr():
        landmarker = vision.FaceLandmarker.create_from_options(options)
    try:
        result = landmarker.detect(mp_image(load_sample("grace_hopper")))
    finally:
        landmarker.close()
    assert tuple(c.category_name for c in result.face_blendshapes[0]) == BLENDSHAPE_NAMES


def test_head_pose_recovers_a_known_pose_and_its_signs_match_the_docstring():
    t = np.array([1.5, -2.0, -40.0])
    pose = head_pose(pose_matrix(30.0, -12.0, 20.0, 1.3, t))
    assert (pose.yaw, pose.pitch, pose.roll) == pytest.approx((30.0, -12.0, 20.0), abs=1e-9)
    assert pose.scale == pytest.approx(1.3) and np.allclose(pose.translation, t)

    v = canonical_mesh().vertices
    nose, right_eye, left_eye = v[1], v[33], v[263]
    assert (rot_y(30) @ nose)[0] > 2  # yaw > 0: the nose tip moves toward the image's right
    assert (rot_x(-20) @ nose)[1] > nose[1] + 2  # pitch > 0 (Rx(-pitch)): the nose tip rises
    eyes = rot_z(20) @ (left_eye - right_eye)  # roll > 0: counter-clockwise, the left eye (image right) rises
    assert eyes[1] > 0 and np.degrees(np.arctan2(eyes[1], eyes[0])) == pytest.approx(20.0)


def test_in_plane_rotation_changes_roll_by_the_angle(analyzer, astronaut):
    face = only_face(analyzer, astronaut)
    rotated = only_face(analyzer, rotate_about(astronaut, (face.box[:2] + face.box[2:]) / 2, 15.0))
    before, after = head_pose(face.pose_matrix), head_pose(rotated.pose_matrix)
    assert after.roll - before.roll == pytest.approx(15.0, abs=2.0)  # counter-clockwise on screen: roll grows
    assert abs(after.yaw - before.yaw) < 2 and abs(after.pitch - before.pitch) < 2


@pytest.mark.parametrize("name", ["astronaut", "grace_hopper"])
def test_mirror_image_negates_yaw_and_roll(analyzer, name):
    img = load_sample(name)
    a = head_pose(only_face(analyzer, img).pose_matrix)
    b = head_pose(only_face(analyzer, np.ascontiguousarray(np.fliplr(img))).pose_matrix)
    assert abs(a.yaw + b.yaw) < 3
    assert abs(a.roll + b.roll) < 3 and abs(a.roll) > 2  # the roll is not zero, so its sign really flips
    assert abs(a.pitch - b.pitch) < 3


def test_yaw_and_roll_signs_are_what_the_photos_show(analyzer, t1):
    faces = analyzer.analyze(t1)
    assert len(faces) == 6
    pose = {name: head_pose(f.pose_matrix) for name, f in zip(T1, faces)}
    # Joey and Monica turn toward the image's left (their left ears show on the image's right)
    assert pose["joey"].yaw < -30 and pose["monica"].yaw < -20
    # Rachel's head leans counter-clockwise on screen (her left eye, on the image's right, is higher)
    assert pose["rachel"].roll > 15
    # Tom Hanks turns toward the image's right (his right cheek fills the image's left)
    tom = only_face(analyzer, load_sample("tom_hanks"))
    assert head_pose(tom.pose_matrix).yaw > 10


def test_canonical_landmarks_undo_a_known_similarity_and_weak_perspective():
    rng = np.random.default_rng(1)
    v = canonical_mesh().vertices
    extra = v[rng.integers(0, len(v), 10)] + rng.normal(0, 0.5, (10, 3))  # stand-ins for the 10 iris points
    head = np.concatenate([v, extra])
    cam = 9.5 * head @ (rot_z(-25) @ rot_y(35) @ rot_x(10)).T  # px per cm, rotated
    image = cam * np.array([1.0, -1.0, -1.0]) + np.array([640.0, 360.0, 17.0])  # y down, z away, any depth offset
    assert np.abs(canonical_landmarks(image) - head).max() < 1e-6


def test_similarity_fit_never_reflects():
    rng = np.random.default_rng(2)
    src = rng.normal(size=(50, 3))
    s, r, _ = similarity_3d(src, src * np.array([-1.0, 1.0, 1.0]), np.ones(50))
    assert np.linalg.det(r) == pytest.approx(1.0) and s > 0


def test_canonical_landmarks_do_not_change_with_in_plane_rotation(analyzer, astronaut):
    face = only_face(analyzer, astronaut)
    rotated = only_face(analyzer, rotate_about(astronaut, (face.box[:2] + face.box[2:]) / 2, 15.0))
    a, b = canonical_landmarks(face.landmarks), canonical_landmarks(rotated.landmarks)
    assert np.linalg.norm(a - b, axis=1).max() < 0.3
    # and they are the canonical mesh plus this person's shape and expression: within ~2 cm everywhere
    assert np.linalg.norm(a[:468] - canonical_mesh().vertices, axis=1).max() < 2.0


def test_expression_energy_ignores_gaze_and_ranks_a_laugh_above_a_calm_face(analyzer, t1, grace_hopper):
    b = np.zeros(52)
    b[[i for i, n in enumerate(BLENDSHAPE_NAMES) if n.startswith("eyeLook") or n == "_neutral"]] = 1.0
    assert expression_energy(b) == 0.0
    b[BLENDSHAPE_NAMES.index("jawOpen")] = 0.8
    assert expression_energy(b) == pytest.approx(0.8)
    laughing = analyzer.analyze(t1)[T1.index("matthew")]
    calm = only_face(analyzer, grace_hopper)
    assert expression_energy(laughing.blendshapes) > expression_energy(calm.blendshapes) + 0.5


def test_neutral_shape_takes_the_calm_frames_and_ignores_a_glitch(analyzer, grace_hopper):
    face = only_face(analyzer, grace_hopper)
    base = canonical_landmarks(face.landmarks)
    rng = np.random.default_rng(3)
    jaw = BLENDSHAPE_NAMES.index("jawOpen")
    mouth = [14, 17, 84, 87, 178, 181, 314, 317, 402, 405, 152]  # lower lip and chin
    shapes, blends = [], []
    for i in range(12):
        shape = base + rng.normal(0, 0.02, base.shape)
        b = face.blendshapes.astype(np.float64).copy()
        if i < 8:  # open mouth
            shape[mouth, 1] -= 1.0
            b[jaw] = 0.9
        elif i == 8:  # the calmest frame has a landmark glitch
            shape[mouth, 1] += 1.0
            b *= 0.95
        shapes.append(shape)
        blends.append(b)
    neutral = neutral_shape(np.array(shapes), np.array(blends))
    assert neutral.shape == (478, 3) and neutral.dtype == np.float32
    assert np.abs(neutral - base).max() < 0.1
    assert np.abs(np.mean(shapes, axis=0) - base)[mouth].max() > 0.5  # a plain mean would not be


def test_pose_rotation_inverts_head_pose():
    from scipy.spatial.transform import Rotation

    from facex_video.ford.geometry import pose_rotation

    rng = np.random.default_rng(7)
    for angles in rng.uniform(-0.7, 0.7, (20, 3)):
        m = np.eye(4)
        m[:3, :3] = 1.3 * Rotation.from_euler("xyz", angles).as_matrix()
        np.testing.assert_allclose(pose_rotation(head_pose(m)), m[:3, :3] / 1.3, atol=1e-12)

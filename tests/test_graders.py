"""The independent graders (eval/head_pose.py: dlib 68 + solvePnP; eval/gaze_image.py: dlib's eye contour and
the iris found in the image) on the shipped photos, their mirror images and rotations: properties of the
measurement itself, which hold whatever a renderer does (issue 14)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from facex_video.eval import gaze_image
from facex_video.eval.gaze_image import LEFT_EYE_68, RIGHT_EYE_68, gaze_change, image_gaze, read_eye
from facex_video.eval.head_pose import (
    euler_angles,
    face_landmarks68,
    landmarks68_of_mediapipe,
    pnp_head_pose,
    pose_from_landmarks,
)
from facex_video.ford.geometry import head_pose, pose_rotation
from facex_video.ford.representation import HeadPose
from facex_video.media.samples import load_sample

PORTRAITS = ("astronaut", "grace_hopper", "tom_hanks")


def _mirror(rgb: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(rgb[:, ::-1])


def _mirrored_box(box: np.ndarray, width: int) -> np.ndarray:
    return np.array([width - 1 - box[2], box[1], width - 1 - box[0], box[3]])


@pytest.fixture(scope="module")
def real_faces(analyzer) -> list[tuple[str, np.ndarray, object]]:
    """The 9 real faces of the shipped photos: (name, image, MediaPipe's detection)."""
    out = []
    for name in ("astronaut", "grace_hopper", "t1", "tom_hanks"):
        rgb = load_sample(name)
        out += [(f"{name}[{i}]", rgb, face) for i, face in enumerate(analyzer.analyze(rgb))]
    assert len(out) == 9
    return out


def test_euler_angles_read_fords_convention() -> None:
    """The grader decomposes a rotation exactly as ford/geometry.py composes one (R = Rz(roll) Ry(yaw) Rx(-pitch))."""
    rng = np.random.default_rng(0)
    for yaw, pitch, roll in rng.uniform([-70, -50, -60], [70, 50, 60], size=(20, 3)):
        r = pose_rotation(HeadPose(yaw=yaw, pitch=pitch, roll=roll, translation=np.zeros(3), scale=1.0))
        assert np.allclose(euler_angles(r), (yaw, pitch, roll), atol=1e-9)


def test_pose_of_the_real_faces_is_near_mediapipes_and_mirrors(real_faces) -> None:
    """dlib+PnP and MediaPipe are different models and disagree by several degrees (t1's faces are small and
    some turned 50 degrees), so the band is loose; a mirror image negates yaw and roll and keeps pitch."""
    rows = []
    for name, rgb, face in real_faces:
        pnp = pnp_head_pose(rgb, face.box)
        mp = head_pose(face.pose_matrix)
        flipped = pnp_head_pose(_mirror(rgb), _mirrored_box(face.box, rgb.shape[1]))
        rows.append((name, pnp.yaw, pnp.pitch, pnp.roll, mp.yaw, mp.pitch, mp.roll, flipped.yaw, flipped.pitch,
                     flipped.roll))
    table = np.array([r[1:] for r in rows])
    print("\nface           dlib+PnP yaw/pitch/roll   MediaPipe yaw/pitch/roll   mirrored dlib+PnP")
    for name, *v in rows:
        print(f"{name:14s} {v[0]:6.1f} {v[1]:6.1f} {v[2]:6.1f}    {v[3]:6.1f} {v[4]:6.1f} {v[5]:6.1f}    "
              f"{v[6]:6.1f} {v[7]:6.1f} {v[8]:6.1f}")
    pnp, mp, flipped = table[:, 0:3], table[:, 3:6], table[:, 6:9]
    assert np.abs(pnp - mp).max(axis=0).tolist() == pytest.approx([0, 0, 0], abs=15)
    assert np.median(np.abs(pnp - mp)) < 5
    assert np.abs(flipped[:, 0] + pnp[:, 0]).max() < 6  # yaw negates (5.5 on t1[4], turned 50 degrees)
    assert np.abs(flipped[:, 2] + pnp[:, 2]).max() < 2  # roll negates
    assert np.abs(flipped[:, 1] - pnp[:, 1]).max() < 4  # pitch stays
    # the turned faces read on the side they face: tom_hanks's nose points to the image's right
    yaws = dict(zip([r[0] for r in rows], pnp[:, 0]))
    assert yaws["tom_hanks[0]"] > 10 and yaws["t1[4]"] < -30


@pytest.mark.parametrize("name", PORTRAITS)
def test_pose_reading_holds_when_the_photo_moves_by_fractions_of_a_pixel(name, analyzer) -> None:
    """Precision with no renderer involved: the photo shifted by fractions of a pixel and rescaled by 1-3 %
    about its centre reads the same pose. Measured mean spread over the shipped faces: 0.19 degrees median,
    0.68 at worst (grace_hopper, behind glasses); 0.39 and 1.93 with the predictor started from one box."""
    rgb = load_sample(name)
    box = _largest_box(analyzer, rgb)
    h, w = rgb.shape[:2]
    poses = []
    for dx, dy, s in ((0, 0, 1), (0.5, 0, 1), (0, 0.5, 1), (0.3, 0.7, 1.01), (0, 0, 0.98), (0.25, 0.25, 1.03)):
        m = np.array([[s, 0, dx + (1 - s) * w / 2], [0, s, dy + (1 - s) * h / 2]])
        moved = cv2.warpAffine(rgb, m, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
        pose = pnp_head_pose(moved, np.r_[m[:, :2] @ box[:2] + m[:, 2], m[:, :2] @ box[2:4] + m[:, 2]])
        poses.append((pose.yaw, pose.pitch))
    spread = np.hypot(*(np.array(poses) - np.mean(poses, axis=0)).T)
    print(f"\n{name}: pose spread mean {spread.mean():.2f}, max {spread.max():.2f} degrees")
    assert spread.max() < 1.5


@pytest.mark.parametrize("name", PORTRAITS)
def test_in_plane_rotation_changes_roll_only(name, analyzer) -> None:
    """Rotating the image R degrees counter-clockwise about the face adds R to roll and leaves yaw and pitch, up to
    dlib's noise: its landmarks are not rotation-equivariant (grace_hopper's moved 4.6 degrees of yaw and 7.4 of
    pitch at 15 degrees)."""
    rgb = load_sample(name)
    box = max(analyzer.analyze(rgb), key=lambda f: (f.box[2] - f.box[0]) * (f.box[3] - f.box[1])).box
    centre = ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)
    base = pnp_head_pose(rgb, box)
    for degrees in (-15.0, 15.0):
        turn = cv2.getRotationMatrix2D(centre, degrees, 1.0)  # + = counter-clockwise on screen
        rotated = cv2.warpAffine(rgb, turn, rgb.shape[1::-1], flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        pose = pnp_head_pose(rotated, box)
        assert pose.roll - base.roll == pytest.approx(degrees, abs=2.0)
        assert abs(pose.yaw - base.yaw) < 6 and abs(pose.pitch - base.pitch) < 9


def _largest_box(analyzer, rgb: np.ndarray) -> np.ndarray:
    return max(analyzer.analyze(rgb), key=lambda f: (f.box[2] - f.box[0]) * (f.box[3] - f.box[1])).box


@pytest.mark.parametrize("name", PORTRAITS)
def test_portraits_gaze_reads_near_the_camera_and_mirrors(name, analyzer) -> None:
    """The portraits look into the camera: astronaut and grace_hopper with nearly frontal heads (pitched down 4-9
    degrees, so the eyes turn up a little in the head), tom_hanks with his head turned ~20 degrees to the image's
    right, so his eyes turn back ~20 degrees to its left. The absolute reading carries the grader's anatomical-rest
    bias and dlib's corner noise (module docstring), so the bands are wide; a mirror image negates the yaw and
    keeps the pitch, except on grace_hopper, whose eye corners (wrinkles, glasses) dlib places differently from
    different starting boxes, by up to 0.1 eye widths (15 degrees)."""
    rgb = load_sample(name)
    box = _largest_box(analyzer, rgb)
    gaze = image_gaze(rgb, box)
    flipped = image_gaze(_mirror(rgb), _mirrored_box(box, rgb.shape[1]))
    print(f"\n{name}: right {gaze.right.yaw:.1f}/{gaze.right.pitch:.1f} left {gaze.left.yaw:.1f}/{gaze.left.pitch:.1f}"
          f" mean {gaze.yaw:.1f}/{gaze.pitch:.1f}; mirrored: right {flipped.right.yaw:.1f}/{flipped.right.pitch:.1f}"
          f" left {flipped.left.yaw:.1f}/{flipped.left.pitch:.1f} mean {flipped.yaw:.1f}/{flipped.pitch:.1f}")
    assert all(eye.valid for eye in (gaze.right, gaze.left, flipped.right, flipped.left))
    expected_yaw = -20.0 if name == "tom_hanks" else 0.0
    for reading, sign in ((gaze, 1), (flipped, -1)):
        assert abs(reading.yaw - sign * expected_yaw) < 15 and -5 < reading.pitch < 25
    if name != "grace_hopper":
        assert abs(flipped.yaw + gaze.yaw) < 5 and abs(flipped.pitch - gaze.pitch) < 6


def _shift_inside_eyes(rgb: np.ndarray, landmarks: np.ndarray, eye_widths: float) -> np.ndarray:
    """The image with what lies inside each eye's opening (the contour made 1.6x taller, so the whole iris)
    moved sideways by `eye_widths`: an iris move made without any renderer."""
    out = rgb.copy()
    for ids in (RIGHT_EYE_68, LEFT_EYE_68):
        p = landmarks[list(ids)]
        width = float(np.linalg.norm(p[3] - p[0]))
        centre = p.mean(axis=0)
        mask = np.zeros(rgb.shape[:2], np.uint8)
        cv2.fillPoly(mask, [np.round(centre + (p - centre) * [1.0, 1.6]).astype(np.int32)], 1)
        shift = np.float32([[1, 0, eye_widths * width], [0, 1, 0]])
        moved = cv2.warpAffine(rgb, shift, rgb.shape[1::-1], flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
        out[mask.astype(bool)] = moved[mask.astype(bool)]
    return out


@pytest.mark.parametrize("name", ["astronaut", "grace_hopper"])
def test_gaze_change_reads_an_iris_moved_sideways(name, analyzer) -> None:
    """Moving the eyes' insides 0.1 eye widths to the image's right is, on the eyeball model
    (EYEBALL_RADIUS eye widths), asin(0.1 / 0.37) = 15.5 degrees of yaw toward the image's right."""
    rgb = load_sample(name)
    box = _largest_box(analyzer, rgb)
    landmarks = face_landmarks68(rgb, box)
    expected = float(np.degrees(np.arcsin(0.1 / gaze_image.EYEBALL_RADIUS)))
    for sign in (1, -1):
        change = gaze_change(rgb, _shift_inside_eyes(rgb, landmarks, 0.1 * sign), box)
        assert change.valid
        assert change.yaw == pytest.approx(sign * expected, abs=3.0)
        assert abs(change.pitch) < 8
    same = gaze_change(rgb, rgb, box)
    assert same.yaw == 0.0 and same.pitch == 0.0


def test_no_reading_of_a_painted_over_a_closed_or_a_tiny_eye(analyzer) -> None:
    rgb = load_sample("astronaut")
    box = _largest_box(analyzer, rgb)
    landmarks = face_landmarks68(rgb, box)
    # the right eye's opening painted with the skin below it: no iris to find (the best dark disc left is a
    # shadow at a corner, which the eyeball model cannot turn to)
    p = landmarks[list(RIGHT_EYE_68)]
    width = float(np.linalg.norm(p[3] - p[0]))
    painted = rgb.copy()
    mask = np.zeros(rgb.shape[:2], np.uint8)
    centre = p.mean(axis=0)
    cv2.fillPoly(mask, [np.round(centre + (p - centre) * [1.6, 2.4]).astype(np.int32)], 1)
    skin = rgb[int(centre[1] + 0.8 * width), int(centre[0] - 0.2 * width) : int(centre[0] + 0.2 * width)]
    painted[mask.astype(bool)] = np.median(skin, axis=0).astype(np.uint8)
    gaze = image_gaze(painted, box)
    assert not gaze.right.valid and gaze.right.reason in ("iris not found", "iris off the eyeball")
    assert np.isnan(gaze.right.yaw)
    assert gaze.left.valid and gaze.valid and gaze.yaw == gaze.left.yaw  # the other eye still reads
    # closed: the lids on the corners' line
    closed = p.copy()
    closed[[1, 2, 4, 5]] = p[0] + np.outer([1 / 3, 2 / 3, 2 / 3, 1 / 3], p[3] - p[0])
    assert read_eye(rgb, closed).reason == "eye closed"
    # a face a third the size: eyes ~6 px wide
    small = cv2.resize(rgb, None, fx=1 / 3, fy=1 / 3, interpolation=cv2.INTER_AREA)
    tiny = image_gaze(small, box / 3)
    assert not tiny.valid and tiny.right.reason == "eye too small" and np.isnan(tiny.yaw)
    assert not gaze_change(small, small, box / 3).valid


def test_eval_reports_the_independent_graders_beside_mediapipes(analyzer, astronaut) -> None:
    """`facex eval`'s rows: each grader named, the MediaPipe rows kept; an iris moved 0.1 eye widths to the image's
    right (no renderer) scored as an edit that asked for that gaze."""
    from facex_video.eval.report import image_metrics
    from facex_video.ford.identity import load_identity_encoder
    from facex_video.tasks.assemble import Edits
    from facex_video.tasks.table import TABLE

    components = TABLE["edit"].components()
    encoder = load_identity_encoder()

    def rows(result: np.ndarray, edits: Edits) -> dict[str, float]:
        metrics = image_metrics(result, {"target": astronaut}, components, analyzer=analyzer, encoder=encoder,
                                edits=edits)
        return {m.name: m.value for m in metrics}

    same = rows(astronaut, Edits())
    assert same["pose error vs target + edit"] == 0.0 and same["pose error vs target + edit (dlib+PnP)"] == 0.0
    assert same["pose change vs target: MediaPipe vs dlib+PnP"] == 0.0
    assert same["gaze error vs target + edit"] == 0.0 and same["gaze error vs target + edit (dlib+iris)"] == 0.0

    box = _largest_box(analyzer, astronaut)
    moved = _shift_inside_eyes(astronaut, face_landmarks68(astronaut, box), 0.1)
    asked = float(np.degrees(np.arcsin(0.1 / gaze_image.EYEBALL_RADIUS)))
    scored = rows(moved, Edits(gaze=(asked, 0.0)))
    print(f"\nmoved iris, asked {asked:.1f} deg: " + ", ".join(f"{k} {v:.2f}" for k, v in scored.items() if "error" in k))
    assert scored["gaze error vs target + edit (dlib+iris)"] < 4
    assert scored["pose error vs target + edit (dlib+PnP)"] < 2



@pytest.fixture(scope="module")
def held_out_crops(analyzer) -> list:
    """The held-out faces of the property tests (tests/test_task_properties.py): t1's six and Tom Hanks, level
    320 px crops, and their mirror images, within 25 degrees of frontal."""
    from facex_video.eval.turn import turn_faces

    return [f for f in turn_faces(analyzer, 320) if not f.name.startswith(("astronaut", "grace")) and abs(f.yaw) < 25]


def _pnp_yaw_of(points_cm: np.ndarray, yaw: float, pitch: float, distance_cm: float | None) -> float:
    """The grader's yaw of 68-indexed head-frame points (cm) turned to (yaw, pitch) and drawn 68 px between the
    outer eye corners of a 512 px image whose focal length is the one the grader assumes (512 px: the head
    ~80 cm away): seen from `distance_cm` through a lens long enough to keep that size, or orthographically
    (None), as a renderer that projects orthographically draws it."""
    r = pose_rotation(HeadPose(yaw=yaw, pitch=pitch, roll=0.0, translation=np.zeros(3), scale=1.0))
    p = points_cm @ r.T
    eyes = float(np.linalg.norm(points_cm[45, :2] - points_cm[36, :2]))
    depth = np.ones(len(p)) if distance_cm is None else (distance_cm - p[:, 2]) / distance_cm
    xy = 256.0 + 68.0 / eyes * p[:, :2] / depth[:, None] * np.array([1.0, -1.0])
    return pose_from_landmarks(xy, (512, 512)).yaw


def test_a_known_turn_reads_exactly_only_on_the_graders_head_seen_through_its_camera(analyzer, held_out_crops) -> None:
    """How precise the pose grader is, measured without any renderer: its own 3D head turned 10 degrees reads
    10 seen through the camera it assumes, but less from farther away (measured 0.87x from 3 m, 0.83x
    orthographically: it cannot know the lens, and assumes the perspective of a face ~80 cm from it here),
    and real faces' shapes (MediaPipe's 3D landmarks of the ten held-out faces, turned exactly, drawn through
    the camera it assumes) read 0.84x to 1.65x of the turn: a per-face bias as wide as the +-3 degrees a
    single 10-degree turn is allowed (docs/tuning.md). The printed gains are the figures; only the exact
    case is asserted."""
    from facex_video.eval.head_pose import MODEL_68
    from facex_video.ford.geometry import canonical_landmarks

    model = np.zeros((68, 3))
    model[list(MODEL_68)] = list(MODEL_68.values())
    for start in (0.0, -15.0, 15.0):
        turned = _pnp_yaw_of(model, start + 10, -5, 80.0) - _pnp_yaw_of(model, start, -5, 80.0)
        assert turned == pytest.approx(10, abs=0.05)
    far = {d: (_pnp_yaw_of(model, 10, 0, d) - _pnp_yaw_of(model, 0, 0, d)) / 10 for d in (300.0, None)}
    print(f"\nthe grader's own head turned 10 degrees, read at 80 cm (as assumed): 1.00x; from 3 m: "
          f"{far[300.0]:.2f}x; orthographic: {far[None]:.2f}x")
    gains = {}
    for face in held_out_crops:
        found = max(analyzer.analyze(face.image), key=lambda f: float(f.box[2] - f.box[0]))
        shape = canonical_landmarks(found.landmarks)
        points = landmarks68_of_mediapipe(shape)
        pose = head_pose(found.pose_matrix)
        at = _pnp_yaw_of(points, pose.yaw, pose.pitch, 80.0)
        gains[face.name] = [(_pnp_yaw_of(points, pose.yaw + d, pose.pitch, 80.0) - at) / d for d in (10.0, -10.0)]
    print("real faces' shapes turned +10 / -10 degrees, read as (x the turn):",
          {k: f"{a:.2f}/{b:.2f}" for k, (a, b) in gains.items()})
    assert len(gains) == 10


def test_a_known_iris_move_on_held_out_eyes_reads_right_as_a_mirror_pair_mean(analyzer, held_out_crops) -> None:
    """The gaze grader's precision on the one held-out face whose eyes it can read (Tom Hanks, ~20 px eyes
    in the 320 px crops the property tests edit), measured without any renderer: the eyes' insides moved by
    what its own eyeball model calls 10 degrees (EYEBALL_RADIUS * sin 10 eye widths) read 14.7 / -8.8 on the
    image and 8.5 / -14.1 on its mirror image, so one eye direction reads ~5 degrees high on each (at ~7
    degrees a pixel, one pixel of where dlib puts a corner); the face and its mirror together read right."""
    shift = gaze_image.EYEBALL_RADIUS * np.sin(np.radians(10.0))
    readings = {}
    for face in held_out_crops:
        if not face.name.startswith("tom_hanks"):
            continue
        box = _largest_box(analyzer, face.image)
        landmarks = face_landmarks68(face.image, box)
        for sign in (1, -1):
            change = gaze_change(face.image, _shift_inside_eyes(face.image, landmarks, sign * shift), box)
            assert change.valid
            readings[f"{face.name} {sign * 10:+d}"] = change.yaw
    print("\na known 10-degree iris move reads", {k: round(v, 1) for k, v in readings.items()})
    plus = [v for k, v in readings.items() if k.endswith("+10")]
    minus = [v for k, v in readings.items() if k.endswith("-10")]
    assert len(plus) == len(minus) == 2
    assert np.mean(plus) == pytest.approx(10.0, abs=2.5) and np.mean(minus) == pytest.approx(-10.0, abs=2.5)

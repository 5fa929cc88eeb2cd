"""FORD region masks (ford/regions.py) on real photos through the real landmarker, in the aligned crop."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from facex_video.core.constants import CROP_SIZE
from facex_video.faces.align import alignment_matrix, crop_face
from facex_video.ford.mesh import REGION_CONTOURS
from facex_video.ford.regions import landmarks_to_crop, region_masks
from facex_video.ford.representation import MASK_NAMES


def aligned_faces(analyzer, image: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """(crop, landmarks_crop) of every face the analyzer finds, left to right."""
    out = []
    for face in analyzer.analyze(image):
        m = alignment_matrix(face.five_points())
        out.append((crop_face(image, m), landmarks_to_crop(face.landmarks, m)))
    return out


@pytest.fixture(scope="module")
def astronaut_face(analyzer, astronaut):
    (face,) = aligned_faces(analyzer, astronaut)
    return face


@pytest.fixture(scope="module")
def t1_faces(analyzer, t1):
    faces = aligned_faces(analyzer, t1)
    assert len(faces) == 6
    return faces


@pytest.fixture(scope="module")
def hopper_face(analyzer, grace_hopper):
    (face,) = aligned_faces(analyzer, grace_hopper)
    return face


def paint_hand(crop: np.ndarray, landmarks_crop: np.ndarray, colour: tuple[int, int, int]):
    """A flat rectangle over the subject's right cheek (image left): a stand-in for a hand."""
    cx, cy = np.round(landmarks_crop[205, :2]).astype(int)
    rect = np.zeros(crop.shape[:2], bool)
    rect[cy - 40 : cy + 40, cx - 50 : cx + 30] = True
    painted = crop.copy()
    painted[rect] = colour
    return painted, rect


def test_landmarks_to_crop_maps_xy_affinely_and_scales_z():
    rng = np.random.default_rng(0)
    lm = rng.uniform(0, 400, (478, 3))
    angle, scale = 0.3, 2.5
    m = np.array([[scale * np.cos(angle), -scale * np.sin(angle), 10.0],
                  [scale * np.sin(angle), scale * np.cos(angle), -20.0]])
    out = landmarks_to_crop(lm, m)
    np.testing.assert_allclose(out[:, :2], cv2.transform(lm[None, :, :2], m)[0], atol=1e-9)
    np.testing.assert_allclose(out[:, 2], lm[:, 2] * scale, rtol=1e-12)


def test_every_mask_on_the_astronaut(astronaut_face):
    crop, lm = astronaut_face
    masks = region_masks(crop, lm)
    assert tuple(masks) == MASK_NAMES
    for name, mask in masks.items():
        assert mask.shape == (CROP_SIZE, CROP_SIZE) and mask.dtype == bool, name
    # a clean portrait has nothing over the face; the occluder is checked on a painted hand
    assert all(masks[name].sum() > 50 for name in MASK_NAMES if name != "occluder"), {
        name: int(m.sum()) for name, m in masks.items()}
    painted, _ = paint_hand(crop, lm, (128, 128, 128))
    assert all(m.sum() > 50 for m in region_masks(painted, lm).values())
    again = region_masks(crop, lm)
    assert all(np.array_equal(masks[name], again[name]) for name in MASK_NAMES)  # GrabCut is seeded


def test_masks_are_consistent_on_every_face(astronaut_face, t1_faces, hopper_face):
    for crop, lm in [astronaut_face, *t1_faces, hopper_face]:
        m = region_masks(crop, lm)
        for other in ("eyes", "brows", "lips", "mouth_interior", "occluder", "hair", "background"):
            assert not (m["skin"] & m[other]).any(), other
        assert not (m["skin"] & ~m["face_oval"]).any()
        assert not (m["occluder"] & ~m["face_oval"]).any()
        assert not (m["iris"] & ~m["eyes"]).any()
        assert not (m["lips"] & m["mouth_interior"]).any()
        assert not (m["background"] & (m["face_oval"] | m["hair"])).any()
        assert m["skin"].sum() > 0.5 * m["face_oval"].sum()


def test_open_mouth_has_a_larger_interior(t1_faces, hopper_face):
    def inner_area(lm):
        return cv2.contourArea(lm[list(REGION_CONTOURS["lips_inner"]), :2].astype(np.float32))

    crop, lm = max(t1_faces, key=lambda f: inner_area(f[1]))  # the laughing face
    laughing = region_masks(crop, lm)["mouth_interior"].sum()
    # the filled polygon also holds the pixels its outline crosses: up to half a perimeter more
    perimeter = cv2.arcLength(lm[list(REGION_CONTOURS["lips_inner"]), :2].astype(np.float32), True)
    assert 0.95 * inner_area(lm) < laughing < inner_area(lm) + perimeter
    closed = region_masks(*hopper_face)["mouth_interior"].sum()
    assert laughing > 1000 and laughing > 10 * closed, (laughing, closed)


@pytest.mark.parametrize("colour", [(128, 128, 128), (40, 40, 40)])
def test_occluder_finds_a_hand_on_the_cheek(astronaut_face, colour):
    crop, lm = astronaut_face
    painted, rect = paint_hand(crop, lm, colour)
    m = region_masks(painted, lm)
    inside = rect & m["face_oval"]
    covered = (m["occluder"] & inside).sum() / inside.sum()
    elsewhere = (m["occluder"] & m["face_oval"] & ~rect).sum() / (m["face_oval"] & ~rect).sum()
    assert covered >= 0.7 and elsewhere < 0.05, (covered, elsewhere)
    assert not (m["skin"] & inside & m["occluder"]).any()


def test_hair_on_the_astronaut(astronaut_face):
    crop, lm = astronaut_face
    m = region_masks(crop, lm)
    tx, ty = np.round(lm[10, :2]).astype(int)  # top of the face oval, mid-forehead
    above_forehead = m["hair"][ty - 100 : ty - 30, tx - 60 : tx + 60]
    assert above_forehead.mean() > 0.9, above_forehead.mean()
    for side in (234, 454):  # the hair beside the temples, outside the face oval
        x, y = np.round(lm[side, :2]).astype(int)
        x += -25 if side == 234 else 25
        assert m["hair"][y - 70 : y - 40, x - 5 : x + 5].mean() > 0.8, side
    for cheek in (205, 425):
        x, y = np.round(lm[cheek, :2]).astype(int)
        assert not m["hair"][y - 10 : y + 10, x - 10 : x + 10].any() and m["skin"][y, x]
    assert m["background"][:20, :20].all() and m["background"][:20, -20:].all()
    assert m["hair"].sum() > 0.5 * m["face_oval"].sum()

"""The evaluation metrics on real photos, against values known by construction (a shift, a painted region,
noise of known strength) or by what a mirror image does to a face."""

from __future__ import annotations

import dataclasses
import json

import cv2
import numpy as np
import pytest

from facex_video.eval.metrics import (
    cosine_similarity,
    dlib_landmarks68,
    expression_error,
    face_region,
    flicker,
    gaze_delta,
    gaze_error,
    head_region,
    identity_distance,
    identity_scores,
    landmark_nme,
    largest_face,
    pose_delta,
    pose_error,
    psnr,
    psnr_outside,
    ssim_outside,
    track_purity,
)
from facex_video.faces.align import alignment_matrix, crop_face
from facex_video.faces.types import FaceDetection, TrackedFace
from facex_video.ford.decompose import represent_face
from facex_video.ford.geometry import BLENDSHAPE_NAMES
from facex_video.ford.representation import FacialRepresentation, Gaze, Identity


def shifted(rgb: np.ndarray, dx: float, dy: float) -> np.ndarray:
    h, w = rgb.shape[:2]
    return cv2.warpAffine(rgb, np.float64([[1, 0, dx], [0, 1, dy]]), (w, h), borderMode=cv2.BORDER_REPLICATE)


def mirror(rgb: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.fliplr(rgb))


@pytest.fixture(scope="module")
def astronaut_face(analyzer, astronaut) -> FaceDetection:
    return largest_face(astronaut, analyzer)


@pytest.fixture(scope="module")
def face_box_mask(astronaut, astronaut_face) -> np.ndarray:
    x0, y0, x1, y1 = astronaut_face.box.astype(int)
    mask = np.zeros(astronaut.shape[:2], bool)
    mask[y0:y1, x0:x1] = True
    return mask


@pytest.fixture(scope="module")
def aligned_crop(astronaut, astronaut_face) -> np.ndarray:
    return crop_face(astronaut, alignment_matrix(astronaut_face.five_points()))


def test_identity_distance_tells_people_apart(analyzer, astronaut, grace_hopper) -> None:
    same = identity_distance(astronaut, mirror(astronaut), analyzer=analyzer)
    other = identity_distance(astronaut, grace_hopper, analyzer=analyzer)
    assert same < 0.4, f"astronaut vs its mirror image: {same:.3f}"
    assert other > 0.6, f"astronaut vs grace_hopper: {other:.3f}"
    with pytest.raises(ValueError, match="no face found in the second image"):
        identity_distance(astronaut, np.full((256, 256, 3), 127, np.uint8), analyzer=analyzer)


def test_landmark_nme_is_zero_on_itself_and_a_shift_over_the_eye_distance(astronaut, astronaut_face) -> None:
    box = astronaut_face.box
    assert landmark_nme(astronaut, astronaut, box) == 0.0
    points = dlib_landmarks68(astronaut, box)
    assert points.shape == (68, 2)
    iod = np.linalg.norm(points[45] - points[36])
    assert 40 < iod < 80  # ~60 px between the outer eye corners
    for dx, dy in [(2, 0), (-2, 0), (0, 2), (0, -2)]:
        # dlib's points are whole pixels: a 2 px shift reads 1.8-2.4 px
        assert landmark_nme(shifted(astronaut, dx, dy), astronaut, box) == pytest.approx(2 / iod, rel=0.25)


def test_psnr_of_a_known_error(astronaut) -> None:
    a = (astronaut // 2).astype(np.uint8)  # room to add without clipping
    b = a + 5
    assert psnr(a, a) == float("inf")
    assert psnr(a, b) == pytest.approx(10 * np.log10(255**2 / 25))
    mask = np.zeros(a.shape[:2], bool)
    mask[:100] = True
    c = a.copy()
    c[~mask] = 0
    assert psnr(a, c, mask) == float("inf")
    with pytest.raises(ValueError, match="empty mask"):
        psnr(a, b, np.zeros(a.shape[:2], bool))


def test_psnr_and_ssim_outside_ignore_the_region_and_catch_the_rest(astronaut, face_box_mask) -> None:
    painted = astronaut.copy()
    painted[face_box_mask] = np.random.default_rng(0).integers(0, 256, (face_box_mask.sum(), 3))
    assert psnr(painted, astronaut) < 25
    assert psnr_outside(painted, astronaut, face_box_mask) == float("inf")
    assert ssim_outside(painted, astronaut, face_box_mask) == pytest.approx(1.0)

    spoiled = painted.copy()
    spoiled[400:440, 20:60] = 255 - spoiled[400:440, 20:60]  # a patch far from the face
    assert psnr_outside(spoiled, astronaut, face_box_mask) < 35
    assert ssim_outside(spoiled, astronaut, face_box_mask) < 0.99

    # a feather reaching 3 px past the region's sides counts unless the margin covers it
    ys, xs = np.nonzero(face_box_mask)
    rim = painted.copy()
    rim[ys.min() : ys.max() + 1, xs.min() - 3 : xs.max() + 4] = 0
    assert psnr_outside(rim, astronaut, face_box_mask) < 40
    assert psnr_outside(rim, astronaut, face_box_mask, margin_px=3) == float("inf")


def test_flicker_of_still_noisy_and_jittered_clips(aligned_crop) -> None:
    assert flicker([aligned_crop] * 5) == 0.0
    rng = np.random.default_rng(0)
    values = []
    for sigma in (2.0, 4.0, 8.0):
        clip = [np.clip(aligned_crop + rng.normal(0, sigma, aligned_crop.shape), 0, 255).astype(np.uint8)
                for _ in range(5)]
        values.append(flicker(clip))
        # |difference of two independent N(0, sigma^2)| has mean 2 sigma / sqrt(pi)
        assert values[-1] == pytest.approx(2 * sigma / np.sqrt(np.pi), rel=0.06)
    assert values == sorted(values)

    jittered = [shifted(aligned_crop, i % 2, 0) for i in range(6)]  # the crop hops 1 px back and forth
    assert flicker(jittered, register=False) > 2.0
    assert flicker(jittered) < 0.05
    with pytest.raises(ValueError):
        flicker([aligned_crop])
    rows, cols = face_region(512)
    assert (rows.start, rows.stop, cols.start, cols.stop) == (153, 435, 128, 384)


def representation(rgb: np.ndarray, face: FaceDetection) -> FacialRepresentation:
    identity = Identity(np.zeros(128, np.float32), "dlib_resnet_v1", np.zeros((478, 3), np.float32))
    return represent_face(rgb, TrackedFace(0, 0, face, face.landmarks), source="test", timestamp=0.0,
                          identity=identity)


def test_pose_expression_and_gaze_errors(analyzer, astronaut, astronaut_face) -> None:
    rep = representation(astronaut, astronaut_face)
    assert pose_error(rep, rep) == 0.0 and expression_error(rep, rep) == 0.0 and gaze_error(rep, rep) == 0.0

    # a mirror image negates yaw and roll and keeps pitch (ford/geometry.py), measured on the mirrored photo
    flipped = mirror(astronaut)
    mirrored = representation(flipped, largest_face(flipped, analyzer))
    pose = rep.intra.pose
    np.testing.assert_allclose(pose_delta(rep, mirrored), [-2 * pose.yaw, 0, -2 * pose.roll], atol=2.0)
    assert pose_error(rep, mirrored) == pytest.approx(np.abs(pose_delta(rep, mirrored)).max())

    turned = dataclasses.replace(rep, intra=dataclasses.replace(rep.intra, pose=dataclasses.replace(
        pose, yaw=pose.yaw + 10, roll=pose.roll + 355)))
    np.testing.assert_allclose(pose_delta(rep, turned), [10, 0, -5], atol=1e-9)  # roll wraps to -5
    assert pose_error(rep, turned) == pytest.approx(10)

    smile = rep.intra.expression.copy()
    ids = [BLENDSHAPE_NAMES.index("mouthSmileLeft"), BLENDSHAPE_NAMES.index("mouthSmileRight")]
    smile[ids] += 0.5
    smiling = dataclasses.replace(rep, intra=dataclasses.replace(rep.intra, expression=smile))
    assert expression_error(rep, smiling) == pytest.approx(1.0 / 51, rel=1e-5)
    assert expression_error(rep, smiling, ["mouthSmileLeft", "mouthSmileRight"]) == pytest.approx(0.5, rel=1e-5)
    with pytest.raises(ValueError, match="unknown blendshapes"):
        expression_error(rep, smiling, ["smile"])

    g = rep.intra.gaze
    level = dataclasses.replace(rep, intra=dataclasses.replace(rep.intra, gaze=Gaze(0.0, 0.0, 0.0, 0.0)))
    looking = dataclasses.replace(rep, intra=dataclasses.replace(rep.intra, gaze=Gaze(10.0, 0.0, 10.0, 0.0)))
    np.testing.assert_allclose(gaze_delta(level, looking), [10, 0])
    assert gaze_error(level, looking) == pytest.approx(10)
    up = dataclasses.replace(rep, intra=dataclasses.replace(rep.intra, gaze=Gaze(
        g.right_yaw, g.right_pitch + 6, g.left_yaw, g.left_pitch + 6)))
    np.testing.assert_allclose(gaze_delta(rep, up), [0, 6], atol=1e-9)
    assert gaze_error(rep, up) == pytest.approx(6, abs=0.01)


def test_identity_scores_agree_on_who_is_who(analyzer, astronaut, grace_hopper) -> None:
    same_d, same_s = identity_scores(astronaut, mirror(astronaut), analyzer=analyzer)
    other_d, other_s = identity_scores(astronaut, grace_hopper, analyzer=analyzer)
    assert same_d == pytest.approx(identity_distance(astronaut, mirror(astronaut), analyzer=analyzer))
    assert same_s > other_s and same_d < other_d
    a = np.array([1.0, 2.0, 2.0])
    assert cosine_similarity(a, 3 * a) == pytest.approx(1.0)
    assert cosine_similarity(a, -a) == pytest.approx(-1.0)
    assert cosine_similarity(a, np.array([2.0, -1.0, 0.0])) == pytest.approx(0.0)


def test_head_region_covers_the_face_and_spares_the_corners(astronaut, astronaut_face) -> None:
    rep = representation(astronaut, astronaut_face)
    env = rep.environment
    region = head_region(env.masks, env.crop_transform, astronaut.shape)
    bare = head_region(env.masks, env.crop_transform, astronaut.shape, with_hair=False, margin_px=0)
    x0, y0, x1, y1 = astronaut_face.box.astype(int)
    assert region.shape == astronaut.shape[:2]
    assert region[(y0 + y1) // 2, (x0 + x1) // 2] and bare[(y0 + y1) // 2, (x0 + x1) // 2]
    assert not region[-1, -1] and not region[-1, 0]
    assert bare.sum() < region.sum() and not (bare & ~region).any()


def test_track_purity_counts_frames_outside_their_tracks_shot() -> None:
    assert track_purity([range(0, 10), range(10, 20)], [0, 10]) == 1.0
    # the second track runs 4 frames past the cut at 20: 16 of 20 frames in its shot
    assert track_purity([range(0, 10), range(4, 24)], [0, 20]) == pytest.approx((10 + 16) / 30)
    assert track_purity([range(0, 30)], [0, 10, 20]) == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="frame 0"):
        track_purity([range(5)], [3])


def test_eval_command_scores_a_swap_against_the_right_inputs(tmp_path, astronaut, grace_hopper, capsys) -> None:
    from facex_video import api
    from facex_video.cli import main
    from facex_video.media import write_image

    source, target, result = tmp_path / "grace.png", tmp_path / "astronaut.png", tmp_path / "swap.png"
    write_image(source, grace_hopper)
    write_image(target, astronaut)
    api.run_task("swap", result, source=source, target=target, progress=False)
    out = tmp_path / "m.json"
    assert main(["eval", "--task", "swap", "--source", str(source), "--target", str(target), "--result", str(result),
                 "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    m = json.loads(out.read_text())
    assert f"{m['identity distance to source']:8.4f}" in printed
    assert m["identity distance to source"] < m["identity distance to target"]
    assert m["identity similarity to source"] > m["identity similarity to target"]
    assert m["landmark NME vs target"] < 0.05 and m["pose error vs target"] < 5
    assert m["PSNR outside the head vs target"] > 40 and m["SSIM outside the head vs target"] > 0.99

    # the target scored as its own edit: nothing moved
    assert main(["eval", "--task", "edit", "--target", str(target), "--result", str(target), "--json", str(out)]) == 0
    same = json.loads(out.read_text())
    assert same["landmark NME vs target"] == 0.0 and same["pose error vs target + edit"] == 0.0
    assert same["PSNR outside the head vs target"] == float("inf")

    # an edit is scored against the target plus the asked change
    from facex_video.tasks.assemble import Edits

    turned = tmp_path / "turned.png"
    api.run_task("edit", turned, target=target, edits=Edits(yaw=10.0), progress=False)
    errors = {}
    for asked in ("0", "10"):
        assert main(["eval", "--task", "edit", "--target", str(target), "--result", str(turned), "--yaw", asked,
                     "--json", str(out)]) == 0
        errors[asked] = json.loads(out.read_text())["pose error vs target + edit"]
    assert errors["10"] < 3 < 7 < errors["0"]

    assert main(["eval", "--task", "swap", "--target", str(target), "--result", str(result)]) == 2
    assert "needs --source" in capsys.readouterr().err


@pytest.mark.slow
def test_eval_of_a_video_reports_flicker_and_track_purity(tmp_path, capsys) -> None:
    from fractions import Fraction

    from facex_video.cli import main
    from facex_video.media import VideoWriter
    from facex_video.media.samples import demo_shots
    from facex_video.media.source import open_source
    from facex_video.media.synth import write_clip

    shots = demo_shots()[1:]  # two portraits and a hard cut
    for shot in shots:
        shot.seconds = 0.6
    clip, noisy, out = tmp_path / "clip.mp4", tmp_path / "noisy.mp4", tmp_path / "m.json"
    write_clip(clip, shots, size=(480, 270), fps=Fraction(10))
    source = open_source(clip)  # the same frames with a face that shimmers: fresh noise on every frame
    rng = np.random.default_rng(0)
    info = source.video
    with VideoWriter(noisy, fps=info.fps, width=info.width, height=info.height, time_base=info.time_base) as writer:
        for _, rgb, pts in source.frames():
            # sigma 10: clearly above the spread the clean clip's own flicker shows between x264 encodes
            # (threaded x264 gives a different clip each run: 3.1 typically, 5.8 once)
            writer.write(np.clip(rgb + rng.normal(0, 10, rgb.shape), 0, 255).astype(np.uint8), pts=pts)
    assert main(["eval", "--task", "edit", "--target", str(clip), "--result", str(noisy), "--json", str(out)]) == 0
    shimmer = json.loads(out.read_text())
    assert shimmer["flicker of the result"] > 1.2 * shimmer["flicker of the target"]
    # Gaussian noise of sigma 10 is 20 log10(255 / 10) = 28.1 dB; clipping and x264's encode move it a little
    assert 24 < shimmer["PSNR outside the head vs target"] < 32
    assert shimmer["track purity across the target's cuts"] == 1.0  # the noise breaks no track across a cut
    short = tmp_path / "short.mp4"
    write_clip(short, shots[:1], size=(480, 270), fps=Fraction(10))
    assert main(["eval", "--task", "edit", "--target", str(clip), "--result", str(short)]) == 2
    assert "give the footage it was made from" in capsys.readouterr().err

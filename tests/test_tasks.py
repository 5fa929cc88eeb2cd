"""FaceX tasks with the geometric renderer, measured by re-analysing the outputs (issue 4 acceptance)."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from facex_video import api
from facex_video.eval.head_pose import largest_face_pose
from facex_video.eval.metrics import flicker, identity_distance, largest_face
from facex_video.faces.align import alignment_matrix, crop_face
from facex_video.ford.geometry import head_pose
from facex_video.media import iter_chunks, probe, read_image, write_image
from facex_video.media.synth import Shot, write_clip
from facex_video.video.config import RunConfig

INLINE = RunConfig(runner="inline", progress=False)  # the API's runner is Ray unless told


@pytest.fixture(scope="module")
def photos(tmp_path_factory, astronaut, grace_hopper, t1):
    tmp = tmp_path_factory.mktemp("photos")
    paths = {}
    for name, img in [("astronaut", astronaut), ("grace", grace_hopper), ("t1", t1)]:
        paths[name] = tmp / f"{name}.png"
        write_image(paths[name], img)
    return paths


def frames_of(path):
    return [f for chunk in iter_chunks(path) for f in chunk.frames]


def test_reenact_follows_the_driving_pose_and_keeps_the_identity(tmp_path, photos, analyzer, astronaut, grace_hopper):
    driving = tmp_path / "turn.mp4"
    write_clip(driving, [Shot(grace_hopper, seconds=1.0, pan=((0.5, 0.4), (0.5, 0.4)), rotate=(-12.0, 12.0))],
               size=(512, 600), fps=Fraction(12))
    out = tmp_path / "reenact.mp4"
    api.run_task("reenact", out, source=photos["astronaut"], driving=driving, config=INLINE)
    drive, result = frames_of(driving), frames_of(out)
    assert len(result) == len(drive) == 12

    def poses(frames, read) -> np.ndarray:
        """yaw, pitch, roll per frame, median over 3 neighbouring frames: a pose read from a rotated still
        jitters between consecutive frames (MediaPipe's pitch by up to 4.6 degrees), measurement noise."""
        raw = np.array([read(f) for f in frames])
        padded = np.concatenate([raw[:1], raw, raw[-1:]])
        return np.median(np.stack([padded[:-2], padded[1:-1], padded[2:]]), axis=0)

    def dlib(f):  # dlib's 68 points + PnP: the grader that shares no model with the renderer
        p = largest_face_pose(f, analyzer)
        return p.yaw, p.pitch, p.roll

    def mediapipe(f):  # the renderer's own landmark model: printed, not asserted on (issue 14)
        return [getattr(head_pose(largest_face(f, analyzer).pose_matrix), a) for a in ("yaw", "pitch", "roll")]

    error = np.abs(poses(drive, dlib) - poses(result, dlib))
    print("pose error per frame (yaw, pitch, roll), dlib+PnP:", error.round(1).tolist(), "MediaPipe:",
          np.abs(poses(drive, mediapipe) - poses(result, mediapipe)).round(1).tolist())
    # the driving head only rolls (a still rotated +-12 degrees): the result's roll follows it. Measured median
    # 2.3 degrees (2026-12-04), then 2.75 and 3.15 (2026-12-05) for two renders within 1 level of each other
    # before encoding: their H.264 encodes differ by codec noise, on which dlib reads single frames of this
    # 90 px face up to 4 degrees apart (13.6 vs 9.6). The bound leaves room for that reading noise.
    assert np.median(error[:, 2]) < 3.5
    assert identity_distance(astronaut, result[6], analyzer=analyzer) < 0.6


@pytest.mark.slow
def test_swap_of_a_10s_clip_keeps_timeline_audio_and_does_not_flicker(tmp_path, photos, analyzer, grace_hopper):
    clip = tmp_path / "target.mp4"
    write_clip(clip, [Shot(grace_hopper, seconds=10.0, zoom=(1.0, 0.8), pan=((0.5, 0.4), (0.53, 0.36)),
                           rotate=(-4.0, 4.0))], size=(640, 360), fps=Fraction(25))
    out = tmp_path / "swap.mp4"
    api.run_task("swap", out, source=photos["astronaut"], target=clip, config=INLINE)
    a, b = probe(clip), probe(out)
    assert (b.frame_count, b.fps) == (a.frame_count, a.fps)
    assert len(b.audio) == 1 and abs(b.audio[0].duration - a.audio[0].duration) <= 1 / 25

    def aligned(frames):
        crops = []
        for f in frames:
            face = largest_face(f, analyzer)
            crops.append(crop_face(f, alignment_matrix(face.five_points())))
        return crops

    before, after = flicker(aligned(frames_of(clip))), flicker(aligned(frames_of(out)))
    assert after <= 1.2 * before, (before, after)


def test_inpaint_changes_only_the_masked_area(tmp_path, photos, astronaut):
    out = tmp_path / "inpaint.png"
    api.run_task("inpaint", out, target=photos["astronaut"], inpaint_region="eyes", progress=False)
    result = read_image(out)
    changed = np.abs(result.astype(int) - astronaut).max(axis=2) > 8
    ys, xs = np.nonzero(changed)
    assert changed.any()
    # every change sits around the eyes (the region plus the blend's feather), none on the mouth or hair
    assert 80 < ys.min() and ys.max() < 135, (ys.min(), ys.max())


def test_reenact_opens_the_mouth_with_the_driving_faces_teeth_not_a_dark_hole(tmp_path, photos, real_faces, analyzer,
                                                                             grace_hopper):
    """Grace Hopper's closed mouth driven by a grin that shows teeth (t1's face 3): the opened mouth is drawn
    from the driving face's own mouth (teeth), not as a dark cavity. Graded on the inside of the lips as
    dlib's 68 points place them on the result (points 60-67), which no part of the renderer uses: before,
    that region averaged 8-bit lightness 38 (the cavity); now 134 (the driving face's own: 159)."""
    import cv2

    from facex_video.eval.head_pose import face_landmarks68

    driver = next(f for f in real_faces if f.name == "t1 face 3")
    write_image(tmp_path / "driver.png", driver.image)
    out = tmp_path / "reenact.png"
    api.run_task("reenact", out, source=photos["grace"], driving=tmp_path / "driver.png", progress=False)
    result = read_image(out)

    def mouth_lightness(rgb):
        inner = face_landmarks68(rgb, largest_face(rgb, analyzer).box)[60:68]
        mask = np.zeros(rgb.shape[:2], np.uint8)
        cv2.fillPoly(mask, [np.round(inner).astype(np.int32)], 1)
        return float(cv2.cvtColor(rgb, cv2.COLOR_RGB2Lab)[..., 0][mask > 0].mean()), int(mask.sum())

    (lightness, area), (driver_lightness, _) = mouth_lightness(result), mouth_lightness(driver.image)
    print(f"mouth interior: result L {lightness:.0f} over {area} px, driving face's L {driver_lightness:.0f}")
    assert area > 50  # the result's mouth is open
    assert lightness > 80

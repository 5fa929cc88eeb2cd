"""Reenactment driven by a real head turn (issue 14): real faces from the shipped photos and their mirror
images ordered by yaw (eval/turn.py), graded per frame by dlib's 68 points + PnP (eval/head_pose.py), which
shares no model with the renderer. Roll alone, the one motion a 2D warp renders exactly, proves little."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from asked import asked_pose, record_asked

from facex_video import api
from facex_video.eval.head_pose import euler_angles, largest_face_pose
from facex_video.eval.metrics import identity_distance, largest_face
from facex_video.eval.turn import turn_faces, turn_shots
from facex_video.ford.geometry import landmark_rotation
from facex_video.media import iter_chunks, write_image
from facex_video.media.synth import write_clip
from facex_video.video.config import RunConfig

pytestmark = pytest.mark.slow


def _frames(path) -> list[np.ndarray]:
    return [f for chunk in iter_chunks(path) for f in chunk.frames]


@pytest.fixture(scope="module")
def turn(tmp_path_factory, analyzer, grace_hopper) -> dict:
    """Grace Hopper's portrait reenacted by the turn; every frame's pose by dlib+PnP, driving and result."""
    tmp = tmp_path_factory.mktemp("turn")
    write_image(tmp / "source.png", grace_hopper)
    write_clip(tmp / "drive.mp4", turn_shots(turn_faces(analyzer, 256), 0.4), size=(256, 256), fps=Fraction(10))
    with pytest.MonkeyPatch.context() as patch:
        asked_faces = record_asked(patch)
        api.run_task("reenact", tmp / "out.mp4", source=tmp / "source.png", driving=tmp / "drive.mp4",
                     config=RunConfig(runner="inline", progress=False))
    drive, out = _frames(tmp / "drive.mp4"), _frames(tmp / "out.mp4")
    assert len(drive) == len(out) == len(asked_faces)
    # how each frame's asked geometry itself reads (a picture adds dlib's own placement of its points): the
    # same PnP on the assembled landmarks at its model's places, no image; each shot is a track, in time order
    ordered = [a for *_, a in sorted(asked_faces, key=lambda t: t[:2])]
    geometry = np.array([[(p := asked_pose(a, a.landmarks, grace_hopper.shape)).yaw, p.pitch] for a in ordered])
    driving = np.array([[(p := largest_face_pose(d, analyzer)).yaw, p.pitch] for d in drive])
    # the pose FORD reads from each driving frame (MediaPipe's landmarks), which the result is asked to show
    asked = np.array([euler_angles(landmark_rotation(largest_face(d, analyzer).landmarks))[:2] for d in drive])
    result = np.full_like(driving, np.nan)  # NaN: no face found in the result at all
    read = np.full_like(driving, np.nan)  # MediaPipe's reading of the results, as FORD reads a pose
    for i, o in enumerate(out):
        try:
            p = largest_face_pose(o, analyzer)
            read[i] = euler_angles(landmark_rotation(largest_face(o, analyzer).landmarks))[:2]
        except ValueError:
            continue
        result[i] = p.yaw, p.pitch
    with_face = [i for i in range(0, len(out), 8) if not np.isnan(result[i, 0])]
    identity = {i: identity_distance(out[i], grace_hopper, analyzer=analyzer) for i in with_face}
    for i, (d, r) in enumerate(zip(driving, result, strict=True)):
        print(f"frame {i:2d}: driving yaw {d[0]:+6.1f} pitch {d[1]:+6.1f}, result yaw {r[0]:+6.1f} pitch {r[1]:+6.1f}")
    return {"driving": driving, "asked": asked, "result": result, "read": read, "identity": identity,
            "geometry": geometry}


def test_the_driving_turn_spans_more_than_30_degrees_of_yaw(turn):
    yaw = turn["driving"][:, 0]
    assert yaw.max() - yaw.min() >= 30.0


def test_the_result_turns_with_the_driving_head_and_keeps_the_source_identity(turn):
    """Within the geometric renderer's reach (render/geometric/head.MAX_TURN_DEG, 35 degrees from the
    source's pose; further turns are drawn at 35): measured yaw correlation 0.94 (0.98 before the head warp's
    changes of 2026-12-05, tenth session), identity distance 0.35-0.49 at the shots sampled (0.5996 at the -22
    degree shot before 2026-12-05's render and grader changes)."""
    driving, result = turn["driving"], turn["result"]
    within = np.abs(driving[:, 0]) <= 35
    assert not np.isnan(result[within]).any(), "a result frame of a turn within 35 degrees shows no face"
    correlation = np.corrcoef(driving[within, 0], result[within, 0])[0, 1]
    identity = turn["identity"]
    print(f"yaw correlation {correlation:.2f}; identity distance by frame "
          f"{ {i: round(d, 4) for i, d in identity.items()} }")
    assert correlation > 0.9
    assert max(d for i, d in identity.items() if within[i]) < 0.6


def test_median_pose_error_is_at_most_5_degrees(turn):
    """Issue 14's acceptance. Measured 4.95 degrees since 2026-12-05 (tenth session), when a turned head's face
    took its colour and light from the canvas moved with the head instead of the still canvas (5.7-6.2
    before): a pass right at the goal (docs/tuning.md)."""
    error = np.hypot(*(turn["driving"] - turn["result"]).T)
    error[np.isnan(error)] = np.inf  # a frame that shows no face misses by any measure
    # how far the two landmark models already disagree on the driving faces themselves: the result is asked
    # for MediaPipe's reading (FORD's) and graded against dlib's, so this much error needs no renderer
    disagreement = np.hypot(*(turn["driving"] - turn["asked"]).T)
    perfect = np.hypot(*(turn["driving"] - turn["geometry"]).T)
    print(f"median per-frame pose error {np.median(error):.2f} degrees (dlib+PnP; the asked "
          f"geometry itself reads {np.median(perfect):.2f}); "
          f"{np.isinf(error).sum()} of {len(error)} frames show no face; dlib+PnP and MediaPipe disagree on "
          f"the driving frames by a median {np.median(disagreement):.1f} degrees")
    # where the miss comes from, axis by axis, on the frames within the renderer's reach: how each grader's
    # reading of the results scales with its reading of the driving faces (1: the turn drawn in full), and
    # how the two graders' readings scale with each other on real faces and on rendered ones
    within = (np.abs(turn["asked"][:, 0]) <= 33) & ~np.isnan(turn["read"][:, 0])
    for k, axis in enumerate(("yaw", "pitch")):
        def slope(x, y, k=k):
            return np.polyfit(x[within, k], y[within, k], 1)[0]
        print(f"{axis}: result / driving {slope(turn['driving'], turn['result']):.2f} (dlib), "
              f"{slope(turn['asked'], turn['read']):.2f} (MediaPipe); dlib / MediaPipe "
              f"{slope(turn['asked'], turn['driving']):.2f} on the driving faces, "
              f"{slope(turn['read'], turn['result']):.2f} on the results; the asked geometry / driving "
              f"{slope(turn['driving'], turn['geometry']):.2f} (dlib)")
    assert np.median(error) <= 5.0

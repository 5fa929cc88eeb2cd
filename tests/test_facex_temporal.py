"""Temporal consistency of the facex backend on a static clip (render/facex/temporal.py), measured with the flicker
metric of eval/metrics.py on the rendered crops of a track.

A tiny model with random weights has near-uniform self-attention (random queries and keys barely differ), so
no frame could take anything from an anchor; a trained UNet's attention is peaked and carries much of its
features. The cross-frame test therefore sharpens the tiny UNet's self-attention (queries and keys x8) and
gives it weight (values and output x10), standing in for trained attention.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
from test_facex_renderer import as_if_trained

from facex_video import api
from facex_video.eval.metrics import flicker
from facex_video.ford.representation import Gaze, from_table
from facex_video.media import iter_chunks
from facex_video.media.synth import Shot, write_clip
from facex_video.render.base import TrackState
from facex_video.render.facex.config import FaceXConfig
from facex_video.render.facex.pipeline import FaceXPipeline
from facex_video.render.facex.renderer import FaceXOptions, FaceXRenderer
from facex_video.render.facex.temporal import ConditionSmoother
from facex_video.tasks.assemble import FaceInput, assemble

pytestmark = pytest.mark.usefixtures("single_thread")
STEPS = 8


@pytest.fixture(scope="module")
def static_track(tmp_path_factory, grace_hopper) -> list:
    """Grace Hopper's portrait held still for 8 frames through H.264: only coding noise and landmark jitter
    change from frame to frame. Assembled as a swap of her own first frame onto every frame."""
    root = tmp_path_factory.mktemp("static")
    write_clip(root / "still.mp4", [Shot(grace_hopper, seconds=0.8)], size=(320, 368), fps=Fraction(10))
    api.analyze(root / "still.mp4", root / "still.parquet", progress=False)
    frames = np.concatenate([c.frames for c in iter_chunks(root / "still.mp4")])
    faces = [FaceInput(frames[r.frame_index], r) for r in from_table(pq.read_table(root / "still.parquet"))]
    assert len(faces) == 8
    return [assemble("swap", canvas=f, identity=faces[0], expression=f.rep, pose=f.rep, gaze=f.rep, lighting=f.rep)
            for f in faces]


def sharpened(pipe: FaceXPipeline) -> FaceXPipeline:
    with torch.no_grad():
        for name, p in pipe.unet.named_parameters():
            if ".attn1.to_q." in name or ".attn1.to_k." in name:
                p.mul_(8.0)
            elif ".attn1.to_v." in name or ".attn1.to_out." in name:
                p.mul_(10.0)
    return pipe


def track_flicker(pipe: FaceXPipeline, track: list, **options) -> float:
    renderer = FaceXRenderer(FaceXOptions(steps=STEPS, **options), pipeline=pipe)
    state, crops = TrackState(0, seed=0), []
    for assembled in track:
        crops.append(renderer.render(assembled, state)[0])
        state.frames += 1
    return flicker(crops)


def test_cross_frame_attention_lowers_flicker(static_track) -> None:
    pipe = sharpened(as_if_trained(FaceXPipeline.build(FaceXConfig.tiny(), seed=0)))
    off = track_flicker(pipe, static_track, cross_frame=False)
    on = track_flicker(pipe, static_track, cross_frame=True)
    print(f"flicker on a static clip, same seed: cross-frame attention off {off:.3f}, on {on:.3f}")
    assert on < 0.5 * off
    canvas = flicker([a.canvas_crop for a in static_track])
    assert on < canvas  # the generated face is steadier than the coded footage around it


def test_shared_noise_and_smoothed_conditions_each_lower_flicker(static_track) -> None:
    pipe = as_if_trained(FaceXPipeline.build(FaceXConfig.tiny(), seed=0))
    full = track_flicker(pipe, static_track)
    fresh_noise = track_flicker(pipe, static_track, shared_noise=False)
    raw = track_flicker(pipe, static_track, smooth=False)
    print(f"flicker: all on {full:.3f}, noise drawn per frame {fresh_noise:.3f}, conditions unsmoothed {raw:.3f}")
    assert full < 0.1 * fresh_noise
    assert full < raw


def test_the_condition_smoother_removes_landmark_jitter() -> None:
    rng = np.random.default_rng(0)
    still = rng.uniform(100, 400, (478, 3))
    smoother = ConditionSmoother()
    raw, smooth = [], []
    for frame in range(30):
        noisy = still + rng.normal(0, 1.0, still.shape)
        out, gaze = smoother(noisy, Gaze(5 + rng.normal(0, 2), 0, 5, 0), frame)
        raw.append(noisy)
        smooth.append(out)
    def jitter(xs: list) -> float:  # frame-to-frame change once the filter has settled
        return float(np.abs(np.diff(np.array(xs)[10:], axis=0)).mean())

    assert jitter(smooth) < 0.5 * jitter(raw)
    assert abs(gaze.right_yaw - 5) < 2 and gaze.left_yaw == pytest.approx(5)


def test_rendering_the_first_frame_again_starts_the_track_afresh(static_track) -> None:
    """The pose servo renders a track's first frame several times before the real one: only the last counts."""
    pipe = as_if_trained(FaceXPipeline.build(FaceXConfig.tiny(), seed=0))
    renderer = FaceXRenderer(FaceXOptions(steps=STEPS), pipeline=pipe)
    clean, tried = TrackState(0), TrackState(0)
    renderer.render(static_track[3], tried)  # a trial render of frame 0 with other geometry
    outputs = []
    for state in (clean, tried):
        first = renderer.render(static_track[0], state)[0]
        state.frames += 1
        outputs.append((first, renderer.render(static_track[1], state)[0]))
    for a, b in zip(*outputs):
        np.testing.assert_array_equal(a, b)

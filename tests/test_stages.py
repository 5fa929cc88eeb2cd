"""Tracking over a whole input: full detection every few frames, tracked faces re-landmarked in between."""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

import cv2
import numpy as np

from facex_video import api
from facex_video.edit.stages import TrackingResult, detect_interval, min_track_frames, track_frames
from facex_video.media import Shot, VideoWriter, write_clip
from facex_video.media.samples import sample_path
from facex_video.media.source import open_source
from facex_video.video.config import RunConfig


def test_face_entering_mid_shot_is_found_within_the_detection_interval(
    analyzer, astronaut, grace_hopper, tmp_path, monkeypatch
):
    """The astronaut is there from the start; Grace Hopper appears at frame 13, between detector passes."""
    clip = tmp_path / "enter.mp4"
    left = cv2.resize(astronaut, (360, 360), interpolation=cv2.INTER_AREA)
    right = cv2.resize(grace_hopper, (170, 200), interpolation=cv2.INTER_AREA)
    appear = 13
    with VideoWriter(clip, fps=Fraction(25), width=960, height=400) as writer:
        for i in range(40):
            frame = np.full((400, 960, 3), 70, np.uint8)
            x = 20 + 2 * i  # a slow drift, so faces really move between frames
            frame[20:380, x : x + 360] = left
            if i >= appear:
                frame[100:300, 700 - x // 2 : 870 - x // 2] = right  # small: an entrance, not a cut
            writer.write(frame)
    source = open_source(clip)
    result = TrackingResult(source)
    calls = []
    detect = analyzer.detector.detect
    monkeypatch.setattr(analyzer.detector, "detect", lambda rgb: calls.append(1) or detect(rgb))
    frames = list(track_frames(source, analyzer, result, progress=False))
    assert len(frames) == 40
    # the detector ran on the scheduled frames only (plus at most one fallback), not on all 40
    assert len(calls) <= 40 // detect_interval(source) + 2
    assert len(result.tracks) == 2
    first, second = result.tracks
    assert (first.first_frame, first.last_frame, first.n_frames) == (0, 39, 40)
    assert appear <= second.first_frame < appear + detect_interval(source)
    assert second.last_frame == 39 and second.n_frames == 40 - second.first_frame
    # tracked (detector-free) frames follow the drifting face: box x grows by ~2 px a frame
    x0 = first.boxes[:, 0]
    assert np.all(np.abs(np.diff(x0) - 2) < 3)


def test_a_clip_shorter_than_the_minimum_track_keeps_its_face(astronaut, tmp_path):
    """Four frames (0.16 s) of a real face: the 0.2 s filter against one-off false positives never asks for
    more frames than the clip has, so the face is tracked and a swap edits it; a longer clip keeps 0.2 s."""
    clip = write_clip(tmp_path / "short.mp4", [Shot(astronaut, 4 / 25)], size=(256, 192), fps=Fraction(25))
    source = open_source(clip)
    assert source.frame_count == 4 and min_track_frames(source) == 4
    assert min_track_frames(replace(source, frame_count=250)) == 5
    summary = api.run_task("swap", tmp_path / "out.mp4", source=sample_path("tom_hanks"), target=clip,
                           config=RunConfig(runner="inline", progress=False))
    assert summary["tracks"] == summary["edited"] == [0]

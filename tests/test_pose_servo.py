"""The pose servo's secant loop on a known renderer response (no models): it must land within tolerance
for a renderer that under- or over-delivers, and leave small asks and roll alone."""

from __future__ import annotations

import numpy as np
import pytest

from facex_video.edit.pose_servo import TOLERANCE_DEG, calibrate, needs_servo, scaled
from facex_video.tasks.assemble import Edits


@pytest.mark.parametrize("response", [0.62, 0.85, 1.7])
def test_calibration_lands_on_the_asked_turn_for_a_linear_renderer(response):
    before = np.array([3.0, -2.0])
    rendered: list[Edits] = []

    def render(edits: Edits) -> Edits:
        rendered.append(edits)
        return edits

    def read(edits: Edits) -> np.ndarray:  # a renderer that turns the head by `response` times the command
        return before + response * np.array([edits.yaw, edits.pitch]) + 0.3 * np.tanh(edits.yaw)

    asked = Edits(yaw=-10.0)
    gains = calibrate(asked, before, render, read)
    assert set(gains) == {"yaw"}
    turn = read(scaled(asked, gains)) - before
    assert abs(turn[0] - asked.yaw) <= TOLERANCE_DEG
    assert len(rendered) <= 4


def test_small_asks_and_roll_are_not_servoed():
    assert not needs_servo(Edits(yaw=1.0, roll=15.0))
    assert not needs_servo(None)
    assert needs_servo(Edits(pitch=-5.0))


def test_a_face_lost_in_the_result_keeps_the_asked_turn():
    gains = calibrate(Edits(yaw=10.0), np.zeros(2), lambda e: e, lambda e: None)
    assert gains == {"yaw": 1.0}

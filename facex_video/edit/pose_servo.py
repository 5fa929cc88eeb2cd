"""Closed-loop pose edits: `facex edit --yaw/--pitch` turns the head by what a viewer (and FORD) reads back.

A 2D renderer turns the visible surface of the face but cannot show the side of the head a turn reveals,
nor hide the side it covers, so the landmarker reads a re-rendered turn short of the asked one (the
geometric warp of a 10 degree yaw reads 6 to 8.5 degrees, a pitch from 8 to 17, depending on the face).
So on the first frame of each edited track the asked yaw and pitch are corrected by secant steps until the
landmarker, run on the pasted result, reads them back within TOLERANCE_DEG; the track's later frames reuse
the correction factor (one calibration per track, no per-frame cost). Roll is an in-plane rotation a warp
renders exactly and is never corrected.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np

from ..faces.analyze import FaceAnalyzer
from ..faces.detect import box_iou
from ..ford.geometry import head_pose
from ..tasks.assemble import Edits

AXES = ("yaw", "pitch")
TOLERANCE_DEG = 1.0
MIN_DELTA_DEG = 2.0  # smaller asks are within the landmarker's frame-to-frame noise: left as asked
GAIN_RANGE = (0.5, 2.5)
MAX_STEPS = 4


def needs_servo(edits: Edits | None) -> bool:
    return edits is not None and any(abs(getattr(edits, ax)) >= MIN_DELTA_DEG for ax in AXES)


def scaled(edits: Edits, gains: dict[str, float]) -> Edits:
    """The edits with each servoed axis multiplied by its gain."""
    return replace(edits, **{ax: getattr(edits, ax) * g for ax, g in gains.items()})


def read_pose(analyzer: FaceAnalyzer, rgb: np.ndarray, near: np.ndarray) -> np.ndarray | None:
    """(yaw, pitch) in degrees of the face found afresh in `rgb` that overlaps the box `near` most, as a
    re-analysis of the written result reads it (the landmarker's pose moves a few degrees with its crop
    box, so the box is the detector's, not the edited face's old one); None when no face overlaps it."""
    faces = [f for f in analyzer.analyze(rgb) if box_iou(f.box, near) > 0.3]
    if not faces:
        return None
    pose = head_pose(max(faces, key=lambda f: box_iou(f.box, near)).pose_matrix)
    return np.array([pose.yaw, pose.pitch])


def calibrate(edits: Edits, before: np.ndarray, render: Callable[[Edits], np.ndarray],
              read: Callable[[np.ndarray], np.ndarray | None]) -> dict[str, float]:
    """Per-axis gains (commanded / asked) that make `read(render(edits))` turn by the asked degrees.

    render(edits) -> the pasted frame; read(frame) -> (yaw, pitch) or None. Each axis takes secant steps
    from gain 1 (the first step proportional), clamped to GAIN_RANGE; the best gain seen is kept."""
    axes = [i for i, ax in enumerate(AXES) if abs(getattr(edits, ax)) >= MIN_DELTA_DEG]
    asked = np.array([getattr(edits, ax) for ax in AXES])
    gains = np.ones(2)
    history: list[tuple[np.ndarray, np.ndarray]] = []  # (gains, measured turn)
    best, best_err = gains.copy(), np.full(2, np.inf)
    for _ in range(MAX_STEPS):
        pose = read(render(scaled(edits, {AXES[i]: gains[i] for i in axes})))
        if pose is None:
            break
        turn = pose - before
        err = np.abs(turn - asked)
        better = err < best_err
        best[better], best_err[better] = gains[better], err[better]
        if all(err[i] <= TOLERANCE_DEG for i in axes):
            break
        nxt = gains.copy()
        for i in axes:
            if history and abs(turn[i] - history[-1][1][i]) > 0.2:
                g0, t0 = history[-1][0][i], history[-1][1][i]
                nxt[i] = gains[i] + (asked[i] - turn[i]) * (gains[i] - g0) / (turn[i] - t0)
            elif turn[i] * asked[i] > 0:
                nxt[i] = gains[i] * asked[i] / turn[i]
        history.append((gains.copy(), turn))
        gains = np.clip(nxt, *GAIN_RANGE)
    return {AXES[i]: float(best[i]) for i in axes}

"""Link per-frame face detections into tracks: one id per person per shot, landmarks smoothed along it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .detect import FaceBox
from .smoothing import LandmarkSmoother
from .types import FaceDetection, FaceTrack, TrackedFace

_NEVER = 1e9  # cost of a gated pair: discarded after the assignment, which thus first maximises allowed matches


def _assignment(cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """scipy's linear_sum_assignment of `cost` (rows, cols); with one track or one detection (most frames of
    most shots) the cheapest pair, which is that assignment, without importing scipy.optimize (0.25 s of a
    process's start)."""
    if min(cost.shape) == 1:
        k = int(np.argmin(cost))
        i, j = divmod(k, cost.shape[1])
        return np.array([i]), np.array([j])
    from scipy.optimize import linear_sum_assignment

    return linear_sum_assignment(cost)


def _face_size(box: np.ndarray) -> float:
    """sqrt(box area) in pixels: a face size that is stable under aspect changes of the box."""
    w, h = box[2:] - box[:2]
    return float(np.sqrt(max(w, 1.0) * max(h, 1.0)))


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box in (n, 4) `a` with every box in (m, 4) `b`, as (n, m)."""
    lo = np.maximum(a[:, None, :2], b[None, :, :2])
    hi = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(hi - lo, 0.0, None), axis=2)
    area_a = np.prod(np.clip(a[:, 2:] - a[:, :2], 0.0, None), axis=1)
    area_b = np.prod(np.clip(b[:, 2:] - b[:, :2], 0.0, None), axis=1)
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


@dataclass
class _Active:
    """State of a track that can still be extended: its summary plus what matching and smoothing need."""

    track: FaceTrack
    smoother: LandmarkSmoother
    frame: int  # last frame seen
    box: np.ndarray  # (4,) last box
    points: np.ndarray  # (5, 2) last raw five points
    velocity: np.ndarray  # (4,) box change per frame, from the last two boxes
    score: float  # detector score the track was last seen with

    def predict(self, frame: int) -> tuple[np.ndarray, np.ndarray]:
        """Box and five points expected at `frame` if the face keeps its velocity (constant-velocity step)."""
        step = self.velocity * (frame - self.frame)
        shift = np.array([step[0] + step[2], step[1] + step[3]]) / 2.0  # box centre motion
        return self.box + step, self.points + shift

    def extend(self, frame: int, det: FaceDetection, points: np.ndarray) -> None:
        box = np.asarray(det.box, dtype=np.float64)
        self.velocity = (box - self.box) / (frame - self.frame)
        self.frame, self.box, self.points, self.score = frame, box, points, det.score
        self.track.add(frame, box, det.score, points)


class FaceTracker:
    """Streaming tracker: call `update` once per frame in order (also with no detections), then `finish`.

    Association per frame: cost = (1 - IoU(box, predicted box)) + point_weight * d, where d is the mean
    distance of the 5 alignment points to the track's last points (shifted by the predicted motion),
    divided by the track's face size (sqrt of box area). Pairs with d > max_distance, or whose face sizes
    differ by more than max_size_ratio, are never matched: a face does not jump a face width or change
    size by half between frames unless there is a cut. The prediction is a constant-velocity step from
    the last two boxes, so in a fast pan only the change of speed has to pass the gate, not the speed,
    and a face hidden for a few frames is looked for where it went. The optimal one-to-one assignment
    (Hungarian, scipy) keeps two crossing faces on their own tracks.
    """

    def __init__(
        self,
        fps: float,
        *,
        max_gap_frames: int | None = None,
        min_track_frames: int = 1,
        point_weight: float = 1.0,
        max_distance: float = 1.0,
        max_size_ratio: float = 1.5,
        smoother: Callable[[], LandmarkSmoother] = LandmarkSmoother,
    ):
        """max_gap_frames: frames a face may be missed (blink of the detector, brief occlusion) and keep
        its track; default 0.25 s worth. min_track_frames: shorter tracks (false positives) are dropped
        by `finish`. smoother: makes the per-track landmark smoother (e.g. functools.partial with params).
        """
        if fps <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        self.fps = fps
        self.max_gap_frames = max(1, round(0.25 * fps)) if max_gap_frames is None else max_gap_frames
        self.min_track_frames = min_track_frames
        self.point_weight = point_weight
        self.max_distance = max_distance
        self.max_size_ratio = max_size_ratio
        self._make_smoother = smoother
        self._active: list[_Active] = []
        self._closed: list[FaceTrack] = []
        self._next_id = 0
        self._shot = 0
        self._last_frame: int | None = None
        self._final: dict[int, int | None] | None = None
        self._newly_closed: list[int] = []

    def update(self, frame_index: int, detections: list[FaceDetection], *, cut: bool = False) -> list[TrackedFace]:
        """Place this frame's detections on tracks; returns one TrackedFace per detection, in order.

        cut=True (e.g. from ShotCutDetector) closes every active track first, so no track spans a cut,
        and new tracks get the next shot number. TrackedFace.track_id is provisional: see `final_id`.
        """
        if self._final is not None:
            raise RuntimeError("FaceTracker.update after finish()")
        if self._last_frame is not None and frame_index <= self._last_frame:
            raise ValueError(f"frame {frame_index} after frame {self._last_frame}: frames must increase")
        self._last_frame = frame_index
        if cut:
            self._close(list(self._active))
            self._shot += 1
        self._close([a for a in self._active if frame_index - a.frame - 1 > self.max_gap_frames])

        points = [d.five_points() for d in detections]
        pairs = self._associate(frame_index, detections, points)
        out: list[TrackedFace] = []
        t = frame_index / self.fps
        for j, det in enumerate(detections):
            if j in pairs:
                active = pairs[j]
                active.extend(frame_index, det, points[j])
            else:
                active = self._start(frame_index, det, points[j])
            smoothed = active.smoother(det.landmarks, t)
            out.append(TrackedFace(active.track.track_id, frame_index, det, smoothed))
        return out

    def expected_boxes(self, frame_index: int) -> list[FaceBox]:
        """Predicted boxes at `frame_index` of the tracks seen on the frame before, with their last score:
        where to look for known faces without running the detector (the landmarker verifies each)."""
        return [
            FaceBox(a.predict(frame_index)[0], a.score, np.zeros((0, 2)))
            for a in self._active
            if a.frame == frame_index - 1
        ]

    def _associate(
        self, frame: int, detections: list[FaceDetection], points: list[np.ndarray]
    ) -> dict[int, _Active]:
        """Detection index -> the active track it continues (optimal assignment under the gates)."""
        if not detections or not self._active:
            return {}
        predicted = [a.predict(frame) for a in self._active]
        pred_boxes = np.stack([p[0] for p in predicted])
        det_boxes = np.stack([np.asarray(d.box, dtype=np.float64) for d in detections])
        sizes = np.array([_face_size(a.box) for a in self._active])
        det_sizes = np.array([_face_size(b) for b in det_boxes])
        pred_points = np.stack([p[1] for p in predicted])  # (T, 5, 2)
        det_points = np.stack(points)  # (D, 5, 2)
        dist = np.linalg.norm(pred_points[:, None] - det_points[None], axis=3).mean(axis=2) / sizes[:, None]
        ratio = det_sizes[None, :] / sizes[:, None]
        allowed = (dist <= self.max_distance) & (ratio <= self.max_size_ratio) & (ratio >= 1 / self.max_size_ratio)
        cost = np.where(allowed, 1.0 - _iou(pred_boxes, det_boxes) + self.point_weight * dist, _NEVER)
        rows, cols = _assignment(cost)
        return {int(j): self._active[i] for i, j in zip(rows, cols, strict=True) if allowed[i, j]}

    def _start(self, frame: int, det: FaceDetection, points: np.ndarray) -> _Active:
        box = np.asarray(det.box, dtype=np.float64)
        track = FaceTrack(track_id=self._next_id, shot=self._shot)
        self._next_id += 1
        track.add(frame, box, det.score, points)
        active = _Active(track, self._make_smoother(), frame, box, points, np.zeros(4), det.score)
        self._active.append(active)
        return active

    def _close(self, tracks: list[_Active]) -> None:
        """Move tracks to the closed list; their smoother and matching state are dropped here."""
        for a in tracks:
            self._active.remove(a)
            self._closed.append(a.track)
            self._newly_closed.append(a.track.track_id)

    def pop_closed(self) -> list[int]:
        """Provisional ids of the tracks closed since the last call: per-track work (e.g. identity) can be
        finished and its state freed while the video is still streaming."""
        closed, self._newly_closed = self._newly_closed, []
        return closed

    def finish(self) -> list[FaceTrack]:
        """Every track, closed and active, without those shorter than min_track_frames, renumbered
        0..n-1 in order of first appearance (ties: order of detection). Ends the tracker."""
        if self._final is not None:
            raise RuntimeError("FaceTracker.finish called twice")
        self._close(list(self._active))
        tracks = sorted(self._closed, key=lambda tr: (tr.first_frame, tr.track_id))
        self._final = {}
        kept: list[FaceTrack] = []
        for track in tracks:
            if track.n_frames >= self.min_track_frames:
                self._final[track.track_id] = len(kept)
                track.track_id = len(kept)
                kept.append(track)
            else:
                self._final[track.track_id] = None
        self._closed = []
        return kept

    def final_id(self, provisional: int) -> int | None:
        """The id `finish` gave the track that `update` called `provisional`; None if it was dropped."""
        if self._final is None:
            raise RuntimeError("final_id needs finish() first")
        return self._final[provisional]

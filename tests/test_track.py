"""Face tracking, landmark smoothing and shot cuts on synthetic faces and real photos (no model files)."""

from __future__ import annotations

import json
import math

import cv2
import numpy as np
import pytest
from skimage import data

from facex_video.faces.cuts import ShotCutDetector
from facex_video.faces.smoothing import LandmarkSmoother, OneEuroFilter
from facex_video.faces.track import FaceTracker
from facex_video.faces.types import LEFT_EYE_CORNERS, MOUTH_CORNERS, NOSE_TIP, RIGHT_EYE_CORNERS, FaceDetection

FPS = 30.0


def _canonical_face(seed: int = 0) -> np.ndarray:
    """(478, 3) points of a plausible face, in face widths around the centre: random points in an
    ellipse on a dome, with the 5 alignment landmarks where a frontal face has them (y down)."""
    rng = np.random.default_rng(seed)
    ang = rng.uniform(0, 2 * np.pi, 478)
    rad = np.sqrt(rng.uniform(0, 1, 478))
    x, y = 0.45 * rad * np.cos(ang), 0.6 * rad * np.sin(ang)
    pts = np.stack([x, y, np.zeros(478)], axis=1)
    named = {
        RIGHT_EYE_CORNERS[0]: (-0.30, -0.12),
        RIGHT_EYE_CORNERS[1]: (-0.12, -0.12),
        LEFT_EYE_CORNERS[0]: (0.12, -0.12),
        LEFT_EYE_CORNERS[1]: (0.30, -0.12),
        NOSE_TIP: (0.0, 0.08),
        MOUTH_CORNERS[0]: (-0.16, 0.28),
        MOUTH_CORNERS[1]: (0.16, 0.28),
    }
    for i, xy in named.items():
        pts[i, :2] = xy
    pts[:, 2] = 0.3 * np.sqrt(np.clip(1 - (pts[:, 0] / 0.45) ** 2 - (pts[:, 1] / 0.6) ** 2, 0, 1))
    return pts


CANON = _canonical_face()


def face(
    cx: float,
    cy: float,
    width: float,
    *,
    angle_deg: float = 0.0,
    jitter: float = 0.0,
    rng: np.random.Generator | None = None,
    score: float = 0.9,
) -> FaceDetection:
    """A FaceDetection of the canonical face moved by a similarity transform (centre, width, roll),
    with per-landmark Gaussian jitter of `jitter` face widths and matching box jitter."""
    a = math.radians(angle_deg)
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    lm = CANON * width
    lm[:, :2] = lm[:, :2] @ rot.T + (cx, cy)
    box = np.array([cx - 0.45 * width, cy - 0.6 * width, cx + 0.45 * width, cy + 0.6 * width])
    if jitter:
        lm = lm + rng.normal(0, jitter * width, lm.shape)
        box = box + rng.normal(0, jitter * width, 4)
    keypoints = np.zeros((6, 2))
    return FaceDetection(box, score, keypoints, lm, np.zeros(52), np.eye(4))


def run(tracker: FaceTracker, frames: list[list[tuple[str, FaceDetection]]], cuts: set[int] = frozenset()):
    """Feed labelled detections per frame; returns {label: [provisional ids]} and all TrackedFaces."""
    ids: dict[str, list[int]] = {}
    tracked = []
    for f, labelled in enumerate(frames):
        out = tracker.update(f, [d for _, d in labelled], cut=f in cuts)
        assert [t.detection for t in out] == [d for _, d in labelled]  # same order as the input
        for (label, _), t in zip(labelled, out):
            ids.setdefault(label, []).append(t.track_id)
        tracked.extend(out)
    return ids, tracked


# ---------------------------------------------------------------- tracker


@pytest.mark.parametrize("dy, occlude", [(0.0, True), (40.0, False)])
def test_crossing_faces_keep_their_ids(dy: float, occlude: bool):
    """Two faces of different sizes cross at 20 px/frame each; with dy=0 the smaller one is hidden (not
    detected) for 8 frames while behind the other, and reappears 180 px from where it was last seen:
    only the constant-velocity prediction brings it back onto its own track."""
    rng = np.random.default_rng(1)
    frames, hidden = [], 0
    for f in range(60):
        a = face(200 + 20 * f, 360, 100, jitter=0.01, rng=rng)
        b = face(1400 - 20 * f, 360 + dy, 80, jitter=0.01, rng=rng)
        behind = occlude and abs(a.box[0] - b.box[0]) < 160
        hidden += behind
        frames.append([("a", a)] + ([] if behind else [("b", b)]))
    assert hidden == (8 if occlude else 0)
    tracker = FaceTracker(FPS)
    ids, _ = run(tracker, frames)
    assert len(set(ids["a"])) == 1 and len(set(ids["b"])) == 1
    assert ids["a"][0] != ids["b"][0]
    tracks = tracker.finish()
    assert [t.n_frames for t in tracks] == [60, 60 - hidden]
    assert np.all(np.diff(tracks[0].boxes[:, 0]) > 0) and np.all(np.diff(tracks[1].boxes[:, 0]) < 0)


def test_six_faces_panning_slowly_give_six_tracks():
    rng = np.random.default_rng(2)
    grid = [(200 + 250 * c, 200 + 300 * r) for r in range(2) for c in range(3)]
    frames = [
        [(str(k), face(x + 3 * f, y + 0.5 * f, 80, angle_deg=5 * math.sin(f / 10), jitter=0.01, rng=rng))
         for k, (x, y) in enumerate(grid)]
        for f in range(90)
    ]
    tracker = FaceTracker(FPS)
    ids, _ = run(tracker, frames)
    assert all(len(set(v)) == 1 for v in ids.values())
    assert len({v[0] for v in ids.values()}) == 6
    tracks = tracker.finish()
    assert len(tracks) == 6 and all(t.n_frames == 90 for t in tracks)


def test_gap_up_to_max_gap_keeps_id_longer_starts_new_track():
    tracker = FaceTracker(FPS)
    assert tracker.max_gap_frames == 8  # 0.25 s at 30 fps
    missing = set(range(10, 18)) | set(range(40, 49))  # 8 frames missed: same track; 9 frames: new track
    frames = [[] if f in missing else [("a", face(300 + 4 * f, 300, 90))] for f in range(70)]
    ids, _ = run(tracker, frames)
    assert ids["a"] == [0] * 32 + [1] * 21
    tracks = tracker.finish()
    assert [(t.first_frame, t.last_frame, t.n_frames) for t in tracks] == [(0, 39, 32), (49, 69, 21)]
    assert np.array_equal(tracks[0].frames, [f for f in range(40) if f not in missing])


def test_cut_ends_every_track_and_starts_shot_one():
    """The faces stay exactly where they were across the cut: only cut=True can split them."""
    frames = [[("a", face(300, 300, 100)), ("b", face(700, 320, 90))] for _ in range(60)]
    tracker = FaceTracker(FPS)
    ids, _ = run(tracker, frames, cuts={30})
    assert ids["a"] == [0] * 30 + [2] * 30 and ids["b"] == [1] * 30 + [3] * 30
    tracks = tracker.finish()
    assert [t.shot for t in tracks] == [0, 0, 1, 1]
    for t in tracks:
        assert (t.last_frame < 30) or (t.first_frame >= 30)  # no track spans the cut


@pytest.mark.parametrize("width", [50, 120])
def test_fast_pan_stays_one_track(width: float):
    """30 px per frame is 0.6 face widths per frame for a 50 px face: matched via the velocity step."""
    rng = np.random.default_rng(3)
    frames = [[("a", face(100 + 30 * f, 400 + 5 * f, width, jitter=0.02, rng=rng))] for f in range(40)]
    tracker = FaceTracker(FPS)
    ids, _ = run(tracker, frames)
    assert set(ids["a"]) == {0}
    assert [t.n_frames for t in tracker.finish()] == [40]


def test_fast_pan_over_a_row_of_faces_keeps_every_id():
    """A pan accelerating to 90 px/frame over 80 px faces 110 px apart: each face lands beyond the gate
    from its own last position but near its neighbour's, so matching without the velocity step would
    shift ids along the row and start new tracks."""
    rng = np.random.default_rng(8)
    x, frames = 0.0, []
    for f in range(30):
        x += min(90.0, 9.0 * f)
        frames.append([(str(k), face(300 + 110 * k + x, 400, 80, jitter=0.01, rng=rng)) for k in range(5)])
    tracker = FaceTracker(FPS)
    ids, _ = run(tracker, frames)
    assert all(v == [int(k)] * 30 for k, v in ids.items())


def test_far_detection_is_not_matched():
    """Gating: a face two face widths away from the prediction is another face, even with no other option."""
    tracker = FaceTracker(FPS)
    tracker.update(0, [face(300, 300, 100)])
    out = tracker.update(1, [face(500, 300, 100)])
    assert out[0].track_id == 1


def test_min_track_frames_drops_false_positive_and_final_id_relabels():
    tracker = FaceTracker(FPS, min_track_frames=3)
    frames = []
    for f in range(30):
        labelled = [("a", face(300 + 2 * f, 300, 100))]
        if f == 5:
            labelled.append(("fp", face(900, 500, 60, score=0.4)))  # a 1-frame false positive
        if f >= 10:
            labelled.append(("b", face(700, 300 + f, 100)))
        frames.append(labelled)
    ids, tracked = run(tracker, frames)
    assert (ids["a"][0], ids["fp"][0], ids["b"][0]) == (0, 1, 2)
    with pytest.raises(RuntimeError):
        tracker.final_id(0)
    tracks = tracker.finish()
    assert [t.track_id for t in tracks] == [0, 1]
    assert (tracker.final_id(0), tracker.final_id(1), tracker.final_id(2)) == (0, None, 1)
    by_id = {t.track_id: set(t.frames.tolist()) for t in tracks}
    for t in tracked:  # every recorded face relabels onto the track that holds its frame, or was dropped
        final = tracker.final_id(t.track_id)
        assert (final is None and t.frame_index == 5 and t.detection.score == 0.4) or t.frame_index in by_id[final]
    with pytest.raises(RuntimeError):
        tracker.update(30, [])


def test_tracked_landmarks_are_smoothed_and_reset_per_track():
    rng = np.random.default_rng(4)
    truth = face(400, 300, 120).landmarks
    tracker = FaceTracker(FPS)
    raw_err, smooth_err = [], []
    for f in range(60):
        (t,) = tracker.update(f, [face(400, 300, 120, jitter=0.01, rng=rng)], cut=f == 30)
        if f in (0, 30):  # the first sample of a track passes through unchanged
            assert np.allclose(t.smoothed_landmarks, t.detection.landmarks, atol=1e-9)
        elif f > 40:
            raw_err.append(np.abs(t.detection.landmarks - truth).mean())
            smooth_err.append(np.abs(t.smoothed_landmarks - truth).mean())
        assert t.five_points().shape == (5, 2)
    assert np.mean(smooth_err) < 0.6 * np.mean(raw_err)


def test_track_summary_is_compact_and_json_ready():
    tracker = FaceTracker(FPS)
    for f in range(300):
        tracker.update(f, [face(300.123 + f, 300, 100, angle_deg=3)])
    (track,) = tracker.finish()
    # per-frame storage: int32 frame + 4 float32 box + float32 score, never landmarks
    per_frame = track.frames.nbytes + track.boxes.nbytes + track.scores.nbytes
    assert per_frame == 24 * 300
    assert all(not (isinstance(v, np.ndarray) and v.size >= 478) for v in vars(track).values())
    d = json.loads(json.dumps(track.to_dict()))
    assert (d["id"], d["shot"], d["first_frame"], d["last_frame"], d["n_frames"]) == (0, 0, 0, 299, 300)
    assert d["boxes"][1] == [1, 256.1, 240.0, 346.1, 360.0]
    assert d["mean_score"] == pytest.approx(0.9)
    assert d["landmarks"]["mean_interocular_px"] == pytest.approx(42.0, abs=0.3)  # eye centres 0.42 widths apart
    assert np.allclose(d["landmarks"]["mean_five_points_box"][2], [0.5, 0.5 + 0.08 / 1.2], atol=0.02)


# ---------------------------------------------------------------- One Euro


def _rms(a: np.ndarray) -> float:
    return float(np.sqrt(np.mean(a**2)))


def _moving_face(width: float, n: int, jitter: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """True and jittered (n, 478, 3) landmarks of a face on a smooth path: a slow pan with a small zoom
    and roll, 0.5 face widths/s at most; jitter per point in face widths."""
    rng = np.random.default_rng(seed)
    true = np.stack(
        [
            face(
                400 + 0.5 * width * 1.5 * math.sin(f / FPS),
                300 + 0.2 * width * math.cos(0.7 * f / FPS),
                width * (1 + 0.1 * math.sin(0.4 * f / FPS)),
                angle_deg=5 * math.sin(0.5 * f / FPS),
            ).landmarks
            for f in range(n)
        ]
    )
    return true, true + rng.normal(0, jitter * width, true.shape)


def test_landmark_smoother_reduces_jitter_on_a_smooth_path():
    """Measured on this path (seeds 0-4, faces 50 and 500 px): 0.48x the raw RMS error at 1% and at 0.5%
    per-point jitter; what remains is partly lag behind the roll and zoom, partly unremoved jitter."""
    for jitter, bound in ((0.01, 0.5), (0.005, 0.5)):
        true, raw = _moving_face(100, 240, jitter, seed=5)
        smoother = LandmarkSmoother()
        smooth = np.stack([smoother(raw[i], i / FPS) for i in range(len(raw))])
        ratio = _rms(smooth[15:] - true[15:]) / _rms(raw[15:] - true[15:])
        assert ratio < bound, (jitter, ratio)


def test_landmark_smoother_is_face_size_invariant():
    ratios = []
    for width in (50, 500):
        true, raw = _moving_face(width, 120, 0.01, seed=6)
        smoother = LandmarkSmoother()
        smooth = np.stack([smoother(raw[i], i / FPS) for i in range(len(raw))])
        ratios.append(_rms(smooth[15:] - true[15:]) / _rms(raw[15:] - true[15:]))
    assert ratios[0] == pytest.approx(ratios[1], rel=1e-6)


def test_one_euro_reduces_jitter_on_a_slow_path():
    """The bare filter on a (478, 3) array, speed measured in face sizes (scale=100 px); measured 0.44x."""
    rng = np.random.default_rng(7)
    base = rng.normal(0, 40, (478, 3))
    t = np.arange(240) / FPS
    true = base + 10.0 * np.sin(2 * np.pi * 0.1 * t)[:, None, None]  # 6 px/s peak
    raw = true + rng.normal(0, 2.0, true.shape)
    f = OneEuroFilter()
    smooth = np.stack([f(raw[i], t[i], scale=100.0) for i in range(len(t))])
    assert _rms(smooth[15:] - true[15:]) < 0.5 * _rms(raw[15:] - true[15:])


@pytest.mark.parametrize("step", [0.01, 0.1, 1.0])
def test_one_euro_step_converges_within_bound(step: float):
    """The cutoff never drops below min_cutoff, so the error shrinks at least by (1 - alpha(min_cutoff))
    per frame: within 5% of any step after 1 s at 30 fps (min_cutoff 0.5 Hz); a step as large as the
    face, which cannot be jitter, is followed within 3 frames."""
    f = OneEuroFilter()
    x0, x1 = np.zeros((478, 3)), np.full((478, 3), 100.0 * step)
    for i in range(10):
        f(x0, i / FPS, scale=100.0)
    frames = None
    for i in range(40):
        y = f(x1, (10 + i) / FPS, scale=100.0)
        if frames is None and np.abs(y - x1).max() <= 0.05 * 100.0 * step:
            frames = i + 1
    alpha_min = 1 / (1 + FPS / (2 * math.pi * f.min_cutoff))
    bound = math.ceil(math.log(0.05) / math.log(1 - alpha_min))
    assert bound <= FPS + 1
    assert frames is not None and frames <= bound
    if step >= 1.0:
        assert frames <= 3


def test_one_euro_first_sample_gaps_and_repeats():
    f = OneEuroFilter()
    x = np.arange(6.0).reshape(2, 3)
    assert np.array_equal(f(x, 1.0), x)  # first sample passes through
    y = f(x + 1.0, 1.0 + 1 / FPS)
    assert np.all((y > x) & (y < x + 1.0))
    assert np.array_equal(f(x + 5.0, 1.0 + 1 / FPS), y)  # same timestamp: keep the estimate
    z = f(x + 10.0, 4.0)  # a 3 s gap: follow the new sample almost fully
    assert np.all(np.abs(z - (x + 10.0)) < 0.1)
    with pytest.raises(ValueError):
        f(np.zeros(3), 5.0)


# ---------------------------------------------------------------- shot cuts

W, H = 480, 270
PHOTOS = {"astronaut": data.astronaut(), "coffee": data.coffee(), "chelsea": data.chelsea()}


def _clip(img: np.ndarray, n: int, seed: int, pan=(80.0, 30.0), zoom=(1.0, 1.3)) -> list[np.ndarray]:
    """n frames of a slow pan and zoom over `img` (cv2.warpAffine), with sensor noise and a 10%
    brightness flicker every third frame."""
    rng = np.random.default_rng(seed)
    h, w = img.shape[:2]
    base = max(W / w, H / h) * 1.2
    frames = []
    for i in range(n):
        a = i / max(n - 1, 1)
        m = cv2.getRotationMatrix2D((w / 2, h / 2), 0.0, base * (zoom[0] + (zoom[1] - zoom[0]) * a))
        m[:, 2] += (W / 2 - w / 2 + pan[0] * (0.5 - a), H / 2 - h / 2 + pan[1] * (0.5 - a))
        frame = cv2.warpAffine(img, m, (W, H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        gain = 1.1 if i % 3 == 1 else 1.0
        noisy = frame.astype(np.float32) * gain + rng.normal(0, 3.0, frame.shape)
        frames.append(np.clip(noisy, 0, 255).astype(np.uint8))
    return frames


@pytest.mark.parametrize("name", list(PHOTOS))
@pytest.mark.parametrize("pan", [(80.0, 30.0), (2400.0, 600.0)])
def test_pan_zoom_noise_flicker_is_not_a_cut(name: str, pan: tuple[float, float]):
    """A slow pan (1.3 px/frame) and a whip pan (40 px/frame, a twelfth of the width) with zoom."""
    detector = ShotCutDetector()
    cuts = [i for i, frame in enumerate(_clip(PHOTOS[name], 60, seed=0, pan=pan)) if detector.update(frame)]
    assert cuts == []


def test_hard_cuts_between_photos_detected_at_exact_frames():
    close_up = cv2.resize(PHOTOS["astronaut"][30:250, 120:340], (512, 512))  # same scene, new framing
    shots = [
        _clip(PHOTOS["astronaut"], 25, seed=1),
        _clip(PHOTOS["coffee"], 20, seed=2, pan=(-800, 0)),  # a fast pan (40 px/frame) then a cut
        _clip(PHOTOS["chelsea"], 20, seed=3, zoom=(1.3, 1.0)),
        _clip(close_up, 15, seed=4),
        _clip(PHOTOS["coffee"], 10, seed=5),
    ]
    frames = [f for shot in shots for f in shot]
    detector = ShotCutDetector()
    cuts = [i for i, frame in enumerate(frames) if detector.update(frame)]
    assert cuts == [25, 45, 65, 80]


def _shaky(img: np.ndarray, n: int, seed: int) -> list[np.ndarray]:
    """A violently shaken camera: every frame a random roll of +-8 degrees, shift of +-30 px, zoom of +-5%."""
    rng = np.random.default_rng(seed)
    h, w = img.shape[:2]
    base = max(W / w, H / h) * 1.3
    frames = []
    for _ in range(n):
        m = cv2.getRotationMatrix2D((w / 2, h / 2), rng.uniform(-8, 8), base * (1 + rng.uniform(-0.05, 0.05)))
        m[:, 2] += (W / 2 - w / 2 + rng.uniform(-30, 30), H / 2 - h / 2 + rng.uniform(-30, 30))
        frames.append(cv2.warpAffine(img, m, (W, H), borderMode=cv2.BORDER_REFLECT))
    return frames


def test_shaky_camera_raises_the_level_but_a_cut_still_fires():
    """Some shake frames exceed the absolute threshold (0.44 > 0.4); only the running-level rule keeps
    them from firing, while the real cut (1.15) is still far above 3x that level."""
    frames = _shaky(PHOTOS["astronaut"], 40, seed=0) + _shaky(PHOTOS["coffee"], 20, seed=1)
    adaptive, absolute_only = ShotCutDetector(), ShotCutDetector(ratio=0.0)
    cuts = [i for i, frame in enumerate(frames) if adaptive.update(frame)]
    assert cuts == [40]
    assert len([i for i, frame in enumerate(frames) if absolute_only.update(frame)]) > 1

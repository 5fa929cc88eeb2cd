"""Data contracts of the faces stage: one FaceDetection per face per frame, linked into FaceTracks."""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field

import numpy as np

# MediaPipe FaceLandmarker mesh indices used for the 5-point alignment (subject's right eye is on
# the image's left): eye corners, nose tip, mouth corners.
RIGHT_EYE_CORNERS = (33, 133)
LEFT_EYE_CORNERS = (362, 263)
NOSE_TIP = 1
MOUTH_CORNERS = (61, 291)


def five_points(landmarks: np.ndarray) -> np.ndarray:
    """(5, 2) float64 eye centres, nose tip and mouth corners of (478, 2+) MediaPipe landmarks."""
    lm = landmarks
    return np.stack(
        [
            lm[list(RIGHT_EYE_CORNERS), :2].mean(axis=0),
            lm[list(LEFT_EYE_CORNERS), :2].mean(axis=0),
            lm[NOSE_TIP, :2],
            lm[MOUTH_CORNERS[0], :2],
            lm[MOUTH_CORNERS[1], :2],
        ]
    ).astype(np.float64)


@dataclass
class FaceDetection:
    """One face in one frame, in frame pixel coordinates.

    box: (4,) float x0, y0, x1, y1. keypoints: (6, 2) the detector's eyes, nose, mouth, ears.
    landmarks: (478, 3) x, y in pixels, z in pixels on the same scale as x (MediaPipe's relative depth).
    blendshapes: (52,) MediaPipe blendshape scores in [0, 1]. pose_matrix: (4, 4) facial transformation
    matrix (canonical face model -> camera), as MediaPipe reports it for the landmarker's crop.
    """

    box: np.ndarray
    score: float
    keypoints: np.ndarray
    landmarks: np.ndarray
    blendshapes: np.ndarray
    pose_matrix: np.ndarray

    def five_points(self, landmarks: np.ndarray | None = None) -> np.ndarray:
        """(5, 2) eye centres, nose tip, mouth corners; from `landmarks` (e.g. smoothed) if given."""
        return five_points(self.landmarks if landmarks is None else landmarks)


@dataclass
class TrackedFace:
    """A detection placed on a track, with landmarks smoothed along the track (One Euro filter)."""

    track_id: int
    frame_index: int
    detection: FaceDetection
    smoothed_landmarks: np.ndarray

    def five_points(self) -> np.ndarray:
        return self.detection.five_points(self.smoothed_landmarks)


@dataclass
class FaceTrack:
    """One person's face over a run of frames inside one shot; never spans a cut.

    Holds only a compact per-frame summary in typed arrays (frame int32, box 4 x float32, score float32:
    24 bytes per face per frame, ~2.6 MB per face-hour at 30 fps) plus running sums of landmark
    statistics, never per-frame landmarks.
    """

    track_id: int
    shot: int
    _frames: array = field(default_factory=lambda: array("i"), init=False, repr=False)
    _boxes: array = field(default_factory=lambda: array("f"), init=False, repr=False)
    _scores: array = field(default_factory=lambda: array("f"), init=False, repr=False)
    # running sums over frames, for the landmarks summary
    interocular_sum: float = field(default=0.0, init=False)
    five_points_sum: np.ndarray = field(default_factory=lambda: np.zeros((5, 2)), init=False, repr=False)
    five_points_box_sum: np.ndarray = field(default_factory=lambda: np.zeros((5, 2)), init=False, repr=False)

    def add(self, frame_index: int, box: np.ndarray, score: float, five_points: np.ndarray) -> None:
        """Append one frame: its box and score, and the raw 5 points into the running sums."""
        self._frames.append(frame_index)
        self._boxes.extend(float(v) for v in box)
        self._scores.append(score)
        self.interocular_sum += float(np.linalg.norm(five_points[1] - five_points[0]))
        self.five_points_sum += five_points
        size = np.maximum(box[2:] - box[:2], 1e-6)
        self.five_points_box_sum += (five_points - box[:2]) / size

    @property
    def n_frames(self) -> int:
        return len(self._frames)

    @property
    def frames(self) -> np.ndarray:
        """(n,) int32 frame indices, increasing (gaps where the face was missed)."""
        return np.frombuffer(self._frames, dtype=np.int32).copy()  # a view would pin the array's size

    @property
    def boxes(self) -> np.ndarray:
        """(n, 4) float32 x0, y0, x1, y1 per frame in `frames`."""
        return np.frombuffer(self._boxes, dtype=np.float32).reshape(-1, 4).copy()

    @property
    def scores(self) -> np.ndarray:
        """(n,) float32 detector scores."""
        return np.frombuffer(self._scores, dtype=np.float32).copy()  # a view would pin the array's size

    @property
    def first_frame(self) -> int:
        return self._frames[0]

    @property
    def last_frame(self) -> int:
        return self._frames[-1]

    def to_dict(self) -> dict:
        """JSON-ready summary: boxes as [[frame, x0, y0, x1, y1], ...] rounded to 0.1 px, means of the rest.

        five_points are eye centres, nose tip, mouth corners (FaceDetection.five_points); `*_px` in
        frame pixels, `*_box` relative to the box (0..1), which describes the face's layout (pose) and
        does not average over where the face moved.
        """
        n = self.n_frames
        boxes = np.round(self.boxes.astype(np.float64), 1)
        return {
            "id": self.track_id,
            "shot": self.shot,
            "first_frame": self.first_frame,
            "last_frame": self.last_frame,
            "n_frames": n,
            "boxes": [[f, *b] for f, b in zip(self.frames.tolist(), boxes.tolist(), strict=True)],
            "mean_score": round(float(self.scores.mean()), 4),
            "landmarks": {
                "mean_interocular_px": round(self.interocular_sum / n, 2),
                "mean_five_points_px": np.round(self.five_points_sum / n, 1).tolist(),
                "mean_five_points_box": np.round(self.five_points_box_sum / n, 4).tolist(),
            },
        }

"""Data contracts of the faces stage: one FaceDetection per face per frame, linked into FaceTracks."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# MediaPipe FaceLandmarker mesh indices used for the 5-point alignment (subject's right eye is on
# the image's left): eye corners, nose tip, mouth corners.
RIGHT_EYE_CORNERS = (33, 133)
LEFT_EYE_CORNERS = (362, 263)
NOSE_TIP = 1
MOUTH_CORNERS = (61, 291)


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
        lm = self.landmarks if landmarks is None else landmarks
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

    Holds only a compact per-frame summary (boxes), so memory grows by 20 bytes per face per frame.
    """

    track_id: int
    shot: int
    frames: list[int] = field(default_factory=list)
    boxes: list[np.ndarray] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    # running statistics of the landmarks for the summary (mean inter-ocular distance in pixels)
    interocular_sum: float = 0.0

    @property
    def first_frame(self) -> int:
        return self.frames[0]

    @property
    def last_frame(self) -> int:
        return self.frames[-1]

"""Pictures of FORD results for `facex analyze --preview`: pose axes, gaze rays, region masks, lit spheres.

Each sampled frame becomes one tile: the frame with every face's box, track label, head axes (x red,
y green, z blue, drawn from the nose tip) and gaze rays (yellow, from each iris), and below it one small
tile per face: its aligned crop with the region masks tinted and the fitted lighting as a lit sphere.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np

from ..faces.align import crop_face
from ..faces.preview import caption, grid, label, track_color
from .geometry import pose_rotation
from .lighting import render_sphere
from .mesh import LEFT_IRIS_CENTRE, RIGHT_IRIS_CENTRE
from .representation import FacialRepresentation

MASK_TINTS = {  # drawn in this order, later ones on top
    "hair": (60, 200, 60),
    "occluder": (255, 140, 0),
    "brows": (140, 90, 40),
    "eyes": (80, 140, 255),
    "iris": (0, 230, 230),
    "lips": (230, 40, 60),
    "mouth_interior": (200, 0, 200),
}
NOSE_TIP = 1


def _project(vec: np.ndarray) -> np.ndarray:
    """Head-frame direction (x right, y up, z to viewer) -> image direction (x right, y down)."""
    return np.array([vec[0], -vec[1]])


def draw_face(img: np.ndarray, rep: FacialRepresentation, scale: float, color: tuple[int, int, int]) -> None:
    """Box, head axes and gaze rays of one face onto `img` (a frame resized by `scale`)."""
    x0, y0, x1, y1 = (rep.box * scale).round().astype(int)
    cv2.rectangle(img, (x0, y0), (x1, y1), color, 1, cv2.LINE_AA)
    size = (x1 - x0) * 0.6
    rot = pose_rotation(rep.intra.pose)
    lm = rep.intra.landmarks_image[:, :2] * scale
    nose = lm[NOSE_TIP]
    for axis, axis_color in zip(np.eye(3), [(230, 40, 40), (40, 200, 40), (60, 90, 255)], strict=True):
        end = nose + _project(rot @ axis) * size
        cv2.arrowedLine(img, tuple(nose.round().astype(int)), tuple(end.round().astype(int)), axis_color, 2,
                        cv2.LINE_AA, tipLength=0.2)
    g = rep.intra.gaze
    for centre, yaw, pitch in [(RIGHT_IRIS_CENTRE, g.right_yaw, g.right_pitch),
                               (LEFT_IRIS_CENTRE, g.left_yaw, g.left_pitch)]:
        y, p = np.radians([yaw, pitch])
        direction = rot @ np.array([np.sin(y) * np.cos(p), np.sin(p), np.cos(y) * np.cos(p)])
        start = lm[centre]
        end = start + _project(direction) * size * 0.8
        cv2.line(img, tuple(start.round().astype(int)), tuple(end.round().astype(int)), (255, 230, 0), 2, cv2.LINE_AA)


def face_tile(rgb: np.ndarray, rep: FacialRepresentation, size: int = 128) -> np.ndarray:
    """The aligned crop with masks tinted at 45% and the fitted lighting as a sphere in the corner."""
    crop = crop_face(rgb, rep.environment.crop_transform).astype(np.float32)
    for name, tint in MASK_TINTS.items():
        m = rep.environment.masks[name]
        crop[m] = 0.55 * crop[m] + 0.45 * np.array(tint, np.float32)
    tile = cv2.resize(crop.clip(0, 255).astype(np.uint8), (size, size), interpolation=cv2.INTER_AREA)
    sphere = render_sphere(rep.environment.lighting_sh, size=size // 3)
    tile[: sphere.shape[0], -sphere.shape[1] :] = sphere
    return tile


@dataclass
class FordSheet:
    """Collects the sampled frames of an analysis and renders them with every face's FORD components."""

    indices: set[int]
    thumb_width: int = 512
    face_size: int = 128
    columns: int = 3
    # (index, seconds, thumbnail, its scale, (provisional track id, representation) per face, face tiles)
    frames: list[tuple[int, float, np.ndarray, float, list[tuple[int, FacialRepresentation]], list[np.ndarray]]] = (
        field(default_factory=list))

    def offer(self, index: int, seconds: float, rgb: np.ndarray, reps: list[FacialRepresentation]) -> None:
        """Keep a sampled frame: a thumbnail, its representations and their face tiles."""
        if index not in self.indices:
            return
        scale = min(1.0, self.thumb_width / rgb.shape[1])
        thumb = cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        tiles = [face_tile(rgb, rep, self.face_size) for rep in reps]
        self.frames.append((index, seconds, thumb, scale, [(r.track_id, r) for r in reps], tiles))

    def render(self, final_id: Callable[[int], int | None]) -> np.ndarray:
        return grid([self._tile(*f, final_id) for f in sorted(self.frames, key=lambda f: f[0])], self.columns)

    def _tile(self, index, seconds, thumb, scale, reps, tiles, final_id) -> np.ndarray:
        img = np.ascontiguousarray(thumb.copy())
        for (prov, rep) in reps:
            tid = final_id(prov)
            draw_face(img, rep, scale, track_color(tid))
            if tid is not None:
                x0, y0 = (rep.box[:2] * scale).round().astype(int)
                label(img, f"T{tid}", x0, y0, track_color(tid))
        caption(img, f"#{index}  {seconds:.2f}s  {len(reps)} face(s)")
        per_row = max(1, img.shape[1] // self.face_size)
        strips = []
        for start in range(0, len(tiles), per_row):
            row = np.full((self.face_size, img.shape[1], 3), 24, np.uint8)
            row_reps = reps[start : start + per_row]
            for k, (tile, (prov, _)) in enumerate(zip(tiles[start : start + per_row], row_reps, strict=True)):
                tile = tile.copy()
                tid = final_id(prov)
                if tid is not None:
                    label(tile, f"T{tid}", 0, self.face_size, track_color(tid))
                row[:, k * self.face_size : (k + 1) * self.face_size] = tile
            strips.append(row)
        return np.vstack([img, *strips])

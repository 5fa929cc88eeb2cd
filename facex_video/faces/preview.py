"""Contact sheets: sampled frames of an input with every face track drawn and labelled.

Frames are thumbnailed as they stream past, and labels are drawn at the end, when final track ids exist.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from .types import TrackedFace

# tab10: distinct, readable on skin and on dark backgrounds
PALETTE = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
           (140, 86, 75), (227, 119, 194), (255, 187, 120), (188, 189, 34), (23, 190, 207)]


def grid(tiles: list[np.ndarray], columns: int, gap: int = 4, background: int = 24) -> np.ndarray:
    """Tiles (RGB, any sizes) laid out left to right, top to bottom, in cells of the largest tile's size."""
    if not tiles:
        raise ValueError("contact sheet has no frames")
    h = max(t.shape[0] for t in tiles)
    w = max(t.shape[1] for t in tiles)
    cols = min(columns, len(tiles))
    rows = -(-len(tiles) // cols)
    sheet = np.full((rows * (h + gap) + gap, cols * (w + gap) + gap, 3), background, np.uint8)
    for k, tile in enumerate(tiles):
        r, c = divmod(k, cols)
        y, x = gap + r * (h + gap), gap + c * (w + gap)
        sheet[y : y + tile.shape[0], x : x + tile.shape[1]] = tile
    return sheet


def track_color(track_id: int | None) -> tuple[int, int, int]:
    """The palette colour of a final track id; grey for faces on dropped (too short) tracks."""
    return (160, 160, 160) if track_id is None else PALETTE[track_id % len(PALETTE)]


def label(img: np.ndarray, text: str, x: int, y: int, color: tuple[int, int, int]) -> None:
    """A filled tag with white text whose bottom-left corner is at (x, y)."""
    (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.5, 1)
    cv2.rectangle(img, (x, max(0, y - th - 6)), (x + tw + 6, max(th + 6, y)), color, -1)
    cv2.putText(img, text, (x + 3, max(th + 3, y - 3)), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)


def caption(img: np.ndarray, text: str) -> None:
    """A black strip with white text along the bottom of a tile."""
    cv2.rectangle(img, (0, img.shape[0] - 20), (img.shape[1], img.shape[0]), (0, 0, 0), -1)
    cv2.putText(img, text, (6, img.shape[0] - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)


@dataclass
class _Thumb:
    index: int
    seconds: float
    image: np.ndarray
    scale: float
    cut: bool
    faces: list[tuple[int, np.ndarray, np.ndarray]]  # provisional id, box, five points (frame px)


@dataclass
class ContactSheet:
    """Collects thumbnails of the frames in `indices`; `render` draws boxes, 5 points and track labels."""

    indices: set[int]
    fps: float
    thumb_width: int = 480
    columns: int = 4
    thumbs: list[_Thumb] = field(default_factory=list)

    def offer(self, index: int, rgb: np.ndarray, faces: list[TrackedFace], cut: bool) -> None:
        """Keep a thumbnail if `index` is one of the sampled frames."""
        if index not in self.indices:
            return
        scale = min(1.0, self.thumb_width / rgb.shape[1])
        thumb = cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        info = [(f.track_id, f.detection.box.copy(), f.five_points()) for f in faces]
        self.thumbs.append(_Thumb(index, index / self.fps, thumb, scale, cut, info))

    def render(self, final_id: Callable[[int], int | None]) -> np.ndarray:
        """The sheet as an RGB image; faces on dropped (too short) tracks are drawn grey and unlabelled."""
        return grid([self._draw(t, final_id) for t in sorted(self.thumbs, key=lambda t: t.index)], self.columns)

    def _draw(self, thumb: _Thumb, final_id: Callable[[int], int | None]) -> np.ndarray:
        img = np.ascontiguousarray(thumb.image.copy())
        s = thumb.scale
        for prov, box, pts in thumb.faces:
            tid = final_id(prov)
            color = track_color(tid)
            x0, y0, x1, y1 = (box * s).round().astype(int)
            cv2.rectangle(img, (x0, y0), (x1, y1), color, 2, cv2.LINE_AA)
            for p in pts * s:
                cv2.circle(img, tuple(int(v) for v in p.round()), 2, color, -1, cv2.LINE_AA)
            if tid is not None:
                label(img, f"T{tid}", x0, y0, color)
        caption(img, f"#{thumb.index}  {thumb.seconds:.2f}s" + ("  CUT" if thumb.cut else ""))
        return img


def save_sheet(path: str | Path, sheet: np.ndarray) -> None:
    """Write the sheet atomically (PNG/JPEG by extension)."""
    from ..media import write_image

    write_image(path, sheet)


@dataclass
class TaskSheet:
    """source | target | result for sampled frames of a task run, one row per frame."""

    indices: set[int]
    fps: float
    height: int = 240
    rows: list[tuple[int, np.ndarray, np.ndarray]] = field(default_factory=list)

    def _thumb(self, rgb: np.ndarray) -> np.ndarray:
        scale = self.height / rgb.shape[0]
        return cv2.resize(rgb, (max(1, round(rgb.shape[1] * scale)), self.height), interpolation=cv2.INTER_AREA)

    def offer(self, index: int, before: np.ndarray, after: np.ndarray) -> None:
        if index in self.indices:
            self.rows.append((index, self._thumb(before), self._thumb(after)))

    def render(self, stills: dict[str, np.ndarray], stream_role: str) -> np.ndarray:
        """Each row: the still inputs (e.g. the source), the footage frame and the result, captioned."""
        still_tiles = []
        for role, rgb in stills.items():
            tile = self._thumb(rgb)
            caption(tile, role)
            still_tiles.append(tile)
        rows = []
        for index, before, after in sorted(self.rows, key=lambda r: r[0]):
            before, after = before.copy(), after.copy()
            caption(before, f"{stream_role} #{index}  {index / self.fps:.2f}s")
            caption(after, "result")
            rows.append(np.hstack([*[t for tile in still_tiles for t in (tile, _gap(self.height))], before,
                                   _gap(self.height), after]))
        return grid(rows, 1)


def _gap(height: int, width: int = 4) -> np.ndarray:
    return np.full((height, width, 3), 24, np.uint8)

"""The texture side of a render, prepared before any warp: what covers the texture's face (ford/occluders.py)
and what its mesh's rim lies over that is not skin, filled from the skin around it in texture space, and
the texture mesh's raster (its z-buffer says which points the texture shows). A track's still source (a
swap's or reenactment's photo) repeats it every frame, so it is kept in the track's state."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property

import cv2
import numpy as np

from ...faces.blend import dilate, fill_holes
from ...faces.colour import ColourTransfer
from ...ford.mesh import NUM_MESH_VERTICES
from ...ford.occluders import Cover, rim_debris
from ...tasks.assemble import AssembledFace
from ..base import TrackState
from .raster import Raster, mesh_triangles, rasterise

DETAIL_SHIFT = 40  # px: where a filled hole borrows its skin grain from (about an eye's height away)


@dataclass(frozen=True)
class Texture:
    """The texture side of a render, which a track's still source repeats every frame: what covers the
    face (`cover`), what of it is filled (`hidden`), the filled crop and the texture mesh's raster."""

    key: bytes
    cover: Cover
    hidden: np.ndarray
    crop: np.ndarray
    raster: Raster

    @cached_property
    def rim_depth(self) -> RimDepth:
        """How deep inside the texture mesh each crop pixel lies, kept with the texture: a turned head asks
        for it every frame (warp.rim_band_pushed_in) and the texture repeats along the track."""
        return RimDepth.of(self.raster)


@dataclass(frozen=True)
class RimDepth:
    """Distance (px) of each crop pixel inside a mesh from its rim, the inward direction of that distance
    (its gradient, smoothed), and the mesh's width."""

    depth: np.ndarray
    gx: np.ndarray
    gy: np.ndarray
    width: float

    @staticmethod
    def of(raster: Raster) -> RimDepth:
        mask = raster.mask().astype(np.uint8)
        depth = cv2.distanceTransform(mask, cv2.DIST_L2, 5)
        smooth = cv2.GaussianBlur(depth, (0, 0), 2.0)
        xs = np.flatnonzero(mask.any(axis=0))
        return RimDepth(depth, cv2.Sobel(smooth, cv2.CV_32F, 1, 0), cv2.Sobel(smooth, cv2.CV_32F, 0, 1),
                        float(xs[-1] - xs[0] + 1) if len(xs) else 0.0)


@dataclass
class TrackMemory:
    """What the geometric renderer keeps along a track (its TrackState.memory): the last frame's prepared
    texture, colour transfer and canvas Cover."""

    texture: Texture | None = None
    colour: ColourTransfer | None = None
    cover: Cover | None = None

    @staticmethod
    def of(state: TrackState) -> TrackMemory:
        if state.memory is None:
            state.memory = TrackMemory()
        memory: TrackMemory = state.memory
        return memory


def prepared_texture(a: AssembledFace, other_identity: bool, hide_hair: bool, state: TrackState) -> Texture:
    """The texture's Texture, from the track's state when it is the same texture as the last frame's (a
    source photo in a swap or reenactment: ~50 ms saved per frame)."""
    h = hashlib.blake2b(digest_size=16)
    for part in (a.texture_landmarks, a.texture_crop[::4, ::4], np.array([other_identity, hide_hair])):
        h.update(np.ascontiguousarray(part).tobytes())
    key = h.digest()
    memory = TrackMemory.of(state)
    cached = memory.texture
    if cached is not None and cached.key == key:
        return cached
    cover = Cover.of(a.texture_crop, a.texture_landmarks, a.texture_masks)
    raster = rasterise(a.texture_landmarks[:NUM_MESH_VERTICES], mesh_triangles())
    hidden = cover.over(with_glasses=other_identity, with_hair=hide_hair) | rim_debris(raster.mask(), a.texture_masks)
    tex = Texture(key, cover, hidden, clean_texture(a.texture_crop, hidden, a.texture_masks), raster)
    memory.texture = tex
    return tex


def clean_texture(crop: np.ndarray, hide: np.ndarray, masks: dict[str, np.ndarray]) -> np.ndarray:
    """The texture crop with what covers its face (`hide`) filled from the skin around it, in texture space
    before any warp, so a donor's hands (or glasses, in a swap) never reach the result. The fill draws on
    skin only: eyes, lashes and brows next to a frame would darken it.

    A smooth fill reads as a smudge next to skin with pores and wrinkles, so the fill gets the fine detail
    (the image minus its blur) of the skin DETAIL_SHIFT px below, or above, where that is visible skin."""
    hole = dilate(hide, 2)
    if not hole.any():
        return crop
    known = ~dilate(masks["eyes"] | masks["brows"], 2) & ~hole
    filled = fill_holes(crop, hole, known).astype(np.float32)
    img = crop.astype(np.float32)
    detail = img - cv2.GaussianBlur(img, (0, 0), 1.5)
    source = masks["skin"] & ~hole
    grain = np.zeros_like(detail)
    todo = hole.copy()
    for shift in (DETAIL_SHIFT, -DETAIL_SHIFT, 2 * DETAIL_SHIFT):
        ok = todo & np.roll(source, -shift, axis=0)
        grain[ok] = np.roll(detail, -shift, axis=0)[ok]
        todo &= ~ok
    return np.clip(filled + grain + 0.5, 0, 255).astype(np.uint8)

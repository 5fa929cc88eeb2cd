"""The mesh in pixels: MediaPipe's triangles rasterised with a z-buffer (every covered pixel's triangle,
barycentrics and depth), points carried from one mesh to another, the mesh's parts and mirror pairs, and
images sampled at a raster's pixels. The renderer works on crops as float sRGB in [0, 1]."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np

from ...core.constants import CROP_SIZE
from ...ford.mesh import REGION_CONTOURS, canonical_mesh

DEPTH_TOLERANCE = 4.0  # px of depth: a texture point this far behind the visible surface is hidden


@dataclass(frozen=True)
class Raster:
    """The destination mesh rasterised: for each covered pixel (flat index `pix`), its triangle `tri` and
    barycentrics `bary` (n, 3) and depth `z` (the z-buffer). Pixel centres sit at integer coordinates, as
    cv2's warps place them."""

    pix: np.ndarray
    tri: np.ndarray
    bary: np.ndarray
    z: np.ndarray
    size: int

    def mask(self, where: np.ndarray | None = None) -> np.ndarray:
        """bool (size, size): the covered pixels (those of them selected by `where`, a bool per pixel)."""
        out = np.zeros(self.size * self.size, bool)
        out[self.pix if where is None else self.pix[where]] = True
        return out.reshape(self.size, self.size)

    def interpolate(self, values: np.ndarray, triangles: np.ndarray) -> np.ndarray:
        """(n, k): per-vertex `values` (468, k) interpolated at every covered pixel."""
        corners = triangles[self.tri]
        return (self.bary[:, :, None] * values[corners]).sum(axis=1)

    def seen(self, xy: np.ndarray, z: np.ndarray) -> np.ndarray:
        """bool (n,): whether points at crop positions `xy` (n, 2) and depths `z` (n,) are the surface this
        raster shows there (within DEPTH_TOLERANCE), not something behind it or off its visible mesh."""
        zbuf = np.full(self.size * self.size, np.inf)
        zbuf[self.pix] = self.z
        ix = np.clip(np.round(xy[:, 0]).astype(np.int64), 0, self.size - 1)
        iy = np.clip(np.round(xy[:, 1]).astype(np.int64), 0, self.size - 1)
        front = zbuf[iy * self.size + ix]
        return np.isfinite(front) & (z <= front + DEPTH_TOLERANCE)

    def image(self, per_pixel: np.ndarray, fill: float) -> np.ndarray:
        """(size, size, k) float32 image of per-pixel values (n, k), `fill` where nothing is covered."""
        out = np.full((self.size * self.size, per_pixel.shape[1]), fill, np.float32)
        out[self.pix] = per_pixel
        return out.reshape(self.size, self.size, -1)


def rasterise(points: np.ndarray, triangles: np.ndarray, size: int = CROP_SIZE) -> Raster:
    """Rasterise the camera-facing `triangles` of `points` (468, 3; crop px, larger z = farther) with a
    per-pixel z-buffer. Vectorised: every triangle's bounding box is enumerated at once, pixels outside
    their triangle are dropped and, per pixel, the nearest triangle is kept."""
    v = np.asarray(points, np.float64)[triangles]  # (t, 3, 3)
    e1, e2 = v[:, 1, :2] - v[:, 0, :2], v[:, 2, :2] - v[:, 0, :2]
    cross = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]  # image axes (y down): < 0 faces the camera
    lo = np.clip(np.ceil(v[:, :, :2].min(axis=1)), 0, size - 1).astype(np.int64)
    hi = np.clip(np.floor(v[:, :, :2].max(axis=1)), 0, size - 1).astype(np.int64)
    ids = np.flatnonzero((cross < -1e-6) & np.all(hi >= lo, axis=1))
    w = hi[ids, 0] - lo[ids, 0] + 1
    count = w * (hi[ids, 1] - lo[ids, 1] + 1)
    t = np.repeat(ids, count)
    k = np.arange(int(count.sum())) - np.repeat(np.cumsum(count) - count, count)
    ww = np.repeat(w, count)
    px = (lo[t, 0] + k % ww).astype(np.float64)
    py = (lo[t, 1] + k // ww).astype(np.float64)
    # barycentrics of (px, py): l1 = cross(p - a, e2) / cross(e1, e2), l2 = cross(e1, p - a) / cross(e1, e2)
    dx, dy = px - v[t, 0, 0], py - v[t, 0, 1]
    inv = 1.0 / cross[t]
    l1 = (dx * e2[t, 1] - dy * e2[t, 0]) * inv
    l2 = (e1[t, 0] * dy - e1[t, 1] * dx) * inv
    l0 = 1.0 - l1 - l2
    inside = (l0 >= -1e-7) & (l1 >= -1e-7) & (l2 >= -1e-7)
    t, l0, l1, l2 = t[inside], l0[inside], l1[inside], l2[inside]
    pix = (py[inside] * size + px[inside]).astype(np.int64)
    z = l0 * v[t, 0, 2] + l1 * v[t, 1, 2] + l2 * v[t, 2, 2]
    order = np.lexsort((z, pix))  # by pixel, nearest first
    first = order[np.r_[True, pix[order][1:] != pix[order][:-1]]]
    bary = np.clip(np.stack([l0[first], l1[first], l2[first]], axis=1), 0.0, 1.0)
    return Raster(pix[first], t[first], bary / bary.sum(axis=1, keepdims=True), z[first], size)


def map_points(points: np.ndarray, src: np.ndarray, dst: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """(n, 2) positions `points` in the source mesh (`src` landmarks) carried to the destination mesh
    (`dst`), through the nearest (in depth) source triangle containing each, or, outside the mesh, the
    affine map of the triangle with the closest centroid."""
    s, d = np.asarray(src, np.float64)[triangles], np.asarray(dst, np.float64)[triangles]
    e1, e2 = s[:, 1, :2] - s[:, 0, :2], s[:, 2, :2] - s[:, 0, :2]
    cross = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]
    ok = np.abs(cross) > 1e-9
    out = []
    for p in np.asarray(points, np.float64)[:, :2]:
        dx, dy = p[0] - s[:, 0, 0], p[1] - s[:, 0, 1]
        safe = np.where(ok, cross, 1.0)
        l1 = (dx * e2[:, 1] - dy * e2[:, 0]) / safe
        l2 = (e1[:, 0] * dy - e1[:, 1] * dx) / safe
        l0 = 1 - l1 - l2
        inside = ok & (l0 >= 0) & (l1 >= 0) & (l2 >= 0)
        if inside.any():
            cand = np.flatnonzero(inside)
            i = cand[np.argmin(s[cand, :, 2].mean(axis=1))]
        else:
            dist = np.where(ok, np.linalg.norm(s[:, :, :2].mean(axis=1) - p, axis=1), np.inf)
            i = int(np.argmin(dist))
        out.append(l0[i] * d[i, 0, :2] + l1[i] * d[i, 1, :2] + l2[i] * d[i, 2, :2])
    return np.array(out)


# ------------------------------------------------------------------------------------------ mesh parts


@functools.lru_cache(maxsize=1)
def mesh_triangles() -> np.ndarray:
    """The canonical mesh's triangles (898, 3)."""
    return canonical_mesh().triangles


@functools.lru_cache(maxsize=1)
def part_triangles() -> dict[str, np.ndarray]:
    """bool (898,) per part: the triangles spanning the mouth opening and each eye opening (all three
    vertices on the part's contour), which a donor other than the texture may have to fill."""
    tri = mesh_triangles()
    return {name: np.all(np.isin(tri, REGION_CONTOURS[contour]), axis=1)
            for name, contour in (("mouth", "lips_inner"), ("right_eye", "right_eye"), ("left_eye", "left_eye"))}


@functools.lru_cache(maxsize=1)
def mirror_pairs() -> np.ndarray:
    """(468,) index of each mesh vertex's mirror partner across the face's midline (itself on the midline):
    the canonical mesh is symmetric about x = 0, so the partner is the nearest vertex to (-x, y, z)."""
    v = canonical_mesh().vertices
    mirrored = v * np.array([-1.0, 1.0, 1.0])
    return np.argmin(np.linalg.norm(mirrored[:, None] - v[None], axis=-1), axis=1)


# -------------------------------------------------------------------------------------------- pixels


def srgb_float(rgb: np.ndarray) -> np.ndarray:
    """float32 sRGB in [0, 1] of a uint8 image."""
    return rgb.astype(np.float32) / 255.0


def to_uint8(img: np.ndarray) -> np.ndarray:
    """uint8 of a float sRGB image in [0, 1], rounded."""
    return np.clip(img * 255.0 + 0.5, 0, 255).astype(np.uint8)


def remap(img: np.ndarray, xy: np.ndarray, raster: Raster, interp: int = cv2.INTER_LINEAR) -> np.ndarray:
    """Sample `img` at per-pixel source positions `xy` (n, 2) of the raster's pixels: (size, size, c)."""
    maps = raster.image(xy, -1.0)
    return cv2.remap(img, maps[..., 0], maps[..., 1], interp, borderMode=cv2.BORDER_REPLICATE)

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
EDGE_TOLERANCE = 1e-7  # a pixel centre is inside a triangle when its three barycentrics reach -this
SPAN_MARGIN = 1e-3  # px a row's computed span is widened by, far above its rounding error
FLAT_EDGE = 1e-6  # an edge closer to horizontal (|dy| / (|dx| + |dy|)) bounds no span: its rows are tested
SAMPLER_WIDTH = 512  # positions to a row of a Sampler's maps
BLOCK = 8192  # pixels a barycentric evaluation takes at a time: fresh memory costs a page fault per 4 KiB


@dataclass(frozen=True)
class Raster:
    """The destination mesh rasterised: for each covered pixel (flat index `pix`), its triangle `tri` and
    barycentrics `bary` (n, 3, float32) and depth `z` (the z-buffer). Pixel centres sit at integer coordinates, as
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
        """(n, k) float32: per-vertex `values` (468, k) interpolated at every covered pixel. Corner by corner,
        each a (n, k) gather (`np.take`: 1.6x faster than fancy indexing here) and multiply-add, without the
        3x temporary of a (n, 3, k) stack; stack the columns of several quantities into one call: the corner
        lookup is shared. float32 halves the memory traffic (7.9 -> 2.5 ms for 75k pixels x 11 columns) and
        is exact to 1e-4 px on 512 px crops."""
        corners = triangles[self.tri]
        values = np.asarray(values, np.float32)
        out = self.bary[:, 0, None] * np.take(values, corners[:, 0], axis=0)
        for k in (1, 2):
            out += self.bary[:, k, None] * np.take(values, corners[:, k], axis=0)
        return out

    def seen(self, xy: np.ndarray, z: np.ndarray) -> np.ndarray:
        """bool (n,): whether points at crop positions `xy` (n, 2) and depths `z` (n,) are the surface this
        raster shows there (within DEPTH_TOLERANCE), not something behind it or off its visible mesh."""
        zbuf = np.full(self.size * self.size, np.inf)
        zbuf[self.pix] = self.z
        ix = np.clip(np.round(xy[:, 0]).astype(np.int64), 0, self.size - 1)
        iy = np.clip(np.round(xy[:, 1]).astype(np.int64), 0, self.size - 1)
        front = zbuf[iy * self.size + ix]
        return np.isfinite(front) & (z <= front + DEPTH_TOLERANCE)

    def box(self, margin: int = 0, of: np.ndarray | None = None) -> tuple[slice, slice]:
        """(rows, cols) slices of the covered pixels' bounding box (those at indices `of` into `pix`, when
        given) grown by `margin` px, clipped to the crop (the whole crop when nothing is covered): a filter
        reaching `margin` px or less, run in it on an image that is `fill` outside the raster, gives at those
        pixels what it gives on the whole crop."""
        if len(self.pix) == 0:
            return slice(0, self.size), slice(0, self.size)
        rows, cols = self.rows_cols
        if of is not None:
            rows, cols = rows[of], cols[of]
        return (slice(max(int(rows.min()) - margin, 0), min(int(rows.max()) + 1 + margin, self.size)),
                slice(max(int(cols.min()) - margin, 0), min(int(cols.max()) + 1 + margin, self.size)))

    def within(self, box: tuple[slice, slice]) -> tuple[np.ndarray, np.ndarray]:
        """(rows, cols) of the covered pixels inside `box` (one of `box`'s): index an image cut to it."""
        rows, cols = self.rows_cols
        return rows - box[0].start, cols - box[1].start

    @functools.cached_property
    def rows_cols(self) -> tuple[np.ndarray, np.ndarray]:
        """(rows, cols) of the covered pixels, worked out once: each sampling and blur of a frame needs them."""
        return np.divmod(self.pix, self.size)

    def image_in(self, box: tuple[slice, slice], per_pixel: np.ndarray, fill: float) -> tuple[np.ndarray, np.ndarray]:
        """`image(per_pixel, fill)[box]` and `mask()[box]`, made only inside the box."""
        rows, cols = self.within(box)
        h, w = box[0].stop - box[0].start, box[1].stop - box[1].start
        keep = np.flatnonzero((rows >= 0) & (rows < h) & (cols >= 0) & (cols < w))
        flat = rows[keep] * w + cols[keep]
        img = np.full((h * w, per_pixel.shape[1]), fill, np.float32)
        img[flat] = per_pixel[keep]
        covered = np.zeros(h * w, bool)
        covered[flat] = True
        return img.reshape(h, w, -1), covered.reshape(h, w)

    def image(self, per_pixel: np.ndarray, fill: float) -> np.ndarray:
        """(size, size, k) float32 image of per-pixel values (n, k), `fill` where nothing is covered."""
        out = np.full((self.size * self.size, per_pixel.shape[1]), fill, np.float32)
        out[self.pix] = per_pixel
        return out.reshape(self.size, self.size, -1)


class _Rows:
    """The rows of every camera-facing triangle's bounding box (clipped to the crop), each with what the
    barycentrics of its pixels need and its span: the first and last pixel of the row inside the triangle
    (first > last: none). The barycentrics are those of the former rasteriser, which tested every
    pixel of every box, operation for operation, so coverage, edge pixels, depth ties and values match it bit
    for bit; only the spans' end pixels are tested, the pixels between them being inside by convexity."""

    def __init__(self, points: np.ndarray, triangles: np.ndarray, size: int) -> None:
        v = np.asarray(points, np.float64)[triangles]  # (t, 3, 3)
        e1, e2 = v[:, 1, :2] - v[:, 0, :2], v[:, 2, :2] - v[:, 0, :2]
        cross = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]  # image axes (y down): < 0 faces the camera
        lo = np.clip(np.ceil(v[:, :, :2].min(axis=1)), 0, size - 1).astype(np.int32)
        hi = np.clip(np.floor(v[:, :, :2].max(axis=1)), 0, size - 1).astype(np.int32)
        self.tri = np.flatnonzero((cross < -1e-6) & np.all(hi >= lo, axis=1))
        v, e1, e2, lo, hi = v[self.tri], e1[self.tri], e2[self.tri], lo[self.tri], hi[self.tri]
        self.x0, self.e1y, self.e2y, self.z = v[:, 0, 0], e1[:, 1], e2[:, 1], v[:, :, 2].T.copy()
        self.inv = 1.0 / cross[self.tri]
        h = hi[:, 1] - lo[:, 1] + 1
        self.t = t = np.repeat(np.arange(len(v), dtype=np.int32), h)  # each row's triangle
        y = _runs(lo[:, 1], h)
        self.base = y * size  # the flat index of the row's pixel 0
        dy = y - v[t, 0, 1]
        self.dy_e2x, self.e1x_dy = dy * e2[t, 0], e1[t, 0] * dy
        # along a row each barycentric is affine in x: its value at x0 plus slope * (x - x0), the slope being
        # its opposite edge's dy over the cross product; the span lies above the rising ones' crossings of
        # -EDGE_TOLERANCE and below the falling ones'
        inv = self.inv[t]
        l1, l2 = -self.dy_e2x * inv, self.e1x_dy * inv
        lower, upper = np.full(len(t), -np.inf), np.full(len(t), np.inf)
        flat = np.zeros(len(v), bool)
        with np.errstate(divide="ignore", invalid="ignore"):
            for at_x0, edge in ((1.0 - l1 - l2, e1 - e2), (l1, e2), (l2, -e1)):
                slope = (edge[:, 1] * self.inv)[t]
                crossing = (-EDGE_TOLERANCE - at_x0) / slope
                flat |= np.abs(edge[:, 1]) < FLAT_EDGE * np.abs(edge).sum(axis=1)
                np.maximum(lower, np.where(slope > 0, crossing, -np.inf), out=lower)
                np.minimum(upper, np.where(slope < 0, crossing, np.inf), out=upper)
        x_lo, x_hi, x0 = lo[t, 0], hi[t, 0], self.x0[t]
        self.first = np.clip(np.ceil(x0 + lower - SPAN_MARGIN), x_lo, x_hi + 1).astype(np.int32)
        self.last = np.clip(np.floor(x0 + upper + SPAN_MARGIN), x_lo - 1, x_hi).astype(np.int32)
        every = np.arange(len(t))
        self.first += ~self.inside(self.first, every)
        self.last -= ~self.inside(self.last, every)
        tested = np.flatnonzero(flat[t])
        if len(tested):  # a nearly horizontal edge's crossing is ill-conditioned: test every pixel of its rows
            width = x_hi[tested] - x_lo[tested] + 1
            x = _runs(x_lo[tested], width)
            ok = self.inside(x, np.repeat(tested, width))
            heads = np.cumsum(width) - width
            self.first[tested] = np.minimum.reduceat(np.where(ok, x, size), heads)
            self.last[tested] = np.maximum.reduceat(np.where(ok, x, -1), heads)

    def surface(self, x: np.ndarray, r: np.ndarray, bary: np.ndarray | None = None,
                z: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Barycentrics (3, n) and depth (n,) of the pixels at columns `x` of rows `r`, into `bary` and `z`
        when given; the one temporary is reused for every gathered factor."""
        bary = np.empty((3, len(x))) if bary is None else bary
        z = np.empty(len(x)) if z is None else z
        l0, l1, l2 = bary
        t = self.t[r]
        dx = np.subtract(x, self.x0[t])
        tmp, inv = np.take(self.e2y, t), np.take(self.inv, t)
        np.multiply(dx, tmp, out=l1)
        l1 -= np.take(self.dy_e2x, r, out=tmp)
        l1 *= inv
        np.multiply(np.take(self.e1y, t, out=tmp), dx, out=l2)
        np.subtract(np.take(self.e1x_dy, r, out=tmp), l2, out=l2)
        l2 *= inv
        np.subtract(1.0, l1, out=l0)
        l0 -= l2
        np.multiply(l0, np.take(self.z[0], t, out=tmp), out=z)
        z += np.multiply(l1, np.take(self.z[1], t, out=tmp), out=tmp)
        z += np.multiply(l2, np.take(self.z[2], t, out=tmp), out=tmp)
        return bary, z

    def inside(self, x: np.ndarray, r: np.ndarray) -> np.ndarray:
        """bool: whether pixel x of row r is inside the row's triangle."""
        l0, l1, l2 = self.surface(x, r)[0]
        return (l0 >= -EDGE_TOLERANCE) & (l1 >= -EDGE_TOLERANCE) & (l2 >= -EDGE_TOLERANCE)

    def nearest(self) -> tuple[np.ndarray, np.ndarray]:
        """The z-buffer: the covered pixels (flat indices, increasing) and the row whose triangle is nearest at
        each. The spans, sorted along the image, are merged where they overlap (shared edge pixels, and where
        a turned nose covers the cheek); only the pixels of merged spans are compared in depth, ties going to
        the lower triangle index as with the former lexsort."""
        r = np.flatnonzero(self.last >= self.first).astype(np.int32)
        if not len(r):
            return np.zeros(0, np.int64), r
        # by start, then triangle; a stable sort (timsort) merges the triangles' runs of rows, already in order
        r = r[np.argsort((self.base[r] + self.first[r]) * len(self.tri) + self.t[r], kind="stable")]
        start, end = self.base[r] + self.first[r], self.base[r] + self.last[r]
        reach = np.maximum.accumulate(end)
        merged = np.flatnonzero(np.r_[True, start[1:] > reach[:-1]])  # the first span of each merged run
        spans = np.diff(np.r_[merged, len(r)])
        length = reach[np.r_[merged[1:], len(r)] - 1] - start[merged] + 1
        pix, row = _runs(start[merged], length), np.repeat(r[merged], length)
        if (spans > 1).any():
            s = np.flatnonzero(np.repeat(spans > 1, spans))
            count = end[s] - start[s] + 1
            p, pr = _runs(start[s], count), np.repeat(r[s], count)
            z = self.surface(p - self.base[pr], pr)[1]
            by_depth = np.lexsort((self.t[pr], z, p))
            ps = p[by_depth]
            win = by_depth[np.r_[True, ps[1:] != ps[:-1]]]
            row[np.searchsorted(pix, p[win])] = pr[win]
        return pix, row


def _runs(first: np.ndarray, length: np.ndarray) -> np.ndarray:
    """int64: first[0], first[0] + 1, ... (length[0] of them), then first[1], ... : one cumsum of steps, where
    arange + repeat would take two more temporaries of its size."""
    first, length = first[length > 0], length[length > 0]
    steps = np.ones(int(length.sum()), np.int64)
    if len(steps):
        steps[0] = first[0]
        steps[(np.cumsum(length) - length)[1:]] = first[1:] - first[:-1] - length[:-1] + 1
    return np.cumsum(steps, out=steps)


def rasterise(points: np.ndarray, triangles: np.ndarray, size: int = CROP_SIZE) -> Raster:
    """Rasterise the camera-facing `triangles` of `points` (468, 3; crop px, larger z = farther) with a
    per-pixel z-buffer. Vectorised over rows: each triangle's rows are cut to the span it covers, the spans
    sorted along the image, and depth compared only where spans overlap (benchmarks/raster.py: 3x faster
    than enumerating every triangle's bounding box and lexsorting all its pixels, with identical results).
    Hand-written because no library at hand does it: OpenCV fills polygons with its own edge rule and
    neither depth nor barycentrics, and a per-triangle Python loop over 898 triangles costs more than this."""
    rows = _Rows(points, triangles, size)
    pix, row = rows.nearest()
    bary, z = np.empty((len(pix), 3)), np.empty(len(pix))
    for b in range(0, len(pix), BLOCK):  # in blocks, so that the temporaries reuse the same memory
        r, block = row[b:b + BLOCK], bary[b:b + BLOCK].T
        rows.surface(pix[b:b + BLOCK] - rows.base[r], r, block, z[b:b + BLOCK])
        np.clip(block, 0.0, 1.0, out=block)
        block /= block[0] + block[1] + block[2]
    return Raster(pix, rows.tri[rows.t][row], bary.astype(np.float32), z, size)


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


class Sampler:
    """Images sampled at per-pixel source positions `xy` (n, 2), (n, c) or (n,): one cv2.remap whose
    destination is the n positions laid out row after row (SAMPLER_WIDTH to a row; cv2 takes at most 32767
    columns), with the maps built once for every image sampled at the same positions. Each output pixel
    depends only on its own map entry, so the values equal a remap over the crop read at the positions, while
    no image-sized map is filled and no result gathered back (6x faster on 75k pixels)."""

    def __init__(self, xy: np.ndarray) -> None:
        self.n = len(xy)
        rows = max(-(-self.n // SAMPLER_WIDTH), 1)
        maps = np.full((2, rows * SAMPLER_WIDTH), -1.0, np.float32)
        maps[:, :self.n] = xy[:, :2].T
        self.maps = maps.reshape(2, rows, SAMPLER_WIDTH)

    def __call__(self, img: np.ndarray, interp: int = cv2.INTER_LINEAR) -> np.ndarray:
        out = cv2.remap(img, self.maps[0], self.maps[1], interp, borderMode=cv2.BORDER_REPLICATE)
        return out.reshape(-1, *img.shape[2:])[:self.n]

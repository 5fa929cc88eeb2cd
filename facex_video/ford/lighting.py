"""Second-order spherical-harmonic lighting of a face (docs/design.md §2), fitted on skin pixels against
the normals of MediaPipe's face mesh.

Normal frame (the camera's, as the viewer sees the crop): x to the image's right, y up, z toward the camera.
MediaPipe's landmarks have y down and z away from the camera (smaller z = closer), so a landmark (x, y, z)
is the point (x, -y, -z) here; that is a rotation, so the mesh keeps its orientation.

Model: a skin pixel's linear RGB = sum_k sh[k, c] * Y_k(n) for its normal n (Lambertian skin under distant
light, Ramamoorthi & Hanrahan 2001). The nine coefficients per channel fold in the albedo and the clamped-
cosine convolution: the incoming radiance is L_lm = sh_lm / (albedo * A_l), A_0 = pi, A_1 = 2 pi / 3,
A_2 = pi / 4. Basis order (real SH, l <= 2): Y00; Y1-1 (y), Y10 (z), Y11 (x); Y2-2 (xy), Y2-1 (yz),
Y20 (3z^2 - 1), Y21 (xz), Y22 (x^2 - y^2). So sh[1:4] is the linear term along (y, z, x): `light_direction`
turns it into the (x, y, z) direction the light comes from.
"""

from __future__ import annotations

import functools

import cv2
import numpy as np

from ..core.constants import CROP_SIZE
from .mesh import NUM_MESH_VERTICES, canonical_mesh

# Real spherical-harmonic normalisation constants for l <= 2
SH_C0 = 0.5 / np.sqrt(np.pi)  # 0.282095
SH_C1 = np.sqrt(3.0) / (2.0 * np.sqrt(np.pi))  # 0.488603
SH_C2 = np.sqrt(15.0) / (2.0 * np.sqrt(np.pi))  # 1.092548
SH_C3 = np.sqrt(5.0) / (4.0 * np.sqrt(np.pi))  # 0.315392
SH_C4 = np.sqrt(15.0) / (4.0 * np.sqrt(np.pi))  # 0.546274
NOSE_TIP = 1
HUBER_K = 1.345  # Huber's constant: 95% efficiency on Gaussian residuals
SECOND_ORDER_RIDGE = 0.03  # see fit_sh
MAX_FIT_PIXELS = 10000  # skin pixels used by the fit (a regular subsample): more adds time, not accuracy


def srgb_to_linear(rgb: np.ndarray) -> np.ndarray:
    """sRGB (uint8, or float in [0, 1]) -> linear RGB float64 in [0, 1] (IEC 61966-2-1)."""
    c = np.asarray(rgb, np.float64)
    if np.asarray(rgb).dtype == np.uint8:
        c = c / 255.0
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(linear: np.ndarray) -> np.ndarray:
    """Linear RGB (clipped to [0, 1]) -> sRGB uint8. float32 input is converted in float32 (~7x faster on
    the renderer's ~10^5 pixels; its rounding error, ~1e-5 of a level, flips a level only at a tie)."""
    c = np.asarray(linear)
    c = np.clip(c if c.dtype == np.float32 else c.astype(np.float64), 0.0, 1.0)
    s = np.where(c <= 0.0031308, c * 12.92, 1.055 * c ** (1 / 2.4) - 0.055)
    return np.round(s * 255.0).astype(np.uint8)


def sh_basis(normals: np.ndarray) -> np.ndarray:
    """(..., 3) unit normals (x right, y up, z toward the camera) -> (..., 9) real SH basis values."""
    n = np.asarray(normals, np.float64)
    x, y, z = n[..., 0], n[..., 1], n[..., 2]
    return np.stack(
        [
            np.full_like(x, SH_C0),
            SH_C1 * y, SH_C1 * z, SH_C1 * x,
            SH_C2 * x * y, SH_C2 * y * z, SH_C3 * (3 * z * z - 1), SH_C2 * x * z, SH_C4 * (x * x - y * y),
        ],
        axis=-1,
    )


def shade(normals: np.ndarray, sh: np.ndarray) -> np.ndarray:
    """Linear RGB (..., 3) of unit `normals` (..., 3) under `sh` (9, 3): a preview of the fitted light."""
    return sh_basis(normals) @ np.asarray(sh, np.float64)


def light_direction(sh: np.ndarray) -> np.ndarray:
    """(3,) unit (x, y, z) direction the light comes from: the first-order coefficients, averaged over the
    channels (zero vector when there is none)."""
    first = np.asarray(sh, np.float64)[1:4].mean(axis=1)  # along y, z, x
    v = np.array([first[2], first[0], first[1]])
    norm = np.linalg.norm(v)
    return v / norm if norm > 0 else v


def _points(landmarks_crop: np.ndarray) -> np.ndarray:
    """Mesh vertices 0..467 in the normal frame: (x, -y, -z), all on the crop's pixel scale."""
    return np.asarray(landmarks_crop, np.float64)[:NUM_MESH_VERTICES] * [1.0, -1.0, -1.0]


def _vertex_normals(points: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Area-weighted vertex normals (468, 3), unit length (zero for a vertex on no triangle)."""
    v = points[triangles]
    face = np.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0])  # length = twice the area
    acc = np.zeros_like(points)
    for k in range(3):
        np.add.at(acc, triangles[:, k], face)
    norm = np.linalg.norm(acc, axis=1, keepdims=True)
    return np.divide(acc, norm, out=np.zeros_like(acc), where=norm > 0)


@functools.lru_cache(maxsize=1)
def oriented_triangles() -> np.ndarray:
    """The mesh's triangles (898, 3), wound so that normals point out of the face: checked once on the
    canonical mesh (already in the x right, y up, z toward the camera frame), where the nose tip's normal
    must point toward the camera."""
    mesh = canonical_mesh()
    tri = mesh.triangles.copy()
    if _vertex_normals(mesh.vertices, tri)[NOSE_TIP, 2] < 0:
        tri = tri[:, [0, 2, 1]]
    return tri


def vertex_normals(landmarks_crop: np.ndarray) -> np.ndarray:
    """(468, 3) unit normals of the face mesh in the normal frame, from (478, 3) crop landmarks."""
    return _vertex_normals(_points(landmarks_crop), oriented_triangles())


def normal_map(landmarks_crop: np.ndarray, size: int = CROP_SIZE) -> np.ndarray:
    """(size, size, 3) float32 unit normals of the face mesh at every crop pixel it covers, zero elsewhere
    (`mesh_normals`)."""
    ids = _triangle_ids(landmarks_crop, size)
    pix = np.flatnonzero(ids >= 0)
    out = np.zeros((size * size, 3), np.float32)
    out[pix] = mesh_normals(landmarks_crop, ids, pix)
    return out.reshape(size, size, 3)


def _triangle_ids(landmarks_crop: np.ndarray, size: int) -> np.ndarray:
    """int32 (size, size): the camera-facing triangle (oriented_triangles index) covering each crop pixel,
    -1 where none does. cv2 fills each triangle's index (sub-pixel vertices; pixel centres at integer
    coordinates, as cv2's warps place them), nearest last: where triangles overlap (a turned head's nose over
    its far cheek) the nearer one wins, painter's style, which is exact enough for triangles this small."""
    v = _points(landmarks_crop)[oriented_triangles()]  # (t, 3, 3)
    e1, e2 = v[:, 1, :2] - v[:, 0, :2], v[:, 2, :2] - v[:, 0, :2]
    det = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]  # > 0: faces the camera (y is up here)
    front = np.flatnonzero(det > 1e-9)
    ids = np.full((size, size), -1, np.int32)
    corners = np.round(v[:, :, :2] * [1.0, -1.0] * 16).astype(np.int32)  # image (col, row), 4 fraction bits
    for t in front[np.argsort(v[front, :, 2].mean(axis=1))]:  # far to near
        cv2.fillConvexPoly(ids, corners[t], int(t), cv2.LINE_8, 4)
    return ids


def mesh_normals(landmarks_crop: np.ndarray, ids: np.ndarray, pix: np.ndarray) -> np.ndarray:
    """(n, 3) unit normals of the face mesh at the flat crop pixels `pix` (covered in `ids`, _triangle_ids):
    each pixel interpolates its triangle's vertex normals barycentrically. Only the pixels asked for are
    evaluated (the SH fit uses ~10k of the ~150k the mesh covers)."""
    p = _points(landmarks_crop)
    tri = oriented_triangles()
    normals = _vertex_normals(p, tri)
    v = p[tri]
    e1, e2 = v[:, 1, :2] - v[:, 0, :2], v[:, 2, :2] - v[:, 0, :2]
    det = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]
    size = ids.shape[1]
    t = ids.ravel()[pix]
    # barycentrics as per-triangle affine functions of the pixel (col, row): l = a col + b row + c
    inv = 1.0 / np.where(det > 1e-9, det, 1.0)
    a1, b1 = e2[:, 1] * inv, e2[:, 0] * inv
    a2, b2 = -e1[:, 1] * inv, -e1[:, 0] * inv
    c1 = -(a1 * v[:, 0, 0] - b1 * v[:, 0, 1])
    c2 = -(a2 * v[:, 0, 0] - b2 * v[:, 0, 1])
    col, row = (pix % size).astype(np.float64), (pix // size).astype(np.float64)
    l1 = a1[t] * col + b1[t] * row + c1[t]
    l2 = a2[t] * col + b2[t] * row + c2[t]
    # cv2 also fills pixels whose centre lies just outside the triangle: clamp them onto it
    l1, l2 = np.clip(l1, 0.0, 1.0), np.clip(l2, 0.0, 1.0)
    over = np.maximum(l1 + l2, 1.0)
    l1, l2 = (l1 / over)[:, None], (l2 / over)[:, None]
    n0 = normals[tri[:, 0]]
    n = n0[t] + l1 * (normals[tri[:, 1]] - n0)[t] + l2 * (normals[tri[:, 2]] - n0)[t]
    n /= np.maximum(np.sqrt(n[:, 0] ** 2 + n[:, 1] ** 2 + n[:, 2] ** 2), 1e-12)[:, None]
    return n.astype(np.float32)


def fit_sh(normals: np.ndarray, rgb_linear: np.ndarray, ridge: float = SECOND_ORDER_RIDGE,
           iterations: int = 4) -> np.ndarray:
    """(9, 3) coefficients with rgb_linear (n, 3) ~ sh_basis(normals (n, 3)) @ sh.

    Least squares made robust with Huber weights (iteratively reweighted on each pixel's relative residual,
    averaged over channels), so specular highlights and cast shadows, which a Lambertian model cannot
    explain, weigh less. Relative, because albedo and light scale a pixel's error with its brightness: an
    absolute residual would trust a face's dark side more than its lit side and bias the light direction.

    `ridge` pulls the five second-order coefficients toward zero (weight ridge * sum of weights): a face's
    normals fill only part of a hemisphere, where 1, z and 3z^2 - 1 are nearly collinear, and an
    unregularised fit trades them off wildly; ridge=0 is the plain (robust) least squares.
    """
    basis = sh_basis(normals)
    basis_t = np.ascontiguousarray(basis.T)
    y = np.asarray(rgb_linear, np.float64)
    penalty = np.diag([0.0] * 4 + [1.0] * 5)
    weights = np.ones(len(y))
    sh = np.zeros((9, 3))
    for _ in range(iterations):
        bw = basis_t * weights
        sh = np.linalg.solve(bw @ basis + ridge * weights.sum() * penalty, bw @ y)
        pred = basis @ sh
        r = np.abs(((y - pred) / np.maximum(np.abs(pred), 1e-3)) @ np.full(3, 1 / 3))
        scale = max(1.4826 * float(np.median(r)), 1e-9)
        weights = np.minimum(1.0, HUBER_K * scale / np.maximum(r, 1e-12))
    return sh


def fit_sh_lighting(crop: np.ndarray, landmarks_crop: np.ndarray, skin_mask: np.ndarray) -> np.ndarray:
    """(9, 3) SH lighting of one face (albedo folded in) in linear RGB in [0, 1], fitted on the skin pixels
    the mesh covers (about MAX_FIT_PIXELS of them, evenly subsampled).

    crop: (512, 512, 3) sRGB uint8; skin_mask: (512, 512) bool (regions.region_masks' "skin"). Clipped
    pixels (a channel at 255, or all at 0) are left out: their value says nothing about the light. With too
    few pixels for nine coefficients (fewer than 90) only the ambient term is fitted; with none the result
    is zero.
    """
    idx = np.flatnonzero(skin_mask)
    idx = idx[:: max(1, len(idx) // MAX_FIT_PIXELS)]
    ids = _triangle_ids(landmarks_crop, crop.shape[0])
    covered = ids.ravel()[idx] >= 0
    n = np.zeros((len(idx), 3))
    n[covered] = mesh_normals(landmarks_crop, ids, idx[covered])
    px = crop.reshape(-1, 3)[idx]
    top = np.maximum(np.maximum(px[:, 0], px[:, 1]), px[:, 2])
    keep = ((n * n).sum(axis=1) > 0.5) & (top < 255) & (top > 0)
    rgb, n = srgb_to_linear(px[keep]), n[keep]
    sh = np.zeros((9, 3))
    if len(n) >= 90:
        sh = fit_sh(n, rgb)
    elif len(n):
        sh[0] = rgb.mean(axis=0) / SH_C0
    return sh


def render_sphere(sh: np.ndarray, size: int = 64) -> np.ndarray:
    """(size, size, 3) sRGB uint8 picture of a sphere lit by `sh`, seen from the camera (black around it):
    for contact sheets next to the face it was fitted on."""
    u = (np.arange(size) + 0.5) / size * 2 - 1
    x, y = np.meshgrid(u, -u)
    r2 = x * x + y * y
    inside = r2 < 1
    n = np.stack([x, y, np.sqrt(np.clip(1 - r2, 0, None))], axis=-1)
    out = linear_to_srgb(shade(n, sh))
    out[~inside] = 0
    return out

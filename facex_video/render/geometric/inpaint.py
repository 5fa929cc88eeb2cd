"""inpaint: the masked area regenerated from the face's mirror image (MediaPipe's mesh is symmetric: each
vertex has a mirror partner); what the mirror cannot supply is inpainted, and a Poisson blend joins it to
the canvas. Outside the mask the crop is the canvas, bit for bit."""

from __future__ import annotations

import cv2
import numpy as np

from ...core.constants import CROP_SIZE
from ...faces.blend import poisson_blend
from ...ford.mesh import NUM_MESH_VERTICES
from ...ford.regions import disc
from ...tasks.assemble import AssembledFace
from .raster import Sampler, mesh_triangles, mirror_pairs, rasterise


def render_inpaint(a: AssembledFace) -> tuple[np.ndarray, np.ndarray]:
    """inpaint: the masked area from the face's mirror image (texture = the canvas face, mirrored across
    its mesh's midline), the rest by cv2.inpaint, joined by a Poisson blend; the canvas outside the mask."""
    canvas = a.canvas_crop
    mask = np.zeros((CROP_SIZE, CROP_SIZE), bool) if a.inpaint_mask is None else np.asarray(a.inpaint_mask, bool)
    if not mask.any():
        return canvas.copy(), np.zeros((CROP_SIZE, CROP_SIZE), np.float32)
    tri = mesh_triangles()
    dst = np.asarray(a.landmarks, np.float64)[:NUM_MESH_VERTICES]
    raster = rasterise(dst, tri)
    mirrored = a.texture_landmarks[mirror_pairs(), :2]
    src_xy = raster.interpolate(mirrored, tri)
    at = Sampler(src_xy)
    use = (at(mask.astype(np.uint8), cv2.INTER_NEAREST) == 0) & mask.reshape(-1)[raster.pix]
    usable = raster.mask(use)
    filled = canvas.copy()
    filled.reshape(-1, 3)[raster.pix[use]] = at(a.texture_crop)[use]
    rest = (mask & ~usable).astype(np.uint8)
    if rest.any():
        filled = cv2.inpaint(filled, cv2.dilate(rest, disc(3)) & mask.astype(np.uint8), 5, cv2.INPAINT_TELEA)
    blended = poisson_blend(filled, canvas, mask)
    crop = canvas.copy()
    crop[mask] = blended[mask]
    return crop, mask.astype(np.float32)

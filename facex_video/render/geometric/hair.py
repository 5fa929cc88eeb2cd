"""Hair carried from the texture by a similarity: headswap (and reenact) carry the texture's hair and
forehead, hairswap only its hair; both fill the canvas hair the new hair does not cover from the
background around it."""

from __future__ import annotations

import cv2
import numpy as np

from ...core.constants import CROP_SIZE
from ...faces.align import similarity_transform
from ...faces.blend import blurred_mask, dilate, erode, fill_holes, laplacian_blend
from ...ford.mesh import canonical_mesh
from ...ford.regions import disc
from ...tasks.assemble import AssembledFace
from .raster import srgb_float, to_uint8


def _head_region(masks: dict[str, np.ndarray]) -> np.ndarray:
    """Face oval, hair and the forehead between them (holes filled): the head a headswap carries."""
    head = (masks["face_oval"] | masks["hair"]).astype(np.uint8)
    head = np.asarray(cv2.morphologyEx(head, cv2.MORPH_CLOSE, disc(15)), np.uint8)  # uint8 in, uint8 out
    filled = head.copy()
    ff = np.zeros((CROP_SIZE + 2, CROP_SIZE + 2), np.uint8)
    cv2.floodFill(filled, ff, (0, 0), 1)
    return (head | (1 - filled)) > 0


def head_similarity(a: AssembledFace) -> np.ndarray:
    """2x3 similarity from the texture crop to the canvas crop, fitted on the rigid core of the face."""
    ids = canonical_mesh().procrustes_ids
    return similarity_transform(a.texture_landmarks[ids, :2], a.landmarks[ids, :2])


def carry_head(a: AssembledFace) -> tuple[np.ndarray, np.ndarray]:
    """The texture's head (hair and upper forehead) moved onto the assembled face by a similarity: the
    layer (float RGB) and its weight, for headswap and reenact, whose hair comes from the texture."""
    m = head_similarity(a)
    tex = cv2.warpAffine(a.texture_crop, m, (CROP_SIZE, CROP_SIZE), flags=cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_REPLICATE)
    head = cv2.warpAffine(_head_region(a.texture_masks).astype(np.uint8), m, (CROP_SIZE, CROP_SIZE),
                          flags=cv2.INTER_NEAREST) > 0
    return srgb_float(tex), blurred_mask(erode(head, 2), 2.0)


def bald_canvas(a: AssembledFace, new_head: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The canvas (float RGB) with its hair where `new_head` does not cover it filled from the background
    around it, and that filled area: a donor's shorter hair must not leave the canvas's showing. The fill
    is smooth (push-pull), a plausible blur of wall or sky, never a scene it cannot see."""
    gap = dilate(a.canvas_masks["hair"], 3) & ~new_head & ~a.canvas_masks["face_oval"]
    canvas = srgb_float(a.canvas_crop)
    if not gap.any():
        return canvas, gap
    known = a.canvas_masks["background"] & ~dilate(a.canvas_masks["hair"], 6)
    return fill_holes(canvas, gap, known), gap


def render_hair(a: AssembledFace) -> tuple[np.ndarray, np.ndarray]:
    """hairswap: the texture's hair, moved by a similarity, over the canvas, whose own hair beyond it is
    filled from the background; the canvas face untouched."""
    m = head_similarity(a)
    tex = cv2.warpAffine(a.texture_crop, m, (CROP_SIZE, CROP_SIZE), flags=cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_REPLICATE)
    hair = cv2.warpAffine(a.texture_masks["hair"].astype(np.uint8), m, (CROP_SIZE, CROP_SIZE),
                          flags=cv2.INTER_NEAREST) > 0
    keep = dilate(a.canvas_masks["face_oval"] & ~a.canvas_masks["hair"], 2)
    weight = blurred_mask(hair & ~keep, 2.0)
    weight[keep] = 0.0
    base, gap = bald_canvas(a, hair)
    out = laplacian_blend(srgb_float(tex), base, weight, levels=4)
    alpha = np.maximum(np.clip(blurred_mask(weight, 4.0) * 2.0, 0, 1), blurred_mask(dilate(gap, 3), 2.0))
    alpha[keep] = 0.0
    canvas = srgb_float(a.canvas_crop)
    return to_uint8(canvas + alpha[..., None] * (out - canvas)), alpha

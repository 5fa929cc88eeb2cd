"""Step 2's light: the warped texture relit by the ratio, in linear RGB, of its SH shading under the target
lighting at the assembled normal to that under the texture's own lighting at its own normal."""

from __future__ import annotations

import numpy as np

from ...ford.lighting import linear_to_srgb, shade

SHADING_RATIO = (0.6, 1.6)  # clamp of the relighting ratio: SH fits extrapolate badly at grazing normals
STRETCHED = (0.5, 0.15)  # texture area per result area under which a warped pixel is blurred, fully at the second
_LINEAR = ((np.arange(256) / 255.0 + 0.055) / 1.055) ** 2.4
_LINEAR = np.where(np.arange(256) / 255.0 <= 0.04045, np.arange(256) / 255.0 / 12.92, _LINEAR).astype(np.float32)


def vertex_luminance(normals: np.ndarray, sh: np.ndarray) -> np.ndarray:
    """(468,) luminance of the SH shading at each vertex normal (468, 3): evaluated at the vertices and then
    interpolated (`face_shading`), as SH shading is smooth and 468 evaluations cost nothing next to one per
    pixel."""
    return shade(normals, sh) @ np.array([0.2126, 0.7152, 0.0722])


def face_shading(luminance: np.ndarray) -> np.ndarray:
    """(n,) the interpolated `vertex_luminance` of each covered pixel over its mean on the face, floored at
    0.2 (grazing normals extrapolate the fit to nonsense)."""
    return np.maximum(luminance / max(float(luminance.mean()), 1e-6), 0.2)


def relight(texture: np.ndarray, shading_src: np.ndarray, shading_dst: np.ndarray, detail: np.ndarray) -> np.ndarray:
    """(n, 3) float32 sRGB in [0, 1]: texture pixels (n, 3 uint8) times the ratio, in linear RGB, of their
    shading under the target light at the new normal to that under the texture's light at the old normal.

    The ratio is one of luminances, each divided by its mean over the face (`shading`): the SH coefficients
    fold in the skin's albedo, and a per-channel raw ratio would paint the canvas's skin colour over the
    texture (the colour step matches skin tone instead); a dim channel's fit (blue, on warm skin under warm
    light) also swings through zero, where a per-channel ratio explodes. Where the texture is stretched
    (`detail` under STRETCHED[0]) the ratio fades toward 1: it rests on a normal the texture saw at a grazing
    angle, where the SH fit is least sure (it brightened the far side of a turned donor's nose, already lit
    by a highlight, drawn across a frontal face)."""
    lin = _LINEAR[texture]
    # no channel may pass white: clipping one channel of a brightened pixel would shift its hue
    trust = np.clip(detail / STRETCHED[0], 0.0, 1.0)
    ratio = np.clip(shading_dst / shading_src, *SHADING_RATIO) ** trust
    brightest = np.maximum(np.maximum(lin[:, 0], lin[:, 1]), lin[:, 2])  # numpy's max(axis=1) is ~10x slower
    ratio = np.minimum(ratio, 1.0 / np.maximum(brightest, 1e-3)).astype(np.float32)[:, None]
    return linear_to_srgb(lin * ratio).astype(np.float32) / 255.0

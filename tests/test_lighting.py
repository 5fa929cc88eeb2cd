"""FORD lighting (ford/lighting.py): the SH basis on synthetic spheres, the mesh's normals, and the fit on a
real photo relit with a known light."""

from __future__ import annotations

import numpy as np
import pytest

from facex_video.faces.align import alignment_matrix, crop_face
from facex_video.ford.lighting import (
    SH_C0,
    SH_C1,
    fit_sh,
    fit_sh_lighting,
    light_direction,
    linear_to_srgb,
    normal_map,
    render_sphere,
    sh_basis,
    shade,
    srgb_to_linear,
    vertex_normals,
)
from facex_video.ford.regions import landmarks_to_crop, region_masks


@pytest.fixture(scope="module")
def astronaut_face(analyzer, astronaut):
    (face,) = analyzer.analyze(astronaut)
    m = alignment_matrix(face.five_points())
    return crop_face(astronaut, m), landmarks_to_crop(face.landmarks, m)


def fibonacci_sphere(n: int) -> np.ndarray:
    """n nearly uniform unit vectors."""
    i = np.arange(n) + 0.5
    z = 1 - 2 * i / n
    phi = np.pi * (1 + 5**0.5) * i
    r = np.sqrt(1 - z * z)
    return np.stack([r * np.cos(phi), r * np.sin(phi), z], axis=1)


def test_sh_basis_is_orthonormal_over_the_sphere():
    b = sh_basis(fibonacci_sphere(200_000))
    gram = 4 * np.pi * b.T @ b / len(b)
    np.testing.assert_allclose(gram, np.eye(9), atol=1e-3)


def test_fit_recovers_known_coefficients_on_a_hemisphere():
    normals = fibonacci_sphere(20_000)
    normals = normals[normals[:, 2] > 0]  # what a camera sees of a sphere
    sh = np.random.default_rng(1).normal(size=(9, 3))
    sh[0] += 3.0  # keep the radiance positive, as real light is
    rgb = shade(normals, sh)
    np.testing.assert_allclose(fit_sh(normals, rgb, ridge=0.0), sh, atol=1e-6)


def test_srgb_round_trip():
    v = np.arange(256, dtype=np.uint8)
    assert np.array_equal(linear_to_srgb(srgb_to_linear(v)), v)


def test_render_sphere_is_lit_from_the_light_side():
    sh = np.zeros((9, 3))
    sh[0], sh[3] = 0.5 / SH_C0, -0.4 / SH_C1  # ambient plus light from the image's left (-x)
    img = render_sphere(sh, 64)
    assert img.shape == (64, 64, 3) and img.dtype == np.uint8
    assert img[32, 8].mean() > img[32, 56].mean() + 50
    assert (img[0, 0] == 0).all()  # outside the sphere
    np.testing.assert_allclose(light_direction(sh), [-1, 0, 0], atol=1e-12)


def test_mesh_normals_face_out_of_the_head(astronaut_face):
    _, lm = astronaut_face
    n = vertex_normals(lm)
    np.testing.assert_allclose(np.linalg.norm(n, axis=1), 1, atol=1e-9)
    assert n[1, 2] > 0.7  # nose tip: toward the camera
    assert n[234, 0] < -0.5 and n[454, 0] > 0.5  # cheek edges: image left, image right
    assert n[152, 1] < -0.5 and n[10, 1] > n[152, 1] + 0.5  # chin down, forehead (mid-height) above it


def test_normal_map_covers_the_face_oval(astronaut_face):
    crop, lm = astronaut_face
    nm = normal_map(lm)
    covered = (nm**2).sum(axis=-1) > 0
    oval = region_masks(crop, lm)["face_oval"]
    assert covered[oval].mean() > 0.98 and covered[~oval].mean() < 0.01
    np.testing.assert_allclose(np.linalg.norm(nm[covered], axis=1), 1, atol=1e-5)


def test_fitted_light_on_the_photo_is_plausible(astronaut_face):
    crop, lm = astronaut_face
    sh = fit_sh_lighting(crop, lm, region_masks(crop, lm)["skin"])
    assert sh.shape == (9, 3)
    frontal = shade(np.array([0.0, 0.0, 1.0]), sh)  # a skin patch facing the camera
    assert 0.05 < frontal[2] < frontal[1] < frontal[0] < 1  # skin reflects more red than green than blue
    assert light_direction(sh)[2] > 0.5  # a portrait is lit from the camera's side


@pytest.mark.parametrize("light", [(-1.0, 0.0, 0.0), (0.0, 1.0, 0.0)], ids=["from_left", "from_above"])
def test_fit_finds_an_added_light(astronaut_face, light):
    """Relight the photo with a known light (shading 1 + 0.5 l.n, in linear RGB, from the same normal map)
    and compare the fits: the photo's own light cancels in their difference. The photo is first taken down
    to 60% exposure so that the relit one does not clip."""
    crop, lm = astronaut_face
    nm = normal_map(lm)
    base = srgb_to_linear(crop) * 0.6
    original = linear_to_srgb(base)
    shading = np.where((nm**2).sum(axis=-1) > 0, 1 + 0.5 * (nm @ np.array(light)), 1.0)
    relit = linear_to_srgb(base * shading[..., None])
    skin = region_masks(original, lm)["skin"]  # one region for both fits: this tests the light, not masks
    delta = fit_sh_lighting(relit, lm, skin) - fit_sh_lighting(original, lm, skin)
    cosine = float(light_direction(delta) @ np.array(light))
    assert cosine >= 0.9, (cosine, light_direction(delta))

"""The geometric renderer on real photos analysed by FORD: identity after a swap, what must stay the canvas's,
seams, inpainting and glasses, measured on the rendered crops and on the frames they are pasted into."""

from __future__ import annotations

import time

import cv2
import numpy as np
import pytest

from facex_video.eval.metrics import identity_distance, psnr, psnr_outside
from facex_video.faces.align import invert, paste_face
from facex_video.faces.colour import match_shading
from facex_video.ford.mesh import REGION_CONTOURS, canonical_mesh
from facex_video.ford.regions import polygon_mask
from facex_video.media import write_image
from facex_video.render.base import TrackState
from facex_video.render.geometric import GeometricRenderer, mirror_pairs, rasterise
from facex_video.tasks.assemble import Edits, FaceInput, assemble


def _assemble(task: str, canvas: FaceInput, identity: FaceInput, **kw):
    rep = canvas.rep
    return assemble(task, canvas=canvas, identity=identity, expression=rep, pose=rep, gaze=rep, lighting=rep, **kw)


def _render(a) -> tuple[np.ndarray, np.ndarray]:
    crop, alpha = GeometricRenderer().render(a, TrackState(track_id=0))
    assert crop.shape == (512, 512, 3) and crop.dtype == np.uint8
    assert alpha.shape == (512, 512) and alpha.dtype == np.float32
    assert 0.0 <= alpha.min() and alpha.max() <= 1.0
    return crop, alpha


@pytest.fixture(scope="module")
def swaps(faces) -> dict[str, tuple]:
    """name -> (canvas, identity, assembled, crop, alpha, pasted frame, ms to render)."""
    out = {}
    for name, canvas, identity in [("astronaut->grace", faces["grace"], faces["astronaut"]),
                                   ("grace->astronaut", faces["astronaut"], faces["grace"])]:
        a = _assemble("swap", canvas, identity)
        t0 = time.perf_counter()
        crop, alpha = _render(a)
        ms = 1000 * (time.perf_counter() - t0)
        frame = paste_face(canvas.rgb.copy(), crop, a.crop_transform, alpha)
        write_image(f"/tmp/geometric_{name.replace('->', '_to_')}.png",
                    np.hstack([identity.crop(), canvas.crop(), crop]))
        out[name] = (canvas, identity, a, crop, alpha, frame, ms)
    return out


def test_rasteriser_covers_the_mesh_once_and_hides_what_the_nose_covers(faces):
    lm = faces["astronaut"].landmarks_crop()
    raster = rasterise(lm[:468], canonical_mesh().triangles)
    assert len(np.unique(raster.pix)) == len(raster.pix)
    oval = polygon_mask(lm[list(REGION_CONTOURS["face_oval"])])
    grown = cv2.dilate(oval.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0  # polygon edge rounding
    assert raster.mask()[oval].mean() > 0.97 and not raster.mask()[~grown].any()
    np.testing.assert_allclose(raster.bary.sum(axis=1), 1.0, rtol=1e-6)  # float32
    # turned 60 degrees, the far cheek slides behind the nose: fewer pixels, each from the nearest triangle
    a = _assemble("edit", faces["astronaut"], faces["astronaut"], edits=Edits(yaw=60))
    turned = rasterise(a.landmarks[:468], canonical_mesh().triangles)
    assert len(turned.pix) < 0.9 * len(raster.pix)


def test_mirror_pairs_are_an_involution_that_keeps_the_midline():
    pairs = mirror_pairs()
    assert np.array_equal(pairs[pairs], np.arange(468))
    assert pairs[1] == 1 and pairs[33] == 263 and pairs[61] == 291  # nose tip; eye and mouth corners


@pytest.mark.parametrize("name", ["astronaut", "grace"])
def test_a_face_assembled_from_itself_renders_back_the_canvas(faces, name):
    """The warp, relight and blend path, given the canvas's own face in its own shape, draws the canvas."""
    from facex_video.render.geometric.face import render_warped

    face = faces[name]
    a = _assemble("edit", face, face)
    crop, alpha = render_warped(a, TrackState(0))
    oval = face.rep.environment.masks["face_oval"]
    assert alpha[oval].mean() > 0.5  # it did render the face, and that face is the canvas's own
    assert psnr(crop, a.canvas_crop, oval) > 35.0


@pytest.mark.parametrize("name", ["astronaut", "grace"])
def test_a_gaze_edit_changes_only_the_eyes(faces, name):
    """An edit of the gaze alone leaves the canvas face bit for bit outside the eyes (it once re-rendered the
    whole face, leaving a streak along a shadowed nose)."""
    face = faces[name]
    a = _assemble("edit", face, face, edits=Edits(gaze=(10.0, 0.0)))
    crop, alpha = _render(a)
    masks = face.rep.environment.masks
    eyes = cv2.dilate((masks["eyes"] | masks["iris"]).astype(np.uint8), np.ones((15, 15), np.uint8)) > 0
    assert np.array_equal(crop[~eyes], a.canvas_crop[~eyes]) and (alpha[~eyes] == 0).all()
    assert (crop[eyes] != a.canvas_crop[eyes]).any()


@pytest.mark.parametrize("name", ["astronaut->grace", "grace->astronaut"])
def test_swap_carries_the_identity(swaps, analyzer, name):
    canvas, identity, _, _, _, frame, ms = swaps[name]
    to_source = identity_distance(frame, identity.rgb, analyzer=analyzer)
    to_target = identity_distance(frame, canvas.rgb, analyzer=analyzer)
    print(f"{name}: dlib distance to source {to_source:.3f}, to target {to_target:.3f}, {ms:.0f} ms per face")
    assert to_source < 0.5 and to_source < to_target


@pytest.mark.parametrize("name", ["astronaut->grace", "grace->astronaut"])
def test_swap_leaves_everything_outside_the_blend_alone(swaps, name):
    canvas, _, a, crop, alpha, frame, _ = swaps[name]
    assert np.array_equal(crop[alpha == 0], a.canvas_crop[alpha == 0])
    far = cv2.dilate(a.canvas_masks["face_oval"].astype(np.uint8), np.ones((81, 81), np.uint8)) == 0
    assert not alpha[far].any()
    inv = invert(a.crop_transform)
    h, w = canvas.rgb.shape[:2]
    region = cv2.warpAffine((alpha > 0).astype(np.uint8), inv, (w, h), flags=cv2.INTER_NEAREST) > 0
    assert psnr_outside(frame, canvas.rgb, region, margin_px=2) >= 45.0


def test_swap_keeps_the_canvas_mouth_interior(swaps):
    _, _, a, crop, alpha, _, _ = swaps["grace->astronaut"]  # the astronaut shows her teeth
    mouth = a.canvas_masks["mouth_interior"]
    core = cv2.erode(mouth.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    assert core.sum() > 500
    assert (alpha[core] == 0).mean() > 0.95
    assert np.array_equal(crop[mouth & (alpha == 0)], a.canvas_crop[mouth & (alpha == 0)])


@pytest.mark.parametrize("name", ["astronaut->grace", "grace->astronaut"])
def test_swap_has_no_seam_at_the_blend_boundary(swaps, name):
    _, _, a, crop, alpha, _, _ = swaps[name]

    def gradient(img: np.ndarray) -> np.ndarray:
        g = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY).astype(np.float32)
        return np.hypot(cv2.Sobel(g, cv2.CV_32F, 1, 0), cv2.Sobel(g, cv2.CV_32F, 0, 1))

    band = (alpha > 0.05) & (alpha < 0.95)
    assert band.sum() > 1000
    ratio = gradient(crop)[band].mean() / gradient(a.canvas_crop)[band].mean()
    print(f"{name}: gradient across the alpha boundary {ratio:.2f}x the canvas's")
    assert ratio <= 1.5


def _eye_surround(landmarks: np.ndarray, masks: dict[str, np.ndarray]) -> np.ndarray:
    """The band around both eyes where glasses frames sit, without the eyes and brows themselves."""
    eyes = masks["eyes"].astype(np.uint8)
    width = float(np.linalg.norm(landmarks[33, :2] - landmarks[133, :2]))
    k = int(0.6 * width) | 1
    around = cv2.dilate(eyes, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * k + 1, 2 * k + 1))) > 0
    return around & ~(cv2.dilate(eyes, np.ones((7, 7), np.uint8)) > 0) & ~masks["brows"]


def _dark_fraction(crop: np.ndarray, band: np.ndarray) -> float:
    return float((cv2.cvtColor(crop, cv2.COLOR_RGB2Lab)[..., 0][band] < 70).mean())


def test_swap_does_not_carry_the_sources_glasses(swaps, faces):
    _, _, a, crop, _, _, _ = swaps["grace->astronaut"]
    band = _eye_surround(a.canvas_landmarks, a.canvas_masks)
    own = _dark_fraction(a.canvas_crop, band)
    grace = faces["grace"]
    worn = _dark_fraction(grace.crop(), _eye_surround(grace.landmarks_crop(), grace.rep.environment.masks))
    result = _dark_fraction(crop, band)
    print(f"dark fraction around the eyes: astronaut {own:.3f}, grace with glasses {worn:.3f}, result {result:.3f}")
    assert worn > own + 0.05  # the measure does see glasses
    assert result < own + 0.02


def test_inpaint_regenerates_the_masked_area_only(faces):
    face = faces["astronaut"]
    mask = np.zeros((512, 512), bool)
    mask[300:370, 175:235] = True  # the right cheek (image left)
    a = _assemble("inpaint", face, face, inpaint_mask=mask)
    crop, alpha = _render(a)
    assert np.array_equal(crop[~mask], a.canvas_crop[~mask]) and not alpha[~mask].any()
    assert alpha[mask].min() > 0
    # regenerated from the other cheek: close to what was there, yet not a copy of it
    assert 22.0 < psnr(crop, a.canvas_crop, mask) < 60.0


def test_hairswap_brings_the_donors_hair_and_leaves_the_face(faces):
    canvas, donor = faces["grace"], faces["astronaut"]
    a = _assemble("hairswap", canvas, donor, hair="texture", identity_weight=0.0)  # as edit/face_edit.py does
    crop, alpha = _render(a)
    masks = canvas.rep.environment.masks
    assert not alpha[masks["face_oval"] & ~masks["hair"]].any()
    assert alpha[masks["hair"]].mean() > 0.9  # the cap is gone, under the new hair or filled as background
    changed = alpha > 0.5
    donor_hair = cv2.cvtColor(donor.crop(), cv2.COLOR_RGB2Lab)[donor.rep.environment.masks["hair"]].mean(axis=0)

    def off(img: np.ndarray) -> float:
        return float(np.linalg.norm(cv2.cvtColor(img, cv2.COLOR_RGB2Lab)[changed].mean(axis=0) - donor_hair))

    assert off(crop) < 0.5 * off(a.canvas_crop)


def test_colour_is_smoothed_along_a_track(faces):
    a = _assemble("swap", faces["grace"], faces["astronaut"])
    renderer, state = GeometricRenderer(), TrackState(track_id=3)
    first, _ = renderer.render(a, state)
    again, _ = renderer.render(a, state)
    assert state.memory.colour is not None
    assert np.abs(first.astype(int) - again).max() <= 2  # same frame, same colour: nothing to drift


def test_shading_match_takes_the_references_light_and_keeps_the_detail(faces):
    """The astronaut's crop lit by a strong left-to-right ramp, matched back to the original over its skin:
    the light's layout (what a sigma-20 blur keeps) returns to the original's, the fine detail stays."""
    face = faces["astronaut"]
    crop = face.crop().astype(np.float32) / 255.0
    skin = face.rep.environment.masks["skin"]
    ramp = np.linspace(0.55, 1.25, crop.shape[1], dtype=np.float32)[None, :, None]
    lit = np.clip(crop * ramp, 0.0, 1.0)
    matched = match_shading(lit, crop, skin, 20.0)

    def low(img):
        return cv2.GaussianBlur(img, (0, 0), 20.0)[skin]

    def fine(img):
        return (img - cv2.GaussianBlur(img, (0, 0), 2.0))[skin].ravel()

    before = float(np.abs(low(lit) - low(crop)).mean())
    after = float(np.abs(low(matched) - low(crop)).mean())
    kept = float(np.corrcoef(fine(matched), fine(crop))[0, 1])
    print(f"shading match: low-frequency error {before:.3f} -> {after:.3f}, fine detail correlation {kept:.3f}")
    assert after < 0.3 * before
    assert kept > 0.9


def test_shading_match_on_a_coarse_grid_matches_the_full_resolution_convolution(faces):
    """match_shading computes its low frequencies on a grid 4x coarser than the crop: on a real face (the
    astronaut's crop under a ramp, matched back over its skin) it stays within 0.5/255 on average and 4/255 at
    most of the normalised convolution done at full resolution, and leaves what lies far from the skin as it was."""
    from facex_video.faces.colour import SHADING_SUPPORT

    face = faces["astronaut"]
    crop = face.crop().astype(np.float32) / 255.0
    skin = face.rep.environment.masks["skin"]
    ramp = np.linspace(0.55, 1.25, crop.shape[1], dtype=np.float32)[None, :, None]
    lit = np.clip(crop * ramp, 0.0, 1.0)
    sigma = 20.48  # the renderer's: 4% of the 512 px crop

    w = skin.astype(np.float32)
    support = cv2.GaussianBlur(w, (0, 0), sigma)[..., None]
    lab, ref = cv2.cvtColor(lit, cv2.COLOR_RGB2Lab), cv2.cvtColor(crop, cv2.COLOR_RGB2Lab)
    low = cv2.GaussianBlur(lab * w[..., None], (0, 0), sigma) / np.maximum(support, 1e-3)
    low_ref = cv2.GaussianBlur(ref * w[..., None], (0, 0), sigma) / np.maximum(support, 1e-3)
    fade = np.clip(support / SHADING_SUPPORT, 0.0, 1.0)
    expected = np.clip(cv2.cvtColor(lab + fade * (low_ref - low), cv2.COLOR_Lab2RGB), 0.0, 1.0)

    matched = match_shading(lit, crop, skin, sigma)
    diff = 255 * np.abs(matched - expected)[skin]
    print(f"shading match vs full resolution over the skin: mean {diff.mean():.3f}, max {diff.max():.3f} /255")
    assert diff.mean() < 0.5 and diff.max() < 4
    rows, cols = np.flatnonzero(skin.any(axis=1)), np.flatnonzero(skin.any(axis=0))
    far = np.ones_like(skin)
    reach = int(4 * sigma)
    far[max(rows[0] - reach, 0):rows[-1] + reach + 1, max(cols[0] - reach, 0):cols[-1] + reach + 1] = False
    assert far.any() and np.array_equal(matched[far], lit[far])


def test_rasteriser_matches_a_per_pixel_z_buffer_on_a_turned_face(faces):
    """rasterise against the plainest z-buffer, written out here: at every third pixel centre (integer
    coordinates) of the crop, each camera-facing triangle (cross < 0 in image axes) that contains it (all three
    barycentrics >= -1e-7, so a centre on a shared edge is in both) and the nearest of them (smallest z, an
    exact tie to the lower triangle index). On the face turned 45 degrees, where the nose covers the far cheek,
    the covered pixels and their triangles match exactly (both evaluate the same barycentrics, whose rounding
    lies far below the 1e-7 edge tolerance, so no edge pixel need differ), barycentrics and depth to rounding."""
    a = _assemble("edit", faces["astronaut"], faces["astronaut"], edits=Edits(yaw=45))
    points, tri = np.asarray(a.landmarks, np.float64)[:468], canonical_mesh().triangles
    raster = rasterise(points, tri)
    v = points[tri]
    e1, e2 = v[:, 1, :2] - v[:, 0, :2], v[:, 2, :2] - v[:, 0, :2]
    cross = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]
    facing = cross < -1e-6
    covered, nearest, bary, depth, overlapped = [], [], [], [], 0
    for y in range(0, 512, 3):
        x = np.arange(0, 512, 3, dtype=np.float64)[:, None]
        dx, dy = x - v[:, 0, 0], y - v[:, 0, 1]
        l1 = (dx * e2[:, 1] - dy * e2[:, 0]) / cross
        l2 = (e1[:, 0] * dy - e1[:, 1] * dx) / cross
        l0 = 1.0 - l1 - l2
        inside = facing & (l0 >= -1e-7) & (l1 >= -1e-7) & (l2 >= -1e-7)  # (pixels, triangles)
        z = np.where(inside, l0 * v[:, 0, 2] + l1 * v[:, 1, 2] + l2 * v[:, 2, 2], np.inf)
        hit = np.flatnonzero(inside.any(axis=1))
        best = np.argmin(z[hit], axis=1)
        covered.append(y * 512 + 3 * hit)
        nearest.append(best)
        bary.append(np.stack([l0[hit, best], l1[hit, best], l2[hit, best]], axis=1))
        depth.append(z[hit, best])
        overlapped += int((inside[hit].sum(axis=1) > 1).sum())
    covered_ref, nearest_ref = np.concatenate(covered), np.concatenate(nearest)
    bary_ref, depth_ref = np.concatenate(bary), np.concatenate(depth)
    sampled = (raster.pix // 512 % 3 == 0) & (raster.pix % 512 % 3 == 0)
    print(f"{len(covered_ref)} sampled pixels covered, {overlapped} of them by more than one triangle")
    assert overlapped > 100  # the z-buffer is exercised: the nose over the cheek
    assert np.array_equal(raster.pix[sampled], covered_ref)
    assert np.array_equal(raster.tri[sampled], nearest_ref)
    bary_ref = np.clip(bary_ref, 0.0, 1.0)
    np.testing.assert_allclose(raster.bary[sampled], bary_ref / bary_ref.sum(axis=1, keepdims=True), atol=1e-9)
    np.testing.assert_allclose(raster.z[sampled], depth_ref, atol=1e-6)


def _sampling(detail: np.ndarray, seen: np.ndarray):
    from facex_video.render.geometric.warp import Sampling

    n = len(detail)
    return Sampling(np.zeros((n, 2)), np.ones(n), np.asarray(seen, bool), np.asarray(detail, np.float64))


def test_a_face_keeping_its_photo_takes_its_mirror_only_where_its_own_texture_is_stretched():
    """Measured on held-out faces turned ~20 degrees and edited --yaw +-10: the far side seen directly at
    detail 0.73 (a 1.2x stretch) while its partner showed 2.3. Taken from the partner, that far side wore the
    near side's light; a swap (another photo's face, relit to the canvas anyway) still takes it."""
    from facex_video.render.geometric.warp import mirror_share, mirror_weight

    direct = _sampling(np.array([0.73, 0.4, 0.1, 0.0]), [True, True, True, False])
    share = mirror_share(direct, _sampling(np.full(4, 2.3), [True] * 4))
    no_part = np.zeros(4, bool)
    own = mirror_weight(share, direct, no_part, own_light=True)
    other = mirror_weight(share, direct, no_part, own_light=False)
    assert own[0] == 0.0 and 0.2 < own[1] < 0.4 and own[2] == 1.0 and own[3] == 1.0  # hidden: the mirror
    assert other[0] > 0.9 and np.all(other[1:] == 1.0)
    assert np.all(mirror_weight(share, direct, np.ones(4, bool), own_light=False)[:3] == 0.0)  # eyes, mouth


def test_a_hidden_sliver_inside_a_well_drawn_face_is_filled_and_a_wide_hidden_area_mirrored():
    """warp.hidden_as_around on a square raster: a 2 px hidden column amid seen points that take no mirror
    loses the mirror (fill_holes draws it from around); a 40 px hidden block keeps it inside (few points
    around are seen), and so does a sliver amid points that take the mirror."""
    from facex_video.render.geometric.warp import hidden_as_around

    square = np.array([[100, 100, 0], [300, 100, 0], [300, 300, 0], [100, 300, 0]], np.float64)
    raster = rasterise(square, np.array([[0, 2, 1], [0, 3, 2]]))
    rows, cols = np.divmod(raster.pix, raster.size)
    sliver = (cols >= 150) & (cols < 152)
    block = (cols >= 220) & (cols < 260) & (rows >= 180) & (rows < 220)
    assert sliver.sum() >= 2 * 200 and block.sum() == 40 * 40  # the square covers ~200 rows
    seen = ~(sliver | block)
    w = np.where(seen, 0.0, 1.0)
    out = hidden_as_around(w, seen, raster)
    away = (rows > 120) & (rows < 280)  # at the square's own edge half the points around are not there
    assert np.all(out[sliver & away] == 0.0)
    inner = block & (cols >= 235) & (cols < 245) & (rows >= 195) & (rows < 205)
    assert np.all(out[inner] == 1.0)
    mirrored_around = hidden_as_around(np.ones(len(w)), seen, raster)
    assert np.all(mirrored_around[sliver] == 1.0)

"""Steps 1-2: the prepared texture warped triangle by triangle to the assembled face's raster, taking the
mirror image of a point's partner where the texture hides the point or shows it badly foreshortened, and
relit; stretched texture is blurred, eyes and mouth excepted."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import cv2
import numpy as np

from ...faces.blend import blurred_mask, dilate
from ...ford.lighting import vertex_normals
from ...ford.mesh import NUM_MESH_VERTICES
from ...tasks.assemble import AssembledFace
from .raster import Raster, Sampler, mesh_triangles, mirror_pairs, part_triangles
from .relight import STRETCHED, face_shading, relight, vertex_luminance
from .texture import RimDepth, Texture

MIRROR_DETAIL = (0.3, 0.6)  # detail ratio (texture vs its mirror) from which on the mirror is blended in, and
# under which it is all mirror
MIRROR_SWITCH_PX = 4.0  # px: the switch between the texture and its mirror is softened over this, and a point
# the texture hides takes its source as the seen points this close around it do (hidden_as_around)
STRETCH_BLUR = 4.0  # px: the blur of a warped pixel the texture stretched (STRETCHED)
PUSH_BLUR = 8.0  # px: the blur of what the push drew, reached in full where it pushed this far
EDGE_ON_BAND = 0.08  # of the texture face's width: the rim band of the texture mesh a single view shows edge-on


@dataclass(frozen=True)
class Sampling:
    """Where each destination pixel samples the texture: texture-crop positions `xy` (n, 2), the shading
    the texture's light gives the point there (`shading`, n, see relight.face_shading), whether the texture
    shows that point (`seen`, n) and its resolution (`detail`, n: texture area per destination area, < 1
    stretched)."""

    xy: np.ndarray
    shading: np.ndarray
    seen: np.ndarray
    detail: np.ndarray


SAMPLING_COLUMNS = 5  # per vertex: the texture point's x, y, z, its shading luminance and its detail ratio


def sampling_columns(texture_landmarks: np.ndarray, texture_lighting: np.ndarray, vertices: np.ndarray,
                     dst: np.ndarray) -> np.ndarray:
    """(468, SAMPLING_COLUMNS): what destination vertex i samples from the texture, which is its mesh vertex
    `vertices[i]` (`np.arange(468)` for the plain warp, `mirror_pairs()` for the mirror image): that
    point's texture-crop x, y, z, its shading luminance under the texture's light, and its detail ratio
    (texture area per destination area, the mean over the vertex's triangles: a per-triangle value would
    switch texture sources triangle by triangle, a patchwork). `dst`: the destination landmarks.
    Interpolated over a raster (several at once, Raster.interpolate), they make a `Sampling`."""
    tri = mesh_triangles()
    src = np.asarray(texture_landmarks, np.float64)[:NUM_MESH_VERTICES][vertices]
    ratio = _area(src, tri) / np.maximum(_area(dst, tri), 1e-6)
    total, count = np.zeros(NUM_MESH_VERTICES), np.zeros(NUM_MESH_VERTICES)
    for k in range(3):
        np.add.at(total, tri[:, k], ratio)
        np.add.at(count, tri[:, k], 1.0)
    luminance = vertex_luminance(vertex_normals(texture_landmarks)[vertices], texture_lighting)
    return np.column_stack([src[:, :3], luminance, total / np.maximum(count, 1)])


def texture_sampling(columns: np.ndarray, shown: Raster) -> Sampling:
    """The Sampling of `sampling_columns` interpolated at a raster's pixels (n, SAMPLING_COLUMNS); `shown` is
    the texture's own raster (its z-buffer says which points it shows)."""
    xy = columns[:, :2]
    return Sampling(xy, face_shading(columns[:, 3]), shown.seen(xy, columns[:, 2]), columns[:, 4])


def rim_band_pushed_in(xy: np.ndarray, raster: Raster, shown: RimDepth) -> tuple[np.ndarray, np.ndarray]:
    """Texture positions `xy` (n, 2) of the destination raster's pixels, moved inward where a turned head
    widens the texture's rim band: a pixel `dd` px inside the destination mesh whose texture point lies only
    `ds` < dd px inside the texture mesh (`shown`) samples at least min(dd, band) px deep instead. The band a
    single view shows edge-on (the cheek's side, with the ear and hair the mesh's oval reaches onto) is then
    drawn at the rim's width, and the rest of the widened near side from the cheek's skin behind it, not as
    that band smeared across the face. band: EDGE_ON_BAND of the texture mesh's width. Returns the moved
    positions and how far each moved (px)."""
    band = EDGE_ON_BAND * shown.width
    dd = cv2.distanceTransform(raster.mask().astype(np.uint8), cv2.DIST_L2, 5).reshape(-1)[raster.pix]
    ix = np.clip(np.round(xy[:, 0]).astype(np.int64), 0, shown.depth.shape[1] - 1)
    iy = np.clip(np.round(xy[:, 1]).astype(np.int64), 0, shown.depth.shape[0] - 1)
    push = np.maximum(np.minimum(dd, band) - shown.depth[iy, ix], 0.0)
    normal = np.stack([shown.gx[iy, ix], shown.gy[iy, ix]], axis=1).astype(np.float64)
    normal = normal / np.maximum(np.linalg.norm(normal, axis=1, keepdims=True), 1e-6)
    return xy + push[:, None] * normal, push


def _area(points: np.ndarray, tri: np.ndarray) -> np.ndarray:
    """(t,) absolute image-plane area of each triangle (times 2)."""
    v = np.asarray(points, np.float64)[tri][:, :, :2]
    e1, e2 = v[:, 1] - v[:, 0], v[:, 2] - v[:, 0]
    return np.abs(e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0])


def mirror_share(direct: Sampling, mirror: Sampling) -> np.ndarray:
    """(n,) how much better the mirror image shows each point: all of it where the texture hides the point
    and shows its partner, a smooth share where the texture shows the point much more foreshortened than
    its partner (MIRROR_DETAIL), none where the texture shows it about as well or the partner is hidden too.
    Whether an eye is drawn whole from its partner goes by this (warp_face)."""
    ratio = direct.detail / np.maximum(mirror.detail, 1e-6)
    w = np.clip((MIRROR_DETAIL[1] - ratio) / (MIRROR_DETAIL[1] - MIRROR_DETAIL[0]), 0.0, 1.0)
    return np.where(direct.seen, w, 1.0) * mirror.seen


def mirror_weight(share: np.ndarray, direct: Sampling, in_part: np.ndarray, own_light: bool) -> np.ndarray:
    """(n,) how much of each pixel to take from the mirror image: its `mirror_share`, none in the eyes and
    mouth, whose mirror would swap gaze and asymmetric expressions. `own_light`: the face keeps its own photo
    (an edit, a reenactment of a portrait), so a point the texture shows takes its mirror only where it is
    stretched past the detail it carries (STRETCHED: what would otherwise be blurred, the far cheek of a head
    turned 30 degrees); taken from the partner because the partner was sharper still, the far side of a face
    turned ~20 degrees wore the near side's light (a bright band down the nose, a dark one at the face's
    edge). A face from another photo (a swap) takes the canvas's light anyway (match_shading), and its
    sharper side's mirror carries more of the identity (dlib's distance to the donor on t1 face 0 swapped
    with Tom Hanks: 0.616 with the mirror, 0.649 with the far side's own stretched texture)."""
    keep = stretched(direct.detail) if own_light else 1.0
    return np.where(direct.seen, share * keep * ~in_part, share)


def hidden_as_around(w: np.ndarray, seen: np.ndarray, raster: Raster) -> np.ndarray:
    """Mirror weights `w` (n,) with each point the texture hides (not `seen`) taking its source as the seen
    points around it do: the mirror where they mostly take it, or where few points around are seen (inside
    a large hidden area: a donor's far cheek), else none, so it is filled from around (fill_holes). A sliver
    hidden inside a well-drawn face (a nostril's far wing behind the nose tip, seen from the side) drawn from
    its partner was a dark line: the partner's crease and shadow, in the middle of the side's own light."""
    hidden = np.flatnonzero(~seen)
    if len(hidden) == 0:
        return w
    around = blurred_at(raster, np.column_stack([w * seen, seen]), MIRROR_SWITCH_PX, hidden)
    share, support = around[:, 0] / np.maximum(around[:, 1], 1e-6), around[:, 1]
    out = w.copy()
    out[hidden] *= (share >= 0.5) | (support < 0.5)
    return out


@dataclass(frozen=True)
class Warped:
    """Steps 1-2's result: the relit pixels `lit` (n, 3 float sRGB), which pixels the texture shows at all
    (`seen`, n), where they are texture skin (`skin`, n), the texture's hidden hair warped (`hidden_hair`,
    512 x 512 float) and the eyes drawn from their mirror partner (`mirrored_eyes`, names)."""

    lit: np.ndarray
    seen: np.ndarray
    skin: np.ndarray
    hidden_hair: np.ndarray
    mirrored_eyes: frozenset[str]


def warp_face(a: AssembledFace, raster: Raster, tex: Texture, hide_hair: bool, moved: bool = False) -> Warped:
    """Steps 1-2: the texture warped to the raster's pixels, with the mirror image where the texture hides
    a point or shows it badly foreshortened, and relit. An eye opening takes its mirror whole or not at all
    (a patchwork of two eyes is no eye): whole when most of it would take the mirror (the far eye of a head
    turned ~50 degrees, a sliver beside the nose)."""
    dst = np.asarray(a.landmarks, np.float64)
    # every per-vertex quantity interpolated in one pass: the plain warp's, the mirror's, the target's light
    columns = raster.interpolate(np.column_stack([
        sampling_columns(a.texture_landmarks, a.texture_lighting, np.arange(NUM_MESH_VERTICES), dst),
        sampling_columns(a.texture_landmarks, a.texture_lighting, mirror_pairs(), dst),
        vertex_luminance(vertex_normals(dst), a.lighting)]), mesh_triangles())
    direct = texture_sampling(columns[:, :SAMPLING_COLUMNS], tex.raster)
    mirror = texture_sampling(columns[:, SAMPLING_COLUMNS:2 * SAMPLING_COLUMNS], tex.raster)
    lit_dst = face_shading(columns[:, -1])
    pushed = np.zeros(len(raster.pix))
    if moved:
        xy, pushed = rim_band_pushed_in(direct.xy, raster, tex.rim_depth)
        direct = dataclasses.replace(direct, xy=xy)
    parts = part_triangles()
    in_part = np.any(list(parts.values()), axis=0)[raster.tri]
    share = mirror_share(direct, mirror)
    w_mirror = hidden_as_around(mirror_weight(share, direct, in_part, not a.changes_identity), direct.seen, raster)
    eyes = {name: parts[name][raster.tri] for name in ("right_eye", "left_eye")}
    mirrored_eyes = frozenset(name for name, eye in eyes.items() if eye.any() and share[eye].mean() >= 0.5)
    for name in mirrored_eyes:
        w_mirror[eyes[name]] = mirror.seen[eyes[name]]
    if w_mirror.any():  # soften the switch between the two sources over a few pixels
        smooth = blurred_mask(raster.image(w_mirror[:, None], 0.0)[..., 0], MIRROR_SWITCH_PX).reshape(-1)[raster.pix]
        w_mirror = np.where(direct.seen, np.minimum(smooth, mirror.seen), w_mirror)
    hair = (tex.cover.hair & hide_hair).astype(np.float32)
    skin_map = (a.texture_masks["skin"] & ~dilate(tex.hidden | tex.cover.glasses, 3)).astype(np.uint8)
    at = Sampler(direct.xy)
    skin = at(skin_map, cv2.INTER_NEAREST) > 0
    hidden_hair = at(hair)
    lit = relight(at(tex.crop), direct.shading, lit_dst, direct.detail)
    use = w_mirror > 0
    if use.any():
        at = Sampler(mirror.xy)
        mirrored = relight(at(tex.crop)[use], mirror.shading[use], lit_dst[use], mirror.detail[use])
        lit[use] += w_mirror[use, None] * (mirrored - lit[use])
        hidden_hair = np.maximum(hidden_hair, at(hair))
        # skin is where the pixel's colour comes from: on the mirrored half, its partner's
        skin = np.where(w_mirror > 0.5, at(skin_map, cv2.INTER_NEAREST) > 0, skin)
    detail = direct.detail + w_mirror * (mirror.detail - direct.detail)
    detail[in_part] = np.inf  # an eye or mouth is drawn sharp, stretched or not: blurred, it is no eye
    lit = soften_stretched(lit, detail, raster)
    # what the rim band's push drew is one texture line stretched along the push: its colour only
    lit = toward_blur(lit, np.clip(pushed / PUSH_BLUR, 0.0, 1.0), raster, PUSH_BLUR)
    return Warped(lit, direct.seen | use, skin, raster.image(hidden_hair[:, None], 0.0)[..., 0], mirrored_eyes)


def soften_stretched(lit: np.ndarray, detail: np.ndarray, raster: Raster) -> np.ndarray:
    """Relit pixels (n, 3) blurred where the texture is stretched (`detail` under STRETCHED[0]), fully at
    STRETCHED[1]: a few texture pixels drawn across many carry no detail, only their gradient, which the
    stretch draws out into streaks (the cheek a frontal donor shows at a grazing angle, on a turned face)."""
    return toward_blur(lit, stretched(detail), raster, STRETCH_BLUR)


def stretched(detail: np.ndarray) -> np.ndarray:
    """(n,) how far below the detail a texture point carries (STRETCHED) its `detail` lies: 0 above
    STRETCHED[0], 1 at STRETCHED[1] and under."""
    return np.clip((STRETCHED[0] - detail) / (STRETCHED[0] - STRETCHED[1]), 0.0, 1.0)


def blurred_at(raster: Raster, values: np.ndarray, sigma: float, at: np.ndarray) -> np.ndarray:
    """(len(at), k): per-pixel `values` (n, k), 0 outside the raster, blurred by a Gaussian of `sigma` px and
    read at the raster pixels `at` (indices into its pixels). Blurred only in the box the kernel reaches from
    those pixels (often a sliver of the face): the same values, a fraction of the work."""
    box = raster.box(int(np.ceil(4 * sigma)) + 1, of=at)  # OpenCV's Gaussian kernel reaches 4 sigma
    img, _ = raster.image_in(box, values, 0.0)
    blurred = cv2.GaussianBlur(img, (0, 0), sigma).reshape(img.shape)
    rows, cols = raster.rows_cols
    return blurred[rows[at] - box[0].start, cols[at] - box[1].start]


def toward_blur(lit: np.ndarray, weight: np.ndarray, raster: Raster, sigma: float) -> np.ndarray:
    """Pixels (n, 3) moved by `weight` (n,) toward their blur over the raster (sigma px, normalised by the
    covered area, so the mesh's edge does not darken), only around the pixels that move (blurred_at)."""
    moved = np.flatnonzero(weight)
    if len(moved) == 0:
        return lit
    blurred = blurred_at(raster, np.column_stack([lit, np.ones(len(lit), np.float32)]), sigma, moved)
    smooth = blurred[:, :-1] / np.maximum(blurred[:, -1:], 1e-3)
    out = lit.copy()
    out[moved] += weight[moved, None] * (smooth - lit[moved])
    return out

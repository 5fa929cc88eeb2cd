"""Expression edits: handcrafted blendshape displacement fields in the canonical head frame (cm).

MediaPipe gives 52 blendshape *scores* but no blendshape *basis*, so an edit such as `--smile 0.8` cannot be
undone/redone through a learnt model. Instead each supported blendshape has a displacement field, (478, 3)
cm in the canonical head frame (x to the image's right, y up, z toward the viewer), written by hand from
MediaPipe's canonical mesh and meant as a plausible weight-1.0 version of that expression:

- mouthSmileLeft / mouthSmileRight: the mouth corner of that side (291 / 61) moves up 0.8 cm, outward
  0.65 cm and back 0.25 cm, with a smooth Euclidean falloff (radius 2 cm; 1.3 cm below the corner, so the
  chin stays) that carries the lips' nearer half and the cheek; the cheek above and outside the corner
  also rises 0.35 cm and comes forward 0.15 cm. The other corner does not move.
- eyeBlinkLeft / eyeBlinkRight: the upper lid contour points move onto their partners on the lower lid
  (the arcs between the corners 362..263 / 33..133), the lid skin above follows with a falloff of 1 cm
  toward the brow, the iris points go down by half the lid's travel. Unlike the other fields this one is
  measured on the face being edited (`shape`), scaled so that weight 1 closes *that* face's lids exactly:
  the gap its lids show, divided by 1 - its current blink score (at most 0.7).
- jawOpen: every point below the lips' seam (lower lip, chin, jaw; the boundary runs from the mouth
  corners up to the jaw hinge) rotates down about an ear-to-ear axis near the ears (y -0.5 cm, z -3.5 cm)
  and slides 0.8 cm forward (the condyle's glide), 2.4 cm in all at the chin (152: ~1.7 cm down, ~1.7 cm
  back; the lower lip's middle ~2.1 cm down), the lower lip's drop tapering to 30 % at the corners so the
  mouth opens into an oval; the upper lip stays.
- browInnerUp: the inner brows (107, 66, 55, 65 / 336, 296, 285, 295) rise 0.5 cm, the forehead above
  them following with a 1.8 cm falloff; the eyes stay.
- mouthPucker: the lips gather toward the midline (corners 0.7 cm inward) and push forward 0.4 cm.
- mouthFunnel: the lips push forward 0.35 cm and open into an O: the inner upper lip up 0.2 cm, the inner
  lower lip down 0.3 cm, the corners 0.4 cm inward.

Sides follow MediaPipe's blendshape names, which name the subject's side ('Left' = the subject's left,
the image's right, x > 0), checked by re-analysing edited photos (tests/test_expression_edits.py).

`apply_expression` adds (target - current) x field per named blendshape, weights clipped to [0, 1], so
asking for the value the face already shows changes nothing. These are not a fitted basis: the displacement
is the same for every face (bar the blink's lid gap), and what MediaPipe reads back depends on how its
blendshape model scores the moved landmarks.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

import numpy as np

from ..core.constants import NUM_LANDMARKS
from ..ford.geometry import BLENDSHAPE_NAMES
from ..ford.mesh import NUM_MESH_VERTICES, REGION_CONTOURS, canonical_mesh

SUPPORTED: tuple[str, ...] = (
    "mouthSmileLeft", "mouthSmileRight", "eyeBlinkLeft", "eyeBlinkRight", "jawOpen",
    "browInnerUp", "mouthPucker", "mouthFunnel",
)

# (corner, upper-lid arc, matching lower-lid arc, iris points) per eye, subject's side
_EYES = {
    "Right": ((33, 133), (246, 161, 160, 159, 158, 157, 173), (7, 163, 144, 145, 153, 154, 155), range(468, 473)),
    "Left": ((263, 362), (466, 388, 387, 386, 385, 384, 398), (249, 390, 373, 374, 380, 381, 382), range(473, 478)),
}
_MOUTH_CORNERS = {"Right": 61, "Left": 291}  # subject's right corner is on the image's left (x < 0)
_INNER_BROWS = {"Right": (107, 66, 55, 65), "Left": (336, 296, 285, 295)}
_MAX_CURRENT_BLINK = 0.7
_JAW_AT_CHIN = 2.4  # cm the chin (152) travels at jawOpen 1
_JAW_GLIDE = 0.8  # cm the jaw slides forward as it opens (the condyle's translation), so the chin goes mostly down


def _smoothstep(t: np.ndarray) -> np.ndarray:
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3 - 2 * t)


def _vertices() -> np.ndarray:
    """(478, 3) cm: the canonical mesh, the iris points at their eye's centre (the mesh has no irises)."""
    v = canonical_mesh().vertices
    out = np.zeros((NUM_LANDMARKS, 3))
    out[:NUM_MESH_VERTICES] = v
    for _, upper, lower, iris in _EYES.values():
        out[list(iris)] = v[list(upper) + list(lower)].mean(axis=0)
    return out


def _lip_polygon_inside(v: np.ndarray) -> np.ndarray:
    """bool (478,): points inside the outer lip contour, seen from the front."""
    import matplotlib.path as mpath

    poly = mpath.Path(v[list(REGION_CONTOURS["lips_outer"]), :2])
    return poly.contains_points(v[:, :2], radius=0.02)


def _lip_weight(v: np.ndarray, spread: float = 1.0) -> np.ndarray:
    """1 on the lips, falling to 0 over `spread` cm outside them."""
    outer = v[list(REGION_CONTOURS["lips_outer"])]
    d = np.linalg.norm(v[:, None] - outer[None], axis=-1).min(axis=1)
    w = _smoothstep(1 - d / spread)
    w[_lip_polygon_inside(v)] = 1.0
    w[NUM_MESH_VERTICES:] = 0.0
    return w


def _smile(side: str) -> np.ndarray:
    v = _vertices()
    c = v[_MOUTH_CORNERS[side]]
    sign = 1.0 if side == "Left" else -1.0
    rel = v - c
    rel[:, 1] = np.where(rel[:, 1] < 0, rel[:, 1] * (2.0 / 1.3), rel[:, 1])  # shorter reach below the corner
    w = _smoothstep(1 - np.linalg.norm(rel, axis=1) / 2.0)
    field = w[:, None] * np.array([0.65 * sign, 0.8, -0.25])
    # the cheek above and outside the corner bunches up and forward
    cheek = c + np.array([1.0 * sign, 1.6, -0.3])
    wc = _smoothstep(1 - np.linalg.norm(v - cheek, axis=1) / 1.8)
    field += wc[:, None] * np.array([0.0, 0.35, 0.15])
    field[NUM_MESH_VERTICES:] = 0.0
    return field


def _blink(side: str, shape: np.ndarray | None) -> np.ndarray:
    """Upper lid onto the lower lid (weight 1 = closed), lid skin following, iris half way."""
    v = _vertices() if shape is None else np.asarray(shape, np.float64)
    (a, b), upper_lid, lower_lid, iris = _EYES[side]
    upper, lower = list(upper_lid), list(lower_lid)
    gap = v[lower] - v[upper]  # (7, 3)
    field = np.zeros((NUM_LANDMARKS, 3))
    # interpolate the lid's travel to the skin above it, falling off toward the brow; the lid line runs
    # between the corners, and nothing on or below it moves
    ref = _vertices()  # membership and distances on the canonical mesh, so every face gets the same region
    ca, cb = ref[a, :2], ref[b, :2]
    lo, hi = min(ca[0], cb[0]), max(ca[0], cb[0])
    t = (ref[:, 0] - ca[0]) / (cb[0] - ca[0])
    line_y = ca[1] + t * (cb[1] - ca[1])
    above = (ref[:, 1] > line_y + 0.05) & (ref[:, 0] > lo - 0.6) & (ref[:, 0] < hi + 0.6)
    above[NUM_MESH_VERTICES:] = False
    d_up = np.linalg.norm(ref[:, None] - ref[upper][None], axis=-1)  # (478, 7)
    k = np.exp(-((d_up / 0.45) ** 2))
    interp = (k @ gap) / np.maximum(k.sum(axis=1, keepdims=True), 1e-9)
    fall = _smoothstep(1 - d_up.min(axis=1) / 1.0)
    # at the corners the lid does not travel
    corner_d = np.minimum(np.linalg.norm(ref[:, :2] - ca, axis=1), np.linalg.norm(ref[:, :2] - cb, axis=1))
    fall *= _smoothstep(corner_d / 0.5)
    field[above] = (fall[:, None] * interp)[above]
    field[upper] = gap
    field[[a, b]] = 0.0
    field[list(iris)] = 0.5 * gap[2:5].mean(axis=0)
    return field


def _jaw_open() -> np.ndarray:
    v = _vertices()
    corner_x = abs(v[61, 0])
    # the lips' seam: midway between the inner lips at each x, then rising from the corners to the hinge
    xs = np.linspace(-corner_x, corner_x, 41)
    upper_ids = [i for i in REGION_CONTOURS["lips_inner"] if v[i, 1] >= v[[78, 308], 1].mean()]
    lower_ids = [i for i in REGION_CONTOURS["lips_inner"] if i not in upper_ids]
    up = np.interp(xs, *_sorted_xy(v[upper_ids + [78, 308]]))
    low = np.interp(xs, *_sorted_xy(v[lower_ids + [78, 308]]))
    seam = (up + low) / 2
    hinge_y, hinge_z, hinge_x = -0.5, -3.5, 7.5
    ax = np.abs(v[:, 0])
    boundary = np.where(ax <= corner_x, np.interp(v[:, 0], xs, seam),
                        np.interp(ax, [corner_x, hinge_x], [seam[0], hinge_y]))
    lips = _lip_polygon_inside(v)
    soft = np.where(lips, 0.15, 1.0)  # a sharp split between the lips, a soft one over the cheek
    w = _smoothstep((boundary - v[:, 1]) / soft + 0.5 * lips)  # on the lips: half at the seam itself
    # the lower lip drops most at the midline, 30 % at the corners, so the mouth opens into an oval; the
    # taper fades out 1.5 cm below the seam, where the whole chin moves as one
    taper = 0.3 + 0.7 * np.clip(1 - (ax / corner_x) ** 2, 0, 1)
    below = _smoothstep((boundary - v[:, 1]) / 1.5)
    w *= below + (1 - below) * taper
    w[list(upper_ids)] = 0.0
    w[[i for i in REGION_CONTOURS["lips_outer"] if v[i, 1] > v[[61, 291], 1].mean()]] = 0.0
    w[[61, 291, 78, 308]] = 0.3
    w[NUM_MESH_VERTICES:] = 0.0
    # rotation about the x axis through the hinge plus the condyle's forward glide, 1.2 cm at the chin
    r = v[:, 1:] - np.array([hinge_y, hinge_z])

    def move(angle: float) -> np.ndarray:
        ca, sa = np.cos(angle), np.sin(angle)
        rotated = np.stack([r[:, 0] * ca - r[:, 1] * sa, r[:, 0] * sa + r[:, 1] * ca], axis=1)
        return rotated - r + np.array([0.0, _JAW_GLIDE])

    lo, hi = 0.0, 0.5
    for _ in range(50):  # bisection: |move| at the chin grows with the angle
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if np.linalg.norm(move(mid)[152]) < _JAW_AT_CHIN else (lo, mid)
    field = np.zeros((NUM_LANDMARKS, 3))
    field[:, 1:] = w[:, None] * move(lo)
    return field


def _sorted_xy(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(p[:, 0])
    return p[order, 0], p[order, 1]


def _brow_inner_up() -> np.ndarray:
    v = _vertices()
    field = np.zeros((NUM_LANDMARKS, 3))
    eyes = [i for name in ("right_eye", "left_eye") for i in REGION_CONTOURS[name]]
    eye_top = v[eyes, 1].max()
    for ids in _INNER_BROWS.values():
        c = v[list(ids)].mean(axis=0)
        rel = v - c
        rel[:, 1] = np.where(rel[:, 1] < 0, rel[:, 1] * 2.0, rel[:, 1])  # short reach toward the eye
        w = _smoothstep(1 - np.linalg.norm(rel, axis=1) / 1.8)
        field[:, 1] += 0.5 * w
    field[v[:, 1] <= eye_top + 0.1] = 0.0
    field[NUM_MESH_VERTICES:] = 0.0
    return field


def _lips_forward(narrow: float, forward: float) -> np.ndarray:
    """Lips drawn toward the midline by `narrow` cm at the corners and pushed forward by `forward` cm:
    the shared part of pucker and funnel."""
    v = _vertices()
    w = _lip_weight(v, 1.2)
    field = np.zeros((NUM_LANDMARKS, 3))
    field[:, 0] = -narrow * np.clip(v[:, 0] / abs(v[61, 0]), -1.3, 1.3) * w
    field[:, 2] = forward * w
    return field


def _pucker() -> np.ndarray:
    return _lips_forward(0.7, 0.4)


def _funnel() -> np.ndarray:
    v = _vertices()
    corner_x = abs(v[61, 0])
    field = _lips_forward(0.4, 0.35)
    # the O: inner lips part, most at the midline
    mid = _smoothstep(1 - np.abs(v[:, 0]) / corner_x)
    upper = [i for i in REGION_CONTOURS["lips_inner"] if v[i, 1] > v[[78, 308], 1].mean()]
    lower = [i for i in REGION_CONTOURS["lips_inner"] if v[i, 1] < v[[78, 308], 1].mean()]
    upper_outer = [i for i in REGION_CONTOURS["lips_outer"] if v[i, 1] > v[[61, 291], 1].mean()]
    lower_outer = [i for i in REGION_CONTOURS["lips_outer"] if v[i, 1] < v[[61, 291], 1].mean()]
    field[upper, 1] += 0.2 * mid[upper]
    field[lower, 1] -= 0.3 * mid[lower]
    field[upper_outer, 1] += 0.1 * mid[upper_outer]
    field[lower_outer, 1] -= 0.15 * mid[lower_outer]
    return field


@functools.cache
def _fixed_field(name: str) -> np.ndarray:
    if name.startswith("mouthSmile"):
        f = _smile(name.removeprefix("mouthSmile"))
    elif name == "jawOpen":
        f = _jaw_open()
    elif name == "browInnerUp":
        f = _brow_inner_up()
    elif name == "mouthPucker":
        f = _pucker()
    elif name == "mouthFunnel":
        f = _funnel()
    else:
        raise AssertionError(name)
    f.setflags(write=False)
    return f


def check_names(names) -> None:
    """ValueError naming the supported blendshapes if any of `names` has no displacement field here."""
    bad = [n for n in names if n not in SUPPORTED]
    if not bad:
        return
    known = [n for n in bad if n in BLENDSHAPE_NAMES]
    unknown = [n for n in bad if n not in BLENDSHAPE_NAMES]
    parts = []
    if unknown:
        parts.append(f"unknown blendshape{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}")
    if known:
        parts.append(f"no expression edit for {', '.join(map(repr, known))} yet")
    raise ValueError(f"{'; '.join(parts)}; expression edits support: {', '.join(SUPPORTED)}")


def expression_field(name: str, shape: np.ndarray | None = None) -> np.ndarray:
    """(478, 3) cm displacement of blendshape `name` at weight 1.0, canonical head frame (module docstring).

    shape: the face being edited (478, 3) cm; only eyeBlink* uses it (its lid gap); default the canonical
    mesh."""
    check_names([name])
    if name.startswith("eyeBlink"):
        return _blink(name.removeprefix("eyeBlink"), shape)
    return _fixed_field(name).copy()


def apply_expression(shape_cm: np.ndarray, current_blendshapes: np.ndarray, targets: Mapping[str, float]) -> np.ndarray:
    """shape_cm (478, 3) with each named blendshape moved from its current weight to the target:
    + (target - current) x field, both clipped to [0, 1]. current_blendshapes: (52,) in BLENDSHAPE_NAMES
    order. Blink fields are scaled by 1 / (1 - current blink) (current at most 0.7), so weight 1 closes
    the lids exactly."""
    check_names(targets)
    shape = np.asarray(shape_cm, np.float64)
    out = shape.copy()
    current = np.asarray(current_blendshapes, np.float64)
    for name, value in targets.items():
        value = float(value)
        if not np.isfinite(value):
            raise ValueError(f"{name}: the target weight must be a number in [0, 1], got {value}")
        now = float(np.clip(current[BLENDSHAPE_NAMES.index(name)], 0.0, 1.0))
        delta = float(np.clip(value, 0.0, 1.0)) - now
        if delta == 0.0:
            continue
        field = expression_field(name, shape)
        if name.startswith("eyeBlink"):
            field = field / (1.0 - min(now, _MAX_CURRENT_BLINK))
        out += delta * field
    return out


__all__ = ["SUPPORTED", "apply_expression", "check_names", "expression_field"]

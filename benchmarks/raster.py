"""rasterise (render/geometric/raster.py) against its former bounding-box implementation, side by side.

    python benchmarks/raster.py [--repeat 30] [--png /tmp/raster_cmp.png]

Inputs are real: the astronaut and Grace Hopper photos analysed by FORD (as tests/conftest.py's `faces`), each
assembled onto itself by the edit task at yaw 0, +-20, +-45 and pitch +-20; the mesh rasterised is the
assembled landmarks' 468 vertices and MediaPipe's 898 triangles, as the renderer rasterises them. Old and new
calls alternate in one process; each figure is the median of --repeat calls after one warm-up. Per pose: the
covered pixels only one of them covers, the pixels where they pick another triangle, and the largest
barycentric and depth differences. Then each pose is rendered by GeometricRenderer twice, every module's
`rasterise` swapped for the reference in one of them: the largest and mean pixel differences (0-255). The
PNG shows the yaw +45 render of the first face: old | new | 10x the absolute difference.
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial

import cv2
import numpy as np
from common import alternating
from shading import real_faces

from facex_video.core.constants import CROP_SIZE
from facex_video.render.geometric.raster import Raster, mesh_triangles, rasterise
from facex_video.tasks.assemble import AssembledFace, Edits, assemble

POSES = {"yaw 0": (0.0, 0.0), "yaw +20": (20.0, 0.0), "yaw -20": (-20.0, 0.0), "yaw +45": (45.0, 0.0),
         "yaw -45": (-45.0, 0.0), "pitch +20": (0.0, 20.0), "pitch -20": (0.0, -20.0)}  # name: (yaw, pitch)


def rasterise_reference(points: np.ndarray, triangles: np.ndarray, size: int = CROP_SIZE) -> Raster:
    """The former implementation, verbatim: every pixel of every camera-facing triangle's bounding box
    enumerated in float64, tested by its barycentrics, and one lexsort of all of them by (pixel, depth).
    The baseline and the reference of the differences."""
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


def assembled_poses() -> list[tuple[str, AssembledFace]]:
    """(name, assembled face) of each shipped face edited into each of POSES."""
    out = []
    for name, face in real_faces().items():
        rep = face.rep
        for pose, (yaw, pitch) in POSES.items():
            a = assemble("edit", canvas=face, identity=face, expression=rep, pose=rep, gaze=rep, lighting=rep,
                         edits=Edits(yaw=yaw, pitch=pitch))
            out.append((f"{name} {pose}", a))
    return out


def differences(old: Raster, new: Raster) -> str:
    """Covered pixels only one covers; on the common ones, other triangles, max |bary| and |z| differences."""
    only = len(np.setxor1d(old.pix, new.pix))
    common, i, j = np.intersect1d(old.pix, new.pix, return_indices=True)
    tri = int((old.tri[i] != new.tri[j]).sum())
    bary = float(np.abs(old.bary[i] - new.bary[j]).max(initial=0.0))
    z = float(np.abs(old.z[i] - new.z[j]).max(initial=0.0))
    same = only == 0 and all(np.array_equal(getattr(old, f), getattr(new, f)) for f in ("pix", "tri", "bary", "z"))
    return f"{len(common):7d} {only:5d} {tri:5d} {bary:9.2g} {z:9.2g}  {'yes' if same else 'no'}"


@contextmanager
def reference_rasteriser() -> Iterator[None]:
    """Every geometric-renderer module that imported `rasterise` calls the reference instead."""
    import importlib
    import pkgutil

    import facex_video.render.geometric as package

    swapped = []
    for info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        if getattr(module, "rasterise", None) is rasterise:
            swapped.append(module)
            module.rasterise = rasterise_reference  # type: ignore[attr-defined]
    try:
        yield
    finally:
        for module in swapped:
            module.rasterise = rasterise  # type: ignore[attr-defined]


def render(a: AssembledFace) -> np.ndarray:
    """The geometric renderer's crop of `a`, on a fresh track (no cached texture)."""
    from facex_video.render.base import TrackState
    from facex_video.render.geometric import GeometricRenderer

    crop, _ = GeometricRenderer().render(a, TrackState(track_id=0))
    return crop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--png", default="/tmp/raster_cmp.png")
    args = parser.parse_args()
    cases = assembled_poses()
    print(f"{'case':24} {'old ms':>7} {'new ms':>7} {'ratio':>5}  {'pixels':>7} {'only':>5} {'tri':>5} "
          f"{'|bary|':>9} {'|z|':>9}  identical")
    ratios = []
    for name, a in cases:
        points = np.asarray(a.landmarks)[:468]
        tri = mesh_triangles()
        old_ms, new_ms = alternating(partial(rasterise_reference, points, tri), partial(rasterise, points, tri),
                                     args.repeat)
        ratios.append(old_ms / new_ms)
        found = differences(rasterise_reference(points, mesh_triangles()), rasterise(points, mesh_triangles()))
        print(f"{name:24} {old_ms:7.2f} {new_ms:7.2f} {old_ms / new_ms:5.1f}  {found}")
    print(f"median ratio {statistics.median(ratios):.1f}")
    print(f"\n{'rendered crop':24} {'max |diff|':>10} {'mean |diff|':>11}  (0-255)")
    png_case = f"{cases[0][0].split()[0]} yaw +45"
    for name, a in cases:
        with reference_rasteriser():
            old = render(a)
        new = render(a)
        diff = np.abs(old.astype(np.int16) - new.astype(np.int16))
        print(f"{name:24} {int(diff.max()):10d} {float(diff.mean()):11.4f}")
        if name == png_case and args.png:
            strip = np.hstack([old, new, np.clip(10 * diff, 0, 255).astype(np.uint8)])
            cv2.imwrite(args.png, cv2.cvtColor(strip, cv2.COLOR_RGB2BGR))
    if args.png:
        print(f"old | new | 10x |difference| of {png_case}: {args.png}")


if __name__ == "__main__":
    main()

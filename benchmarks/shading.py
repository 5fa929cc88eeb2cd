"""match_shading (faces/colour.py) against its former full-resolution implementation, side by side.

    python benchmarks/shading.py [--repeat 30] [--png /tmp/shading_cmp.png]

Inputs are real: the astronaut and Grace Hopper photos analysed by FORD (as tests/conftest.py's `faces`), and
the (image, reference, skin mask, sigma) the geometric renderer passes to match_shading when it swaps one onto
the other, plus the shading test's case (the astronaut's crop under a left-to-right ramp, matched back). Old
and new calls alternate in one process; each figure is the median of --repeat calls after one warm-up. The
output differences are in 0-255 units, over the mask and over the whole crop; the PNG shows, for the first
case, old | new | 10x the absolute difference.
"""

from __future__ import annotations

import argparse
import tempfile
from functools import partial
from pathlib import Path

import cv2
import numpy as np
from common import alternating

from facex_video.faces.colour import SHADING_SUPPORT, match_shading

Case = tuple[str, np.ndarray, np.ndarray, np.ndarray, float]


def _reference_rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    x = np.ascontiguousarray(np.clip(rgb, 0, 1), np.float32)
    return cv2.cvtColor(x.reshape(-1, 1, 3), cv2.COLOR_RGB2Lab).reshape(x.shape)


def _reference_lab_to_rgb(lab: np.ndarray) -> np.ndarray:
    x = np.ascontiguousarray(lab, np.float32)
    return np.clip(cv2.cvtColor(x.reshape(-1, 1, 3), cv2.COLOR_Lab2RGB).reshape(x.shape), 0, 1)


def match_shading_reference(image: np.ndarray, reference: np.ndarray, mask: np.ndarray, sigma: float) -> np.ndarray:
    """The former implementation, verbatim (with the former one-pixel-a-row Lab conversions): three
    full-resolution blurs and full-crop Lab round trips. The baseline and the reference of the differences."""
    w = mask.astype(np.float32)
    support = cv2.GaussianBlur(w, (0, 0), sigma)[..., None]
    norm = np.maximum(support, 1e-3)
    lab, ref = _reference_rgb_to_lab(image), _reference_rgb_to_lab(reference)
    low = cv2.GaussianBlur(lab * w[..., None], (0, 0), sigma) / norm
    low_ref = cv2.GaussianBlur(ref * w[..., None], (0, 0), sigma) / norm
    return _reference_lab_to_rgb(lab + np.clip(support / SHADING_SUPPORT, 0.0, 1.0) * (low_ref - low))


def real_faces() -> dict:
    """name -> FaceInput of the shipped photos, analysed as the tests' `faces` fixture does."""
    import pyarrow.parquet as pq

    from facex_video import api
    from facex_video.ford.representation import from_table
    from facex_video.media import write_image
    from facex_video.media.samples import load_sample
    from facex_video.tasks.assemble import FaceInput

    out = {}
    with tempfile.TemporaryDirectory() as d:
        for name in ["astronaut", "grace_hopper"]:
            img, path = load_sample(name), Path(d) / f"{name}.png"
            write_image(path, img)
            api.analyze(path, path.with_suffix(".parquet"), progress=False)
            out[name] = FaceInput(img, from_table(pq.read_table(path.with_suffix(".parquet")))[0])
    return out


def cases() -> list[Case]:
    """What the renderer passes to match_shading in two swaps, and the shading test's ramp case."""
    from facex_video.render.base import TrackState
    from facex_video.render.geometric import GeometricRenderer
    from facex_video.render.geometric import face as face_module
    from facex_video.tasks.assemble import assemble

    faces = real_faces()
    out: list[Case] = []
    for canvas_name, identity_name in [("grace_hopper", "astronaut"), ("astronaut", "grace_hopper")]:
        canvas, rep = faces[canvas_name], faces[canvas_name].rep

        def capture(image: np.ndarray, reference: np.ndarray, mask: np.ndarray, sigma: float,
                    name: str = f"swap {identity_name} -> {canvas_name}") -> np.ndarray:
            out.append((name, image.copy(), reference.copy(), mask.copy(), sigma))
            return match_shading(image, reference, mask, sigma)

        a = assemble("swap", canvas=canvas, identity=faces[identity_name], expression=rep, pose=rep, gaze=rep,
                     lighting=rep)
        face_module.match_shading = capture  # type: ignore[assignment]
        try:
            GeometricRenderer().render(a, TrackState(track_id=0))
        finally:
            face_module.match_shading = match_shading
    face = faces["astronaut"]
    crop = face.crop().astype(np.float32) / 255.0
    ramp = np.linspace(0.55, 1.25, crop.shape[1], dtype=np.float32)[None, :, None]
    out.append(("astronaut ramp (test)", np.clip(crop * ramp, 0.0, 1.0), crop, face.rep.environment.masks["skin"],
                20.0))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--png", default="/tmp/shading_cmp.png")
    args = parser.parse_args()
    all_cases = cases()
    print(f"{'case':30} {'old ms':>8} {'new ms':>8} {'ratio':>6}  |diff| 0-255: mask mean/max, crop mean/max")
    for k, case in enumerate(all_cases):
        name, image, reference, mask, sigma = case
        old_ms, new_ms = alternating(partial(match_shading_reference, image, reference, mask, sigma),
                                     partial(match_shading, image, reference, mask, sigma), args.repeat)
        old = match_shading_reference(image, reference, mask, sigma)
        new = match_shading(image, reference, mask, sigma)
        diff = 255 * np.abs(old - new)
        print(f"{name:30} {old_ms:8.1f} {new_ms:8.1f} {old_ms / new_ms:6.1f}  "
              f"{diff[mask].mean():.3f} / {diff[mask].max():.2f}, {diff.mean():.3f} / {diff.max():.2f}")
        if k == 0 and args.png:
            strip = np.hstack([old, new, np.clip(10 * diff / 255, 0, 1)])
            cv2.imwrite(args.png, cv2.cvtColor((255 * strip + 0.5).astype(np.uint8), cv2.COLOR_RGB2BGR))
    if args.png:
        print(f"old | new | 10x |difference| of the first case: {args.png}")


if __name__ == "__main__":
    main()

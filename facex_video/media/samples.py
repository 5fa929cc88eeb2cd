"""Real face photos that ship inside installed packages: the demo's and the tests' material.

No package ships a video with a face, so clips are synthesised from these (see media/synth.py).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from ..core.errors import InputError


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        raise InputError(name, "package is not installed; run `make install`")
    return Path(spec.origin).parent


def sample_path(name: str) -> Path:
    """Path of a shipped photo: 't1' (6 faces), 'tom_hanks', 'grace_hopper'."""
    paths = {
        "t1": lambda: _package_dir("insightface") / "data" / "images" / "t1.jpg",
        "tom_hanks": lambda: _package_dir("insightface") / "data" / "images" / "Tom_Hanks_54745.png",
        "grace_hopper": lambda: _package_dir("matplotlib") / "mpl-data" / "sample_data" / "grace_hopper.jpg",
    }
    if name not in paths:
        raise KeyError(f"unknown sample {name!r}; known: {sorted(paths)} and 'astronaut'")
    return paths[name]()


def load_sample(name: str) -> np.ndarray:
    """RGB uint8 image of a shipped photo; 'astronaut' comes from scikit-image's data module."""
    if name == "astronaut":
        from skimage import data

        return np.ascontiguousarray(data.astronaut())
    from .image import read_image

    return read_image(sample_path(name))


def demo_shots() -> list:
    """The demo / acceptance clip: a slow pan over t1.jpg's six faces, then hard cuts to two portraits."""
    from .synth import Shot

    return [
        Shot(load_sample("t1"), seconds=4.0, zoom=(0.95, 0.95), pan=((0.49, 0.40), (0.51, 0.40))),
        Shot(load_sample("grace_hopper"), seconds=3.0, zoom=(1.0, 0.9), pan=((0.5, 0.40), (0.52, 0.38))),
        Shot(load_sample("astronaut"), seconds=3.0, zoom=(0.8, 0.7), pan=((0.45, 0.35), (0.5, 0.3)),
             rotate=(-4.0, 4.0)),
    ]


def lfw_shots(seconds: float = 3.0) -> list:
    """Eight people of Labeled Faces in the Wild (scikit-image's subset: 25 px grey crops, upscaled to 150 px,
    blurred as upscaled footage is) side by side as a wide shot of small faces under a slow push-in, then one
    of them large while the camera rolls. None of them was looked at while tuning anything (docs/tuning.md)."""
    import cv2
    from skimage import data

    from .synth import Shot

    people = []
    for face in data.lfw_subset()[:8]:  # the first 100 of the subset are faces
        face = cv2.resize(np.round(face * 255).astype(np.uint8), (150, 150), interpolation=cv2.INTER_CUBIC)
        face = cv2.copyMakeBorder(face, 85, 85, 85, 85, cv2.BORDER_CONSTANT, value=int(face.mean()))
        people.append(np.repeat(face[..., None], 3, axis=2))
    wide = np.concatenate([np.concatenate(people[:4], axis=1), np.concatenate(people[4:], axis=1)], axis=0)
    return [Shot(wide, seconds=seconds / 2, zoom=(1.0, 0.95), pan=((0.5, 0.5), (0.51, 0.49))),
            Shot(people[2], seconds=seconds / 2, zoom=(0.8, 0.7), pan=((0.5, 0.45), (0.52, 0.42)),
                 rotate=(-4.0, 4.0))]

"""Shared fixtures: the real face models (pulled by `make test`) and real photos that ship in packages."""

from __future__ import annotations

import numpy as np
import pytest

from facex_video.samples import load_sample


@pytest.fixture(scope="session")
def analyzer():
    from facex_video.faces.analyze import FaceAnalyzer

    with FaceAnalyzer() as fa:
        yield fa


@pytest.fixture(scope="session")
def t1() -> np.ndarray:
    return load_sample("t1")


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    return load_sample("astronaut")


@pytest.fixture(scope="session")
def grace_hopper() -> np.ndarray:
    return load_sample("grace_hopper")


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB of two uint8 images (inf when identical)."""
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))

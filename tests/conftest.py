"""Shared fixtures: the real face models (pulled by `make test`) and real photos that ship in packages."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from facex_video.media.samples import load_sample


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test on the session's Ray cluster is a `ray` test: `make test-fast` leaves those out."""
    for item in items:
        if "ray_address" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.ray)


@pytest.fixture(scope="session")
def analyzer():
    from facex_video.faces.analyze import FaceAnalyzer

    with FaceAnalyzer() as fa:
        yield fa


@pytest.fixture(scope="session")
def ray_address():
    """One local Ray cluster for the whole session (starting one takes ~6 s): tests run Ray work in process
    against it, and subprocesses join it through RAY_ADDRESS, as under `ray job submit`."""
    import ray

    from facex_video.video.runner_ray import ray_session

    with ray_session(None, quiet=True):  # the project's local start: loopback only, no dashboard
        yield ray.get_runtime_context().gcs_address


@pytest.fixture(scope="session")
def real_faces(analyzer) -> list:
    """Every face of the shipped photos and its mirror image as a level 320 px crop (eval/turn.py), analysed
    once for the session: the held-out faces of the property and expression tests come from here."""
    from facex_video.eval.turn import turn_faces

    return turn_faces(analyzer, 320)


@pytest.fixture(scope="session")
def t1() -> np.ndarray:
    return load_sample("t1")


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    return load_sample("astronaut")


@pytest.fixture(scope="session")
def grace_hopper() -> np.ndarray:
    return load_sample("grace_hopper")


@pytest.fixture(scope="session")
def faces(tmp_path_factory, astronaut, grace_hopper) -> dict:
    """FORD of the astronaut and Grace Hopper photos as FaceInputs (the assembly and renderer tests' inputs)."""
    import pyarrow.parquet as pq

    from facex_video import api
    from facex_video.ford.representation import from_table
    from facex_video.media import write_image
    from facex_video.tasks.assemble import FaceInput

    tmp = tmp_path_factory.mktemp("faces")
    out = {}
    for name, img in [("astronaut", astronaut), ("grace", grace_hopper)]:
        write_image(tmp / f"{name}.png", img)
        api.analyze(tmp / f"{name}.png", tmp / f"{name}.parquet", progress=False)
        out[name] = FaceInput(img, from_table(pq.read_table(tmp / f"{name}.parquet"))[0])
    return out


def psnr(a: np.ndarray, b: np.ndarray, peak: float = 255.0) -> float:
    """Peak signal-to-noise ratio in dB of two images whose full scale is `peak` (inf when identical)."""
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(peak**2 / mse))


def outside_face(rgb8: np.ndarray, analyzer) -> np.ndarray:
    """bool per pixel: outside the largest face's box grown by half its size on each side (hair, the blend)."""
    from facex_video.eval.metrics import largest_face

    keep = np.ones(rgb8.shape[:2], bool)
    x0, y0, x1, y1 = largest_face(rgb8, analyzer).box[:4]
    grow = 0.5 * max(x1 - x0, y1 - y0)
    keep[max(int(y0 - grow), 0):int(y1 + grow), max(int(x0 - grow), 0):int(x1 + grow)] = False
    return keep


@pytest.fixture(scope="session")
def tom_hanks_png(tmp_path_factory) -> Path:
    """Tom Hanks' portrait as a PNG file: the source face of the format tests' swaps."""
    from facex_video.media import write_image

    path = tmp_path_factory.mktemp("tom") / "tom.png"
    write_image(path, load_sample("tom_hanks"))
    return path


@pytest.fixture(scope="module")
def single_thread():
    """One torch thread for a module of tiny-model tests: they gain nothing from threads, and on a shared CPU
    OpenMP's spinning threads make them 10-50x slower (measured: 0.14 s vs 2-9 s per training step)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)

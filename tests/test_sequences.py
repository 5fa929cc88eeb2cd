"""Image sequences in and out of every command (issue 16): a 16-bit PNG sequence starting at 1001 and a
half-float EXR sequence come back as sequences with the same numbers, depth and channels (alpha kept), and
PSNR >= 50 dB outside the face; sequences to video and video to sequences.

The sequences are written here with cv2 and OpenEXR directly, from 16-bit values that hold detail below 8
bits (a pipeline that quantised to 8 bits outside the face would read ~45 dB), and read back the same way.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import OpenEXR
import pytest
from conftest import outside_face, psnr

from facex_video import api
from facex_video.media import probe
from facex_video.video.config import RunConfig

FIRST = 1001
COUNT = 6
SIZE = (480, 272)


def _frames16(photo: np.ndarray) -> list[np.ndarray]:
    """COUNT 16-bit RGB frames of a slow push-in on `photo`, resampled in float (detail below 8 bits)."""
    h, w = photo.shape[:2]
    src = photo.astype(np.float32) * 257.0
    out = []
    for i in range(COUNT):
        scale = SIZE[0] / (w * (1.0 - 0.03 * i / COUNT))
        m = np.array([[scale, 0, (SIZE[0] - w * scale) / 2], [0, scale, -0.1 * h * scale]])
        out.append(np.clip(cv2.warpAffine(src, m, SIZE, flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT) + 0.5,
                           0, 65535).astype(np.uint16))
    return out


def _alpha16() -> np.ndarray:
    """A matte: opaque in the middle, a ramp to the left edge (what a keyed plate carries)."""
    ramp = np.clip(np.linspace(-0.5, 2.0, SIZE[0]), 0, 1)
    return np.tile((ramp * 65535).astype(np.uint16), (SIZE[1], 1))[..., None]


def _srgb_to_linear(x: np.ndarray) -> np.ndarray:
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4).astype(np.float32)


@pytest.fixture(scope="module")
def png16(tmp_path_factory, grace_hopper) -> Path:
    folder = tmp_path_factory.mktemp("png16")
    for i, rgb in enumerate(_frames16(grace_hopper)):
        rgba = np.concatenate([rgb, _alpha16()], axis=-1)
        assert cv2.imwrite(str(folder / f"plate.{FIRST + i:04d}.png"), cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA))
    return folder / "plate.%04d.png"


@pytest.fixture(scope="module")
def exr(tmp_path_factory, grace_hopper) -> Path:
    folder = tmp_path_factory.mktemp("exr")
    for i, rgb in enumerate(_frames16(grace_hopper)):
        linear = _srgb_to_linear(rgb.astype(np.float32) / 65535.0) * 1.6  # highlights above 1.0, as plates have
        header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
        with OpenEXR.File(header, {"RGB": linear.astype(np.float16)}) as f:
            f.write(str(folder / f"plate.{FIRST + i:04d}.exr"))
    return folder / "plate.####.exr"


def _png(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_UNCHANGED), cv2.COLOR_BGRA2RGBA)


def _exr(path: Path) -> np.ndarray:
    with OpenEXR.File(str(path)) as f:
        channels = f.channels()
        return next(iter(channels.values())).pixels if len(channels) == 1 else np.stack(
            [channels[c].pixels for c in "RGB"], axis=-1)


def test_a_16bit_png_sequence_from_1001_comes_back_numbered_deep_and_with_its_alpha(tmp_path, png16, analyzer):
    out = tmp_path / "out.%04d.png"
    api.passthrough(png16, out, progress=False)
    names = sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".png")
    assert names == [f"out.{FIRST + i:04d}.png" for i in range(COUNT)]
    worst = np.inf
    for i in range(COUNT):
        before, after = _png(png16.parent / f"plate.{FIRST + i:04d}.png"), _png(tmp_path / names[i])
        assert after.dtype == np.uint16 and after.shape == before.shape == (SIZE[1], SIZE[0], 4)
        assert np.array_equal(after[..., 3], before[..., 3])  # the matte, untouched
        keep = outside_face((before[..., :3] // 257).astype(np.uint8), analyzer)
        worst = min(worst, psnr(before[..., :3][keep], after[..., :3][keep], 65535.0))
    print(f"16-bit PNG passthrough: PSNR outside the face, worst frame {worst:.1f} dB")
    assert worst >= 50.0


@pytest.mark.slow
def test_a_half_float_exr_sequence_is_swapped_into_a_half_float_exr_sequence(tmp_path, exr, analyzer, tom_hanks_png):
    out = tmp_path / "swap.####.exr"
    api.run_task("swap", out, source=tom_hanks_png, target=exr, config=RunConfig(runner="inline", progress=False))
    for i in range(COUNT):
        before, after = _exr(exr.parent / f"plate.{FIRST + i:04d}.exr"), _exr(tmp_path / f"swap.{FIRST + i:04d}.exr")
        assert after.dtype == np.float16 and after.shape == before.shape
        display = np.clip(before.astype(np.float32) / 1.6, 0, 1) ** (1 / 2.2)
        keep = outside_face((display * 255).astype(np.uint8), analyzer)
        quality = psnr(before[keep], after[keep], float(before.max()))
        changed = np.abs(after.astype(np.float32) - before)[~keep].max()
        print(f"frame {FIRST + i}: PSNR outside the face {quality:.1f} dB; largest change in the face {changed:.2f}")
        assert quality >= 50.0 and changed > 0.05  # untouched around the face, the face swapped


def test_a_sequence_becomes_a_video_at_the_rate_given_and_a_video_a_sequence(tmp_path, png16):
    video = tmp_path / "plate.mp4"
    api.passthrough(png16, video, fps=Fraction(25), progress=False)
    info = probe(video)
    assert (info.fps, info.frame_count, info.depth) == (Fraction(25), COUNT, 10)  # 16-bit in: 10-bit H.264
    back = tmp_path / "frames" / "f.%03d.png"
    back.parent.mkdir()
    api.passthrough(video, back, progress=False)
    names = sorted(p.name for p in back.parent.iterdir())
    assert names == [f"f.{i:03d}.png" for i in range(1, COUNT + 1)]
    assert _png(back.parent / names[0]).dtype == np.uint16  # a 10-bit video comes out 16-bit


def test_a_window_of_a_sequence_keeps_its_frame_numbers_and_matte(tmp_path, png16, tom_hanks_png):
    out = tmp_path / "win.%04d.png"
    api.run_task("swap", out, source=tom_hanks_png, target=png16, frames=(2, 5),
                 config=RunConfig(runner="inline", progress=False))
    assert sorted(p.name for p in tmp_path.glob("win.*.png")) == [f"win.{FIRST + i:04d}.png" for i in (2, 3, 4)]
    for i in (2, 3, 4):
        before, after = _png(png16.parent / f"plate.{FIRST + i:04d}.png"), _png(tmp_path / f"win.{FIRST + i:04d}.png")
        assert np.array_equal(after[..., 3], before[..., 3])

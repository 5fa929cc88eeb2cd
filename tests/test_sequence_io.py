"""Image sequences: frames come back bit-exact at their precision, and bad sequences fail with one clear error."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import OpenEXR
import pytest
import tifffile

from facex_video.core.errors import InputError
from facex_video.media.sequence import (
    from_working,
    is_sequence_path,
    open_sequence,
    read_frame,
    sequence_frame_path,
    to_display8,
    to_working,
    write_frame,
)

H, W = 32, 48
RNG = np.random.default_rng(7)


def _ints(dtype: type, channels: int) -> np.ndarray:
    return RNG.integers(0, np.iinfo(dtype).max, (H, W, channels), endpoint=True, dtype=dtype)


def _halves(channels: int) -> np.ndarray:
    """Half values with a wide range: below 0, in [0, 1] and well above 1 (HDR highlights)."""
    return RNG.uniform(-2.0, 60.0, (H, W, channels)).astype(np.float16).astype(np.float32)


def _round_trip(path: Path, frame: np.ndarray, sample: str) -> np.ndarray:
    write_frame(path, frame, sample)
    back = read_frame(path)
    assert back.dtype == frame.dtype and back.shape == frame.shape
    return back


@pytest.mark.parametrize("channels", [3, 4])
def test_png16_round_trip_exact(tmp_path: Path, channels: int) -> None:
    frame = _ints(np.uint16, channels)
    assert np.array_equal(_round_trip(tmp_path / "f.png", frame, "uint16"), frame)


def test_png8_round_trip_exact(tmp_path: Path) -> None:
    frame = _ints(np.uint8, 3)
    assert np.array_equal(_round_trip(tmp_path / "f.png", frame, "uint8"), frame)


def test_tiff16_rgba_round_trip_exact_with_unassociated_alpha(tmp_path: Path) -> None:
    frame = _ints(np.uint16, 4)
    path = tmp_path / "f.tif"
    assert np.array_equal(_round_trip(path, frame, "uint16"), frame)
    with tifffile.TiffFile(path) as tif:
        assert tif.pages[0].extrasamples == (tifffile.EXTRASAMPLE.UNASSALPHA,)


def test_tiff_from_other_writers(tmp_path: Path) -> None:
    """LZW (cv2's default; tifffile needs imagecodecs for it) and planar-separate 16-bit RGBA read exactly."""
    frame = _ints(np.uint16, 4)
    assert cv2.imwrite(str(tmp_path / "lzw.tif"), frame[..., [2, 1, 0, 3]])
    with tifffile.TiffFile(tmp_path / "lzw.tif") as tif:
        assert tif.pages.first.compression == tifffile.COMPRESSION.LZW
    tifffile.imwrite(tmp_path / "planar.tif", np.moveaxis(frame, -1, 0), photometric="rgb", planarconfig="separate")
    assert np.array_equal(read_frame(tmp_path / "lzw.tif"), frame)
    assert np.array_equal(read_frame(tmp_path / "planar.tif"), frame)


def test_half_exr_rgba_round_trip_exact(tmp_path: Path) -> None:
    frame = _halves(4)
    assert frame.max() > 1 and frame.min() < 0
    path = tmp_path / "f.exr"
    assert np.array_equal(_round_trip(path, frame, "half"), frame)
    with OpenEXR.File(str(path), separate_channels=True) as f:
        assert sorted(f.channels()) == ["A", "B", "G", "R"]
        assert all(c.pixels.dtype == np.float16 for c in f.channels().values())


def test_float_exr_round_trip_exact(tmp_path: Path) -> None:
    frame = RNG.normal(0.5, 3.0, (H, W, 3)).astype(np.float32)
    assert np.array_equal(_round_trip(tmp_path / "f.exr", frame, "float"), frame)


def test_exr_separate_channels_and_grey_read_as_rgb(tmp_path: Path) -> None:
    """Files from other tools: separate R, G, B channels in float; a Y-only EXR is grey."""
    r, g, b = (RNG.random((H, W), dtype=np.float32) for _ in range(3))
    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
    with OpenEXR.File(header, {"R": r, "G": g, "B": b}) as f:
        f.write(str(tmp_path / "rgb.exr"))
    with OpenEXR.File(header, {"Y": r.astype(np.float16)}) as f:
        f.write(str(tmp_path / "y.exr"))
    assert np.array_equal(read_frame(tmp_path / "rgb.exr"), np.dstack([r, g, b]))
    assert np.array_equal(read_frame(tmp_path / "y.exr"), np.dstack([r.astype(np.float16)] * 3).astype(np.float32))


def test_write_frame_refuses_mismatched_sample(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="uint16"):
        write_frame(tmp_path / "f.png", _ints(np.uint8, 3), "uint16")
    with pytest.raises(ValueError, match="half"):
        write_frame(tmp_path / "f.png", _halves(3), "half")
    assert not list(tmp_path.iterdir())


def test_sequence_paths() -> None:
    assert is_sequence_path("a/shot.%04d.png") and is_sequence_path("shot.####.EXR") and is_sequence_path("s%d.tif")
    assert not is_sequence_path("shot.0001.png") and not is_sequence_path("shot.%04d.mp4")
    assert sequence_frame_path(Path("a/shot.%04d.png"), 1001) == Path("a/shot.1001.png")
    assert sequence_frame_path(Path("shot.####.exr"), 7) == Path("shot.0007.exr")
    assert sequence_frame_path(Path("shot.%d.tif"), 7) == Path("shot.7.tif")
    assert sequence_frame_path(Path("shot.%04d.png"), 10000) == Path("shot.10000.png")


def _write_shot(folder: Path, numbers: range, frame: np.ndarray, sample: str, ext: str = "png") -> None:
    for n in numbers:
        write_frame(folder / f"shot.{n:04d}.{ext}", frame, sample)


@pytest.mark.parametrize("pattern", ["shot.%04d.png", "shot.####.png"])
def test_open_sequence_finds_frames(tmp_path: Path, pattern: str) -> None:
    _write_shot(tmp_path, range(1001, 1006), _ints(np.uint16, 4), "uint16")
    (tmp_path / "shot.00001.png").write_bytes(b"")  # wider with a leading zero: not what %04d writes
    (tmp_path / "other.1000.png").write_bytes(b"")
    seq = open_sequence(tmp_path / pattern)
    assert (seq.first, seq.count, seq.width, seq.height, seq.channels, seq.sample) == (1001, 5, W, H, 4, "uint16")
    assert seq.deep and seq.alpha
    assert seq.number(4) == 1005 and seq.path(4) == tmp_path / "shot.1005.png"


def test_open_sequence_exr_and_wide_numbers(tmp_path: Path) -> None:
    frame = _halves(3)
    for n in (9999, 10000):
        write_frame(tmp_path / f"shot.{n:04d}.exr", frame, "half")
    seq = open_sequence(tmp_path / "shot.####.exr")
    assert (seq.first, seq.count, seq.channels, seq.sample, seq.alpha) == (9999, 2, 3, "half", False)
    assert seq.path(1).name == "shot.10000.exr"


def test_open_sequence_gap(tmp_path: Path) -> None:
    _write_shot(tmp_path, range(1001, 1006), _ints(np.uint8, 3), "uint8")
    (tmp_path / "shot.1003.png").unlink()
    with pytest.raises(InputError, match=r"frame 1003 is missing: frames 1001-1005 found, 4 of 5"):
        open_sequence(tmp_path / "shot.%04d.png")


def test_open_sequence_size_mismatch(tmp_path: Path) -> None:
    _write_shot(tmp_path, range(1001, 1004), _ints(np.uint16, 3), "uint16")
    write_frame(tmp_path / "shot.1002.png", _ints(np.uint16, 3)[:, :40].copy(), "uint16")
    with pytest.raises(InputError, match=r"frame 1002 is 40x32 .* frame 1001 is 48x32"):
        open_sequence(tmp_path / "shot.%04d.png")


def test_open_sequence_sample_mismatch_exr(tmp_path: Path) -> None:
    _write_shot(tmp_path, range(1, 3), _halves(3), "half", "exr")
    write_frame(tmp_path / "shot.0002.exr", _halves(3), "float")
    with pytest.raises(InputError, match="frame 2 is .*float"):
        open_sequence(tmp_path / "shot.####.exr")


def test_open_sequence_no_frames_missing_folder_bad_extension(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"no frames match shot\.%04d\.png in"):
        open_sequence(tmp_path / "shot.%04d.png")
    with pytest.raises(InputError, match="folder .*nowhere does not exist") as info:
        open_sequence(tmp_path / "nowhere" / "shot.####.exr")
    assert info.value.path == tmp_path / "nowhere" / "shot.####.exr"
    with pytest.raises(InputError, match=r"\.jpg is not an image sequence format"):
        open_sequence(tmp_path / "shot.%04d.jpg")


def test_unreadable_frame(tmp_path: Path) -> None:
    for name in ("bad.png", "bad.exr", "bad.tif"):
        (tmp_path / name).write_bytes(b"not an image at all")
        with pytest.raises(InputError, match=name):
            read_frame(tmp_path / name)


def test_srgb_round_trip_exact_for_every_half() -> None:
    """Every finite half (0 .. 65504, and negatives) survives linear -> working sRGB -> linear."""
    bits = np.arange(0, 0x7C00, dtype=np.uint16)  # 0x7C00 is +inf
    halves = np.concatenate([bits.view(np.float16), -bits[::7].view(np.float16)])
    frame = np.resize(halves, (len(halves) // 3 + 1) * 3).reshape(1, -1, 3).astype(np.float32)
    working = to_working(frame, "half")
    assert working.dtype == np.float32 and working.max() > 1  # unclipped
    back = from_working(working, "half").astype(np.float16)
    assert np.array_equal(back.view(np.uint16), frame.astype(np.float16).view(np.uint16))


def test_working_uint16_identity_and_display8() -> None:
    frame = _ints(np.uint16, 4)
    frame[0, :4, :3] = [[0, 0, 0], [128, 128, 128], [129, 384, 385], [65535, 65407, 65408]]
    working = to_working(frame, "uint16")
    assert working.shape == (H, W, 3) and np.array_equal(working, frame[..., :3])
    assert np.array_equal(from_working(working, "uint16"), frame[..., :3])
    expected = ((frame[..., :3].astype(np.int64) + 128) // 257).astype(np.uint8)
    assert np.array_equal(to_display8(frame, "uint16"), expected)
    assert np.array_equal(from_working(working, "uint8"), expected)


def test_working_conversions_across_samples() -> None:
    rgb8 = _ints(np.uint8, 3)
    assert np.array_equal(from_working(rgb8, "uint16"), rgb8.astype(np.uint16) * 257)
    linear = from_working(rgb8, "float")
    assert np.array_equal(from_working(to_working(linear, "float"), "uint8"), rgb8)
    hdr = np.array([[[-0.5, 0.5, 4.0]]], np.float32)
    assert to_display8(hdr, "half").tolist() == [[[0, 188, 255]]]

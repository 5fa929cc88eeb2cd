"""Post-production formats (issue 16): what comes in at 10-bit 4:2:2 ProRes with timecode, two audio tracks
and Rec. 709 tags leaves that way, passed through or swapped; a Rec. 709 clip keeps its tags and its colours.

The inputs are written here with PyAV's own encoders (prores_ks, libx264), not the project's writer, from
16-bit RGB that holds detail below 8 bits, and read back by the tests at 16 bits with the matrix the tags
name: a pipeline that quantised to 8 bits outside the face would read ~45 dB, not >= 50.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from conftest import outside_face, psnr

from facex_video import api
from facex_video.media import probe
from facex_video.media.colour import BT709, FULL, LIMITED
from facex_video.video.config import RunConfig

FPS = Fraction(24)
SIZE = (640, 360)
TIMECODE = "01:00:00:00"
LANGUAGES = ("eng", "fra")


def _deep_frames(photo: np.ndarray, n: int) -> list[np.ndarray]:
    """n 16-bit RGB frames of `photo` under a slow push-in, resampled in float: the values between 8-bit levels
    are real detail a 10-bit coding keeps."""
    h, w = photo.shape[:2]
    src = photo.astype(np.float32) * 257.0
    frames = []
    for i in range(n):
        zoom = 1.0 - 0.02 * i / max(n - 1, 1)
        crop_w, crop_h = w * zoom, w * zoom * SIZE[1] / SIZE[0]
        x0, y0 = (w - crop_w) / 2, max((h - crop_h) * 0.3, 0.0)
        m = np.array([[SIZE[0] / crop_w, 0, -x0 * SIZE[0] / crop_w], [0, SIZE[0] / crop_w, -y0 * SIZE[0] / crop_w]])
        frame = cv2.warpAffine(src, m, SIZE, flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
        frames.append(np.clip(frame + 0.5, 0, 65535).astype(np.uint16))
    return frames


def write_prores_plate(path: Path, frames: list[np.ndarray]) -> None:
    """ProRes 422 HQ, 10-bit 4:2:2, Rec. 709 limited range, start timecode TIMECODE, two 24-bit PCM tracks."""
    with av.open(str(path), "w", format="mov") as out:
        video = out.add_stream("prores_ks", rate=FPS, options={"profile": "3"})
        video.width, video.height, video.pix_fmt = SIZE[0], SIZE[1], "yuv422p10le"
        ctx = video.codec_context
        ctx.color_primaries = ctx.color_trc = ctx.colorspace = BT709
        ctx.color_range = LIMITED
        video.metadata["timecode"] = TIMECODE
        tracks = []
        for k, language in enumerate(LANGUAGES):
            track = out.add_stream("pcm_s24le", rate=48000, layout="stereo")
            track.metadata["language"] = language
            tracks.append((track, 220.0 * (k + 1)))
        for i, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb48le").reformat(
                format="yuv422p10le", dst_colorspace="ITU709", dst_color_range="MPEG")
            frame.color_primaries = frame.color_trc = BT709
            frame.pts = i
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        samples = int(48000 * len(frames) / FPS)
        for track, hz in tracks:
            t = np.arange(samples) / 48000
            tone = (0.2 * np.sin(2 * np.pi * hz * t)).astype(np.float32)
            chunk = av.AudioFrame.from_ndarray(np.stack([tone, tone]).reshape(1, -1), format="flt", layout="stereo")
            chunk.sample_rate, chunk.pts = 48000, 0
            out.mux(track.encode(chunk))
            out.mux(track.encode(None))


def decode16(path: Path, matrix: str = "ITU709", colour_range: str = "MPEG") -> np.ndarray:
    """Every frame as 16-bit RGB, converted with the matrix and range given (the test's own reading)."""
    with av.open(str(path)) as c:
        return np.stack([f.to_ndarray(format="rgb48le", src_colorspace=matrix, src_color_range=colour_range)
                         for f in c.decode(video=0)])


@pytest.fixture(scope="module")
def plate(tmp_path_factory, grace_hopper) -> Path:
    path = tmp_path_factory.mktemp("plate") / "plate.mov"
    write_prores_plate(path, _deep_frames(grace_hopper, 12))
    return path


def _outside_faces(frames16: np.ndarray, analyzer) -> np.ndarray:
    """bool per pixel of each frame: outside its largest face (conftest.outside_face)."""
    return np.stack([outside_face((f // 257).astype(np.uint8), analyzer) for f in frames16])


def _check_plate_kept(plate: Path, out: Path, analyzer) -> None:
    got, want = probe(out), probe(plate)
    assert (got.codec, got.pix_fmt, got.profile) == ("prores", "yuv422p10le", "HQ")
    assert got.timecode == TIMECODE
    assert got.colour == want.colour and (got.colour.primaries, got.colour.matrix) == (BT709, BT709)
    assert got.frame_count == want.frame_count and got.fps == want.fps
    with av.open(str(out)) as c:
        assert [a.metadata.get("language") for a in c.streams.audio] == list(LANGUAGES)
        assert [a.codec_context.name for a in c.streams.audio] == ["pcm_s24le"] * 2
    before, after = decode16(plate), decode16(out)
    outside = _outside_faces(before, analyzer)
    quality = psnr(before[outside], after[outside], 65535.0)
    print(f"{out.name}: PSNR outside the face at 16 bits {quality:.1f} dB")
    assert quality >= 50.0


def test_a_10bit_prores_plate_passes_through_as_itself(tmp_path, plate, analyzer):
    out = tmp_path / "passthrough.mov"
    api.passthrough(plate, out, progress=False)
    _check_plate_kept(plate, out, analyzer)


@pytest.mark.slow
def test_a_10bit_prores_plate_is_swapped_into_its_own_format(tmp_path, plate, analyzer, tom_hanks_png):
    out = tmp_path / "swap.mov"
    api.run_task("swap", out, source=tom_hanks_png, target=plate, config=RunConfig(runner="inline", progress=False))
    _check_plate_kept(plate, out, analyzer)


def _chart() -> tuple[np.ndarray, list[tuple[slice, slice]]]:
    """A 1280x720 frame of 24 saturated and neutral patches (where a 601/709 mix-up shows most), and each
    patch's interior."""
    colours = [(230, 115, 25), (26, 204, 51), (38, 51, 217), (128, 128, 128), (200, 30, 120), (240, 220, 40),
               (20, 160, 200), (90, 60, 40), (250, 250, 250), (16, 16, 16), (180, 90, 170), (60, 120, 60)]
    frame = np.full((720, 1280, 3), 96, np.uint8)
    cells = []
    for k, colour in enumerate(colours * 2):
        r, c = divmod(k, 8)
        y, x = 60 + r * 210, 40 + c * 155
        frame[y:y + 150, x:x + 140] = colour if k < 12 else tuple(255 - v for v in colour)
        cells.append((slice(y + 30, y + 120), slice(x + 30, x + 110)))
    return frame, cells


@pytest.mark.parametrize("tagged, colour_range", [(True, LIMITED), (True, FULL), (False, LIMITED)],
                         ids=["tagged_709", "tagged_709_full_range", "untagged_hd"])
def test_a_rec709_clip_keeps_its_tags_and_its_colours(tmp_path, tagged, colour_range):
    """Tagged Rec. 709, or HD with no tags (which players take as 709): the output says 709 and its colours,
    read with the 709 matrix as the input's are, match the input's (mean CIE76 delta E under 1; a 601/709 mix-up
    moves these patches by several units)."""
    chart, cells = _chart()
    clip = tmp_path / "chart.mp4"
    with av.open(str(clip), "w") as out:
        video = out.add_stream("libx264", rate=FPS, options={"crf": "4"})
        video.width, video.height, video.pix_fmt = 1280, 720, "yuv420p"
        sws_range = "JPEG" if colour_range == FULL else "MPEG"
        if tagged:
            ctx = video.codec_context
            ctx.color_primaries = ctx.color_trc = ctx.colorspace = BT709
            ctx.color_range = colour_range
        for i in range(6):
            frame = av.VideoFrame.from_ndarray(chart, format="rgb24").reformat(
                format="yuv420p", dst_colorspace="ITU709", dst_color_range=sws_range)
            frame.pts = i
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
    result = tmp_path / "out.mp4"
    api.passthrough(clip, result, progress=False)
    colour = probe(result).colour
    assert (colour.primaries, colour.transfer, colour.matrix, colour.range) == (BT709, BT709, BT709, colour_range)
    lab = [cv2.cvtColor(decode16(path, colour_range=sws_range)[2].astype(np.float32) / 65535.0, cv2.COLOR_RGB2Lab)
           for path in (clip, result)]
    delta = [float(np.linalg.norm(lab[0][cell] - lab[1][cell], axis=-1).mean()) for cell in cells]
    print("delta E per patch, output against input:", np.round(delta, 2).tolist())
    assert np.mean(delta) < 1.0


@pytest.fixture(scope="module")
def small_clip(tmp_path_factory, grace_hopper) -> Path:
    from facex_video.media.synth import Shot, write_clip

    path = tmp_path_factory.mktemp("small") / "clip.mp4"
    return write_clip(path, [Shot(grace_hopper, seconds=0.5, zoom=(1.0, 0.9))], size=(320, 180), fps=FPS)


@pytest.mark.parametrize("codec, suffix, coded", [
    ("h264", ".mp4", ("h264", "yuv420p")), ("h265", ".mp4", ("hevc", "yuv420p")),
    ("prores", ".mov", ("prores", "yuv422p10le")), ("dnxhr", ".mov", ("dnxhd", "yuv422p")),
    ("ffv1", ".mkv", ("ffv1", "yuv420p")),
])
def test_every_codec_choice_writes_that_codec_frame_for_frame(tmp_path, small_clip, codec, suffix, coded):
    out = tmp_path / f"out{suffix}"
    api.passthrough(small_clip, out, codec=codec, progress=False)
    got = probe(out)
    assert (got.codec, got.pix_fmt) == coded
    assert got.frame_count == probe(small_clip).frame_count and got.fps == FPS
    from facex_video.media import iter_chunks

    before, after = (np.concatenate([c.frames for c in iter_chunks(p)]) for p in (small_clip, out))
    mse = np.mean((before.astype(np.float64) - after) ** 2)
    assert 10 * np.log10(255.0**2 / mse) > 35


def test_a_codec_the_container_cannot_hold_is_refused_or_replaced(tmp_path, plate, capsys):
    from facex_video.cli import main

    assert main(["passthrough", str(plate), "-o", str(tmp_path / "asked.mp4"), "--codec", "prores", "--quiet"]) == 2
    assert "mp4 cannot hold prores video" in capsys.readouterr().err
    assert not (tmp_path / "asked.mp4").exists()
    out = tmp_path / "same.mp4"  # same: ProRes has no place in MP4, so H.264 at the plate's depth and chroma
    assert main(["passthrough", str(plate), "-o", str(out), "--quiet"]) == 0
    assert "mp4 cannot hold prores; writing H.264" in capsys.readouterr().err
    got = probe(out)
    assert (got.codec, got.pix_fmt, got.timecode) == ("h264", "yuv422p10le", TIMECODE)

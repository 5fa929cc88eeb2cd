"""Media layer on real encodes: clips synthesised from a real photo, decoded, re-encoded and measured."""

from __future__ import annotations

import os
import tracemalloc
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from conftest import psnr
from PIL import Image

from facex_video.core.errors import InputError, OutputError
from facex_video.media import (
    Shot,
    VideoWriter,
    is_image_path,
    iter_chunks,
    output_check,
    probe,
    read_image,
    render_shot_frames,
    write_clip,
    write_image,
)
from facex_video.media.encode import concat_videos

SIZE = (320, 240)


def _shots(photo: np.ndarray, seconds: float = 1.0) -> list[Shot]:
    """Two shots with a real camera move each, joined by a hard cut."""
    return [
        Shot(photo, seconds, zoom=(1.0, 0.7), pan=((0.5, 0.5), (0.45, 0.35))),
        Shot(photo[:, ::-1].copy(), seconds, zoom=(0.8, 0.9), rotate=(-4.0, 4.0)),
    ]


def _decode_all(path: Path, chunk_size: int = 32) -> tuple[np.ndarray, np.ndarray, list[int]]:
    chunks = list(iter_chunks(path, chunk_size=chunk_size))
    starts = [c.start for c in chunks]
    return np.concatenate([c.frames for c in chunks]), np.concatenate([c.pts for c in chunks]), starts


def _audio_samples(path: Path) -> np.ndarray:
    """All decoded samples of the first audio stream, (channels, n) float."""
    with av.open(str(path)) as c:
        return np.concatenate([f.to_ndarray() for f in c.decode(audio=0)], axis=1)


@pytest.fixture(scope="module")
def clips(tmp_path_factory, astronaut) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("clips")
    return {
        "25": write_clip(folder / "c25.mp4", _shots(astronaut), size=SIZE, fps=Fraction(25)),
        "ntsc": write_clip(folder / "c2997.mp4", _shots(astronaut, 0.5), size=SIZE, fps=Fraction(30000, 1001)),
    }


def _plain_clip(path: Path, frames: np.ndarray, audio_codec: str | None = None, fps: Fraction = Fraction(25)) -> Path:
    """A clip muxed the plain way (index after the data, as cameras write it), with an optional 440 Hz tone
    in a given codec (Opus in .mkv, PCM in .mov: what phones and editors make)."""
    rate = 48000
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=fps, options={"preset": "ultrafast"})
        video.width, video.height, video.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        sound = out.add_stream(audio_codec, rate=rate, layout="stereo") if audio_codec else None
        per_frame = Fraction(rate) / fps
        for i, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = i
            out.mux(video.encode(frame))
            if sound:
                a0, a1 = round(i * per_frame), round((i + 1) * per_frame)
                tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(a0, a1) / rate)).astype(np.float32)
                chunk = av.AudioFrame.from_ndarray(np.stack([tone, tone]), format="fltp", layout="stereo")
                chunk.sample_rate, chunk.pts = rate, a0
                out.mux(sound.encode(chunk))
        out.mux(video.encode(None))
        if sound:
            out.mux(sound.encode(None))
    return path


# ---------------------------------------------------------------- probe


@pytest.mark.parametrize("key, fps, frames", [("25", Fraction(25), 50), ("ntsc", Fraction(30000, 1001), 30)])
def test_probe_reports_exact_timing_and_audio(clips, key, fps, frames):
    info = probe(clips[key])
    assert isinstance(info.fps, Fraction) and info.fps == fps
    assert info.frame_count == frames
    assert info.duration == pytest.approx(float(frames / fps), abs=1e-6)
    assert (info.width, info.height, info.rotation, info.codec, info.pix_fmt) == (320, 240, 0, "h264", "yuv420p")
    assert info.start_pts == 0
    (audio,) = info.audio
    assert (audio.codec, audio.sample_rate, audio.channels) == ("aac", 48000, 2)
    assert abs(audio.duration - info.duration) < float(1 / fps)


def test_is_image_path():
    assert is_image_path("a/b.JPG") and is_image_path("x.webp") and is_image_path("x.tiff")
    assert not is_image_path("x.mp4") and not is_image_path("x")


@pytest.mark.parametrize("rotation", [90, 180, 270])
def test_rotated_clip_reports_rotation_and_decodes_upright(tmp_path, astronaut, rotation):
    upright = np.stack(list(render_shot_frames(Shot(astronaut, 0.4, zoom=(1.0, 0.8)), (240, 320), Fraction(25))))
    turns = rotation // 90
    path = tmp_path / f"rot{rotation}.mp4"
    with av.open(str(path), "w") as out:  # stored turned clockwise, display matrix turns it back
        stream = out.add_stream("libx264", rate=Fraction(25), options={"crf": "12"})
        stored = np.rot90(upright, -turns, axes=(1, 2))
        stream.width, stream.height, stream.pix_fmt = stored.shape[2], stored.shape[1], "yuv420p"
        stream.set_display_rotation(rotation)
        for i, rgb in enumerate(stored):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    info = probe(path)
    assert info.rotation == rotation
    assert (info.width, info.height) == (240, 320)
    frames, _, _ = _decode_all(path)
    assert frames.shape == upright.shape
    assert psnr(frames, upright) > 35  # upright content, not merely the right shape


# ---------------------------------------------------------------- decode


def _sequential(path: Path) -> tuple[np.ndarray, list[int]]:
    """The reference: a plain PyAV decode from the first frame, no seeking."""
    with av.open(str(path)) as c:
        decoded = [(f.to_ndarray(format="rgb24"), f.pts) for f in c.decode(video=0)]
    return np.stack([f for f, _ in decoded]), [p for _, p in decoded]


@pytest.mark.parametrize("key", ["25", "ntsc"])
def test_chunked_decode_equals_sequential_decode(clips, key):
    info = probe(clips[key])
    frames, pts, starts = _decode_all(clips[key], chunk_size=7)
    reference, reference_pts = _sequential(clips[key])
    assert frames.shape == (info.frame_count, 240, 320, 3) and frames.dtype == np.uint8
    assert np.array_equal(frames, reference) and list(pts) == reference_pts
    assert starts == list(range(0, info.frame_count, 7))
    assert pts.dtype == np.int64 and pts[0] == info.start_pts and list(pts) == list(info.index.pts)
    # every frame once, in order: the pts step is exactly one frame in the stream time base
    assert set(np.diff(pts) * info.time_base) == {1 / info.fps}
    for start in (1, 13, info.frame_count - 3):  # a window anywhere is the same frames as the whole decode
        (chunk,) = list(iter_chunks(clips[key], start=start, stop=start + 3))
        assert chunk.start == start and np.array_equal(chunk.frames, reference[start:start + 3])
    with pytest.raises(ValueError, match="start"):
        iter_chunks(clips[key], start=5, stop=2)  # at the call, not at the first next()


def test_decodes_narrow_frames(tmp_path, astronaut):
    frames = np.stack(list(render_shot_frames(Shot(astronaut, 0.2), (48, 64), Fraction(25))))
    path = _plain_clip(tmp_path / "narrow.mp4", frames)  # decord 0.6.0 failed on 48 px wide frames
    decoded, _, _ = _decode_all(path)
    assert psnr(decoded, frames) > 30


def test_decode_memory_is_flat_in_clip_length(tmp_path, astronaut):
    short = write_clip(tmp_path / "short.mp4", _shots(astronaut, 1.0), size=SIZE, audio=False)
    long = write_clip(tmp_path / "long.mp4", _shots(astronaut, 2.0), size=SIZE, audio=False)
    chunk_bytes = 8 * 240 * 320 * 3
    peaks = []
    for path in (short, long):
        tracemalloc.start()
        frames = sum(len(chunk.frames) for chunk in iter_chunks(path, chunk_size=8))
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        assert frames == probe(path).frame_count
    assert peaks[0] < 4 * chunk_bytes  # a couple of chunks alive at once, never the clip
    assert peaks[1] < 1.25 * peaks[0], peaks


# ---------------------------------------------------------------- encode


def test_writer_round_trip_keeps_timing_quality_and_audio(tmp_path, clips):
    src = clips["ntsc"]
    info = probe(src)
    frames, pts, _ = _decode_all(src)
    out = tmp_path / "out.mp4"
    with VideoWriter(out, fps=info.fps, width=info.width, height=info.height, time_base=info.time_base,
                     audio_from=src) as writer:
        for rgb, t in zip(frames, pts):
            writer.write(rgb, pts=int(t))
    got = probe(out)
    assert got.frame_count == info.frame_count and got.fps == info.fps
    assert got.duration == pytest.approx(info.duration, abs=1e-6)
    decoded, decoded_pts, _ = _decode_all(out)
    assert np.array_equal(decoded_pts * got.time_base, pts * info.time_base)
    assert psnr(decoded, frames) >= 40
    (audio,) = got.audio
    assert audio.codec == "aac" and abs(audio.duration - info.audio[0].duration) < float(1 / info.fps)
    with av.open(str(src)) as a, av.open(str(out)) as b:  # stream copy: the very same AAC packets
        assert [bytes(p) for p in a.demux(audio=0)] == [bytes(p) for p in b.demux(audio=0)]
    assert sorted(os.listdir(tmp_path)) == ["out.mp4"]


@pytest.mark.parametrize("container, codec, expected", [
    (".mov", "pcm_s16le", "aac"),  # PCM in MP4 is legal but few players read it: transcoded
    (".mkv", "pcm_s16le", "aac"),
    (".mkv", "libopus", "opus"),  # MP4 carries Opus: copied
])
def test_writer_copies_or_transcodes_audio_into_mp4(tmp_path, astronaut, container, codec, expected):
    frames = np.stack(list(render_shot_frames(Shot(astronaut, 1.0), (160, 120), Fraction(25))))
    src = _plain_clip(tmp_path / f"src{container}", frames, codec)
    info = probe(src)
    out = tmp_path / "out.mp4"
    with VideoWriter(out, fps=info.fps, width=info.width, height=info.height, time_base=info.time_base,
                     audio_from=src, preset="ultrafast") as writer:
        for chunk in iter_chunks(src, info=info):
            for rgb, t in zip(chunk.frames, chunk.pts):
                writer.write(rgb, pts=int(t))
    got = probe(out)
    assert got.frame_count == 25 and got.fps == 25
    (audio,) = got.audio
    assert audio.codec == expected and (audio.sample_rate, audio.channels) == (48000, 2)
    assert abs(audio.duration - info.audio[0].duration) < 1 / 25
    assert np.sqrt(np.mean(_audio_samples(out) ** 2)) > 0.1  # the tone survived, not silence


@pytest.mark.parametrize("suffix", [".mp4", ".mov", ".m4v", ".mkv"])
def test_odd_size_comes_back_exact_written_whole_or_joined_from_parts(tmp_path, suffix):
    """641x361 decodes as 641x361, unshifted, from one writer and from separately encoded parts joined by
    stream copy (the sharded job's chunks), each with audio remuxed in."""
    rng = np.random.default_rng(0)
    frames = np.stack([np.repeat(np.repeat(rng.integers(0, 256, (46, 82, 3), np.uint8), 8, 0), 8, 1)[:361, :641]
                       for _ in range(6)])
    audio = _plain_clip(tmp_path / "audio.mkv", np.zeros((6, 64, 64, 3), np.uint8), "libopus")
    whole, joined = tmp_path / f"whole{suffix}", tmp_path / f"joined{suffix}"
    parts = [tmp_path / "part0.mp4", tmp_path / "part1.mp4"]
    for dest, span, audio_from in [(whole, range(6), audio), (parts[0], range(3), None), (parts[1], range(3, 6), None)]:
        with VideoWriter(dest, fps=Fraction(25), width=641, height=361, preset="ultrafast", deterministic=True,
                         audio_from=audio_from) as writer:
            for i in span:
                writer.write(np.ascontiguousarray(frames[i]), pts=i)
    concat_videos(parts, joined, fps=Fraction(25), audio_from=audio)
    for out in (whole, joined):
        with av.open(str(out)) as c:
            decoded = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
            assert len(c.streams.audio) == 1
        assert np.stack(decoded).shape == frames.shape, out.name
        assert psnr(np.stack(decoded), frames) > 35
        assert (probe(out).width, probe(out).height) == (641, 361)


def test_writer_default_pts_count_frames_at_fps(tmp_path, astronaut):
    out = tmp_path / "plain.mkv"
    with VideoWriter(out, fps=Fraction(24000, 1001), width=160, height=120, preset="ultrafast") as writer:
        for rgb in render_shot_frames(Shot(astronaut, 0.5), (160, 120), Fraction(24000, 1001)):
            writer.write(rgb)
    info = probe(out)
    assert info.fps == Fraction(24000, 1001) and info.frame_count == 12 and info.audio == ()


# ---------------------------------------------------------------- bad inputs and outputs


def _audio_only(path: Path) -> Path:
    with av.open(str(path), "w") as out:
        sound = out.add_stream("aac", rate=48000, layout="stereo")
        chunk = av.AudioFrame.from_ndarray(np.zeros((2, 48000), np.float32), format="fltp", layout="stereo")
        chunk.sample_rate, chunk.pts = 48000, 0
        out.mux(sound.encode(chunk))
        out.mux(sound.encode(None))
    return path


def _first_half(src: Path, dst: Path) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[: len(data) // 2])
    return dst


def _bad_input(case: str, folder: Path, photo: np.ndarray) -> Path:
    if case == "missing":
        return folder / "missing.mp4"
    if case == "empty":
        (folder / "empty.mp4").touch()
        return folder / "empty.mp4"
    if case == "random":
        (folder / "random.mp4").write_bytes(np.random.default_rng(0).bytes(50_000))
        return folder / "random.mp4"
    if case == "audio_only":
        return _audio_only(folder / "song.m4a")
    frames = np.stack(list(render_shot_frames(Shot(photo, 2.0), (160, 120), Fraction(25))))
    suffix = {"cut_mp4": ".mp4", "cut_mkv": ".mkv"}[case]
    return _first_half(_plain_clip(folder / f"whole{suffix}", frames), folder / f"cut{suffix}")


@pytest.mark.parametrize("case, problem", [
    ("missing", "file not found"),
    ("empty", "empty file (0 bytes)"),
    ("random", "not a media file"),
    ("cut_mp4", "no 'moov' index"),
    ("audio_only", "no video stream"),
    ("cut_mkv", "truncated"),
])
def test_bad_inputs_raise_input_error_naming_the_file(tmp_path, astronaut, case, problem):
    path = _bad_input(case, tmp_path, astronaut)
    with pytest.raises(InputError) as err:
        probe(path)
    assert path.name in str(err.value) and problem in err.value.problem


def test_cut_faststart_mp4_fails_at_probe_naming_the_first_missing_frame(tmp_path, clips):
    cut = _first_half(clips["25"], tmp_path / "cut.mp4")  # index up front: the header still promises 50 frames
    with pytest.raises(InputError, match=r"cut\.mp4: the container claims 50 frames but holds (\d+): "
                                         r"frame \1 is missing") as err:
        probe(cut)
    assert 0 < int(err.value.problem.split("holds ")[1].split(":")[0]) < 50


def _read_only_folder(tmp_path: Path) -> Path:
    """A folder this process cannot create files in; as root permission bits do not stop us, sysfs does."""
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    for candidate in (folder, Path("/sys")):
        try:
            (candidate / ".facex-write-test").touch()
        except OSError:
            return candidate
        (candidate / ".facex-write-test").unlink()
    pytest.skip("no read-only folder available to this user")


def test_output_errors_before_any_work(tmp_path):
    for bad, problem in [
        (tmp_path / "nowhere" / "out.mp4", "does not exist"),
        (_read_only_folder(tmp_path) / "out.mp4", "cannot create files"),
        (tmp_path / "out.avi", "unsupported video extension"),
        (tmp_path / "out", "unsupported video extension"),
    ]:
        with pytest.raises(OutputError) as err:
            output_check(bad)
        assert problem in err.value.problem, err.value
        with pytest.raises(OutputError):
            VideoWriter(bad, fps=Fraction(25), width=64, height=64)
    with pytest.raises(InputError, match="missing.mp4: file not found"):
        VideoWriter(tmp_path / "ok.mp4", fps=Fraction(25), width=64, height=64, audio_from=tmp_path / "missing.mp4")
    assert [p.name for p in tmp_path.iterdir() if p.name != "ro"] == []


def test_failure_mid_write_leaves_nothing(tmp_path, clips):
    dest = tmp_path / "out.mp4"
    frame = np.zeros((240, 320, 3), np.uint8)
    with pytest.raises(RuntimeError, match="model crashed"):
        with VideoWriter(dest, fps=Fraction(25), width=320, height=240, audio_from=clips["25"]) as writer:
            for _ in range(30):
                writer.write(frame)
            raise RuntimeError("model crashed")
    assert list(tmp_path.iterdir()) == []
    # failing inside close(): the audio source vanished while we were encoding
    audio = tmp_path / "audio.mp4"
    audio.write_bytes(clips["25"].read_bytes())
    writer = VideoWriter(dest, fps=Fraction(25), width=320, height=240, audio_from=audio)
    for _ in range(30):
        writer.write(frame)
    audio.unlink()
    with pytest.raises(InputError, match="audio.mp4: file not found"):
        writer.close()
    assert list(tmp_path.iterdir()) == []


def test_an_encoder_failure_on_its_thread_reaches_the_caller_and_leaves_nothing(tmp_path, monkeypatch):
    """Frames are encoded on the writer's own thread (media/encode._EncoderThread): a failure there (here a
    full disk at the fourth frame) is raised to the caller, by a later write or by close, as the one-line
    error naming the output, and nothing is left at the destination."""
    import errno

    from facex_video.core.errors import DiskFullError
    from facex_video.media import encode

    real = encode.VideoWriter._encode
    done = []

    def failing(self, frame):
        if len(done) == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        done.append(frame.pts)
        real(self, frame)

    monkeypatch.setattr(encode.VideoWriter, "_encode", failing)
    dest = tmp_path / "out.mp4"
    frame = np.zeros((240, 320, 3), np.uint8)
    with pytest.raises(DiskFullError) as err:
        with VideoWriter(dest, fps=Fraction(25), width=320, height=240) as writer:
            for _ in range(30):
                writer.write(frame)
    assert str(dest) in str(err.value)
    assert done == [0, 1, 2]  # in order, and nothing encoded after the failure
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- images


def test_image_round_trip_and_errors(tmp_path, astronaut):
    write_image(tmp_path / "a.png", astronaut)
    assert np.array_equal(read_image(tmp_path / "a.png"), astronaut)
    write_image(tmp_path / "a.jpg", astronaut)
    assert psnr(read_image(tmp_path / "a.jpg"), astronaut) > 35
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.jpg", "a.png"]
    (tmp_path / "empty.jpg").touch()
    (tmp_path / "junk.png").write_bytes(b"not an image at all" * 10)
    for name, problem in [("missing.png", "file not found"), ("empty.jpg", "empty file"), ("junk.png", "decode")]:
        with pytest.raises(InputError, match=problem) as err:
            read_image(tmp_path / name)
        assert name in str(err.value)
    with pytest.raises(OutputError, match="unsupported image extension"):
        write_image(tmp_path / "a.gif", astronaut)
    with pytest.raises(OutputError, match="does not exist"):
        write_image(tmp_path / "nowhere" / "a.png", astronaut)


def test_read_image_applies_exif_orientation(tmp_path):
    pixels = np.zeros((40, 60, 3), np.uint8)
    pixels[:10, :10] = 255  # white corner top-left as stored
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 clockwise to display"
    Image.fromarray(pixels).save(tmp_path / "phone.jpg", exif=exif.tobytes(), quality=95)
    shown = read_image(tmp_path / "phone.jpg")
    assert shown.shape == (60, 40, 3)
    assert shown[:10, -10:].mean() > 240 and shown[:10, :10].mean() < 15  # corner moved to top-right


# ---------------------------------------------------------------- synthesis


def test_synth_clip_has_motion_cuts_and_a_real_soundtrack(clips):
    frames, _, _ = _decode_all(clips["25"])
    diffs = np.array([np.abs(frames[i + 1].astype(int) - frames[i]).mean() for i in range(len(frames) - 1)])
    assert diffs.argmax() == 24  # the hard cut between the 25-frame shots
    assert diffs[24] > 5 * np.median(diffs) and np.median(diffs) > 0.5  # a cut, and smooth motion elsewhere
    samples = _audio_samples(clips["25"])
    assert samples.shape[0] == 2
    assert abs(samples.shape[1] / 48000 - 2.0) < 1 / 25
    rms = np.sqrt(np.mean(samples**2))
    assert 0.05 < rms < 0.5


def test_render_shot_frames_follows_the_camera_path(astronaut):
    frames = list(render_shot_frames(Shot(astronaut, 1.0, zoom=(1.0, 0.5)), (160, 90), Fraction(25)))
    assert len(frames) == 25 and frames[0].shape == (90, 160, 3) and frames[0].dtype == np.uint8
    # 512x512 photo, 16:9 output: zoom 1 is the centred 512x288 band, zoom 0.5 its centred 256x144 half
    band, half = astronaut[112:400], astronaut[184:328, 128:384]
    assert psnr(frames[0], cv2.resize(band, (160, 90), interpolation=cv2.INTER_AREA)) > 45
    assert psnr(frames[-1], cv2.resize(half, (160, 90), interpolation=cv2.INTER_AREA)) > 45
    assert psnr(frames[0], frames[-1]) < 20  # and it did move

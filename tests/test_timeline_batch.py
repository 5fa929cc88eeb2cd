"""Editorial batches (issue 16): an OpenTimelineIO timeline of three clips over two source files runs as three
batch items, each the clip's source range as a clip of its own (frames, audio and timecode cut to it), with a
status per item, and writes a results timeline that OTIO reads back; an EDL gives the same items."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import opentimelineio as otio
import pytest
from stamp import read_stamp, stamp

from facex_video.cli.batch import DONE, run_batch
from facex_video.cli.timeline import timeline_items
from facex_video.media import iter_chunks, probe, render_shot_frames, write_image
from facex_video.media.samples import load_sample
from facex_video.media.synth import Shot

FPS = 24
CLIPS = [("shot_a_010", "a.mov", 10, 30), ("shot_b_020", "b.mp4", 5, 20), ("shot_a_030", "a.mov", 40, 55)]
A_TIMECODE = "01:00:00:00"


def _stamped_clip(path: Path, photo: np.ndarray, seconds: float, codec: str, pix_fmt: str, audio: str,
                  timecode: str | None = None) -> None:
    """A clip of `photo` under a slow push-in, each frame's index burnt in (tests/stamp.py), with a tone."""
    n = round(seconds * FPS)
    frames = list(render_shot_frames(Shot(photo, seconds=seconds, zoom=(1.0, 0.9)), (320, 240), Fraction(FPS)))
    with av.open(str(path), "w") as out:
        video = out.add_stream(codec, rate=FPS, options={"profile": "3"} if codec == "prores_ks" else {})
        video.width, video.height, video.pix_fmt = 320, 240, pix_fmt
        if timecode:
            video.metadata["timecode"] = timecode
        sound = out.add_stream(audio, rate=48000, layout="stereo")
        for i, rgb in enumerate(frames[:n]):
            frame = av.VideoFrame.from_ndarray(stamp(rgb, i), format="rgb24").reformat(format=pix_fmt)
            frame.pts = i
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        t = np.arange(int(48000 * seconds)) / 48000
        tone = np.tile((0.2 * np.sin(2 * np.pi * 330 * t)).astype(np.float32), (2, 1))
        chunk = av.AudioFrame.from_ndarray(tone if audio == "aac" else tone.T.reshape(1, -1),
                                           format="fltp" if audio == "aac" else "flt", layout="stereo")
        chunk.sample_rate, chunk.pts = 48000, 0
        for packet in (*sound.encode(chunk), *sound.encode(None)):
            out.mux(packet)


@pytest.fixture(scope="module")
def media(tmp_path_factory, grace_hopper, astronaut) -> Path:
    folder = tmp_path_factory.mktemp("timeline")
    _stamped_clip(folder / "a.mov", grace_hopper, 2.5, "prores_ks", "yuv422p10le", "pcm_s24le", A_TIMECODE)
    _stamped_clip(folder / "b.mp4", astronaut, 1.0, "libx264", "yuv420p", "aac")
    write_image(folder / "tom.png", load_sample("tom_hanks"))
    track = otio.schema.Track()
    for name, file, start, stop in CLIPS:
        origin = otio.opentime.from_timecode(A_TIMECODE, FPS) if file == "a.mov" else otio.opentime.RationalTime(0, FPS)
        available = otio.opentime.TimeRange(origin, otio.opentime.RationalTime(probe(folder / file).frame_count, FPS))
        track.append(otio.schema.Clip(
            name=name, media_reference=otio.schema.ExternalReference(target_url=file, available_range=available),
            source_range=otio.opentime.TimeRange(origin + otio.opentime.RationalTime(start, FPS),
                                                 otio.opentime.RationalTime(stop - start, FPS))))
    timeline = otio.schema.Timeline(name="cut", tracks=[track])
    otio.adapters.write_to_file(timeline, str(folder / "cut.otio"))
    return folder


@pytest.mark.slow
def test_a_timeline_of_three_clips_runs_as_three_items_and_is_written_back(media):
    batch = media / "cut.yaml"
    batch.write_text("timeline: cut.otio\ntask: swap\nsource: tom.png\nrunner: inline\noutput_dir: out\n")
    (media / "out").mkdir(exist_ok=True)
    statuses = run_batch(batch)
    assert [(n, s.status) for n, s in statuses.items()] == [(name, DONE) for name, *_ in CLIPS]
    assert set(json.loads((media / "cut.status.json").read_text())) == {name for name, *_ in CLIPS}
    for name, file, start, stop in CLIPS:
        out = media / "out" / f"{name}{Path(file).suffix}"
        info = probe(out)
        assert info.frame_count == stop - start and info.fps == FPS
        if file == "a.mov":  # the window's first frame's timecode
            expected = otio.opentime.to_timecode(otio.opentime.from_timecode(A_TIMECODE, FPS)
                                                 + otio.opentime.RationalTime(start, FPS), FPS)
            assert (info.codec, info.timecode) == ("prores", expected)
        assert abs(info.audio[0].duration - (stop - start) / FPS) < 0.03  # the sound cut to the range
        # frame k of the output is frame start + k of the file, by the index burnt into it
        assert [read_stamp(f) for c in iter_chunks(out) for f in c.frames] == list(range(start, stop))
    results = otio.adapters.read_from_file(str(media / "cut.results.otio"))
    clips = results.find_clips()
    assert [c.name for c in clips] == [name for name, *_ in CLIPS]
    for clip, (name, file, start, stop) in zip(clips, CLIPS, strict=True):
        assert Path(clip.media_reference.target_url) == (media / "out" / f"{name}{Path(file).suffix}").absolute()
        assert clip.source_range.duration.to_frames() == stop - start


def test_an_edl_of_the_same_cut_gives_the_same_items(media):
    timeline = otio.adapters.read_from_file(str(media / "cut.otio"))
    for clip in timeline.find_clips():  # as an EDL carries them: the file's name, the range in its timecode
        clip.media_reference = otio.schema.ExternalReference(
            target_url=str(media / clip.media_reference.target_url))
    otio.adapters.write_to_file(timeline, str(media / "cut.edl"))
    items = timeline_items(media / "cut.edl", {"task": "swap"})
    assert [(Path(i["target"]).name, i["frames"]) for i in items] == [(f, f"{a}:{b}") for _, f, a, b in CLIPS]


@pytest.mark.slow
def test_a_timeline_given_directly_takes_its_task_from_its_metadata(media, capsys):
    from facex_video.cli import main

    timeline = otio.adapters.read_from_file(str(media / "cut.otio"))
    timeline.metadata["facex"] = {"task": "swap", "source": "tom.png", "runner": "inline", "output_dir": "direct"}
    otio.adapters.write_to_file(timeline, str(media / "direct.otio"))
    (media / "direct").mkdir()
    assert main(["batch", str(media / "direct.otio")]) == 0
    assert sorted(p.name for p in (media / "direct").iterdir()) == sorted(f"{n}{Path(f).suffix}" for n, f, *_ in CLIPS)
    assert len(otio.adapters.read_from_file(str(media / "direct.results.otio")).find_clips()) == 3

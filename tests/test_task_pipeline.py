"""The task pipeline's plumbing (two passes, roles, selection, timeline, audio) with a measurable renderer."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from conftest import psnr

from facex_video import api
from facex_video.media import iter_chunks, probe, read_image, write_image
from facex_video.media.synth import Shot, write_clip
from facex_video.render import registry
from facex_video.video.config import RunConfig

INLINE = RunConfig(runner="inline", progress=False)  # never Ray, even where this machine would pick it


class PaintRenderer:
    """Paints every rendered face's oval a flat colour chosen by the task, so a test can see what was
    rendered where (the real renderers are tested on their own)."""

    name = "paint"
    needs_identity = False
    tasks = frozenset({"swap", "headswap", "hairswap", "reenact", "edit", "inpaint", "mix"})

    def __init__(self):
        self.calls = []

    def render(self, assembled, state):
        self.calls.append((assembled.task.name, state.track_id, state.frames))
        crop = assembled.canvas_crop.copy()
        oval = assembled.canvas_masks["face_oval"]
        crop[oval] = (255, 0, 255)
        return crop, oval.astype(np.float32)


@pytest.fixture
def painter(monkeypatch):
    renderer = PaintRenderer()
    monkeypatch.setattr(registry, "load_renderer", lambda *a, **k: renderer)
    return renderer


@pytest.fixture(scope="module")
def clip(tmp_path_factory, t1):
    path = tmp_path_factory.mktemp("clips") / "t1.mp4"
    write_clip(path, [Shot(t1, seconds=1.0, zoom=(0.95, 0.95), pan=((0.49, 0.4), (0.51, 0.4)))],
               size=(640, 360), fps=Fraction(10))
    return path


def magenta_fraction(rgb: np.ndarray) -> float:
    return float(np.mean((rgb[..., 0] > 240) & (rgb[..., 1] < 15) & (rgb[..., 2] > 240)))


def test_swap_video_keeps_timeline_and_audio_and_edits_every_face(clip, tmp_path, painter, astronaut):
    src = tmp_path / "a.png"
    write_image(src, astronaut)
    out, sheet = tmp_path / "out.mp4", tmp_path / "sheet.png"
    summary = api.run_task("swap", out, source=src, target=clip, preview=sheet, config=INLINE)
    rows = read_image(sheet)
    assert rows.shape[0] > 6 * 240 and magenta_fraction(rows) > 0.001  # six rows, results painted
    assert sorted(summary["tracks"]) == list(range(6))
    a, b = probe(clip), probe(out)
    assert (b.frame_count, b.fps, b.width, b.height) == (a.frame_count, a.fps, a.width, a.height)
    assert len(b.audio) == 1 and abs(b.audio[0].duration - a.audio[0].duration) <= 1 / 10
    assert {(c[0], c[1]) for c in painter.calls} == {("swap", t) for t in range(6)}
    # each track's state counts its frames in order
    for t in range(6):
        assert [c[2] for c in painter.calls if c[1] == t] == list(range(10))
    frame = next(iter(iter_chunks(out))).frames[0]
    assert magenta_fraction(frame) > 0.01


def test_face_selection_edits_only_the_chosen_track(clip, tmp_path, painter):
    out = tmp_path / "out.mp4"
    api.run_task("edit", out, target=clip, faces={2}, config=INLINE)
    assert {c[1] for c in painter.calls} == {2}


def test_reenact_composes_onto_the_still_source_on_the_driving_timeline(clip, tmp_path, painter, astronaut):
    src = tmp_path / "a.png"
    write_image(src, astronaut)
    out = tmp_path / "reenact.mp4"
    api.run_task("reenact", out, source=src, driving=clip, faces={0}, config=INLINE)
    info = probe(out)
    assert (info.width, info.height) == (512, 512) and info.frame_count == 10
    frame = next(iter(iter_chunks(out))).frames[0]
    assert magenta_fraction(frame) > 0.02  # the astronaut's face painted
    # outside the face the picture is the still source, not the driving footage
    assert psnr(frame[400:, :100], astronaut[400:, :100]) > 30


def test_image_target_and_bad_requests(tmp_path, painter, astronaut, grace_hopper):
    src, tgt, out = tmp_path / "a.png", tmp_path / "g.png", tmp_path / "o.png"
    write_image(src, astronaut)
    write_image(tgt, grace_hopper)
    api.run_task("swap", out, source=src, target=tgt, progress=False)
    assert read_image(out).shape == grace_hopper.shape
    from facex_video.core.errors import FacexError

    with pytest.raises(FacexError, match="same kind"):
        api.run_task("swap", tmp_path / "o.mp4", source=src, target=tgt, progress=False)
    with pytest.raises(FacexError, match="--region NAME or --mask"):
        api.run_task("inpaint", tmp_path / "i.png", target=tgt, progress=False)
    from facex_video.tasks.assemble import Edits

    with pytest.raises(FacexError, match="expression edits"):
        api.run_task("edit", tmp_path / "e.png", target=tgt, edits=Edits(expression={"cheekPuff": 1.0}),
                     progress=False)
    assert not (tmp_path / "o.mp4").exists() and not (tmp_path / "i.png").exists()

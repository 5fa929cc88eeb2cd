"""`facex analyze`: FORD on every face of every frame, into Parquet, with track identities filled in."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pyarrow.parquet as pq
import pytest

from facex_video.cli import main
from facex_video.ford.representation import from_table
from facex_video.media.samples import sample_path
from facex_video.media.synth import Shot, write_clip


def test_analyze_image_gives_one_row_per_face(tmp_path):
    out, sheet = tmp_path / "t1.parquet", tmp_path / "sheet.png"
    assert main(["analyze", str(sample_path("t1")), "-o", str(out), "--preview", str(sheet), "--quiet"]) == 0
    reps = from_table(pq.read_table(out))
    assert sorted(r.track_id for r in reps) == list(range(6))
    assert {r.frame_index for r in reps} == {0} and {r.timestamp for r in reps} == {0.0}
    emb = np.stack([r.identity.embedding for r in reps])
    assert np.all(np.linalg.norm(emb, axis=1) > 0.1)  # filled in, not the placeholder
    d = np.linalg.norm(emb[:, None] - emb[None], axis=-1) + np.eye(6) * 9
    assert d.min() > 0.6  # six different people
    for r in reps:
        assert r.environment.masks["skin"].any() and r.environment.masks["face_oval"].any()
        assert np.abs(r.identity.neutral_shape).max() > 1  # cm-scale shape, not zeros
    assert sheet.stat().st_size > 50_000


@pytest.fixture(scope="module")
def two_shot_clip(tmp_path_factory, astronaut, grace_hopper):
    path = tmp_path_factory.mktemp("clips") / "two.mp4"
    write_clip(
        path,
        [
            Shot(astronaut, seconds=1.0, zoom=(1.0, 0.9), pan=((0.45, 0.4), (0.5, 0.35))),
            Shot(grace_hopper, seconds=1.0, zoom=(1.0, 0.95), pan=((0.5, 0.4), (0.5, 0.38))),
        ],
        size=(480, 270),
        fps=Fraction(12),
    )
    return path


def test_analyze_video_rows_per_frame_with_track_identity(two_shot_clip, tmp_path):
    out = tmp_path / "two.parquet"
    assert main(["analyze", str(two_shot_clip), "-o", str(out), "--crops", "--quiet"]) == 0
    table = pq.read_table(out)
    assert table.num_rows == 24  # one face in each of 24 frames
    reps = from_table(table)
    assert [r.frame_index for r in reps] == list(range(24))
    np.testing.assert_allclose([r.timestamp for r in reps], np.arange(24) / 12, atol=1e-6)
    assert [r.track_id for r in reps] == [0] * 12 + [1] * 12
    by_track = {t: np.stack([r.identity.embedding for r in reps if r.track_id == t]) for t in (0, 1)}
    for emb in by_track.values():  # the track's identity, the same on every row
        assert np.ptp(emb, axis=0).max() == 0
    assert np.linalg.norm(by_track[0][0] - by_track[1][0]) > 0.6  # astronaut vs Grace Hopper
    import cv2

    crop = cv2.imdecode(np.frombuffer(reps[0].extras["crop_jpeg"], np.uint8), cv2.IMREAD_COLOR)
    assert crop.shape == (512, 512, 3)


def test_analyze_refuses_a_non_parquet_output(tmp_path, capsys):
    assert main(["analyze", str(sample_path("t1")), "-o", str(tmp_path / "t1.csv"), "--quiet"]) == 2
    assert "Parquet" in capsys.readouterr().err
    assert not (tmp_path / "t1.csv").exists()


def test_reported_rows_are_the_rows_written(tmp_path, astronaut):
    """Rows of tracks too short to keep are dropped from the file, and from the count the summary gives."""
    from facex_video import api

    clip = tmp_path / "blink.mp4"
    frames = [astronaut] * 6 + [np.zeros_like(astronaut)] * 6 + [astronaut]  # a 1-frame track at the end
    write_clip(clip, [Shot(f, seconds=1 / 12) for f in frames], size=(256, 256), fps=Fraction(12), audio=False)
    summary = api.analyze(clip, tmp_path / "b.parquet", progress=False)
    assert summary["rows"] == pq.read_table(tmp_path / "b.parquet").num_rows == 6

"""`facex batch`: a post-production batch with one broken input, its status file, and a rerun that retries
only what failed."""

from __future__ import annotations

import json
from fractions import Fraction

import yaml

from facex_video.cli import main
from facex_video.cli.batch import DONE, FAILED, SKIPPED, item_run, run_batch
from facex_video.media import probe, read_image, write_image
from facex_video.media.synth import Shot, write_clip


def test_batch_records_the_broken_item_and_the_rerun_retries_only_it(tmp_path, astronaut, grace_hopper, capsys):
    write_image(tmp_path / "grace.png", grace_hopper)
    write_image(tmp_path / "astronaut.png", astronaut)
    write_clip(tmp_path / "shot.mp4", [Shot(astronaut, seconds=0.5)], size=(320, 240), fps=Fraction(10))
    (tmp_path / "broken.png").write_bytes(b"\x89PNG but not really")
    (tmp_path / "out").mkdir()
    batch = {
        "runner": "inline",
        "items": [
            {"name": "smile", "task": "edit", "target": "grace.png", "output": "out/smile.png", "smile": 0.8},
            {"name": "swap-still", "task": "swap", "source": "grace.png", "target": "astronaut.png",
             "output": "out/swap.png"},
            {"name": "swap-shot", "task": "swap", "source": "grace.png", "target": "shot.mp4",
             "output": "out/shot.mp4", "crf": 20},
            {"name": "broken", "task": "edit", "target": "broken.png", "output": "out/broken.png", "yaw": 10},
        ],
    }
    edits = tmp_path / "edits.yaml"
    edits.write_text(yaml.safe_dump(batch))

    assert main(["batch", str(edits)]) == 1
    printed = capsys.readouterr().out
    assert "3 of 4 items done, 1 failed" in printed and "broken: InputError" in printed
    status = json.loads((tmp_path / "edits.status.json").read_text())
    assert [status[n]["status"] for n in ("smile", "swap-still", "swap-shot", "broken")] == [DONE] * 3 + [FAILED]
    assert "broken.png" in status["broken"]["error"] and "not an image" in status["broken"]["error"]
    assert read_image(tmp_path / "out/smile.png").shape == grace_hopper.shape
    assert probe(tmp_path / "out/shot.mp4").frame_count == 5
    assert not (tmp_path / "out/broken.png").exists()

    write_image(tmp_path / "broken.png", grace_hopper)  # the operator fixes the input
    statuses = run_batch(edits)
    assert {n: s.status for n, s in statuses.items()} == {"smile": SKIPPED, "swap-still": SKIPPED,
                                                          "swap-shot": SKIPPED, "broken": DONE}
    assert (tmp_path / "out/broken.png").exists()
    assert all(s["status"] == DONE for s in json.loads((tmp_path / "edits.status.json").read_text()).values())


def test_an_item_is_the_request_its_command_line_makes():
    """A batch item and `facex edit ...` with the same options make the same TaskRequest and RunConfig."""
    from facex_video.cli import build_parser
    from facex_video.cli.flags import task_run
    from facex_video.tasks.table import TABLE

    request, config, preview = item_run({"name": "x", "task": "edit", "target": "/a.mp4", "output": "/b.mp4",
                                         "smile": 0.6, "face": [0, 2], "fresh": True, "keep_work": False,
                                         "gaze": "5,0", "crf": 20})
    args = build_parser().parse_args(["edit", "--quiet", "--target", "/a.mp4", "-o", "/b.mp4", "--smile", "0.6",
                                      "--face", "0", "--face", "2", "--fresh", "--gaze", "5,0", "--crf", "20"])
    assert (request, config) == task_run(TABLE["edit"], vars(args))
    assert request.faces == {0, 2} and request.edits.gaze == (5.0, 0.0) and config.fresh and config.crf == 20
    assert preview is None and not config.progress


def test_a_bad_batch_file_names_itself(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("items: [{task: swap}]")
    assert main(["batch", str(bad)]) == 2

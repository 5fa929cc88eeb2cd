"""Provenance, part one (issue 17): every output says in its metadata that faces in it were synthesised, by
which task, backend, tracks and frames; a passthrough says it altered nothing; `facex verify` reads it (exit
0 marked, 1 not, 2 unreadable); C2PA Content Credentials signed with a test certificate validate. The invisible
watermark's own tests are in tests/test_watermark.py."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import pytest
from PIL import Image

from facex_video import api
from facex_video.api.verify import read_watermark
from facex_video.cli import main
from facex_video.media import write_clip, write_image
from facex_video.media.marks import EditMark, read_mark
from facex_video.media.samples import load_sample
from facex_video.media.synth import Shot
from facex_video.tasks.assemble import Edits
from facex_video.video.config import RunConfig

INLINE = RunConfig(runner="inline", progress=False)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, grace_hopper, astronaut) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("marks")
    paths = {"grace": folder / "grace.png", "astronaut": folder / "astronaut.png", "tom": folder / "tom.png"}
    write_image(paths["grace"], grace_hopper)
    write_image(paths["astronaut"], astronaut)
    write_image(paths["tom"], load_sample("tom_hanks"))
    paths["clip"] = write_clip(folder / "clip.mp4", [Shot(grace_hopper, seconds=0.5, zoom=(1.0, 0.9))],
                               size=(320, 240), fps=Fraction(8))
    return paths


def _request(task: str, inputs: dict[str, Path], footage: Path) -> dict:
    """The inputs of each task, with `footage` as what it edits."""
    return {"swap": {"source": inputs["tom"], "target": footage},
            "headswap": {"source": inputs["tom"], "target": footage},
            "hairswap": {"source": inputs["astronaut"], "target": footage},
            "reenact": {"source": inputs["astronaut"], "driving": footage},
            "edit": {"target": footage, "edits": Edits(yaw=8.0)},
            "inpaint": {"target": footage, "inpaint_region": "eyes"},
            "mix": {"target": footage, "take": {"identity": str(inputs["tom"])}}}[task]


def test_verify_reads_the_mark_of_an_image_swap_and_says_when_there_is_none(tmp_path, inputs, capsys):
    out = tmp_path / "swap.png"
    api.run_task("swap", out, source=inputs["tom"], target=inputs["grace"], progress=False)
    mark = read_mark(out)
    assert mark == EditMark("swap", "geometric", ((0, 0, 1),), watermark=True)
    assert "Faces synthesised by FaceX Video" in Image.open(out).text["comment"]  # what an image viewer shows
    assert main(["verify", str(out)]) == 0
    said = capsys.readouterr().out
    assert "swap, geometric backend" in said and "watermark: found in 1 of 1 sampled frame" in said
    assert main(["verify", str(inputs["grace"])]) == 1
    assert main(["verify", str(tmp_path / "missing.png")]) == 2


@pytest.mark.parametrize("suffix", [".mp4", ".mov", ".mkv", ".jpg", ".%04d.png", ".####.exr"])
def test_a_passthrough_is_marked_as_altering_nothing_in_every_output_format(tmp_path, inputs, suffix):
    footage = inputs["grace"] if suffix == ".jpg" else inputs["clip"]
    out = tmp_path / f"out{suffix}"
    api.passthrough(footage, out, progress=False)
    mark = read_mark(out)
    assert mark is not None and mark.task == "passthrough" and not mark.synthetic


def test_a_video_swap_records_its_tracks_and_frames_in_the_joined_output(tmp_path, inputs):
    out = tmp_path / "swap.mov"
    api.run_task("swap", out, source=inputs["tom"], target=inputs["clip"], config=INLINE)
    assert read_mark(out) == EditMark("swap", "geometric", ((0, 0, 4),), watermark=True)
    with av.open(str(out)) as c:  # the words a player's info panel shows, beside the JSON
        assert c.metadata["comment"].startswith("Faces synthesised by FaceX Video")


@pytest.mark.slow
@pytest.mark.parametrize("task", ["swap", "headswap", "hairswap", "reenact", "edit", "inpaint", "mix"])
def test_every_task_marks_its_image_and_video_outputs(tmp_path, inputs, task):
    for footage, out in ((inputs["grace"], tmp_path / "out.png"), (inputs["clip"], tmp_path / "out.mp4")):
        api.run_task(task, out, config=INLINE, **_request(task, inputs, footage))
        mark = read_mark(out)
        assert mark is not None and mark.task == task and mark.synthetic and mark.edited, (task, out.name)
        assert mark.watermark
        # the grain lies only where pixels were edited: a hair swap's in the hair, an eye inpaint's in the eyes,
        # too few pixels to read at this size (docs/guide.md says so); every task that redraws the face carries
        # it in the face
        if task not in ("hairswap", "inpaint"):
            reading = read_watermark(out)
            assert reading.marked, (task, out.name, reading.summary())


def _c2pa(path: Path, anchors: Path) -> tuple[str, dict]:
    """c2pa's own reading of a file: validation state against `anchors`, and the active manifest."""
    import json

    import c2pa

    settings = c2pa.Settings.from_dict({"trust": {"user_anchors": anchors.read_text()},
                                        "verify": {"verify_trust": True}})
    mime = {".mp4": "video/mp4", ".png": "image/png"}[path.suffix]
    with open(path, "rb") as f, c2pa.Reader(mime, f, context=c2pa.Context(settings)) as reader:
        doc = json.loads(reader.json())
        return str(reader.get_validation_state()), doc["manifests"][doc["active_manifest"]]


@pytest.mark.parametrize("name, footage", [("swap.mp4", "clip"), ("swap.png", "grace")])
def test_content_credentials_signed_with_a_test_certificate_validate_and_a_modified_file_fails(
        tmp_path, inputs, name, footage, capsys):
    from certs import make_chain

    chain, key, ca = make_chain(tmp_path)
    out = tmp_path / name
    assert main(["swap", "--source", str(inputs["tom"]), "--target", str(inputs[footage]), "-o", str(out),
                 "--runner", "inline", "--sign-cert", str(chain), "--sign-key", str(key), "--quiet"]) == 0
    assert "signed with C2PA Content Credentials" in capsys.readouterr().out
    state, manifest = _c2pa(out, ca)
    assert state.endswith("Trusted")
    actions = next(a["data"]["actions"] for a in manifest["assertions"] if a["label"].startswith("c2pa.actions"))
    edited = next(a for a in actions if a["action"] == "c2pa.edited")
    assert edited["digitalSourceType"].endswith("/algorithmicMedia")  # the geometric renderer: no training data
    assert read_mark(out) == EditMark("swap", "geometric", ((0, 0, 4 if footage == "clip" else 1),),
                                      watermark=True)  # both kept
    assert main(["verify", str(out), "--trust", str(ca)]) == 0
    data = bytearray(out.read_bytes())
    at = data.find(b"mdat" if name.endswith(".mp4") else b"IDAT") + 400  # inside the pictures
    data[at] ^= 0xFF
    tampered = tmp_path / f"tampered{out.suffix}"
    tampered.write_bytes(bytes(data))
    assert _c2pa(tampered, ca)[0].endswith("Invalid")
    assert main(["verify", str(tampered), "--trust", str(ca)]) == 1


def test_an_unsigned_run_says_so_and_half_a_key_is_refused(tmp_path, inputs, capsys):
    out = tmp_path / "swap.png"
    assert main(["swap", "--source", str(inputs["tom"]), "--target", str(inputs["grace"]), "-o", str(out),
                 "--quiet"]) == 0
    assert "marked in its metadata, not signed" in capsys.readouterr().out
    assert main(["swap", "--source", str(inputs["tom"]), "--target", str(inputs["grace"]), "-o", str(out),
                 "--sign-cert", str(inputs["tom"]), "--quiet"]) == 2
    assert "--sign-key" in capsys.readouterr().err

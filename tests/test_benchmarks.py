"""benchmarks/run_all.py in its tiny mode: every benchmark runs, the report and every plot it names are
written, and the numbers hold what the design promises (streaming memory, a swap that carries identity)."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_run_all_writes_the_report_and_its_plots(tmp_path, monkeypatch) -> None:
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import run_all

    md, img = tmp_path / "benchmarks.md", tmp_path / "img"
    assert run_all.main(["--tiny", "--md", str(md), "--img", str(img)]) == 0
    text = md.read_text()
    for name in run_all.BENCHMARKS:
        assert f"`benchmarks/{name}.py`" in text
    shown = re.findall(r"!\[[^\]]*\]\(img/([\w.]+\.png)\)", text)
    assert len(shown) >= 8 and {p.name for p in img.iterdir()} == set(shown)
    assert all((img / name).stat().st_size > 5_000 for name in shown)
    assert "| cores available |" in text and "Failed" not in text

    numbers = {name: r["numbers"] for name, r in json.loads(md.with_suffix(".json").read_text())["results"].items()}
    assert numbers["passthrough"]["ratio"] > 1  # passthrough decodes and encodes, and analyses faces
    swap = numbers["swap"]
    assert min(v for k, v in swap["stages_s"].items() if not k.startswith("other")) >= 0
    floors = numbers["floors"]  # the least the pieces allow: at or above the bare transcode, below the real run
    assert 1 <= floors["passthrough"] <= floors["swap"]
    assert all(v["cpu"] > 0 for v in floors["pieces_ms"].values())
    assert all(g < 1.3 for g in numbers["memory"]["growth"].values())  # twice the clip, not twice the memory
    quality = numbers["quality"]["swap"]
    assert quality["identity distance"] < quality["identity distance (canvas)"]

    md.unlink()
    for png in img.iterdir():
        png.unlink()
    assert run_all.main(["--replot", "--md", str(md), "--img", str(img)]) == 0  # from the JSON, measuring nothing
    assert md.read_text() == text and {p.name for p in img.iterdir()} == set(shown)


def test_run_all_refuses_an_unknown_benchmark(monkeypatch, capsys) -> None:
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import run_all

    with pytest.raises(SystemExit):
        run_all.main(["--tiny", "--only", "nosuch"])
    assert "unknown benchmark(s) nosuch" in capsys.readouterr().err
    sys.modules.pop("run_all", None)

"""docs/guide.md: every command it quotes runs, and every picture it shows is made by scripts/docs.py."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

from facex_video.media.sequence import is_sequence_path

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def docs():
    spec = importlib.util.spec_from_file_location("docs_script", ROOT / "scripts" / "docs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _flag(argv: list[str], name: str) -> str | None:
    return argv[argv.index(name) + 1] if name in argv else None


def test_every_picture_of_the_guide_is_made_by_a_command_or_the_diagram(docs) -> None:
    commands = docs.guide_commands()
    made = set(docs.DIAGRAMS)
    for argv in commands:
        preview, output = _flag(argv, "--preview"), _flag(argv, "-o")
        if preview:
            made.add(preview)
        elif output and argv[0] in docs._tasks():
            made.add(f"{Path(output).stem}.png")
    shown = docs.guide_images()
    assert set(shown) <= made, f"pictures no command makes: {sorted(set(shown) - made)}"
    tasks = {argv[0] for argv in commands}
    assert {"swap", "headswap", "hairswap", "reenact", "edit", "inpaint", "mix", "eval"} <= tasks
    for name in shown:
        assert (ROOT / "docs" / "img" / name).stat().st_size > 10_000, name
    assert "docs/guide.md" in (ROOT / "README.md").read_text()


def test_every_picture_in_docs_is_shown_and_comes_from_a_script(docs) -> None:
    """docs/img holds the guide's pictures (scripts/docs.py) and the benchmark plots (benchmarks/run_all.py,
    named bench_*), and nothing else: no picture made by hand, none left behind."""
    bench = re.findall(r"\]\(img/(bench_[\w]+\.png)\)", (ROOT / "docs" / "benchmarks.md").read_text())
    assert bench and set(docs.guide_images()).isdisjoint(bench)
    assert {p.name for p in (ROOT / "docs" / "img").glob("*.png")} == set(docs.guide_images()) | set(bench)


@pytest.mark.slow
def test_every_command_quoted_in_the_guide_runs(docs, tmp_path, capsys) -> None:
    docs.prepare_inputs(tmp_path, size=(320, 180), fps=8, seconds=1.0)
    commands = docs.guide_commands()
    docs.run_commands(commands, tmp_path)
    for argv in commands:
        for flag in ("-o", "--preview", "--json"):
            written = _flag(argv, flag)
            if written and is_sequence_path(written):  # an image sequence: its first frame
                assert list(tmp_path.glob(re.sub(r"%0\d+d|#+", "*", written))), f"facex {' '.join(argv)}: no {written}"
            elif written:
                assert (tmp_path / written).stat().st_size > 0, f"facex {' '.join(argv)}: no {written}"
    assert re.search(r"identity distance to source\s+\d", capsys.readouterr().out)

    swap = next(argv for argv in commands if argv[0] == "swap" and _flag(argv, "-o").endswith(".png"))
    from facex_video.faces.analyze import FaceAnalyzer

    with FaceAnalyzer() as analyzer:
        docs.task_figure(swap, tmp_path, tmp_path / "figure.png", analyzer)
    docs.method_diagram(tmp_path / "method.png")
    for name in ("figure.png", "method.png"):
        assert (tmp_path / name).stat().st_size > 10_000

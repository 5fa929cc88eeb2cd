"""What marking an output costs: the edit mark in the metadata and signed C2PA Content Credentials, against
the swap that made the output, in one run.

    python benchmarks/marking.py [--quick]

The metadata mark is written with the container's header (no per-frame work); signing reads and hashes the
finished file once. The test certificate chain is made the way the tests make theirs (tests/certs.py).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from common import clip, sizes, timed

from facex_video import api
from facex_video.media.credentials import SigningKey, sign
from facex_video.media.marks import read_mark
from facex_video.media.samples import demo_shots, sample_path
from facex_video.video.config import RunConfig

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from certs import make_chain  # noqa: E402  (the tests' offline certificate chain)


def run(mode: str = "full") -> dict:
    s = sizes(mode)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        src = clip(folder / "clip.mp4", demo_shots()[1:], s.seconds, s.size, s.fps)
        chain, key, _ = make_chain(folder)
        out = folder / "swap.mp4"
        swap = timed(lambda: api.run_task("swap", out, source=sample_path("tom_hanks"), target=src,
                                          config=RunConfig(runner="inline", progress=False, fresh=True)))
        signed = folder / "signed.mp4"
        shutil.copy(out, signed)
        signing_key = SigningKey.load(chain, key)
        mark = read_mark(out)
        if mark is None:
            raise RuntimeError("the swap's output carries no edit mark")
        seconds = timed(lambda: sign(signed, src, mark, signing_key))
        frames = round(s.seconds * s.fps)
        size_mb = signed.stat().st_size / 1e6
    rows = [["edit mark in the metadata", "written with the header", "0", "0 %"],
            ["C2PA signing (once per file)", f"{seconds:.3f} s for {size_mb:.1f} MB",
             f"{1000 * seconds / frames:.2f}", f"{100 * seconds / swap:.2f} %"]]
    return {
        "title": "Marking: what the edit mark and Content Credentials cost",
        "notes": f"An inline geometric swap of {s.seconds:g} s at {s.size[0]}x{s.size[1]} "
                 f"{s.fps} fps ({frames} frames) took {swap:.1f} s; its output was then signed with a test "
                 "certificate (ES256, no timestamp authority). No invisible watermark is built yet.",
        "tables": [{"title": "cost of marking against the swap", "columns": ["mark", "time", "ms per frame",
                                                                             "share of the swap"], "rows": rows}],
        "plots": [],
        "numbers": {"swap_s": swap, "sign_s": seconds, "sign_share": seconds / swap},
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    result = run("quick" if parser.parse_args().quick else "full")
    for row in result["tables"][0]["rows"]:
        print(" | ".join(row))

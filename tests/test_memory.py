"""Memory that does not grow with the clip (issue 12): a swap's peak memory, summed over every process of
the run, is set by the frame size and the chunk length, not by how long the clip is.

Measured with the benchmarks' sampler (benchmarks/common.py peak_memory) on a clip and the same clip six
times longer, at 1 fps so the longer one stays under a minute of work: anything kept per frame for the whole
clip (a frame, a crop, a mask: 0.2-1.8 MB each) would add 50 such to the longer run's peak."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest

from facex_video.media import write_image
from facex_video.media.synth import Shot, write_clip

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_a_six_times_longer_clip_needs_no_more_memory(tmp_path, monkeypatch, astronaut, grace_hopper) -> None:
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    from common import facex_peak_memory

    source = tmp_path / "grace.png"
    write_image(source, grace_hopper)
    peaks = []
    for seconds in (10.0, 60.0):
        clip = tmp_path / f"clip{seconds:g}.mp4"
        write_clip(clip, [Shot(astronaut, seconds=seconds, zoom=(1.0, 1.15), pan=((0.45, 0.4), (0.55, 0.42)))],
                   size=(320, 240), fps=Fraction(1))
        peaks.append(facex_peak_memory(["swap", "--source", str(source), "--target", str(clip), "-o",
                                        str(tmp_path / f"out{seconds:g}.mp4"), "--runner", "inline",
                                        "--chunk-seconds", "4", "--quiet"]))
    short, long = peaks
    # RSS, not PSS: a process's PSS falls as other processes on the machine map the same libraries
    assert long.rss_mb <= 1.15 * short.rss_mb, (short, long)


def test_freed_frame_sized_arrays_are_reused_not_faulted_in_again() -> None:
    """core/allocator: with glibc's thresholds raised, a crop-sized array allocated and freed per step comes
    back from the heap; without, every one is mapped and page-faulted in anew (768 faults per 3 MB)."""
    import subprocess
    import sys

    script = """
import resource, sys, numpy as np
from facex_video.core.allocator import keep_freed_memory
if sys.argv[1] == "keep":
    assert keep_freed_memory()
for _ in range(5):
    (np.ones((512, 512, 3), np.float32) * 2).sum()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(100):
    (np.ones((512, 512, 3), np.float32) * 2).sum()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""
    faults = {how: int(subprocess.run([sys.executable, "-c", script, how], capture_output=True, text=True,
                                      check=True).stdout) for how in ("default", "keep")}
    assert faults["default"] > 100 * 768, faults  # two 3 MB arrays a step, each faulted in
    assert faults["keep"] < 1000, faults

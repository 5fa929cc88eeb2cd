"""What the benchmarks share: the baseline every video tool pays, test clips, run sizes, peak memory of a
command over all its processes, and a clock that splits a run's time into stages.

Every benchmark module exposes `run(mode: str) -> dict` (mode one of MODES) returning a Result (see
run_all.py); its `main()` prints the same numbers for a person at a terminal.
"""

from __future__ import annotations

import contextlib
import inspect
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import psutil

from facex_video.media.synth import Shot, write_clip

# full: the numbers for the report; quick: the same plots in minutes (run_all --quick); tiny: seconds (tests)
MODES = ("full", "quick", "tiny")


@dataclass(frozen=True)
class Sizes:
    """How big a run is in each mode: clip length, frame rate, the main frame size and the scans."""

    seconds: float
    fps: int
    size: tuple[int, int]
    resolutions: tuple[tuple[int, int], ...]
    faces: tuple[int, ...]
    lengths: tuple[float, ...]


SIZES = {
    "full": Sizes(10.0, 25, (1280, 720), ((640, 360), (1280, 720), (1920, 1080)), (1, 2, 3, 4),
                  (5.0, 10.0, 20.0, 40.0)),
    "quick": Sizes(2.0, 12, (1280, 720), ((480, 270), (960, 540), (1280, 720)), (1, 2, 4), (2.0, 4.0, 8.0)),
    "tiny": Sizes(0.5, 8, (320, 180), ((320, 180), (480, 270)), (1, 2), (0.5, 1.0)),
}


def sizes(mode: str) -> Sizes:
    if mode not in SIZES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    return SIZES[mode]


def bare_decode_encode(src: Path, dst: Path, crf: int = 16, preset: str = "medium") -> None:
    """The baseline: decode every frame with PyAV and re-encode it with libx264, nothing else."""
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        vin = inp.streams.video[0]
        vout = out.add_stream("libx264", rate=vin.average_rate, options={"crf": str(crf), "preset": preset})
        vout.width, vout.height, vout.pix_fmt = vin.width, vin.height, "yuv420p"
        for frame in inp.decode(vin):
            out.mux(vout.encode(frame.reformat(format="yuv420p")))
        out.mux(vout.encode(None))


def stretch(shots: list, seconds: float) -> None:
    """Scale every shot's length so the clip lasts `seconds` (the benchmarks' clip length option)."""
    scale = seconds / sum(s.seconds for s in shots)
    for s in shots:
        s.seconds *= scale


def clip(path: Path, shots: list[Shot], seconds: float, size: tuple[int, int], fps: int) -> Path:
    """`shots` stretched to `seconds` and written as an H.264 clip with audio."""
    stretch(shots, seconds)
    return write_clip(path, shots, size=size, fps=Fraction(fps))


def alternating(old: Callable[[], Any], new: Callable[[], Any], repeat: int) -> tuple[float, float]:
    """Median ms of `old` and of `new`, calls alternating (one warm-up each), so both see the same machine load."""
    import statistics

    times: tuple[list[float], list[float]] = ([], [])
    for i in range(repeat + 1):
        for k, fn in enumerate((old, new)):
            t0 = time.perf_counter()
            fn()
            if i:
                times[k].append(1000 * (time.perf_counter() - t0))
    return statistics.median(times[0]), statistics.median(times[1])


def timed(fn: Callable[[], Any]) -> float:
    """Wall-clock seconds of one call."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


# a `facex ...` command line in a fresh interpreter
_FACEX_CLI = "import sys; from facex_video.cli import main; sys.exit(main(sys.argv[1:]))"


@dataclass(frozen=True)
class PeakMemory:
    """Peak memory of a command summed over its process and every process it started (Ray's gcs_server,
    raylet, agents and workers included), sampled every `interval` seconds.

    rss_mb: the peak of the summed resident sets (pages shared between processes, libraries and Ray's object
    store, count once per process: what the processes hold to the OS). pss_mb: the peak of the summed
    proportional sets (each shared page split among its sharers: what the machine as a whole spends; it
    falls when unrelated processes map the same libraries, so compare it between runs on a quiet machine).
    processes: how many processes were counted over the run."""

    rss_mb: float
    pss_mb: float
    processes: int


def _sample(tracked: dict[int, psutil.Process]) -> tuple[int, int]:
    """Add every descendant of a tracked process to `tracked` (one scan of the process table, so a process
    reparented to init after its parent exited stays counted), then return the summed (RSS, PSS) in bytes."""
    children: dict[int, list[int]] = defaultdict(list)
    for proc in psutil.process_iter(["ppid"]):
        children[proc.info["ppid"]].append(proc.pid)
    frontier = [pid for pid, proc in tracked.items() if proc.is_running()]  # not a reused pid's children
    while frontier:
        for pid in children.get(frontier.pop(), []):
            if pid not in tracked:
                with contextlib.suppress(psutil.Error):
                    tracked[pid] = psutil.Process(pid)
                    frontier.append(pid)
    rss = pss = 0
    for proc in tracked.values():
        with contextlib.suppress(psutil.Error):  # gone, or a zombie awaiting its parent
            if proc.is_running():  # and not a new process that reused the pid
                info = proc.memory_full_info()
                rss, pss = rss + info.rss, pss + info.pss
    return rss, pss


def peak_memory(command: list[str], interval: float = 0.2) -> PeakMemory:
    """Run `command` to completion and measure its peak memory over all its processes (see PeakMemory).
    A process that starts, peaks and exits between two samples is missed: `interval` bounds what is seen."""
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    tracked = {proc.pid: psutil.Process(proc.pid)}
    peak_rss = peak_pss = 0
    stderr: list[str] = []
    reader = threading.Thread(target=lambda: stderr.append(proc.stderr.read()), daemon=True)
    reader.start()  # a full stderr pipe would stall the command
    while proc.poll() is None:
        rss, pss = _sample(tracked)
        peak_rss, peak_pss = max(peak_rss, rss), max(peak_pss, pss)
        time.sleep(interval)
    reader.join()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {''.join(stderr)[-500:]}")
    return PeakMemory(peak_rss / 2**20, peak_pss / 2**20, len(tracked))


def facex_peak_memory(facex_args: list[str]) -> PeakMemory:
    """peak_memory of one `facex ...` command run to completion in a fresh process."""
    return peak_memory([sys.executable, "-c", _FACEX_CLI, *facex_args])


class StageClock:
    """Exclusive wall time per stage, by wrapping functions and methods for the length of a `with` block.

    A wrapped call nested inside another (decoding inside the source-face stage) counts for its own stage
    only; a generator is timed on each item it yields. Each thread nests on its own (a writer's encoder
    thread runs beside the frames' thread): stage times of several threads add up to more than the wall."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._restore: list[tuple[Any, str, Any]] = []

    def _timed(self, name: str, step: Callable[[], Any]) -> Any:
        stack = self._local.__dict__.setdefault("stack", [])
        stack.append(0.0)
        start = time.perf_counter()
        try:
            return step()
        finally:
            elapsed = time.perf_counter() - start
            with self._lock:
                self.seconds[name] += elapsed - stack.pop()
            if stack:
                stack[-1] += elapsed

    def wrap(self, owner: Any, attr: str, stage: str) -> None:
        original = getattr(owner, attr)
        clock = self

        if inspect.isgeneratorfunction(original):
            def wrapper(*args, **kwargs) -> Iterator:
                items = original(*args, **kwargs)
                done = object()
                while (item := clock._timed(stage, lambda: next(items, done))) is not done:
                    yield item
        else:
            def wrapper(*args, **kwargs):
                return clock._timed(stage, lambda: original(*args, **kwargs))

        self._restore.append((owner, attr, original))
        setattr(owner, attr, wrapper)

    def __enter__(self) -> StageClock:
        return self

    def __exit__(self, *exc) -> None:
        for owner, attr, original in reversed(self._restore):
            setattr(owner, attr, original)
        self._restore.clear()

"""The sharded video job (issue 5): chunk planning and track linking, identical frames from the inline and
Ray runners, an edit actor killed mid-job, a driver stopped and resumed, and failures that name their shard.

Frames are compared by the digests the compose stage records of every composed frame (video/shard_stages.py):
the exact pixels the job made, before x264, whose bitstream is not reproducible run to run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from fractions import Fraction
from pathlib import Path

import pytest

from facex_video import api
from facex_video.core.errors import ShardError
from facex_video.media import probe, write_image
from facex_video.media.synth import Shot, write_clip
from facex_video.render import registry
from facex_video.video.config import RunConfig, work_dir_for
from facex_video.video.plan import plan_chunks

FPS = Fraction(10)
CHUNK = dict(chunk_seconds=0.6)  # 30 frames -> 5 chunks of 6, each led by 4 (the default 0.4 s overlap)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, astronaut, grace_hopper):
    tmp = tmp_path_factory.mktemp("job")
    clip = tmp / "astronaut.mp4"
    write_clip(clip, [Shot(astronaut, seconds=3.0, zoom=(1.0, 1.15), pan=((0.45, 0.4), (0.55, 0.42)))],
               size=(320, 240), fps=FPS)
    write_image(tmp / "grace.png", grace_hopper)
    return clip, tmp / "grace.png"


def _swap(inputs, out: Path, runner: str, **kw) -> dict:
    clip, source = inputs
    return api.run_task("swap", out, source=source, target=clip, progress=False,
                        config=RunConfig(runner=runner, **CHUNK, **kw))


@pytest.fixture(scope="module")
def reference(inputs, tmp_path_factory) -> dict:
    """An uninterrupted inline run: what every other run must reproduce."""
    return _swap(inputs, tmp_path_factory.mktemp("ref") / "ref.mp4", "inline")


def test_chunks_cover_every_frame_once_with_their_lead():
    chunks = plan_chunks(25, 6, 3)
    assert [(c.start, c.stop, c.lead_start) for c in chunks] == [(0, 6, 0), (6, 12, 3), (12, 18, 9),
                                                                (18, 24, 15), (24, 25, 21)]
    with pytest.raises(ValueError):
        plan_chunks(10, 0, 1)


def test_inline_run_links_one_track_across_chunks_and_keeps_the_timeline(inputs, reference, tmp_path):
    clip, _ = inputs
    assert reference["chunks"] == 5 and reference["segments"] == 5  # one face, one segment per chunk
    assert reference["tracks"] == [0]  # linked across every chunk border: still one track
    assert len(reference["frame_digests"]) == probe(clip).frame_count == 30
    assert len(set(reference["frame_digests"])) == 30  # every frame edited (the face moves)
    assert not work_dir_for(tmp_path / "ref.mp4").exists()  # removed after success


def test_the_inline_runner_gives_the_same_frames_on_one_thread_and_on_two(inputs, reference, tmp_path):
    one = _swap(inputs, tmp_path / "one.mp4", "inline", actors=1)
    two = _swap(inputs, tmp_path / "two.mp4", "inline", actors=2)
    assert one["frame_digests"] == two["frame_digests"] == reference["frame_digests"]


def test_auto_runs_inline_on_two_cpus_and_on_ray_where_a_cluster_is_named_or_more_cpus(monkeypatch):
    from facex_video.video import config

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setitem(sys.modules, "ray", None)  # as if no Ray ran in this process
    monkeypatch.setattr(config, "local_cpus", lambda: 2)
    assert RunConfig().runner_used == "inline"
    assert RunConfig(address="10.0.0.1:6379").runner_used == "ray"
    assert RunConfig(runner="inline", address="10.0.0.1:6379").runner_used == "inline"
    monkeypatch.setenv("RAY_ADDRESS", "10.0.0.1:6379")
    assert RunConfig().runner_used == "ray"
    monkeypatch.delenv("RAY_ADDRESS")
    monkeypatch.setattr(config, "local_cpus", lambda: 8)
    assert RunConfig().runner_used == "ray"
    assert RunConfig(runner="inline").runner_used == "inline"


def test_ray_runner_gives_the_inline_runners_frames(inputs, reference, ray_address, tmp_path):
    out = tmp_path / "ray.mp4"
    summary = _swap(inputs, out, "ray", actors=2)
    assert summary["frame_digests"] == reference["frame_digests"]
    info, ref_info = probe(out), probe(inputs[0])
    assert (info.frame_count, info.fps, info.audio is not None) == (ref_info.frame_count, ref_info.fps, True)


def test_a_killed_edit_actor_is_restarted_and_the_output_is_unchanged(inputs, reference, ray_address, tmp_path):
    out = tmp_path / "killed.mp4"
    work = work_dir_for(out)
    result: dict = {}
    job = threading.Thread(target=lambda: result.update(_swap(inputs, out, "ray", actors=2)))
    job.start()
    killed = None
    deadline = time.time() + 240
    while killed is None and job.is_alive() and time.time() < deadline:
        pids = sorted((work / "actors").glob("*.pid")) if (work / "actors").is_dir() else []
        manifest = work / "manifest.json"
        edits = [k for k in json.loads(manifest.read_text())["finished"] if k.startswith("edit/")] \
            if manifest.is_file() else []
        if pids and edits:  # mid-job: an edit actor exists, one segment finished, others in flight
            killed = int(pids[0].read_text())
            os.kill(killed, signal.SIGKILL)
        time.sleep(0.05)
    job.join(timeout=300)
    assert killed is not None, "the job finished before an actor could be killed"
    assert not job.is_alive() and result["frame_digests"] == reference["frame_digests"]
    assert len(list((work_dir_for(out)).glob("*"))) == 0  # work directory gone after success


@pytest.mark.slow
def test_a_stopped_driver_resumes_without_redoing_finished_shards(inputs, reference, tmp_path):
    clip, source = inputs
    out = tmp_path / "resumed.mp4"
    manifest = work_dir_for(out) / "manifest.json"
    cmd = [sys.executable, "-m", "facex_video.cli", "swap", "--source", str(source), "--target", str(clip),
           "-o", str(out), "--runner", "inline", "--chunk-seconds", "0.6", "--quiet"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    finished: dict = {}
    while proc.poll() is None and time.time() < deadline:
        if manifest.is_file():
            finished = json.loads(manifest.read_text())["finished"]
            if sum(k.startswith("edit/") for k in finished) >= 2:
                proc.send_signal(signal.SIGKILL)
                break
        time.sleep(0.05)
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL and not out.exists()  # stopped mid-job: no output yet
    done = {k.split("/")[0]: sum(s.startswith(k.split("/")[0]) for s in finished) for k in finished}
    summary = api.run_task("swap", out, source=source, target=clip, progress=False,
                           config=RunConfig(runner="inline", chunk_seconds=0.6))
    assert summary["skipped"]["analyze"] == 5 and summary["computed"]["analyze"] == 0
    assert summary["skipped"]["edit"] >= done["edit"] >= 2
    assert summary["computed"]["edit"] == 5 - summary["skipped"]["edit"]
    assert summary["frame_digests"] == reference["frame_digests"]


class _FailingRenderer:
    """The geometric renderer, except on one frame, where it raises (a shard whose own code fails)."""

    name, tasks, needs_identity = "failing", frozenset({"swap"}), False

    def __init__(self):
        from facex_video.render.geometric import GeometricRenderer

        self.inner = GeometricRenderer()

    def render(self, assembled, state):
        if state.frames == 4 and state.track_id == 0:
            raise RuntimeError("renderer broke")
        return self.inner.render(assembled, state)


@pytest.mark.parametrize("threads", [1, 2])
def test_a_failing_shard_fails_the_job_naming_shard_frames_and_error(inputs, tmp_path, monkeypatch, threads):
    # every segment's renderer fails at its fifth frame: on two threads two shards fail side by side, and the
    # job names the first listed, as on one
    monkeypatch.setattr(registry, "load_renderer", lambda *a, **k: _FailingRenderer())
    out = tmp_path / "failed.mp4"
    with pytest.raises(ShardError) as err:
        _swap(inputs, out, "inline", actors=threads)
    assert str(err.value) == "shard edit/track-0000-chunk-0000 (frames 0-5) failed: RuntimeError: renderer broke"
    assert not out.exists()


def test_a_failing_actor_fails_the_ray_job_naming_the_shard(inputs, ray_address, tmp_path):
    import numpy as np

    from facex_video.video.job import run_job

    clip, _ = inputs
    mask = tmp_path / "mask.png"
    write_image(mask, np.zeros((240, 320, 3), np.uint8))
    spec = api.edit_spec(api.TaskRequest("inpaint", target=clip, inpaint_mask=mask), tmp_path / "bad.mp4")  # checked,
    mask.write_bytes(b"not a png")  # then broken: only the edit actor finds out
    with pytest.raises(ShardError, match=r"shard edit/track-0000-chunk-0000 \(frames 0-5\) failed: .*mask.png"):
        run_job(spec, tmp_path / "bad.mp4", RunConfig(runner="ray", actors=1, progress=False, **CHUNK))
    assert not (tmp_path / "bad.mp4").exists()


def test_gpus_the_cluster_lacks_are_refused(inputs, ray_address, tmp_path):
    from facex_video.core.errors import ClusterError

    with pytest.raises(ClusterError, match="--gpus-per-actor 0.5 but the Ray cluster has 0 GPUs"):
        _swap(inputs, tmp_path / "gpu.mp4", "ray", gpus_per_actor=0.5)


@pytest.mark.slow
class _Counting:
    """A shard of `frames` frames that counts those it ran, stopping where the worker's halt stops it."""

    kind, needs = "edit", ()

    def __init__(self, name: str, frames: int):
        self.name, self.frames, self.ran = name, (0, frames), 0

    def run(self, worker) -> int:
        from facex_video.video.shard_stages import until_halted

        for _ in until_halted(worker.halt, range(self.frames[1])):
            self.ran += 1
            time.sleep(0.001)
        return self.ran


@pytest.mark.parametrize("unwind", ["generator closed", "runner closed"])
def test_an_unwinding_threaded_runner_halts_its_running_shards_at_a_frame(monkeypatch, unwind):
    """Ctrl-C or SIGTERM while shards run on the inline runner's threads: they stop at their next frame, and
    nothing new starts; the run is not kept waiting until their chunks are done (measured on the 10 s 720p
    swap: 7.6 s from SIGTERM to exit before, 0.4 s after)."""
    from facex_video.video import runner_inline

    class Worker:
        def __init__(self, *args, halt, **kw):
            self.halt = halt

        def close(self) -> None:
            pass

    monkeypatch.setattr(runner_inline, "ShardWorker", Worker)
    runner = runner_inline.InlineRunner(None, RunConfig(runner="inline", actors=2), "")
    shards = [_Counting("quick", 1), _Counting("long", 5000), _Counting("later", 5000)]
    run = runner.run(shards)
    assert next(run) == ("edit", "quick", 1)  # "long" is running on the other thread now
    if unwind == "generator closed":  # the interrupt landed in the runner's wait
        run.close()
    runner.close()  # else it landed in the caller, with the runner's generator suspended
    assert 0 < shards[1].ran < 5000 and shards[2].ran == 0


def test_sigterm_stops_the_threaded_inline_runner_with_one_line_and_keeps_the_work(inputs, tmp_path):
    """The default runner on 2 CPUs: SIGTERM mid-edit ends the run like Ctrl-C, the shards on the other
    threads halted at their next frame: exit 143, one line, no output, the finished shards kept for a
    rerun."""
    clip, source = inputs
    out = tmp_path / "stopped.mp4"
    manifest = work_dir_for(out) / "manifest.json"
    cmd = [sys.executable, "-m", "facex_video.cli", "swap", "--source", str(source), "--target", str(clip),
           "-o", str(out), "--runner", "inline", "--actors", "2", "--chunk-seconds", "0.6", "--quiet"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 240
    try:
        while proc.poll() is None and time.time() < deadline:
            if manifest.is_file() and any(k.startswith("edit/") for k in json.loads(manifest.read_text())["finished"]):
                break
            time.sleep(0.05)
        assert proc.poll() is None, proc.communicate()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM
    assert err.strip().splitlines() == ["facex: terminated; no output was written"], err
    assert not out.exists() and manifest.is_file()

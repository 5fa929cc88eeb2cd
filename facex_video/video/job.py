"""The sharded video job (docs/design.md §4), one driver for both runners:

    analyze(chunk)* -> link tracks -> edit(track segment)* -> compose(chunk)* -> concat + audio

The driver plans the shards, skips those a previous run finished (the work directory's manifest), hands the
rest to a runner (runner_inline.py in process, runner_ray.py on a cluster) and joins the composed chunks.
Every shard (shards.py) runs the same ShardWorker methods wherever it runs, so both runners give identical frames.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..core.errors import DiskFullError, OptionError
from ..core.outputs import output_lock
from ..edit.spec import EditSpec
from ..edit.stages import min_track_frames, sample_indices
from ..faces.preview import TaskSheet, save_sheet
from ..media.marks import EditMark
from ..media.source import Source
from .config import RunConfig, work_dir_for
from .plan import Chunk, ChunkFaces, JobPlan, link_tracks, plan_chunks, selected_tracks
from .shard_stages import concat_chunks
from .shards import AnalyzeShard, ComposeShard, EditShard, Runner, Shard, still_rgb
from .work import JobWork

log = logging.getLogger("facex_video")

PREVIEW_FRAMES = 6


def _run_stage(runner: Runner, work: JobWork, items: list[Shard], bar: tqdm) -> None:
    """Run shards, recording each in the manifest as it finishes (analyze/edit: a count; compose: the
    composed frames' digests)."""
    for kind, name, value in runner.run(items):
        work.mark(kind, name, value)
        bar.update(1)


def plan_job(source: Source, config: RunConfig) -> list[Chunk]:
    fps = float(source.fps)
    return plan_chunks(source.frame_count, max(1, round(config.chunk_seconds * fps)),
                       round(config.overlap_seconds * fps))


def run_job(spec: EditSpec, output: str | Path, config: RunConfig, *, preview: str | Path | None = None) -> dict:
    """Run `spec` on its video into `output` with the runner of `config`; resumes a run that stopped.
    Returns the tracks and how many shards were computed and skipped.

    The output's lock (core/outputs.py) is held from before the work directory is touched until the end: a second
    run on the same output fails at once naming this one's pid, and never deletes this run's work."""
    with output_lock(output):
        try:
            return _run_job(spec, output, config, preview=preview)
        except DiskFullError as full:  # the half-written file is gone; the finished shards are worth keeping
            work = work_dir_for(output)
            if not work.is_dir():
                raise
            raise DiskFullError(full.path, f"; the finished shards in {work} are kept for a rerun to resume "
                                           "(delete that folder to free their space)") from None


def _run_job(spec: EditSpec, output: str | Path, config: RunConfig, *, preview: str | Path | None) -> dict:
    source = spec.open_stream()
    chunks = plan_job(source, config)
    work = JobWork(output, spec, config, chunks)
    runner = _runner(spec, config, work)
    bar = tqdm(total=len(chunks), unit="shard", desc=f"{spec.task} analyze", disable=not config.progress)
    try:
        _run_stage(runner, work, [AnalyzeShard(c) for c in chunks if not work.skip_if_finished("analyze", c.name)], bar)
        plan = link_tracks((ChunkFaces.load(work.path("analyze", c.name)) for c in chunks), min_track_frames(source))
        try:
            edited = selected_tracks(spec.faces, plan.neutral, source.path)
        except OptionError:
            shutil.rmtree(work.root, ignore_errors=True)  # a refused request leaves nothing behind
            raise
        mark = _mark(spec, plan, edited)
        previews = sample_indices(source.frame_count, PREVIEW_FRAMES) if preview is not None else []
        compose = [c for c in chunks if not work.skip_if_finished("compose", c.name)]
        selected = {c.index: [s for s in plan.chunk_segments(c.index) if s.track in edited] for c in chunks}
        edits: list[Shard] = [EditShard(s, plan.neutral[s.track]) for c in compose for s in selected[c.index]
                              if not work.skip_if_finished("edit", s.name)]
        bar.reset(total=len(edits) + len(compose))
        bar.set_description(f"{spec.task} edit+compose")
        # one stage: a chunk is composed once its segments are edited, beside the edits still running
        _run_stage(runner, work, [*edits, *(ComposeShard(c, [s.name for s in selected[c.index]],
                                                         [i for i in previews if c.start <= i < c.stop], mark)
                                            for c in compose)], bar)
    finally:
        bar.close()
        runner.close()
    concat_chunks(source, [work.path("compose", c.name) for c in chunks], Path(output), mark)
    if preview is not None:
        _write_preview(preview, spec, source, work, previews)
    summary = {**_summary(spec, plan, work, chunks), "edited": edited}
    if not config.keep_work:
        shutil.rmtree(work.root, ignore_errors=True)
    return summary


def _mark(spec: EditSpec, plan: JobPlan, edited: list[int]) -> EditMark:
    """The output's edit mark (media/marks.py): the task, the backend, each edited track's frames."""
    spans: dict[int, tuple[int, int]] = {}
    for s in plan.segments:
        if s.track in edited:
            a, b = spans.get(s.track, (s.start, s.stop))
            spans[s.track] = (min(a, s.start), max(b, s.stop))
    return EditMark(spec.task, spec.backend, tuple((t, a, b) for t, (a, b) in sorted(spans.items())),
                    watermark=spec.watermark)


def _runner(spec: EditSpec, config: RunConfig, work: JobWork) -> Runner:
    if config.runner_used == "ray":
        from .runner_ray import RayRunner

        return RayRunner(spec, config, str(work.root))
    from .runner_inline import InlineRunner

    return InlineRunner(spec, config, str(work.root))


def _write_preview(preview: str | Path, spec: EditSpec, source: Source, work: JobWork, indices: list[int]) -> None:
    sheet = TaskSheet(set(indices), float(source.fps))
    for i in indices:
        if work.preview(i).is_file():  # a chunk finished by a run without --preview has none
            with np.load(work.preview(i)) as z:
                sheet.offer(i, z["before"], z["after"])
    save_sheet(preview, sheet.render({role: still_rgb(p) for role, p in spec.stills.items()}, spec.stream_role))


def _summary(spec: EditSpec, plan: JobPlan, work: JobWork, chunks: list[Chunk]) -> dict:
    """Tracks, shard counts, and the digest of every composed frame in order (see compose_chunk)."""
    frames = [d for c in chunks for d in work.finished_shards[f"compose/{c.name}"]]
    return {"task": spec.task, "tracks": sorted(plan.neutral), "chunks": len(chunks), "segments": len(plan.segments),
            "computed": dict(work.computed), "skipped": dict(work.skipped), "frame_digests": frames}

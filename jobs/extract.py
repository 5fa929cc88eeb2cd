"""Dataset extraction: the FORD representation of every input of a manifest, one Parquet shard per input, on Ray.

    python jobs/extract.py MANIFEST -o DIR [--actors N] [--identity-model PATH] [--detector-model PATH]
                                           [--retry-failed] [--address ADDR]
    ray job submit --address ... --working-dir . -- python jobs/extract.py data/manifest.csv -o /shared/ford

MANIFEST is CSV (a `path` column, optional `id`) or JSONL (`{"path": ...}` a line); relative paths are taken
from the manifest's folder. Inputs and DIR must be reachable under the same paths from every node.

Resumable; facex_video/video/work.py describes DIR. Inputs are keyed by content, so a rerun skips an input
that has a shard (even renamed), and one whose bytes failed before: the same bytes fail the same way, so known
failures are skipped unless --retry-failed (after a fix to the code or the models). Errors of the environment
rather than of the input (a missing model, an unwritable or full disk, out of memory, a worker that died) are
reported but not recorded, so the next run retries those inputs.

Exit status: 0 when every input has a shard, 1 when any failed (DIR/summary.json is written either way),
2 for a bad manifest, output folder or argument.
"""

from __future__ import annotations

import argparse
import errno
import sys
import time
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq

from facex_video import api
from facex_video.cli import positive_int
from facex_video.core.errors import FacexError, InputError, ModelError, OutputError
from facex_video.core.fingerprint import input_key
from facex_video.ford.manifest import ManifestEntry, WorkDir, read_manifest
from facex_video.ford.representation import SCHEMA_VERSION
from facex_video.video.runner_ray import ray_session

DONE, SKIPPED, FAILED = "done", "skipped", "failed"
TASK_RETRIES = 2  # a worker that dies on an input (crash, OOM kill) gets it twice more, then the input is lost


@dataclass
class Outcome:
    """What became of one input in this run. seconds: time spent analysing it in this run."""

    status: str
    key: str | None = None
    rows: int = 0
    tracks: int = 0
    seconds: float = 0.0
    error: str = ""


OUTCOME_FIELDS = [f.name for f in fields(Outcome)]


def environmental(exc: BaseException) -> bool:
    """True for errors that say nothing about the input itself: it is retried by the next run, not recorded."""
    if isinstance(exc, (ModelError, OutputError, MemoryError)):
        return True
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS)


class Extractor:
    """A Ray Data actor: extracts each input of its batches to DIR/shards/<key>.parquet.

    Every exception becomes a result row (and, when it belongs to the input, a failure record), so one bad
    file never stops the job.
    """

    def __init__(self, out_dir: str, identity_model: str | None, detector_model: str | None):
        self.workdir = WorkDir(out_dir)
        self.models = api.AnalysisModels.load(identity_model=identity_model, detector_model=detector_model)

    def __call__(self, batch: dict) -> dict:
        results = [self.extract(str(path), str(key)) for path, key in zip(batch["path"], batch["key"])]
        return {name: [r[name] for r in results] for name in ("path", *OUTCOME_FIELDS)}

    def extract(self, path: str, key: str) -> dict:
        start = time.perf_counter()
        try:
            summary = api.analyze(path, self.workdir.shard(key), with_crops=True, progress=False, models=self.models)
            outcome = Outcome(DONE, key, summary["rows"], len(summary["tracks"]))
        except Exception as exc:  # any error of one input must not stop the others
            if not environmental(exc):
                self.workdir.record_failure(path, key, exc)
            outcome = Outcome(FAILED, key, error=f"{type(exc).__name__}: {exc}")
        outcome.seconds = round(time.perf_counter() - start, 3)
        return {"path": path, **asdict(outcome)}


def _run_on_ray(
    pending: dict[str, Path], workdir: WorkDir, models: dict, actors: int | None, address: str | None
) -> tuple[dict[str, Outcome], dict]:
    """Extract every pending key (key -> input path) on an actor pool; outcomes by key, and timings.

    Joins --address, the cluster `ray job submit` names in RAY_ADDRESS, or starts a local one (which keeps
    Ray's token authentication: its servers listen on every interface whatever node IP is given)."""
    import ray
    from ray.util.annotations import RayDeprecationWarning

    start = time.perf_counter()
    with ray_session(address):
        connect_s = time.perf_counter() - start
        cluster = ray.get_runtime_context().gcs_address
        size = min(len(pending), actors or max(1, int(ray.cluster_resources().get("CPU", 1))))
        # a block that keeps failing (its worker died TASK_RETRIES + 1 times) loses that input, not the job
        ray.data.DataContext.get_current().max_errored_blocks = -1
        items = [{"path": str(path), "key": key} for key, path in pending.items()]
        with warnings.catch_warnings():
            # Ray Data retries an actor's task forever by default; max_task_retries is the only way to bound
            # it in 2.60, and it warns that such remote args are deprecated (no named parameter replaces it yet)
            warnings.filterwarnings("ignore", "`ray_remote_args` is deprecated", RayDeprecationWarning)
            dataset = ray.data.from_items(items, override_num_blocks=len(items)).map_batches(
                Extractor,
                fn_constructor_kwargs={"out_dir": str(workdir.root.absolute()), **models},
                batch_size=1,  # one input per call, one block per input: inputs spread over the pool one by one
                compute=ray.data.ActorPoolStrategy(size=size),
                num_cpus=1,
                max_task_retries=TASK_RETRIES,
            )
        outcomes = {}
        for row in dataset.iter_rows():
            # rows come back as NumPy scalars: make them plain for JSON
            outcomes[row["key"]] = Outcome(str(row["status"]), str(row["key"]), int(row["rows"]),
                                           int(row["tracks"]), float(row["seconds"]), str(row["error"]))
    return outcomes, {"ray_address": cluster, "actors": size, "ray_connect_seconds": round(connect_s, 2)}


def _from_shard(workdir: WorkDir, key: str) -> Outcome:
    """A finished input, read back from its shard's footer and track column (no analysis)."""
    shard = workdir.shard(key)
    rows = pq.ParquetFile(shard).metadata.num_rows
    tracks = pc.count_distinct(pq.read_table(shard, columns=["track_id"])["track_id"]).as_py() if rows else 0
    return Outcome(SKIPPED, key, rows, tracks)


def _plan(
    entries: list[ManifestEntry], workdir: WorkDir, retry_failed: bool
) -> tuple[dict[Path, Outcome], dict[Path, str], dict[str, Path]]:
    """Outcomes decided without analysis (skipped, known or unreadable failures), every readable input's key,
    and the keys left to do (key -> input)."""
    decided: dict[Path, Outcome] = {}
    keys: dict[Path, str] = {}
    pending: dict[str, Path] = {}
    for entry in entries:
        try:
            key = keys[entry.path] = input_key(entry.path)
        except InputError as exc:
            decided[entry.path] = Outcome(FAILED, error=f"InputError: {exc}")
            continue
        record = workdir.failure(key)
        if workdir.has_shard(key):
            decided[entry.path] = _from_shard(workdir, key)
        elif record and not retry_failed:
            decided[entry.path] = Outcome(FAILED, key, error=f"{record['error']}: {record['message']} "
                                                             f"(failed on {record['time']}; --retry-failed to retry)")
        else:
            pending.setdefault(key, entry.path)  # identical files are analysed once
    return decided, keys, pending


def run(args: argparse.Namespace) -> int:
    started = time.time()
    entries = read_manifest(args.manifest)
    workdir = WorkDir(args.output)
    models = {name: str(Path(p).absolute()) if p else None
              for name, p in (("identity_model", args.identity_model), ("detector_model", args.detector_model))}
    workdir.prepare({**models, "schema_version": SCHEMA_VERSION, "crops": True})

    outcomes, keys, pending = _plan(entries, workdir, args.retry_failed)
    ray_info: dict = {}
    if pending:
        # load the models once here so a missing or wrong model fails now, in one line, not in every actor
        api.AnalysisModels.load(**models).analyzer.close()
        by_key, ray_info = _run_on_ray(pending, workdir, models, args.actors, args.address)
        lost = "lost: its worker died or its task failed (see the Ray logs); the next run retries it"
        for entry in entries:
            if entry.path in outcomes:
                continue
            key = keys[entry.path]
            outcome = by_key.get(key) or (_from_shard(workdir, key) if workdir.has_shard(key)
                                          else Outcome(FAILED, key, error=lost))
            if outcome.status == SKIPPED:  # written in this run, but its result row was lost
                outcome.status = DONE
            outcomes[entry.path] = outcome
    workdir.prune_failures({str(e.path) for e in entries if outcomes[e.path].status != FAILED})

    counts = {s: sum(o.status == s for o in outcomes.values()) for s in (DONE, SKIPPED, FAILED)}
    summary = {
        "manifest": str(Path(args.manifest).absolute()),
        "output": str(workdir.root.absolute()),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
        "seconds": round(time.time() - started, 2),
        "counts": counts,
        "analyzed": len(pending),
        "rows": sum(o.rows for o in outcomes.values() if o.status != FAILED),
        **ray_info,
        "inputs": [{"input": e.given, "path": str(e.path), "id": e.id, **asdict(outcomes[e.path])} for e in entries],
    }
    summary_path = workdir.write_summary(summary)
    print(format_table(entries, outcomes))
    print(f"{counts[DONE]} done, {counts[SKIPPED]} skipped, {counts[FAILED]} failed of {len(entries)} inputs "
          f"({len(pending)} analysed) in {summary['seconds']:.1f} s; summary: {summary_path}")
    return 1 if counts[FAILED] else 0


def format_table(entries: list[ManifestEntry], outcomes: dict[Path, Outcome]) -> str:
    """One line per input (input, status, rows, seconds), then each failure's error."""
    width = max(len("input"), *(len(e.given) for e in entries))
    lines = [f"{'input':<{width}}  {'status':<7}  {'rows':>7}  {'seconds':>7}"]
    for e in entries:
        o = outcomes[e.path]
        lines.append(f"{e.given:<{width}}  {o.status:<7}  {o.rows:>7}  {o.seconds:>7.1f}")
    lines += [f"{e.given}: {outcomes[e.path].error}" for e in entries if outcomes[e.path].status == FAILED]
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="extract.py", description="FORD representation of every input of a manifest, one Parquet shard each.")
    parser.add_argument("manifest", help="CSV with a 'path' column (optional 'id'), or JSONL of {\"path\": ...}")
    parser.add_argument("-o", "--output", required=True, metavar="DIR", help="output folder (created; resumable)")
    parser.add_argument("--actors", type=positive_int, metavar="N",
                        help="actor pool size (default: the cluster's CPUs)")
    parser.add_argument("--identity-model", metavar="ARCFACE.onnx", help="ArcFace ONNX instead of dlib's encoder")
    parser.add_argument("--detector-model", metavar="DET.onnx", help="SCRFD ONNX instead of the MediaPipe detector")
    parser.add_argument("--retry-failed", action="store_true", help="retry inputs whose content failed before")
    parser.add_argument("--address", help="Ray cluster to join (default: RAY_ADDRESS, else a local cluster)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except FacexError as err:
        print(f"extract: error: {err}", file=sys.stderr)
        return err.exit_code


if __name__ == "__main__":
    sys.exit(main())

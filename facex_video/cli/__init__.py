"""The `facex` command: parses arguments (cli/parser.py) and calls facex_video.api; user errors become one line
and exit 2."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence

from .flags import positive_int
from .parser import TASK_HELP, build_parser

__all__ = ["TASK_HELP", "build_parser", "main", "positive_int", "run_parsed"]


def _run_eval(args: argparse.Namespace) -> int:
    import json

    from ..core.atomic import check_writable_dir, write_text_atomic
    from ..core.outputs import check_not_input
    from ..eval.report import evaluate, format_metrics
    from ..tasks.assemble import Edits
    from ..tasks.table import TABLE

    if args.json:  # before any work: writable, and not one of the files it measures
        inputs = {"result": args.result, "source": args.source, "target": args.target, "driving": args.driving,
                  **{f"{c} take": p for c, p in (args.take or {}).items()}, "--identity-model": args.identity_model,
                  "--detector-model": args.detector_model}
        check_not_input(args.json, inputs, flag="--json")
        check_writable_dir(args.json)

    edits = Edits(args.yaw, args.pitch, args.roll, args.gaze) if TABLE[args.task].takes_edits else None
    rows = evaluate(args.task, args.result, source=args.source, target=args.target, driving=args.driving,
                    take=args.take, edits=edits, identity_model=args.identity_model,
                    detector_model=args.detector_model)
    print(format_metrics(rows))
    if args.json:
        write_text_atomic(args.json, json.dumps({m.name: m.value for m in rows}, indent=1))
    return 0


def _run_task(args: argparse.Namespace) -> dict:
    from .. import api
    from ..tasks.table import TABLE
    from .flags import task_run

    request, config = task_run(TABLE[args.command], vars(args))
    return api.run_request(request, args.output, config, preview=args.preview)


def _verify(path: str, trust: str | None) -> int:
    """`facex verify FILE`: the edit mark's record, the Content Credentials' validation and the invisible
    watermark of sampled frames, in words; exit 0 when marked by any of them, 1 when not marked or when its
    credentials do not validate (a modified file)."""
    from pathlib import Path

    from ..api.verify import read_watermark
    from ..core.errors import InputError
    from ..media.credentials import read_credentials
    from ..media.marks import read_mark

    mark = read_mark(path)
    try:
        anchors = Path(trust).read_bytes() if trust else None
    except OSError as e:
        raise InputError(trust or "", f"cannot read ({e.strerror})") from None
    credentials = read_credentials(Path(path), anchors)
    try:
        reading = read_watermark(path)
        pixels = reading.summary()
    except InputError as e:  # e.g. pictures damaged after signing: the metadata still says what it can
        if mark is None and credentials is None:
            raise
        reading, pixels = None, f"not read: {e.problem}"
    if mark is None and credentials is None and not (reading and reading.marked):
        print(f"{path}: not marked: no FaceX edit mark (metadata), no Content Credentials, no watermark "
              f"({pixels})")
        return 1
    print(f"{path}: marked" + ("" if mark is not None else " (no metadata mark)")
          + (f" (metadata): {mark.comment()}" if mark is not None else ""))
    if mark is not None:
        print(f"  tool {mark.tool} {mark.version}; task {mark.task}; backend {mark.backend or '-'}; "
              f"faces synthesised: {'yes' if mark.synthetic else 'no'}; watermark embedded: "
              f"{'yes' if mark.watermark else 'no'}")
    print(f"  watermark: {pixels}")
    if credentials is None:
        print("  Content Credentials (C2PA): none")
        return 0
    print(f"  Content Credentials (C2PA): {credentials.state}; signed by {credentials.signer or 'unknown'}; "
          f"actions {', '.join(credentials.actions) or '-'}"
          + (f"; failures: {', '.join(credentials.failures)}" if credentials.failures else ""))
    return 1 if credentials.state == "Invalid" else 0


def run_parsed(args: argparse.Namespace) -> int:
    """Run one parsed `facex` command (also each item of `facex batch`); FacexError for what a user can fix."""
    from .. import api

    if args.command == "batch":
        from .batch import FAILED, format_table, run_batch

        statuses = run_batch(args.batch, status_path=args.status, output_root=args.output_root)
        print(format_table(statuses))
        failed = sum(s.status == FAILED for s in statuses.values())
        print(f"{len(statuses) - failed} of {len(statuses)} items done, {failed} failed")
        return 1 if failed else 0
    if args.command == "models":
        from ..models import store

        if args.models_command == "pull":
            store.pull(args.names or None)
        print(store.format_status_table(store.status()))
        return 0
    if args.command == "eval":
        return _run_eval(args)
    if args.command == "verify":
        return _verify(args.file, args.trust)
    progress = not args.quiet
    if args.command in TASK_HELP:
        summary = _run_task(args)
        shards = ""
        if "computed" in summary:
            shards = (f" ({sum(summary['computed'].values())} shards computed, "
                      f"{sum(summary['skipped'].values())} skipped from an earlier run)")
        signed = ("; signed with C2PA Content Credentials" if summary.get("signed") else
                  "; marked in its metadata, not signed (--sign-cert and --sign-key sign it)")
        print(f"{args.command}: {len(summary['edited'])} face track(s) edited -> {args.output}{shards}{signed}")
        return 0
    if args.command == "tracks":
        summary = api.tracks(
            args.input, args.output, preview=args.preview, detector_model=args.detector_model, progress=progress
        )
    elif args.command == "analyze":
        summary = api.analyze(
            args.input, args.output, preview=args.preview, identity_model=args.identity_model,
            detector_model=args.detector_model, with_crops=args.crops, progress=progress,
        )
    else:
        summary = api.passthrough(
            args.input, args.output, preview=args.preview, crf=args.crf, preset=args.preset, codec=args.codec,
            fps=args.fps, detector_model=args.detector_model, progress=progress,
        )
    print(f"{args.input}: {len(summary['tracks'])} face track(s), {len(summary['shot_starts'])} shot(s) "
          f"-> {args.output}")
    return 0


def _log_to_stderr() -> None:
    """Warnings of the facex_video loggers as `facex: warning: ...` lines on the current stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("facex: %(levelname)s: %(message)s"))
    logger = logging.getLogger("facex_video")
    logger.handlers = [handler]
    logger.setLevel(logging.WARNING)
    logger.propagate = False


_signalled: list[int] = []  # SIGTERM noted here: Ray turns an exception raised in its waits into KeyboardInterrupt


def _raise_terminated(signum: int, frame) -> None:
    """SIGTERM unwinds like Ctrl-C, from where the program is: runners close, Ray shuts down, the work
    directory stays for a rerun to resume."""
    _signalled.append(signum)
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    from ..core.atomic import NO_ROOM
    from ..core.errors import FacexError

    _log_to_stderr()
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _raise_terminated) if main_thread else None
    try:
        return run_parsed(build_parser().parse_args(argv))
    except FacexError as err:
        print(f"facex: error: {err}", file=sys.stderr)
        return err.exit_code
    except OSError as err:  # a full disk at a write no site names (each output's own write names its path)
        if err.errno not in NO_ROOM:
            raise
        print(f"facex: error: {err.filename or 'writing an output'}: no space left on the device", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        terminated = signal.SIGTERM in _signalled
        what, status = ("terminated", 128 + signal.SIGTERM) if terminated else ("interrupted", 130)
        print(f"facex: {what}; no output was written", file=sys.stderr)
        return status
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


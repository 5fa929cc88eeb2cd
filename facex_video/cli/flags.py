"""The options of `facex TASK`, one table read two ways: as argparse arguments (the command line) and as the
keys of a `facex batch` item (YAML, by the option's long name). Either way the values end as the same
TaskRequest and RunConfig (`task_run`), so an item runs exactly as its command line would, without text
being re-parsed.

Each task's options follow from its record (tasks/table.py: --source when it needs one, --driving when it
streams the driving video, the edit, mask and --take options when it takes them) and from the backends'
Options dataclasses (render/registry.py: a field with a "flag" in its metadata is an option).
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from ..core.errors import OptionError
from ..core.options import GAZE_LIMIT_DEG, POSE_LIMIT_DEG, gaze_angle, number, parse_number, track_ids, weight
from ..media.formats import CODECS, X264_PRESETS
from ..render.registry import BACKENDS
from ..tasks.table import COMPONENTS, Task
from ..video.config import LOCAL_THREADS, RUNNERS, RunConfig


@dataclass(frozen=True)
class Flag:
    """One option. parse: text -> value, raising OptionError (None: a switch, true when given).
    repeat: may be given many times (a list). one_of: the options of one group exactly one of which is given.
    group: the --help section it is listed in."""

    name: str
    help: str
    parse: Callable[[str], Any] | None = str
    default: Any = None
    required: bool = False
    repeat: bool = False
    choices: tuple[str, ...] | None = None
    metavar: str | None = None
    short: str | None = None
    one_of: str | None = None
    group: str | None = None
    path: bool = False  # an input file: a batch item's is taken from the batch file's folder

    @property
    def dest(self) -> str:
        """The attribute argparse stores it in, and its key in a batch item."""
        return self.name.replace("-", "_")

    @property
    def flag(self) -> str:
        return f"--{self.name}"


def at_least_one(text: str) -> int:
    """The integer `text` spells, at least 1; ValueError with the line a user reads otherwise."""
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"expected an integer, got {text!r}") from None
    if value < 1:
        raise ValueError(f"must be at least 1, got {value}")
    return value


def positive_int(text: str) -> int:
    """argparse type for counts (the jobs/ scripts' flags)."""
    try:
        return at_least_one(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def integer(flag: str) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            return int(text)
        except ValueError:
            raise OptionError(flag, f"expected an integer, got {text!r}") from None

    return parse


def ranged(flag: str, **limits: Any) -> Callable[[str], float]:
    """A finite float within `limits` (options.number)."""
    return lambda text: number(flag, parse_number(flag, text), **limits)


def crf(text: str) -> int:
    value = integer("--crf")(text)
    if not 0 <= value <= 51:
        raise OptionError("--crf", f"must be within 0 to 51, got {value}")
    return value


NTSC_RATES = {"23.976": Fraction(24000, 1001), "29.97": Fraction(30000, 1001), "47.952": Fraction(48000, 1001),
              "59.94": Fraction(60000, 1001), "119.88": Fraction(120000, 1001)}  # as editors write them


def frame_rate(text: str) -> Fraction:
    """--fps: a positive rate, as a fraction (24000/1001), a number, or an NTSC rate's usual decimal (23.976)."""
    try:
        rate = NTSC_RATES.get(text.strip()) or Fraction(text.strip())
    except (ValueError, ZeroDivisionError):
        raise OptionError("--fps", f"expected a rate such as 24, 25, 23.976 or 24000/1001, got {text!r}") from None
    if not 0 < rate <= 1000:
        raise OptionError("--fps", f"must be above 0 and at most 1000, got {text}")
    return rate


def frame_range(text: str) -> tuple[int, int]:
    """--frames START:STOP: frame indices from 0, STOP excluded (Python's slice)."""
    try:
        start, stop = (int(part) for part in text.split(":"))
    except ValueError:
        raise OptionError("--frames", f"expected START:STOP frame indices, e.g. 48:120, got {text!r}") from None
    if not 0 <= start < stop:
        raise OptionError("--frames", f"needs 0 <= START < STOP, got {text}")
    return start, stop


# the output's video coding, for every command that writes a video (media/formats.py), and the rate an image
# sequence (whose files carry none) plays at
ENCODE_FLAGS = [
    Flag("codec", "output video codec: same (the input's codec family, bit depth, chroma and colour; H.264 where "
                  "no encoder or the container cannot hold it), h264, h265, prores, dnxhr, ffv1 (default same)",
         default="same", choices=CODECS),
    Flag("crf", "H.264/H.265 quality 0-51, lower is better (default 16)", parse=crf, default=16),
    Flag("preset", "x264/x265 preset (default medium)", default="medium", choices=X264_PRESETS),
    Flag("fps", "frame rate of an image sequence input (default 24): 24, 25, 23.976, 24000/1001, ...",
         parse=frame_rate, metavar="RATE"),
]


def track_id(text: str) -> int:
    value = integer("--face")(text)
    track_ids([value])
    return value


def gaze(text: str) -> tuple[float, float]:
    parts = text.split(",")
    if len(parts) != 2:
        raise OptionError("--gaze", f"takes YAW,PITCH in degrees, got {text!r}")
    yaw, pitch = (gaze_angle("--gaze", parse_number("--gaze", v.strip())) for v in parts)
    return yaw, pitch


def blendshape(text: str) -> tuple[str, float]:
    """--expr NAME=VALUE: a blendshape the expression edits support, and a weight in [0, 1]."""
    from ..tasks.expression import check_names

    if "=" not in text:
        raise OptionError("--expr", f"expected NAME=VALUE, got {text!r}")
    name, value = (part.strip() for part in text.split("=", 1))
    try:
        check_names([name])
    except ValueError as err:
        raise OptionError("--expr", str(err)) from None
    return name, weight("--expr", parse_number("--expr", value))


def takes(text: str) -> dict[str, str]:
    """--take COMPONENT=INPUT,...: known components, each with a path."""
    pairs = [part.split("=", 1) if "=" in part else [part, ""] for part in text.split(",") if part.strip()]
    found = {name.strip(): path.strip() for name, path in pairs}
    unknown = sorted(set(found) - set(COMPONENTS))
    if unknown:
        raise OptionError("--take", f"unknown component(s) {', '.join(unknown)}; components are "
                                    f"{', '.join(COMPONENTS)}")
    if not found or not all(found.values()):
        raise OptionError("--take", f"give each component an input file (COMPONENT=INPUT), got {text!r}")
    return found


def pose_flags(what: str, gaze_what: str) -> list[Flag]:
    """--yaw/--pitch/--roll and --gaze with their documented ranges (core/options.py); `facex eval` has them too."""
    limit = f"within +-{POSE_LIMIT_DEG:g}"
    axes = (("yaw", "turn, + = toward image right"), ("pitch", "tilt, + = up"), ("roll", "roll, + = counter-clockwise"))
    return [*(Flag(axis, f"{what}: {axis} ({sense}), {limit} (default 0)", default=0.0, metavar="DEG",
                   parse=ranged(f"--{axis}", lo=-POSE_LIMIT_DEG, hi=POSE_LIMIT_DEG, unit="degrees"))
              for axis, sense in axes),
            Flag("gaze", f"{gaze_what}, each within +-{GAZE_LIMIT_DEG:g}", parse=gaze, metavar="YAW,PITCH")]


SMILE_BLINK_JAW = {"smile": ("mouthSmileLeft", "mouthSmileRight"), "blink": ("eyeBlinkLeft", "eyeBlinkRight"),
                   "jaw_open": ("jawOpen",)}
RUN_GROUP = "video job (videos only; images run in process)"


def _backend_flags() -> list[Flag]:
    """Every backend's options (render/registry.py), in a section per backend."""
    flags = []
    for entry in BACKENDS.values():
        for f in dataclasses.fields(entry.options_type):
            meta = f.metadata
            if "flag" not in meta:
                continue
            kind, flag, limits = str(f.type).split(" ")[0], meta["flag"], meta.get("limits", {})
            parse: Callable[[str], Any] = str
            if kind == "int":
                parse = _positive(flag) if limits.get("lo") == 1 else integer(flag)
            elif kind == "float":
                parse = ranged(flag, **limits)
            flags.append(Flag(flag[2:], meta["help"], parse=parse, default=f.default, choices=meta.get("choices"),
                              metavar=meta.get("metavar"), group=f"--backend {entry.name}",
                              path=bool(meta.get("file"))))
    return flags


def task_flags(task: Task) -> list[Flag]:
    """The options of `facex TASK`, in --help order."""
    flags = []
    if task.needs_source:
        flags.append(Flag("source", "image with the face to take from", required=True, path=True))
    if task.stream_role == "driving":
        flags.append(Flag("driving", "video (or image) whose performance drives the source", required=True,
                          path=True))
    else:
        flags.append(Flag("target", "image or video to edit", required=True, path=True))
    flags.append(Flag("output", "image or video (.mp4 .mov .mkv)", required=True, metavar="OUT", short="-o"))
    if task.takes_edits:
        flags += pose_flags("degrees added to the head pose", "degrees added to the gaze of both eyes")
        flags.append(Flag("expr", "a blendshape target, VALUE within 0 to 1 (mouthSmile*, eyeBlink*, jawOpen, "
                                  "browInnerUp, mouthPucker, mouthFunnel)", parse=blendshape, repeat=True,
                          metavar="NAME=VALUE"))
        flags += [Flag(name.replace("_", "-"), f"{name.replace('_', ' ')} strength, within 0 to 1", metavar="VALUE",
                       parse=ranged(f"--{name.replace('_', '-')}", lo=0.0, hi=1.0)) for name in SMILE_BLINK_JAW]
    if task.takes_mask:
        flags += [Flag("region", "a FORD region to regenerate", one_of="inpaint area",
                       choices=("skin", "brows", "eyes", "iris", "lips", "mouth_interior")),
                  Flag("mask", "white = regenerate, in target pixels", metavar="MASK.png", one_of="inpaint area",
                       path=True)]
    if task.takes_components:
        flags.append(Flag("take", "identity, expression, pose, gaze, lighting, hair, background from inputs",
                          parse=takes, required=True, metavar="COMPONENT=INPUT,..."))
    flags += [
        Flag("face", "edit only this track (ids as `facex tracks` prints them); repeatable", parse=track_id,
             repeat=True, metavar="TRACK_ID"),
        Flag("backend", "renderer: " + "; ".join(f"{b.name}: {b.help}" for b in BACKENDS.values()),
             default="geometric", choices=tuple(BACKENDS)),
        *_backend_flags(),
        Flag("identity-model", "ArcFace ONNX instead of dlib", metavar="ARCFACE.onnx", path=True),
        Flag("sign-cert", "sign C2PA Content Credentials with this certificate chain (PEM, yours first; default: "
                          "FACEX_SIGN_CERT)", metavar="CHAIN.pem", path=True),
        Flag("sign-key", "the certificate's private key (PEM; default: FACEX_SIGN_KEY)", metavar="KEY.pem",
             path=True),
        Flag("no-watermark", "no invisible watermark in the edited faces (for deliveries that must keep their "
                             "pixels; the metadata still says the faces were synthesised, and that it is off)",
             parse=None),
        Flag("frames", "edit only frames START:STOP of the footage (indices from 0, STOP excluded); the output "
                       "is that clip, its audio and timecode cut to it", parse=frame_range, metavar="START:STOP"),
        *ENCODE_FLAGS,
        Flag("runner", "ray: shards on the Ray cluster of --address / RAY_ADDRESS, else a local one; inline: in "
                       "this process, on threads; auto (default): ray when a cluster is named or this machine "
                       f"has more than {LOCAL_THREADS} CPUs, else inline", default=RunConfig.runner,
             choices=RUNNERS, group=RUN_GROUP),
        Flag("address", "Ray cluster to join (default: RAY_ADDRESS, else start a local one)", group=RUN_GROUP),
        Flag("actors", "edit actors on Ray (default: one per CPU of the cluster), threads inline (default: one "
                       f"per CPU, at most {LOCAL_THREADS})", parse=_positive("--actors"),
             metavar="N", group=RUN_GROUP),
        Flag("gpus-per-actor", "GPUs per edit actor, 0 or more, fractional allowed (default 0: CPU)",
             parse=ranged("--gpus-per-actor", lo=0.0), default=0.0, metavar="F", group=RUN_GROUP),
        Flag("chunk-seconds", f"length of a time shard, greater than 0 (default {RunConfig.chunk_seconds})",
             parse=ranged("--chunk-seconds", lo=0.0, lo_open=True), default=RunConfig.chunk_seconds, metavar="S",
             group=RUN_GROUP),
        Flag("overlap-seconds", "lead each chunk is analysed from, to link its tracks with the previous chunk's, "
                                f"0 or more (default {RunConfig.overlap_seconds})",
             parse=ranged("--overlap-seconds", lo=0.0), default=RunConfig.overlap_seconds, metavar="S",
             group=RUN_GROUP),
        Flag("fresh", "ignore the finished shards of an earlier run and start over", parse=None, group=RUN_GROUP),
        Flag("keep-work", "keep the work directory (.OUTPUT.facex-work) after success", parse=None,
             group=RUN_GROUP),
        *COMMON_FLAGS,
    ]
    return flags


def _positive(flag: str) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            return at_least_one(text)
        except ValueError as error:
            raise OptionError(flag, str(error)) from None

    return parse


COMMON_FLAGS = [
    Flag("preview", "write a contact sheet of sampled frames (tracks, FORD components, or source | target | result)",
         metavar="SHEET.png"),
    Flag("detector-model", "your insightface SCRFD detector (e.g. det_10g.onnx) instead of the shipped MediaPipe one",
         metavar="DET.onnx", path=True),
    Flag("quiet", "no progress bars; Ray logs errors only", parse=None),
]


def _argparse_type(flag: Flag) -> Callable[[str], Any]:
    """The flag's parser as argparse wants it: an OptionError becomes argparse's message."""
    parse = flag.parse or str

    def convert(text: str) -> Any:
        try:
            return parse(text)
        except OptionError as err:
            raise argparse.ArgumentTypeError(err.problem) from None

    convert.__name__ = flag.name
    return convert


def add_flags(parser: argparse.ArgumentParser, flags: list[Flag]) -> None:
    """The flags as argparse arguments (sections by group, one required group per one_of)."""
    groups: dict[str, Any] = {}
    for flag in flags:
        if flag.one_of is not None:
            if flag.one_of not in groups:
                groups[flag.one_of] = parser.add_mutually_exclusive_group(required=True)
            where = groups[flag.one_of]
        elif flag.group is not None:
            if flag.group not in groups:
                groups[flag.group] = parser.add_argument_group(flag.group)
            where = groups[flag.group]
        else:
            where = parser
        names = [flag.short, f"--{flag.name}"] if flag.short else [f"--{flag.name}"]
        if flag.parse is None:
            where.add_argument(*names, action="store_true", help=flag.help)
            continue
        kwargs: dict[str, Any] = {"help": flag.help, "metavar": flag.metavar, "choices": flag.choices}
        if flag.parse is not str:
            kwargs["type"] = _argparse_type(flag)
        if flag.required and flag.one_of is None:
            kwargs["required"] = True
        where.add_argument(*names, action="append" if flag.repeat else "store",
                           default=[] if flag.repeat and flag.default is None else flag.default, **kwargs)


def _text(value: Any) -> str:
    """A YAML value as the text its option parses: a mapping as NAME=VALUE,... (e.g. --take)."""
    if isinstance(value, Mapping):
        return ",".join(f"{k}={v}" for k, v in value.items())
    return str(value)


def values_from_mapping(flags: list[Flag], given: Mapping[str, Any]) -> dict[str, Any]:
    """What argparse would store for these flags, from a mapping of option names (a batch item, its values
    plain YAML). OptionError naming the flag for an unknown option, a wrong value or a missing one."""
    known = {f.dest: f for f in flags}
    values: dict[str, Any] = {f.dest: ([] if f.repeat and f.default is None else f.default) for f in flags}
    for key, value in given.items():
        flag = known.get(key.replace("-", "_"))
        if flag is None:
            raise OptionError(f"--{key.replace('_', '-')}", "is not an option of this task (see facex TASK --help)")
        if flag.parse is None:
            if not isinstance(value, bool):
                raise OptionError(flag.flag, f"is a switch: give true or false, got {value!r}")
            values[flag.dest] = value
            continue
        items = value if isinstance(value, list) else [value]
        if len(items) != 1 and not flag.repeat:
            raise OptionError(flag.flag, f"takes one value, got {len(items)}")
        parsed = []
        for item in items:
            text = _text(item)
            if flag.choices is not None and text not in flag.choices:
                raise OptionError(flag.flag, f"must be one of {', '.join(flag.choices)}, got {text!r}")
            parsed.append(flag.parse(text))
        values[flag.dest] = parsed if flag.repeat else parsed[0]
    for flag in flags:
        if flag.required and flag.one_of is None and values[flag.dest] is None:
            raise OptionError(flag.flag, "is required")
    for group in {f.one_of for f in flags if f.one_of}:
        members = [f for f in flags if f.one_of == group]
        if sum(values[f.dest] is not None for f in members) != 1:
            raise OptionError(" / ".join(f.flag for f in members), "give exactly one")
    return values


def task_run(task: Task, values: Mapping[str, Any]) -> tuple[Any, RunConfig]:
    """The TaskRequest and RunConfig that a task's option values (argparse's, or values_from_mapping's) ask for."""
    from ..api import TaskRequest
    from ..tasks.assemble import Edits

    edits = None
    if task.takes_edits:
        expression = dict(values["expr"])
        for flag, names in SMILE_BLINK_JAW.items():
            if values[flag] is not None:
                expression.update({n: values[flag] for n in names})
        edits = Edits(values["yaw"], values["pitch"], values["roll"], values["gaze"], expression)
    entry = BACKENDS[values["backend"]]
    options = entry.options_type(**{f.name: values[f.metadata["flag"][2:].replace("-", "_")]
                                    for f in dataclasses.fields(entry.options_type) if "flag" in f.metadata})
    request = TaskRequest(
        task.name, source=values.get("source"), target=values.get("target"), driving=values.get("driving"),
        take=values.get("take"), edits=edits, faces=set(values["face"]) if values["face"] else None,
        inpaint_region=values.get("region"), inpaint_mask=values.get("mask"), backend=entry.name,
        backend_options=options, identity_model=values["identity_model"], detector_model=values["detector_model"],
        fps=values["fps"], frames=values["frames"], watermark=not values["no_watermark"])
    config = RunConfig(runner=values["runner"], actors=values["actors"], gpus_per_actor=values["gpus_per_actor"],
                       chunk_seconds=values["chunk_seconds"], overlap_seconds=values["overlap_seconds"],
                       crf=values["crf"], preset=values["preset"], codec=values["codec"], fresh=values["fresh"],
                       sign_cert=values["sign_cert"], sign_key=values["sign_key"],
                       keep_work=values["keep_work"], progress=not values["quiet"], address=values["address"])
    return request, config

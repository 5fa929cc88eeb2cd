"""`facex batch edits.yaml`: the shots of a post-production batch, each a facex task, with a status per item.

    runner: ray                 # optional defaults for every item (any `facex TASK` option, by its long name)
    items:
      - name: shot010-swap      # unique; the status file's key
        task: swap
        source: faces/lead.jpg  # paths are taken from the YAML file's folder
        target: shots/shot010.mov
        output: out/shot010.mov
      - name: shot020-smile
        task: edit
        target: shots/shot020.mov
        output: out/shot020.mov
        smile: 0.6
        face: [0]

Each item runs as `facex TASK --OPTION VALUE ...` would. One failing item is recorded (its error in the status
file) and the batch goes on. The status file (default: beside the YAML, `<name>.status.json`) says per item
done / failed with the error and seconds; a rerun skips the items done with the same definition whose output
still exists, and retries the rest. Exit status 0 when every item is done, 1 otherwise.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import yaml

from .atomic import write_text_atomic
from .errors import FacexError, InputError

PATH_KEYS = ("source", "target", "driving", "output", "mask", "swapper_model", "identity_model", "detector_model",
             "preview")
DONE, FAILED, SKIPPED = "done", "failed", "skipped"


@dataclass
class ItemStatus:
    status: str
    definition: str  # digest of the item as written, so an edited item runs again
    output: str
    seconds: float = 0.0
    error: str = ""


def load_items(path: Path) -> list[dict]:
    """The items of a batch YAML, defaults applied and paths resolved; InputError naming the file and item."""
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(path, "no such file") from None
    except yaml.YAMLError as e:
        raise InputError(path, f"not valid YAML ({e})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("items"), list) or not doc["items"]:
        raise InputError(path, "expected a mapping with a non-empty 'items' list")
    defaults = {k: v for k, v in doc.items() if k != "items"}
    items, names = [], set()
    for n, raw in enumerate(doc["items"], start=1):
        if not isinstance(raw, dict):
            raise InputError(path, f"item {n}: expected a mapping of options")
        item = {**defaults, **raw}
        for key in ("name", "task", "output"):
            if not item.get(key):
                raise InputError(path, f"item {n}: '{key}' is required")
        if item["name"] in names:
            raise InputError(path, f"item {n}: name {item['name']!r} is used twice")
        names.add(item["name"])
        for key in PATH_KEYS:
            if isinstance(item.get(key), str):
                item[key] = str((path.parent / item[key]).expanduser())
        items.append(item)
    return items


def item_argv(item: dict) -> list[str]:
    """The `facex` arguments an item stands for: `task`, then each option as --long-name VALUE (a list
    repeats the flag, true is a bare flag, false leaves it out)."""
    argv = [str(item["task"]), "--quiet"]
    for key, value in item.items():
        if key in ("name", "task") or value is None or value is False:
            continue
        flag = "-o" if key == "output" else f"--{key.replace('_', '-')}"
        if value is True:
            argv.append(flag)
        elif key == "take" and isinstance(value, dict):
            argv += [flag, ",".join(f"{k}={v}" for k, v in value.items())]
        else:
            for v in value if isinstance(value, list) else [value]:
                argv += [flag, str(v)]
    return argv


def _digest(item: dict) -> str:
    return hashlib.sha256(json.dumps(item, sort_keys=True, default=str).encode()).hexdigest()[:16]


def run_batch(path: str | Path, *, status_path: str | Path | None = None) -> dict[str, ItemStatus]:
    """Run every item not already done; write the status file after each item. Returns the statuses."""
    from .cli import build_parser, run_parsed

    path = Path(path)
    items = load_items(path)
    status_path = Path(status_path) if status_path else path.with_name(f"{path.stem}.status.json")
    before = json.loads(status_path.read_text()) if status_path.is_file() else {}
    statuses: dict[str, ItemStatus] = {}
    parser = build_parser()
    with _ray_session(items):
        for item in items:
            name, digest = item["name"], _digest(item)
            old = before.get(name)
            if old and old["status"] == DONE and old["definition"] == digest and Path(item["output"]).exists():
                statuses[name] = ItemStatus(SKIPPED, digest, item["output"], old["seconds"])
            else:
                statuses[name] = _run_item(parser, run_parsed, item, digest)
            write_text_atomic(status_path, json.dumps(
                {n: {**asdict(s), "status": DONE if s.status == SKIPPED else s.status} for n, s in statuses.items()},
                indent=1))
    return statuses


def _run_item(parser: argparse.ArgumentParser, run_parsed, item: dict, digest: str) -> ItemStatus:
    start = time.perf_counter()
    try:
        try:
            args = parser.parse_args(item_argv(item))
        except SystemExit:  # argparse printed what is wrong with the options
            raise InputError(item["name"], f"invalid options {item_argv(item)[2:]}") from None
        run_parsed(args)
        return ItemStatus(DONE, digest, item["output"], round(time.perf_counter() - start, 2))
    except (FacexError, ValueError, OSError) as exc:  # one bad item must not stop the batch
        return ItemStatus(FAILED, digest, item["output"], round(time.perf_counter() - start, 2),
                          f"{type(exc).__name__}: {exc}")


@contextlib.contextmanager
def _ray_session(items: list[dict]):
    """One Ray connection for the whole batch when any item runs on Ray (not one start per item)."""
    if not any(item.get("runner", "ray") == "ray" for item in items):
        yield
        return
    from .video.runner_ray import ray_session

    with ray_session(next((i["address"] for i in items if i.get("address")), None)):
        yield


def format_table(statuses: dict[str, ItemStatus]) -> str:
    width = max(len("item"), *(len(n) for n in statuses))
    lines = [f"{'item':<{width}}  {'status':<7}  {'seconds':>7}  output"]
    lines += [f"{n:<{width}}  {s.status:<7}  {s.seconds:>7.1f}  {s.output}" for n, s in statuses.items()]
    lines += [f"{n}: {s.error}" for n, s in statuses.items() if s.status == FAILED]
    return "\n".join(lines)

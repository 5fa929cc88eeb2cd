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

Before any item runs, every item is checked, and the batch refused (exit status 2, one line naming the file and
the item) if one is wrong: a value of the wrong YAML type, an unknown task or option, an option out of its
range, an output or preview outside the output root (`--output-root`, default: the YAML file's folder; `..`
and absolute paths elsewhere are refused), two items writing one file, or an output that is one of the item's
own inputs.

A timeline (an OpenTimelineIO .otio file, or a CMX 3600 .edl) can stand for the items (cli/timeline.py):

    timeline: cut.otio          # one item per clip: the clip's media cut to its source range (--frames)
    task: swap                  # what every clip's item does, with its options
    source: faces/lead.jpg
    output_dir: out             # each output named after its clip, with its media's extension (or output_ext)
    results: cut.results.otio   # default <batch>.results.otio: the timeline relinked to the outputs

`facex batch cut.otio` runs a timeline directly, its task and options taken from its metadata under "facex".

Each item runs as `facex TASK --OPTION VALUE ...` would: its options are read by the same table as the
command line's (cli/flags.py) into the same TaskRequest and RunConfig. One failing item (e.g. an unreadable input) is
recorded (its error in the status file) and the batch goes on. The status file (default: beside the YAML,
`<name>.status.json`) says per item done / failed with the error and seconds; a rerun skips the items done
with the same definition whose output still exists, and retries the rest. Exit status 0 when every item is
done, 1 otherwise.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import yaml

from ..core.atomic import write_text_atomic
from ..core.errors import FacexError, InputError, OptionError
from ..core.outputs import check_not_input
from ..tasks.table import TABLE
from ..video.config import RunConfig
from .flags import task_flags, task_run, values_from_mapping
from .timeline import TIMELINE_EXTENSIONS, timeline_defaults, timeline_items, write_results

DONE, FAILED, SKIPPED = "done", "failed", "skipped"


@dataclass
class ItemStatus:
    status: str
    definition: str  # digest of the item as written, so an edited item runs again
    output: str
    seconds: float = 0.0
    error: str = ""


SCALARS = (str, int, float, bool)
TIMELINE_KEYS = ("timeline", "output_dir", "output_ext", "results")  # a timeline batch's keys, not task options
INPUT_KEYS = tuple(sorted({f.dest for t in TABLE.values() for f in task_flags(t) if f.path}))
OUTPUT_KEYS = ("output", "preview")


def _kind(value: object) -> str:
    kinds: dict[type, str] = {list: "a list", dict: "a mapping"}
    return kinds.get(type(value), type(value).__name__)


def load_items(path: Path, *, output_root: str | Path | None = None) -> list[dict]:
    """The items of a batch YAML, defaults applied and paths resolved, every item checked before any runs:
    the types of its values, its task and options (as `facex TASK` would parse them), its output and preview
    under `output_root` (default: the YAML's folder) and written by no other item, and no output one of the
    item's own inputs. InputError naming the file and the item."""
    try:
        doc = ({**timeline_defaults(path), "timeline": path.name} if path.suffix.lower() in TIMELINE_EXTENSIONS
               else yaml.safe_load(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise InputError(path, "no such file") from None
    except IsADirectoryError:
        raise InputError(path, "is a folder; give the batch's YAML file") from None
    except UnicodeDecodeError as e:
        raise InputError(path, f"not UTF-8 text ({e.reason})") from None
    except yaml.YAMLError as e:
        raise InputError(path, f"not valid YAML ({' '.join(str(e).split())})") from None
    if isinstance(doc, dict) and doc.get("timeline"):  # one item per clip, before any written ones
        timeline = timeline_path(path, doc)
        defaults = {k: v for k, v in doc.items() if k not in ("items", *TIMELINE_KEYS)}
        doc["items"] = [*timeline_items(timeline, {**defaults, **doc}), *(doc.get("items") or [])]
    if not isinstance(doc, dict) or not isinstance(doc.get("items"), list) or not doc["items"]:
        raise InputError(path, "expected a mapping with a non-empty 'items' list (or a 'timeline')")
    root = Path(output_root) if output_root is not None else path.absolute().parent
    if not root.is_dir():
        raise InputError(root, "no such folder (the batch's --output-root)")
    real_root = os.path.realpath(root)
    defaults = {k: v for k, v in doc.items() if k not in ("items", *TIMELINE_KEYS)}
    items: list[dict] = []
    names: dict[str, int] = {}  # item name -> item number
    written: dict[str, str] = {}  # real output path -> which item's which output
    for n, raw in enumerate(doc["items"], start=1):
        if not isinstance(raw, dict):
            raise InputError(path, f"item {n}: expected a mapping of options, got {_kind(raw)}")
        item = {**defaults, **raw}
        label = f"item {n}"
        if isinstance(item.get("name"), (str, int)) and not isinstance(item.get("name"), bool):
            item["name"] = str(item["name"])
            label = f"item {n} ({item['name']})"
        _check_types(path, label, item)
        for key in ("name", "task", "output"):
            if not item.get(key):
                raise InputError(path, f"{label}: '{key}' is required")
        if item["task"] not in TABLE:
            raise InputError(path, f"{label}: task {item['task']!r} is not one of {', '.join(TABLE)}")
        if item["name"] in names:
            raise InputError(path, f"{label}: name {item['name']!r} is used twice "
                                   f"(first by item {names[item['name']]})")
        names[item["name"]] = n
        for key in (*INPUT_KEYS, *OUTPUT_KEYS):
            if isinstance(item.get(key), str):
                item[key] = str(path.parent / Path(item[key]).expanduser())
        if isinstance(item.get("take"), dict):
            item["take"] = {c: str(path.parent / Path(p).expanduser()) for c, p in item["take"].items()}
        try:
            item_run(item)
        except OptionError as err:
            raise InputError(path, f"{label}: {err}") from None
        for key in OUTPUT_KEYS:
            if item.get(key) is None:
                continue
            real = os.path.realpath(item[key])
            if os.path.commonpath([real, real_root]) != real_root or real == real_root:
                raise InputError(path, f"{label}: {key} {raw.get(key, item[key])} is outside the output root {root}; "
                                       "give a path under it (or another --output-root)")
            if real in written:
                raise InputError(path, f"{label}: {key} {raw.get(key, item[key])} is also written by {written[real]}; "
                                       "give each item its own output")
            written[real] = f"{label}'s {key}"
        inputs = {key: item.get(key) for key in INPUT_KEYS}
        inputs.update({f"{c} take": p for c, p in (item.get("take") or {}).items()})
        for key in OUTPUT_KEYS:
            try:
                check_not_input(item.get(key), inputs, flag=key)
            except FacexError as err:
                raise InputError(path, f"{label}: {err}") from None
        items.append(item)
    return items


def timeline_path(path: Path, doc: dict) -> Path:
    """The timeline a batch names ('timeline:', relative to the batch file's folder)."""
    return path.parent / Path(str(doc["timeline"])).expanduser()


def _check_types(path: Path, label: str, item: dict) -> None:
    """Every option a plain value (a list of them repeats the flag); `take` a mapping of component to file."""
    for key, value in item.items():
        if not isinstance(key, str):
            raise InputError(path, f"{label}: option names are words, got {key!r}")
        if key == "take" and isinstance(value, dict):
            if not all(isinstance(c, str) and isinstance(p, str) and p for c, p in value.items()):
                raise InputError(path, f"{label}: 'take' maps components to files, e.g. {{identity: a.jpg}}")
            continue
        if key in ("name", "task", *INPUT_KEYS, *OUTPUT_KEYS):
            ok = value is None or isinstance(value, str) or (key == "name" and isinstance(value, int)
                                                              and not isinstance(value, bool))
            if not ok:
                what = "a path" if key not in ("name", "task") else "a word"
                raise InputError(path, f"{label}: '{key}' must be {what} (a string), got {_kind(value)}")
            continue
        values = value if isinstance(value, list) else [value]
        if not all(v is None or isinstance(v, SCALARS) for v in values):
            raise InputError(path, f"{label}: '{key}' must be a value or a list of values, got {value!r}")


def item_run(item: dict) -> tuple:
    """The TaskRequest and RunConfig an item stands for: its options as `facex TASK` reads them (progress
    bars off: the batch prints a table). OptionError naming the option for what is wrong."""
    task = TABLE[item["task"]]
    options = {k: v for k, v in item.items() if k not in ("name", "task")}
    values = values_from_mapping(task_flags(task), {"quiet": True, **options})
    return (*task_run(task, values), values["preview"])


def _digest(item: dict) -> str:
    return hashlib.sha256(json.dumps(item, sort_keys=True, default=str).encode()).hexdigest()[:16]


def run_batch(path: str | Path, *, status_path: str | Path | None = None,
              output_root: str | Path | None = None) -> dict[str, ItemStatus]:
    """Run every item not already done; write the status file after each item. Returns the statuses.
    output_root: where every output and preview must lie (default: the batch file's folder)."""
    path = Path(path)
    items = load_items(path, output_root=output_root)
    timeline = _timeline_of(path)
    status_path = Path(status_path) if status_path else path.with_name(f"{path.stem}.status.json")
    before = json.loads(status_path.read_text()) if status_path.is_file() else {}
    statuses: dict[str, ItemStatus] = {}
    with _ray_session(items):
        for item in items:
            name, digest = item["name"], _digest(item)
            old = before.get(name)
            if old and old["status"] == DONE and old["definition"] == digest and Path(item["output"]).exists():
                statuses[name] = ItemStatus(SKIPPED, digest, item["output"], old["seconds"])
            else:
                statuses[name] = _run_item(item, digest)
            write_text_atomic(status_path, json.dumps(
                {n: {**asdict(s), "status": DONE if s.status == SKIPPED else s.status} for n, s in statuses.items()},
                indent=1))
    if timeline is not None:  # the clips' items come first, in clip order
        write_results(timeline[0], [item["output"] for item in items], timeline[1])
    return statuses


def _timeline_of(path: Path) -> tuple[Path, Path] | None:
    """(the timeline a batch runs, where its results timeline goes: 'results:', default <batch>.results.otio
    beside the batch file), or None for a plain batch."""
    if path.suffix.lower() in TIMELINE_EXTENSIONS:
        return path, path.with_name(f"{path.stem}.results.otio")
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))  # load_items read it already: it is valid
    if not doc.get("timeline"):
        return None
    return timeline_path(path, doc), path.parent / str(doc.get("results") or f"{path.stem}.results.otio")


def _run_item(item: dict, digest: str) -> ItemStatus:
    from .. import api

    start = time.perf_counter()
    try:
        request, config, preview = item_run(item)  # its options were checked by load_items
        api.run_request(request, item["output"], config, preview=preview)
        return ItemStatus(DONE, digest, item["output"], round(time.perf_counter() - start, 2))
    except (FacexError, ValueError, OSError) as exc:  # one bad item must not stop the batch
        return ItemStatus(FAILED, digest, item["output"], round(time.perf_counter() - start, 2),
                          f"{type(exc).__name__}: {exc}")


@contextlib.contextmanager
def _ray_session(items: list[dict]):
    """One Ray connection for the whole batch when any item runs on Ray (not one start per item)."""
    if not any(RunConfig(runner=item.get("runner", RunConfig.runner), address=item.get("address")).runner_used
               == "ray" for item in items):
        yield
        return
    from ..video.runner_ray import ray_session

    with ray_session(next((i["address"] for i in items if i.get("address")), None), quiet=True):
        yield


def format_table(statuses: dict[str, ItemStatus]) -> str:
    width = max(len("item"), *(len(n) for n in statuses))
    lines = [f"{'item':<{width}}  {'status':<7}  {'seconds':>7}  output"]
    lines += [f"{n:<{width}}  {s.status:<7}  {s.seconds:>7.1f}  {s.output}" for n, s in statuses.items()]
    lines += [f"{n}: {s.error}" for n, s in statuses.items() if s.status == FAILED]
    return "\n".join(lines)

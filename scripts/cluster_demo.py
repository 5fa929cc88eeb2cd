"""`make cluster-demo`: the reenactment demo as a real Ray job, exactly as a user submits one.

Starts a local Ray head bound to 127.0.0.1 (Ray 2.60 keeps token authentication on: `ray start` writes the
token to ~/.ray/auth_token and the job client reads it with RAY_AUTH_MODE=token), submits jobs/reenact.py with
`ray job submit --working-dir .`, waits for it, checks the output's frames and timing against the driving
clip, and stops the head whatever happened.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from demo import reenact_inputs  # noqa: E402

from facex_video.media import probe  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="demo-out", type=Path)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    driving, portrait = reenact_inputs(args.out)
    output = (args.out / "cluster_reenact.mp4").absolute()
    output.unlink(missing_ok=True)
    ray = shutil.which("ray", path=str(Path(sys.executable).parent)) or "ray"
    env = {**os.environ, "RAY_AUTH_MODE": "token", "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    env.pop("RAY_ADDRESS", None)
    gcs, dashboard = free_port(), free_port()
    temp = Path(f"/tmp/facex-cluster-demo-{os.getpid()}")  # Ray's session folder; short (socket path limits)
    head = [ray, "start", "--head", "--node-ip-address=127.0.0.1", "--dashboard-host=127.0.0.1",
            f"--port={gcs}", f"--dashboard-port={dashboard}", "--num-cpus=2", "--disable-usage-stats",
            f"--temp-dir={temp}"]
    print("$ " + " ".join(head[1:]), flush=True)
    subprocess.run(head, check=True, env=env, stdout=subprocess.DEVNULL)
    try:
        submit = [ray, "job", "submit", "--address", f"http://127.0.0.1:{dashboard}", "--working-dir", ".",
                  "--", "python", "jobs/reenact.py", "--source", str(portrait.absolute()),
                  "--driving", str(driving.absolute()), "-o", str(output), "--quiet"]
        print("$ " + " ".join(submit[1:]), flush=True)
        subprocess.run(submit, check=True, env=env)
    finally:
        subprocess.run([ray, "stop", "--force"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(temp, ignore_errors=True)
    got, want = probe(output), probe(driving)
    if (got.frame_count, got.fps) != (want.frame_count, want.fps):
        print(f"cluster-demo: {output} has {got.frame_count} frames at {got.fps} fps; the driving clip "
              f"{want.frame_count} at {want.fps}", file=sys.stderr)
        return 1
    print(f"cluster-demo: ok, {output} ({got.frame_count} frames at {got.fps} fps) made by a Ray job")
    return 0


if __name__ == "__main__":
    sys.exit(main())

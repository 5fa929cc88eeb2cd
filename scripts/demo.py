"""`make demo`: build a clip from real photos that ship in packages, then run `facex tracks` and
`facex passthrough` on it exactly as a user would, from the command line."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from facex_video.media.synth import write_clip
from facex_video.samples import demo_shots


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="demo-out", type=Path)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    clip = args.out / "demo_input.mp4"
    if not clip.exists():
        print(f"building {clip} from shipped photos (t1.jpg, grace_hopper.jpg, astronaut)")
        write_clip(clip, demo_shots())
    facex = [sys.executable, "-m", "facex_video.cli"]
    steps = [
        facex + ["tracks", str(clip), "-o", str(args.out / "tracks.json"), "--preview", str(args.out / "sheet.png")],
        facex + ["passthrough", str(clip), "-o", str(args.out / "passthrough.mp4")],
    ]
    for cmd in steps:
        print("$ facex " + " ".join(cmd[3:]), flush=True)
        subprocess.run(cmd, check=True)
    print(f"demo outputs in {args.out}/: demo_input.mp4, passthrough.mp4, tracks.json, sheet.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())

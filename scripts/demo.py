"""`make demo`: build clips from real photos that ship in packages, then run `facex tracks`,
`facex passthrough` and `facex reenact` on them exactly as a user would, from the command line."""

from __future__ import annotations

import argparse
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

from facex_video.media import write_image
from facex_video.media.samples import demo_shots, load_sample
from facex_video.media.synth import Shot, write_clip


def reenact_inputs(out: Path) -> tuple[Path, Path]:
    """The reenactment demo's inputs in `out`: a driving clip and the astronaut's portrait."""
    driving, portrait = out / "driving.mp4", out / "astronaut.png"
    if not driving.exists():
        print(f"building {driving}: Grace Hopper's portrait rolling her head, 2 s")
        write_clip(driving, [Shot(load_sample("grace_hopper"), seconds=2.0, pan=((0.5, 0.4), (0.5, 0.4)),
                                  rotate=(-10.0, 10.0))], size=(512, 600), fps=Fraction(12))
    write_image(portrait, load_sample("astronaut"))
    return driving, portrait


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="demo-out", type=Path)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    clip = args.out / "demo_input.mp4"
    if not clip.exists():
        print(f"building {clip} from shipped photos (t1.jpg, grace_hopper.jpg, astronaut)")
        write_clip(clip, demo_shots())
    driving, portrait = reenact_inputs(args.out)
    facex = [sys.executable, "-m", "facex_video.cli"]
    steps = [
        facex + ["tracks", str(clip), "-o", str(args.out / "tracks.json"), "--preview", str(args.out / "sheet.png")],
        facex + ["passthrough", str(clip), "-o", str(args.out / "passthrough.mp4")],
        facex + ["reenact", "--source", str(portrait), "--driving", str(driving), "-o", str(args.out / "reenact.mp4"),
                 "--preview", str(args.out / "reenact_sheet.png")],
    ]
    for cmd in steps:
        print("$ facex " + " ".join(cmd[3:]), flush=True)
        subprocess.run(cmd, check=True)
    print(f"demo outputs in {args.out}/: demo_input.mp4, passthrough.mp4, tracks.json, sheet.png, "
          "reenact.mp4, reenact_sheet.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())

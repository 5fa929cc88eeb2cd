"""Install-time check that the environment holds exactly one OpenCV distribution (docs/design.md §1)."""

from __future__ import annotations

import sys
from importlib import metadata

OPENCV_DISTRIBUTIONS = (
    "opencv-python",
    "opencv-python-headless",
    "opencv-contrib-python",
    "opencv-contrib-python-headless",
)


def installed_opencv() -> list[str]:
    """Names of the OpenCV wheels present; two of them overwrite each other's `cv2` package."""
    found = []
    for name in OPENCV_DISTRIBUTIONS:
        try:
            metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
        found.append(name)
    return found


def main() -> int:
    found = installed_opencv()
    if found != ["opencv-python-headless"]:
        print(
            f"facex: expected exactly opencv-python-headless, found {found or 'none'}; "
            "install mediapipe/insightface with --no-deps (see requirements-nodeps.txt)",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

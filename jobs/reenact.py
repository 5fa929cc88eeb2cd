"""`facex reenact` as a Ray job: `ray job submit --address ... --working-dir . -- python jobs/reenact.py ARGS`.

ARGS are those of `facex reenact` (see `python jobs/reenact.py --help`). Under `ray job submit` the job joins the
cluster it was submitted to (RAY_ADDRESS); run directly, it joins --address or starts a local Ray. Inputs
and the output must be reachable under the same paths from every node (a shared filesystem).
"""

import sys

from facex_video.cli import main

if __name__ == "__main__":
    sys.exit(main(["reenact", "--runner", "ray", *sys.argv[1:]]))  # a later --runner wins

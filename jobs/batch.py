"""`facex batch` as a Ray job: `ray job submit --address ... --working-dir . -- python jobs/batch.py EDITS.yaml`.

Every item of the batch runs on the cluster the job was submitted to (see facex_video/cli/batch.py for the file's
format and the status file). Exit status 0 when every item is done, 1 when any failed.
"""

import sys

from facex_video.cli import main

if __name__ == "__main__":
    sys.exit(main(["batch", *sys.argv[1:]]))

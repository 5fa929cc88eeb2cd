"""`python -m facex_video.cli`: the `facex` command."""

import sys

from . import main

sys.exit(main())

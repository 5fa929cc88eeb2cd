"""FORS: Facial Omni-Representation Steering — which component comes from which input, and the assembly.

Nothing here may reach a model hub: the Hugging Face libraries the diffusion renderer uses are put in
offline mode before they are first imported (a user's weights are local files, DESIGN.md section 3)."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

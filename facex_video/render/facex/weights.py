"""Where the diffusion renderer's weights come from: local files only, safetensors only.

The base model (`--base-model`) is Stable Diffusion 1.5 as a diffusers folder (unet/ and vae/ with
safetensors) or as one original-layout `.safetensors` file (the form most users have). A single file carries
no config, so its architecture is taken from the FaceX checkpoint, which records the base it was trained on
(render/facex/config.py). The FaceX checkpoint (`--facex-checkpoint`) is a folder written by `save_pretrained`.
Pickled weights (.bin, .ckpt, .pt, .pth) are refused: unpickling runs code from the file.
"""

from __future__ import annotations

import importlib.util
import json
import tempfile
from pathlib import Path

from ...core.errors import ModelError
from .config import FaceXConfig

BASE_FLAG = "--base-model"
CHECKPOINT_FLAG = "--facex-checkpoint"
PICKLED = (".bin", ".ckpt", ".pt", ".pth", ".pkl")
WEIGHTS = "diffusion_pytorch_model.safetensors"
# diffusers loads without a second copy in memory only when `accelerate` is installed (optional, not pinned)
LOW_MEMORY = importlib.util.find_spec("accelerate") is not None
FP16_WEIGHTS = "diffusion_pytorch_model.fp16.safetensors"  # the variant many SD 1.5 folders ship alone
NEEDS_BOTH = (f"--backend facex needs {BASE_FLAG} PATH (Stable Diffusion 1.5: a diffusers folder or one "
              f".safetensors file) and {CHECKPOINT_FLAG} PATH (a FaceX checkpoint folder written by jobs/train.py)")


def refuse_pickle(flag: str, path: Path) -> None:
    raise ModelError(f"{flag} {path}: pickled weights are refused (loading a pickle runs code from the file); "
                     "FaceX loads .safetensors only: convert it with the safetensors library or save_pretrained")


def _existing(flag: str, path: str | Path) -> Path:
    p = Path(path)
    if not p.exists():
        raise ModelError(f"{flag} {p}: missing")
    if p.is_file() and p.suffix.lower() in PICKLED:
        refuse_pickle(flag, p)
    return p


def _safetensors_folder(flag: str, folder: Path) -> str | None:
    """A diffusers component folder must hold config.json and safetensors weights (not a pickle); returns
    the weights' variant ("fp16" when only those are there, else None)."""
    if not (folder / "config.json").is_file():
        raise ModelError(f"{flag} {folder}: no config.json (expected a diffusers model folder)")
    if (folder / WEIGHTS).is_file():
        return None
    if (folder / FP16_WEIGHTS).is_file():
        return "fp16"
    pickles = sorted(p.name for p in folder.iterdir() if p.suffix.lower() in PICKLED)
    if pickles:
        refuse_pickle(flag, folder / pickles[0])
    raise ModelError(f"{flag} {folder}: no {WEIGHTS}")


SAFETENSORS_HEADER_MAX = 100 * 1024 * 1024  # the safetensors library's own limit on the JSON header


def check_safetensors(flag: str, path: Path) -> None:
    """Cheaply, before any work: `path` is a safetensors file (an 8-byte little-endian header length, then
    that much JSON), not a pickle or an archive renamed to .safetensors. Loading it reads it fully later."""
    bad = (f"{flag} {path}: not a .safetensors file (its header does not parse); FaceX loads .safetensors "
           "only: convert pickled weights with the safetensors library or save_pretrained")
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(8)
            if len(head) < 8:
                raise ModelError(bad)
            n = int.from_bytes(head, "little")
            if not 2 <= n <= min(SAFETENSORS_HEADER_MAX, size - 8):
                raise ModelError(bad)
            header = json.loads(f.read(n).decode("utf-8"))
    except OSError as err:
        raise ModelError(f"{flag} {path}: cannot read ({err.strerror})") from None
    except (UnicodeDecodeError, ValueError):
        raise ModelError(bad) from None
    if not isinstance(header, dict):
        raise ModelError(bad)


def _check_folder(flag: str, folder: Path) -> None:
    variant = _safetensors_folder(flag, folder)
    check_safetensors(flag, folder / (FP16_WEIGHTS if variant == "fp16" else WEIGHTS))


def check_weights(base: str | Path, checkpoint: str | Path) -> None:
    """What can be checked of `--base-model` and `--facex-checkpoint` without loading them (the workers load
    them): there, the right layout, safetensors (never a pickle) with a header that parses."""
    b = _existing(BASE_FLAG, base)
    if b.is_dir():
        for part in ("unet", "vae"):
            if not (b / part).is_dir():
                raise ModelError(f"{BASE_FLAG} {b}: no {part}/ folder; expected a diffusers Stable Diffusion "
                                 "folder (unet/, vae/) or one .safetensors file")
            _check_folder(BASE_FLAG, b / part)
    elif b.suffix.lower() == ".safetensors":
        check_safetensors(BASE_FLAG, b)
    else:
        raise ModelError(f"{BASE_FLAG} {b}: expected a diffusers folder (unet/, vae/) or a .safetensors file")
    c = _existing(CHECKPOINT_FLAG, checkpoint)
    if not c.is_dir():
        raise ModelError(f"{CHECKPOINT_FLAG} {c}: expected the folder a FaceX checkpoint was saved to "
                         f"(config.json and {WEIGHTS})")
    _check_folder(CHECKPOINT_FLAG, c)


def load_controller(path: str | Path, *, flag: str = CHECKPOINT_FLAG):
    """The FaceXController saved at `path` (a save_pretrained folder)."""
    from .frc import FaceXController

    p = _existing(flag, path)
    if not p.is_dir():
        raise ModelError(f"{flag} {p}: expected the folder a FaceX checkpoint was saved to (config.json and {WEIGHTS})")
    _safetensors_folder(flag, p)
    try:
        return FaceXController.from_pretrained(p, use_safetensors=True, local_files_only=True,
                                               low_cpu_mem_usage=LOW_MEMORY)
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as err:
        raise ModelError(f"{flag} {p}: not a FaceX checkpoint ({err})") from err


def _check_base(flag: str, path: Path, unet, config: FaceXConfig) -> None:
    """The base must be the architecture the controller copied its encoder from."""
    want = {k: config.unet[k] for k in ("block_out_channels", "cross_attention_dim", "in_channels")}
    got = {k: (list(unet.config[k]) if isinstance(unet.config[k], (list, tuple)) else unet.config[k]) for k in want}
    if got != {k: (list(v) if isinstance(v, (list, tuple)) else v) for k, v in want.items()}:
        raise ModelError(f"{flag} {path}: its UNet ({got}) is not the base the FaceX checkpoint was trained on "
                         f"({want})")


def load_base(path: str | Path, config: FaceXConfig, *, flag: str = BASE_FLAG):
    """(unet, vae) of Stable Diffusion from a diffusers folder or an original-layout single .safetensors file."""
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel

    p = _existing(flag, path)
    if p.is_dir():
        variants = {part: _safetensors_folder(flag, p / part) for part in ("unet", "vae")}
        kwargs = dict(use_safetensors=True, local_files_only=True, torch_dtype=torch.float32,
                      low_cpu_mem_usage=LOW_MEMORY)
        unet = UNet2DConditionModel.from_pretrained(p, subfolder="unet", variant=variants["unet"], **kwargs)
        vae = AutoencoderKL.from_pretrained(p, subfolder="vae", variant=variants["vae"], **kwargs)
    elif p.suffix.lower() == ".safetensors":
        unet, vae = _load_single_file(flag, p, config)
    else:
        raise ModelError(f"{flag} {p}: expected a diffusers folder (unet/, vae/) or a .safetensors file")
    _check_base(flag, p, unet, config)
    return unet, vae


def _load_single_file(flag: str, path: Path, config: FaceXConfig):
    """UNet and VAE from one original-layout file, read once; diffusers converts the keys given our configs."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        state = load_file(str(path))
    except (SafetensorError, OSError) as err:
        raise ModelError(f"{flag} {path}: not a readable .safetensors file ({err})") from err
    if not any(k.startswith("model.diffusion_model.") for k in state):
        raise ModelError(f"{flag} {path}: no Stable Diffusion UNet in it (no model.diffusion_model.* keys)")
    with tempfile.TemporaryDirectory(prefix="facex-base-") as tmp:
        for part, cls, cfg in (("unet", UNet2DConditionModel, config.unet), ("vae", AutoencoderKL, config.vae)):
            (Path(tmp) / part).mkdir()
            (Path(tmp) / part / "config.json").write_text(json.dumps({"_class_name": cls.__name__, **cfg}))
        try:
            unet = UNet2DConditionModel.from_single_file(state, config=tmp, subfolder="unet", local_files_only=True)
            vae = AutoencoderKL.from_single_file(state, config=tmp, subfolder="vae", local_files_only=True)
        except (ValueError, KeyError, RuntimeError) as err:
            raise ModelError(f"{flag} {path}: its weights do not fit the base the FaceX checkpoint was "
                             f"trained on ({err})") from err
    return unet, vae

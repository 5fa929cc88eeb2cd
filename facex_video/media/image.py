"""Still images in and out, RGB uint8, with the same error contract as video."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np

from ..core.atomic import atomic_path
from ..core.errors import InputError, OutputError
from ._output import check_output_path
from .container import check_file
from .marks import EditMark, jpeg_with_mark
from .probe import IMAGE_EXTENSIONS
from .tags import png_with_text

log = logging.getLogger("facex_video.media")

_ENCODE_PARAMS = {".jpg": [cv2.IMWRITE_JPEG_QUALITY, 95], ".jpeg": [cv2.IMWRITE_JPEG_QUALITY, 95]}


def read_image(path: str | Path) -> np.ndarray:
    """RGB uint8 (H, W, 3), upright.

    cv2.IMREAD_COLOR applies the EXIF orientation tag (so phone photos come out upright), converts
    grayscale to 3 channels, drops alpha without compositing and scales 16-bit data to 8 bits.
    """
    path = Path(path)
    check_file(path, "image file")
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise InputError(path, "not an image OpenCV can decode (corrupt or unsupported format)")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def image_output_check(path: str | Path) -> None:
    """Raise OutputError now if the image could not be written later (extension, folder, permissions)."""
    check_output_path(Path(path), IMAGE_EXTENSIONS, "image")


def write_image(path: str | Path, rgb: np.ndarray, mark: EditMark | None = None) -> None:
    """Encode by extension (JPEG at quality 95) and rename into place, so no half-written image appears; with
    the edit `mark` in a PNG's iTXt chunk or a JPEG's XMP (BMP, WebP and TIFF from here carry none: said in a
    line)."""
    path = Path(path)
    image_output_check(path)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected an RGB uint8 (H, W, 3) image, got {rgb.dtype} {rgb.shape}")
    ok, data = cv2.imencode(path.suffix.lower(), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
                            _ENCODE_PARAMS.get(path.suffix.lower(), []))
    if not ok:
        raise OutputError(path, f"OpenCV cannot encode {path.suffix} images")
    encoded = data.tobytes()
    if mark is not None:
        if path.suffix.lower() == ".png":
            for key, text in mark.tags().items():
                encoded = png_with_text(encoded, key, text)
        elif path.suffix.lower() in (".jpg", ".jpeg"):
            encoded = jpeg_with_mark(encoded, mark)
        else:
            log.warning("%s: %s images carry no edit mark here; write .png or .jpg to keep it", path, path.suffix)
    with atomic_path(path) as tmp:
        tmp.write_bytes(encoded)

"""Image sequences (shot.%04d.png, shot.####.exr) read and written at their precision, frame numbers kept.

16-bit PNG/TIFF stay 16-bit and EXR stays linear half or float, with alpha, so a plate comes back as deep as it
went in. cv2 reads PNG (its 8-bit reader drops alpha and depth, so IMREAD_UNCHANGED), tifffile reads and writes
TIFF (cv2 writes no ExtraSamples tag, so other apps would not see channel 4 as alpha), OpenEXR does EXR (this
cv2 build has no EXR support).
"""

from __future__ import annotations

import json
import re
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import cv2
import numpy as np
import OpenEXR
import tifffile

from ..core.atomic import atomic_path
from ..core.errors import InputError
from .container import check_file
from .tags import png_with_text

SEQUENCE_EXTENSIONS = frozenset({".png", ".tif", ".tiff", ".exr"})
SAMPLES = ("uint8", "uint16", "half", "float")  # how a frame's samples are stored
_DTYPES = {"uint8": np.uint8, "uint16": np.uint16, "half": np.float32, "float": np.float32}  # write_frame's input
_EXT_SAMPLES = {".png": ("uint8", "uint16"), ".tif": ("uint8", "uint16"), ".tiff": ("uint8", "uint16"),
                ".exr": ("half", "float")}
_COUNTER = re.compile(r"%(?:0(\d+))?d|(#+)")  # printf %d / %04d, or a run of # (one # per digit)
_PNG_COLOUR = {0: "grey", 2: "RGB", 3: "palette", 4: "grey+alpha", 6: "RGBA"}
_EXR_TYPES = {1: "half", 2: "float"}  # OpenEXR pixel types; 0 (32-bit unsigned int) is no image channel


def _counter(name: str) -> re.Match[str] | None:
    matches = list(_COUNTER.finditer(name))
    return matches[-1] if matches else None


def is_sequence_path(path: str | Path) -> bool:
    """A file name with a frame counter (%d, %04d, or a run of #, e.g. shot.####.exr) and a sequence extension."""
    path = Path(path)
    return path.suffix.lower() in SEQUENCE_EXTENSIONS and _counter(path.name) is not None


def _width(counter: re.Match[str]) -> int:
    return int(counter[1]) if counter[1] else len(counter[2] or "")


def sequence_frame_path(pattern: Path, number: int) -> Path:
    """The file of frame `number`: the counter replaced by the number, zero-padded to the counter's width."""
    counter = _counter(pattern.name)
    if counter is None:
        raise ValueError(f"{pattern} has no frame counter (%04d or ####)")
    name = pattern.name
    return pattern.with_name(f"{name[:counter.start()]}{number:0{_width(counter)}d}{name[counter.end():]}")


@dataclass(frozen=True)
class ImageSequence:
    """Consecutive frames first .. first+count-1 that all share size, channels and sample type."""

    pattern: Path  # as given (absolute or relative; printf or #### form)
    first: int  # the first frame number on disk (e.g. 1001)
    count: int
    width: int
    height: int
    channels: int  # 3 (RGB; grey files read as RGB) or 4 (RGBA; grey+alpha read as RGBA)
    sample: str  # one of SAMPLES

    def number(self, index: int) -> int:
        return self.first + index

    def path(self, index: int) -> Path:
        return sequence_frame_path(self.pattern, self.number(index))

    @property
    def deep(self) -> bool:
        return self.sample != "uint8"

    @property
    def alpha(self) -> bool:
        return self.channels == 4


def _cstring(f: BinaryIO) -> bytes:
    out = bytearray()
    while (c := f.read(1)) not in (b"\0", b""):
        out += c
    return bytes(out)


def _exr_header(path: Path) -> tuple[int, int, dict[str, str | None]]:
    """Width, height and {channel: "half" | "float" | None (uint)} of the first part.

    Hand-parsed because OpenEXR.File(header_only=True) names the channels but not their pixel types (its InputFile,
    which does, is deprecated), and decoding every frame of a long sequence just to check it would be slow.
    """
    channels: dict[str, str | None] = {}
    window = None
    with path.open("rb") as f:
        magic, version = struct.unpack("<ii", f.read(8))
        if magic != 20000630:
            raise InputError(path, "not an OpenEXR file")
        if version & 0x800:
            raise InputError(path, "deep EXR (samples per pixel vary) is not supported")
        while name := _cstring(f):
            _cstring(f)  # the attribute's type name
            (size,) = struct.unpack("<i", f.read(4))
            if name not in (b"channels", b"dataWindow"):
                f.seek(size, 1)
                continue
            value = f.read(size)
            if name == b"dataWindow":
                window = struct.unpack("<4i", value)
            pos = 0
            while name == b"channels" and value[pos:pos + 1] not in (b"\0", b""):
                end = value.index(b"\0", pos)  # name\0, pixel type, pLinear + 3 reserved, x and y sampling
                channels[value[pos:end].decode()] = _EXR_TYPES.get(struct.unpack_from("<i", value, end + 1)[0])
                pos = end + 17
    if window is None or not channels:
        raise InputError(path, "truncated or corrupt EXR header")
    return window[2] - window[0] + 1, window[3] - window[1] + 1, channels


def _exr_layout(path: Path, channels: dict[str, str | None]) -> tuple[list[str], str]:
    """The channels read as R, G, B(, A) (Y serves as all three) and the sample type they share."""
    if {"R", "G", "B"} <= channels.keys():
        names = ["R", "G", "B"]
    elif "Y" in channels:
        names = ["Y", "Y", "Y"]
    else:
        raise InputError(path, f"no R, G, B (or Y) channels; it has {', '.join(sorted(channels))}")
    names += ["A"] if "A" in channels else []
    if any(channels[n] is None for n in names):
        raise InputError(path, "32-bit integer channels are not supported; use half or float")
    return names, "float" if any(channels[n] == "float" for n in names) else "half"


def _header(path: Path) -> tuple[int, int, str]:
    """Width, height and storage layout from the file's header only, to check every frame cheaply.

    PNG's IHDR is read by hand: cv2 has no header-only read and decoding every frame would be slow.
    """
    try:
        ext = path.suffix.lower()
        if ext == ".png":
            with path.open("rb") as f:
                head = f.read(29)
            if len(head) < 29 or head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
                raise InputError(path, "not a PNG file")
            width, height, depth, colour = struct.unpack(">IIBB", head[16:26])
            return width, height, f"{depth}-bit {_PNG_COLOUR.get(colour, colour)}"
        if ext == ".exr":
            width, height, channels = _exr_header(path)
            return width, height, " ".join(f"{n}:{t or 'uint'}" for n, t in sorted(channels.items()))
        with tifffile.TiffFile(path) as tif:
            page = tif.pages.first
            return page.imagewidth, page.imagelength, f"{page.samplesperpixel} x {page.dtype}"
    except (OSError, ValueError, struct.error) as e:  # tifffile.TiffFileError is a ValueError
        raise InputError(path, f"unreadable header ({e})") from None


def open_sequence(pattern: str | Path) -> ImageSequence:
    """Find the frames on disk, check that they are consecutive and alike, and describe them."""
    pattern = Path(pattern)
    folder, ext, counter = pattern.parent, pattern.suffix.lower(), _counter(pattern.name)
    if ext not in SEQUENCE_EXTENSIONS:
        raise InputError(pattern, f"{ext or 'no extension'} is not an image sequence format; use one of "
                                  f"{', '.join(sorted(SEQUENCE_EXTENSIONS))}")
    if counter is None:
        raise InputError(pattern, "no frame counter in the name (e.g. shot.%04d.png or shot.####.png)")
    if not folder.is_dir():
        raise InputError(pattern, f"folder {folder} does not exist")
    width = _width(counter)
    digits = rf"\d{{{width}}}|[1-9]\d{{{width},}}" if width else r"0|[1-9]\d*"  # exactly what printf writes
    name = pattern.name
    regex = re.compile(f"{re.escape(name[:counter.start()])}({digits}){re.escape(name[counter.end():])}")
    numbers = sorted(int(m[1]) for p in folder.iterdir() if (m := regex.fullmatch(p.name)))
    if not numbers:
        raise InputError(pattern, f"no frames match {name} in {folder.resolve()}")
    first, last = numbers[0], numbers[-1]
    if len(numbers) != last - first + 1:
        missing = next(n for i, n in enumerate(range(first, last + 1)) if numbers[i] != n)
        raise InputError(pattern, f"frame {missing} is missing: frames {first}-{last} found, "
                                  f"{len(numbers)} of {last - first + 1}")
    seq_first = sequence_frame_path(pattern, first)
    head = _header(seq_first)
    for n in numbers[1:]:
        if (other := _header(sequence_frame_path(pattern, n))) != head:
            raise InputError(pattern, f"frame {n} is {other[0]}x{other[1]} {other[2]} but frame {first} is "
                                      f"{head[0]}x{head[1]} {head[2]}; all frames must match")
    frame = read_frame(seq_first)
    sample = _exr_layout(seq_first, _exr_header(seq_first)[2])[1] if ext == ".exr" else str(frame.dtype)
    return ImageSequence(pattern, first, len(numbers), frame.shape[1], frame.shape[0], frame.shape[2], sample)


def _rgb(path: Path, arr: np.ndarray, bgr: bool) -> np.ndarray:
    """(H, W, 3|4) RGB(A) from grey, grey+alpha, RGB or RGBA samples (BGR(A) as cv2 gives them)."""
    arr = arr[..., None] if arr.ndim == 2 else arr
    n = arr.shape[2]
    if arr.dtype not in (np.uint8, np.uint16) or n > 4:
        raise InputError(path, f"{n} channels of {arr.dtype}; expected 8 or 16-bit grey, RGB or with alpha")
    order = [0, 0, 0] if n <= 2 else [2, 1, 0] if bgr else [0, 1, 2]
    return arr[..., order + ([n - 1] if n in (2, 4) else [])]


def read_frame(path: Path) -> np.ndarray:
    """(H, W, 3|4) RGB(A): uint8/uint16 as stored for PNG and TIFF, float32 for EXR (linear values untouched)."""
    check_file(path, "image file")
    ext = path.suffix.lower()
    try:
        if ext == ".exr":
            with OpenEXR.File(str(path), separate_channels=True) as f:
                planes = f.channels()
                kinds = {k: {np.dtype(np.float16): "half", np.dtype(np.float32): "float"}.get(v.pixels.dtype)
                         for k, v in planes.items()}
                return np.dstack([planes[n].pixels for n in _exr_layout(path, kinds)[0]]).astype(np.float32)
        if ext in (".tif", ".tiff"):
            with tifffile.TiffFile(path) as tif:
                page = tif.pages.first
                if page.photometric not in (tifffile.PHOTOMETRIC.MINISBLACK, tifffile.PHOTOMETRIC.RGB):
                    kind = tifffile.PHOTOMETRIC(page.photometric).name
                    raise InputError(path, f"{kind} TIFF is not supported; use RGB or grey")
                # tifffile reads every layout exactly, but LZW or JPEG only with imagecodecs (not installed);
                # cv2's libtiff has those codecs but garbles planar (separate) TIFFs and drops grey+alpha
                if page.planarconfig != tifffile.PLANARCONFIG.CONTIG or page.samplesperpixel == 2 or \
                        page.compression in (tifffile.COMPRESSION.NONE, tifffile.COMPRESSION.ADOBE_DEFLATE):
                    samples = np.asarray(page.asarray())
                    return _rgb(path, np.moveaxis(samples, 0, -1) if page.axes.startswith("S") else samples, False)
    except (OSError, RuntimeError, ValueError) as e:  # OpenEXR raises RuntimeError, tifffile ValueErrors
        raise InputError(path, f"unreadable image ({e})") from None
    arr = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if arr is None:
        raise InputError(path, "not an image OpenCV can decode (corrupt or unsupported format)")
    return _rgb(path, arr, bgr=True)


def _check(frame: np.ndarray, sample: str) -> None:
    if sample not in SAMPLES:
        raise ValueError(f"sample must be one of {SAMPLES}, got {sample!r}")
    if frame.ndim != 3 or frame.shape[2] not in (3, 4) or frame.dtype != _DTYPES[sample]:
        raise ValueError(f"a {sample} frame must be (H, W, 3|4) {np.dtype(_DTYPES[sample])}, "
                         f"got {frame.dtype} {frame.shape}")


def write_frame(path: Path, frame: np.ndarray, sample: str, tags: dict[str, str] | None = None) -> None:
    """Write (H, W, 3|4) frame as `sample` (float32 in for half and float), renamed into place when whole;
    `tags` (text by key) go into a PNG's iTXt chunks, an EXR's header, a TIFF's ImageDescription (as JSON)."""
    tags = tags or {}
    ext = path.suffix.lower()
    if sample not in _EXT_SAMPLES.get(ext, ()):
        raise ValueError(f"{path}: cannot write {sample} samples to {ext or 'no extension'}; "
                         f"{', '.join(f'{e}: {s}' for e, s in _EXT_SAMPLES.items())}")
    _check(frame, sample)
    alpha = frame.shape[2] == 4
    with atomic_path(path) as tmp:
        if ext == ".png":
            bgr = cv2.cvtColor(frame, cv2.COLOR_RGBA2BGRA if alpha else cv2.COLOR_RGB2BGR)
            ok, data = cv2.imencode(".png", bgr)
            if not ok:
                raise ValueError(f"{path}: OpenCV could not encode the frame as PNG")
            png = data.tobytes()
            for key, text in tags.items():
                png = png_with_text(png, key, text)
            tmp.write_bytes(png)
        elif ext == ".exr":
            pixels = np.ascontiguousarray(frame, np.float16 if sample == "half" else np.float32)
            header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage, **tags}
            with OpenEXR.File(header, {"RGBA" if alpha else "RGB": pixels}) as f:
                f.write(str(tmp))
        else:
            tifffile.imwrite(tmp, frame, photometric="rgb", extrasamples=["unassalpha"] if alpha else None,
                             compression="zlib", description=json.dumps(tags) if tags else None, metadata=None)


def read_attributes(path: Path) -> dict[str, str]:
    """The text attributes write_frame's `tags` put into an EXR header or a TIFF's ImageDescription."""
    if path.suffix.lower() == ".exr":
        with OpenEXR.File(str(path), header_only=True) as f:
            return {k: v for k, v in f.header().items() if isinstance(v, str)}
    with tifffile.TiffFile(path) as tif:
        description = getattr(tif.pages[0], "description", "") or ""
    try:
        doc = json.loads(description)
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in doc.items()} if isinstance(doc, dict) else {}


# The pipeline works on RGB in a "working" form: uint8/uint16 as stored (display-referred), and EXR's linear
# floats sRGB-encoded to float32, unclipped (the curve extended as sign(x) * encode(|x|)), so a face rendered in
# sRGB can be pasted in and the pixels outside it decode back to the same half/float values.
def _encode(linear: np.ndarray) -> np.ndarray:
    """IEC 61966-2-1 sRGB encoding in float32, extended to values outside [0, 1]."""
    x = np.abs(linear.astype(np.float32))
    s = np.where(x <= np.float32(0.0031308), x * np.float32(12.92),
                 np.float32(1.055) * x ** np.float32(1 / 2.4) - np.float32(0.055))
    return np.copysign(s, linear).astype(np.float32)


def _decode(srgb: np.ndarray) -> np.ndarray:
    """The inverse of _encode, in float32."""
    s = np.abs(srgb.astype(np.float32))
    x = np.where(s <= np.float32(0.04045), s / np.float32(12.92),
                 ((s + np.float32(0.055)) / np.float32(1.055)) ** np.float32(2.4))
    return np.copysign(x, srgb).astype(np.float32)


def to_working(frame: np.ndarray, sample: str) -> np.ndarray:
    """RGB (alpha dropped) working form: uint8/uint16 as stored, half/float sRGB-encoded float32, unclipped."""
    _check(frame, sample)
    rgb = np.ascontiguousarray(frame[..., :3])
    return _encode(rgb) if sample in ("half", "float") else rgb


def to_display8(frame: np.ndarray, sample: str) -> np.ndarray:
    """uint8 RGB for analysis (detectors, previews), alpha dropped."""
    return from_working(to_working(frame, sample), "uint8")


def from_working(rgb: np.ndarray, sample: str) -> np.ndarray:
    """A working RGB frame (uint8, uint16 or sRGB float32) in the dtype write_frame wants for `sample`."""
    if rgb.dtype not in (np.uint8, np.uint16, np.float32) or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"a working frame must be (H, W, 3) uint8, uint16 or float32, got {rgb.dtype} {rgb.shape}")
    if sample in ("half", "float"):
        if rgb.dtype == np.float32:
            return _decode(rgb)
        return _decode(rgb.astype(np.float32) / np.float32(np.iinfo(rgb.dtype).max))
    if sample not in ("uint8", "uint16"):
        raise ValueError(f"sample must be one of {SAMPLES}, got {sample!r}")
    if rgb.dtype == np.float32:
        scale = np.float32(255 if sample == "uint8" else 65535)
        return np.rint(np.clip(np.nan_to_num(rgb), 0, 1) * scale).astype(_DTYPES[sample])  # NaN -> 0
    if rgb.dtype == _DTYPES[sample]:
        return rgb
    if sample == "uint16":
        return rgb.astype(np.uint16) * np.uint16(257)
    return ((rgb.astype(np.uint32) + 128) // 257).astype(np.uint8)

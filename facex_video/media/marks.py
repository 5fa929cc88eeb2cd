"""The machine-readable mark every output carries: which tool made it, which task, which faces and frames it
edited (issue 17; the EU AI Act's Art. 50 asks that synthetic or manipulated media say so).

The mark is JSON under the key "facex", beside a plain-language "comment", in the fields each format has:
MP4/MOV/Matroska metadata (MP4 and MOV keep a custom key only with `movflags=use_metadata_tags`), a PNG iTXt
chunk, an XMP packet in JPEG, an EXR header attribute, a TIFF ImageDescription. `read_mark` finds it again.
"""

from __future__ import annotations

import json
import re
import struct
from dataclasses import asdict, dataclass
from pathlib import Path

import av

from .. import __version__
from ..core.errors import InputError
from .container import check_file
from .sequence import is_sequence_path, open_sequence, read_attributes
from .tags import png_text

KEY = "facex"
TOOL = "FaceX Video"
_XMP_HEADER = b"http://ns.adobe.com/xap/1.0/\x00"


@dataclass(frozen=True)
class EditMark:
    """What a run did to a file. edited: (track id, first frame, end frame) per edited face track of a video,
    (face index, 0, 1) per face of an image; synthetic: whether any face was synthesised (False for a
    passthrough, which crops and pastes faces back unchanged); watermark: whether the synthesised faces carry
    the invisible watermark (off with --no-watermark)."""

    task: str
    backend: str | None = None
    edited: tuple[tuple[int, int, int], ...] = ()
    synthetic: bool = True
    watermark: bool = False
    tool: str = TOOL
    version: str = __version__

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> EditMark:
        doc = json.loads(text)
        doc["edited"] = tuple(tuple(e) for e in doc.get("edited", ()))
        return cls(**{k: v for k, v in doc.items() if k in cls.__dataclass_fields__})

    def comment(self) -> str:
        """The mark in words, for people reading a file's metadata."""
        if not self.synthetic:
            return f"Passed through {self.tool} {self.version}; no face was altered."
        how = f"{self.task}, {self.backend} backend" if self.backend else self.task
        spans = ", ".join(f"track {t} frames {a}-{b - 1}" for t, a, b in self.edited) or "no face found"
        marked = "; an invisible watermark in the faces" if self.watermark else "; no watermark in the pixels"
        return f"Faces synthesised by {self.tool} {self.version} ({how}): {spans}{marked}."

    def tags(self) -> dict[str, str]:
        """Container metadata (MP4/MOV/Matroska) holding the mark."""
        return {KEY: self.to_json(), "comment": self.comment()}


def jpeg_with_mark(data: bytes, mark: EditMark) -> bytes:
    """A JPEG's bytes with an XMP packet (APP1) right after SOI holding the mark, as readers expect it."""
    if not data.startswith(b"\xff\xd8"):
        raise ValueError("not a JPEG")
    text = mark.to_json().replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    xmp = (f'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
           f'<rdf:Description xmlns:facex="https://facex-video.invalid/ns/1.0/" '
           f'xmlns:dc="http://purl.org/dc/elements/1.1/"><facex:mark>{text}</facex:mark>'
           f'<dc:description>{mark.comment()}</dc:description></rdf:Description></rdf:RDF></x:xmpmeta>').encode()
    payload = _XMP_HEADER + xmp
    return data[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + data[2:]


def _jpeg_mark(data: bytes) -> str | None:
    found = re.search(rb"<facex:mark>(.*?)</facex:mark>", data, re.S)
    if found is None:
        return None
    return found[1].decode().replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _container_mark(path: Path) -> str | None:
    try:
        with av.open(str(path)) as container:
            tags = {k.lower(): v for k, v in container.metadata.items()}  # Matroska upper-cases its tags
    except av.FFmpegError as e:
        raise InputError(path, f"not a media file FFmpeg can open ({e.strerror})") from None
    return tags.get(KEY)


def read_mark(path: str | Path) -> EditMark | None:
    """The mark a file carries, or None; InputError for a file that cannot be read (an image sequence is read
    from its first frame)."""
    path = Path(path)
    if is_sequence_path(path):
        path = open_sequence(path).path(0)
    check_file(path, "file")
    suffix = path.suffix.lower()
    if suffix == ".png":
        text = png_text(path.read_bytes(), KEY)
    elif suffix in (".jpg", ".jpeg"):
        text = _jpeg_mark(path.read_bytes())
    elif suffix in (".exr", ".tif", ".tiff"):
        text = read_attributes(path).get(KEY)
    else:
        text = _container_mark(path)
    if text is None:
        return None
    try:
        return EditMark.from_json(text)
    except (ValueError, TypeError) as e:
        raise InputError(path, f"carries a '{KEY}' mark that is not one ({e})") from None

"""Opening a media file: one clear InputError for missing, empty, unreadable or cut-short files."""

from __future__ import annotations

import struct
from pathlib import Path

import av

from ..core.errors import InputError


def _isobmff_problem(path: Path) -> str | None:
    """Why an MP4/MOV that FFmpeg refused is broken, from its top-level boxes (None if not ISO BMFF)."""
    size = path.stat().st_size
    boxes = []
    with path.open("rb") as f:
        pos = 0
        while pos + 8 <= size:
            f.seek(pos)
            box_size, box_type = struct.unpack(">I4s", f.read(8))
            if box_size == 1 and pos + 16 <= size:
                box_size = struct.unpack(">Q", f.read(8))[0]
            elif box_size == 0:
                box_size = size - pos
            if box_size < 8:
                break
            boxes.append(box_type)
            pos += box_size
    if not boxes or boxes[0] != b"ftyp":
        return None
    if b"moov" not in boxes:
        return "truncated or incomplete MP4/MOV: no 'moov' index (file cut short or still being written)"
    if pos > size:
        return f"truncated MP4/MOV: last box ends at byte {pos} but the file has {size} bytes"
    return "corrupt MP4/MOV"


def check_file(path: Path, kind: str = "media file") -> None:
    """InputError for a missing path, a folder or an empty file: what no decoder explains well."""
    if not path.exists():
        raise InputError(path, "file not found")
    if path.is_dir():
        raise InputError(path, f"is a folder, not {'an' if kind[0] in 'aeiou' else 'a'} {kind}")
    if path.stat().st_size == 0:
        raise InputError(path, "empty file (0 bytes)")


def open_input(path: Path) -> av.container.InputContainer:
    """av.open with InputError for missing, empty, unreadable or cut-short files."""
    check_file(path)
    try:
        return av.open(str(path))
    except av.FFmpegError as e:
        problem = _isobmff_problem(path)
        raise InputError(path, problem or f"not a media file FFmpeg can read ({e.strerror})") from None


def first_video_stream(container: av.container.InputContainer) -> av.video.stream.VideoStream | None:
    """The stream probe describes: the first video stream that is not cover art."""
    for stream in container.streams.video:
        if not stream.disposition & av.stream.Disposition.attached_pic:
            return stream
    return None

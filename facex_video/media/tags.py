"""Text in image files whose writers keep none: PNG text chunks, read and written by hand (cv2 writes no
text chunks, and a chunk is a few lines of struct: length, type, data, CRC)."""

from __future__ import annotations

import struct
import zlib


def png_with_text(data: bytes, key: str, text: str) -> bytes:
    """A PNG's bytes with `text` as an iTXt chunk `key` before IEND; pixels untouched."""
    end = data.rfind(b"IEND") - 4
    if not data.startswith(b"\x89PNG\r\n\x1a\n") or end < 8:
        raise ValueError("not a PNG")
    # keyword, 0, compression flag and method 0, empty language and translated keyword (each 0-ended), UTF-8 text
    body = key.encode("latin-1") + b"\x00" + b"\x00\x00" + b"\x00" + b"\x00" + text.encode()
    chunk = struct.pack(">I", len(body)) + b"iTXt" + body + struct.pack(">I", zlib.crc32(b"iTXt" + body))
    return data[:end] + chunk + data[end:]


def png_text(data: bytes, key: str) -> str | None:
    """The text of a PNG's tEXt or iTXt chunk `key`, or None."""
    pos = 8
    while pos + 8 <= len(data):
        (length,), kind = struct.unpack(">I", data[pos:pos + 4]), data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        if kind in (b"iTXt", b"tEXt") and body.startswith(key.encode() + b"\x00"):
            text = body[len(key) + 1:]
            if kind == b"iTXt":  # compression flag and method, then language and translated keyword, each ended by 0
                compressed, rest = text[0], text[2:]
                text = rest.split(b"\x00", 2)[-1]
                text = zlib.decompress(text) if compressed else text
            return text.decode("utf-8", "replace")
        pos += 12 + length
    return None

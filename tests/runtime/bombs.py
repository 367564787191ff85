"""Decoder bombs: PNG files whose header claims more pixels than the runtime's budget, built byte by byte."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def header_bomb(path: Path, width: int = 60000, height: int = 60000) -> Path:
    """A ~70-byte grey PNG whose header claims ``width`` x ``height``: OpenCV's imdecode raises cv2.error on it."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(b"\0" * 16)))
    return path


def valid_grey_png(path: Path, width: int, height: int) -> Path:
    """A complete, valid black grey PNG of any size, compressed row by row (a 20000x20000 one is ~400 KB)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    packer = zlib.compressobj(1)
    rows = b"\0" * ((width + 1) * 500)  # 500 rows of filter byte + pixels at a time
    idat = b"".join(packer.compress(rows[: (width + 1) * min(500, height - i)]) for i in range(0, height, 500))
    idat += packer.flush()
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b""))
    return path

"""A Gymnasium space for PNG screenshots held as `bytes`."""

from __future__ import annotations

import struct
import zlib
from typing import Any

from gymnasium import spaces

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def blank_png(width: int = 1, height: int = 1) -> bytes:
    """A valid white RGB PNG (used by `sample()` and when the page is gone)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + b"\xff" * (3 * width) for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return PNG_SIGNATURE + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


class PngBytes(spaces.Space[bytes]):
    """PNG-encoded images as `bytes` (decode with PIL: `Image.open(io.BytesIO(obs["screenshot"]))`)."""

    def __init__(self, max_bytes: int = 20_000_000, seed: Any = None) -> None:
        super().__init__(shape=None, dtype=None, seed=seed)
        self.max_bytes = max_bytes

    @property
    def is_np_flattenable(self) -> bool:
        return False

    def sample(self, mask: Any = None, probability: Any = None) -> bytes:
        return blank_png(1 + int(self.np_random.integers(8)), 1 + int(self.np_random.integers(8)))

    def contains(self, x: Any) -> bool:
        return isinstance(x, bytes) and len(x) <= self.max_bytes and x.startswith(PNG_SIGNATURE)

    def __repr__(self) -> str:
        return "PngBytes()"

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, PngBytes) and other.max_bytes == self.max_bytes

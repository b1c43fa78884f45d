"""Varints, deflate and base64: how the tap packs big integer sequences into JSON STATE."""

from __future__ import annotations

import base64
import zlib
from collections.abc import Iterable, Iterator


def pack(prefix: str, values: Iterable[int]) -> str:
    """Non-negative integers -> ``prefix`` + base64(deflate(varints))."""
    out = bytearray()
    for value in values:
        while value >= 0x80:
            out.append((value & 0x7F) | 0x80)
            value >>= 7
        out.append(value)
    return prefix + base64.b64encode(zlib.compress(bytes(out), 9)).decode("ascii")


def unpack(prefix: str, text: object) -> Iterator[int]:
    """The integers packed by :func:`pack`; ValueError when the text is not such a packing."""
    if not isinstance(text, str) or not text.startswith(prefix):
        raise ValueError("not a packed sequence")
    try:
        raw = zlib.decompress(base64.b64decode(text[len(prefix) :], validate=True))
    except (zlib.error, ValueError) as exc:
        raise ValueError(f"garbled packed sequence ({exc})") from None
    return _read(raw)


def _read(raw: bytes) -> Iterator[int]:
    current = shift = 0
    for byte in raw:
        current |= (byte & 0x7F) << shift
        if byte & 0x80:
            shift += 7
            continue
        yield current
        current = shift = 0
    if shift:
        raise ValueError("truncated packed sequence")

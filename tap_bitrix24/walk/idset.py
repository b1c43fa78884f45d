"""A compact, JSON-safe encoding of a set of activity IDs, for STATE.

Deletion detection must remember which activities the target holds. Sorted IDs are stored as
delta varints, deflated and base64-encoded: about 1.5 bytes per ID for Bitrix24's dense,
increasing IDs (a million activities fit in roughly 1.5 MB of STATE).
"""

from __future__ import annotations

import base64
import zlib
from array import array
from collections.abc import Iterable

PREFIX = "v1:"


def encode_ids(ids: Iterable[int]) -> str:
    """Encode a set of non-negative integers."""
    out = bytearray()
    previous = 0
    for value in sorted(set(ids)):
        delta = value - previous
        previous = value
        while delta >= 0x80:
            out.append((delta & 0x7F) | 0x80)
            delta >>= 7
        out.append(delta)
    return PREFIX + base64.b64encode(zlib.compress(bytes(out), 9)).decode("ascii")


def decode_ids(text: str) -> array:
    """Decode :func:`encode_ids` output into a sorted ``array('q')``; ValueError if garbled."""
    if not isinstance(text, str) or not text.startswith(PREFIX):
        raise ValueError("not an encoded ID set")
    try:
        raw = zlib.decompress(base64.b64decode(text[len(PREFIX) :], validate=True))
    except (zlib.error, ValueError) as exc:
        raise ValueError(f"garbled ID set ({exc})") from None
    ids = array("q")
    value = shift = current = 0
    for byte in raw:
        current |= (byte & 0x7F) << shift
        if byte & 0x80:
            shift += 7
            continue
        value += current
        ids.append(value)
        current = shift = 0
    if shift:
        raise ValueError("truncated ID set")
    return ids

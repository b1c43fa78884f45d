"""A compact, JSON-safe encoding of a set of activity IDs, for STATE.

Deletion detection must remember which activities exist. Sorted IDs are stored as delta
varints, deflated and base64-encoded: 0.45 bytes per ID measured on the emulator's million
activities (450 KB of STATE).
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Iterator

from tap_bitrix24.walk.packing import pack, unpack

PREFIX = "v1:"


def _deltas(ids: Iterable[int]) -> Iterator[int]:
    previous = 0
    for value in sorted(set(ids)):
        yield value - previous
        previous = value


def encode_ids(ids: Iterable[int]) -> str:
    """Encode a set of non-negative integers."""
    return pack(PREFIX, _deltas(ids))


def decode_ids(text: str) -> array:
    """Decode :func:`encode_ids` output into a sorted ``array('q')``; ValueError if garbled."""
    ids = array("q")
    value = 0
    for delta in unpack(PREFIX, text):
        value += delta
        ids.append(value)
    return ids

"""Deletion detection: Bitrix24 deletes are hard, so compare ID sets between syncs.

With ``detect_deletes`` on, a stream keeps the IDs that existed at the end of its last sync in
STATE (``known_ids``, a compact encoding: under 1 byte per ID). After each walk it lists the
IDs that exist now (an ID-only keyset walk: ceil(N / 2,500) requests for N activities) and
reports the difference as deleted.
"""

from __future__ import annotations

from array import array
from typing import Any

from tap_bitrix24.errors import StateError
from tap_bitrix24.walk.idset import decode_ids, encode_ids

KNOWN_KEY = "known_ids"
DELETED_AT = "_sdc_deleted_at"


def deleted_since_last_sync(state: dict[str, Any], current: array, stream: str) -> list[int]:
    """IDs known at the end of the last sync that no longer exist; updates ``state``."""
    saved = state.get(KNOWN_KEY)
    known = array("q")
    if saved is not None:
        try:
            known = decode_ids(saved)
        except ValueError as exc:
            raise StateError(
                f"the saved known_ids of stream '{stream}' are unreadable ({exc}); clear the "
                "state (e.g. `meltano state clear`) to start over"
            ) from None
    now = set(current)
    deleted = [i for i in known if i not in now]
    state[KNOWN_KEY] = encode_ids(current)
    return deleted

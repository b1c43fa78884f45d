"""Deletion detection: Bitrix24 deletes are hard, so compare ID sets between syncs.

With ``detect_deletes`` on, a stream keeps the IDs that existed at the end of its last sync in
STATE (``known_ids``, a compact encoding: under 1 byte per ID). After each walk it lists the
IDs that exist now (an ID-only keyset walk: ceil(N / 2,500) requests for N activities) and
reports the difference as deleted.

A tombstone means "deleted on the portal". With a ``filter``, a known ID missing from the
filtered walk may merely have left the filter (a to-do that got completed under
``{"COMPLETED": "N"}``), so those candidates are checked without the filter (``@ID``, 50 IDs a
command, 2,500 a request) and only the ones that no longer exist are reported. Rows that left
the filter are not tombstoned and no longer tracked.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tap_bitrix24.errors import StateError
from tap_bitrix24.walk.ownerset import OwnerTable

KNOWN_KEY = "known_ids"
OWNERS_KEY = "known_owners"
DELETED_AT = "_sdc_deleted_at"


@dataclass
class Deletions:
    """What one deletion check found."""

    gone: list[int]
    current: OwnerTable  # exist now (matching the filter), with their owners


def load_known(state: dict[str, Any], stream: str) -> OwnerTable:
    """The IDs (and owners, when kept) saved by the last sync; empty on the first."""
    saved = state.get(KNOWN_KEY)
    if saved is None:
        return OwnerTable()
    try:
        return OwnerTable.decode(saved, state.get(OWNERS_KEY))
    except ValueError as exc:
        raise StateError(
            f"the saved known_ids of stream '{stream}' are unreadable ({exc}); clear the "
            "state (e.g. `meltano state clear`) to start over"
        ) from None


def deleted_since_last_sync(
    state: dict[str, Any],
    current: OwnerTable,
    stream: str,
    *,
    confirm: Callable[[list[int]], set[int]] | None = None,
    keep_owners: bool = False,
) -> Deletions:
    """IDs known at the end of the last sync that no longer exist; updates ``state``.

    ``confirm`` (given when the walk was filtered) returns which candidates still exist.
    """
    previous = load_known(state, stream)
    candidates = [i for i in previous.ids if i not in current]
    gone = candidates
    if confirm is not None and candidates:
        alive = confirm(candidates)
        gone = [i for i in candidates if i not in alive]
    state[KNOWN_KEY] = current.encode_ids()
    if keep_owners:
        state[OWNERS_KEY] = current.encode_owners()
    else:
        state.pop(OWNERS_KEY, None)
    return Deletions(gone, current)

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

from collections.abc import Callable, Iterable
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
    emitted: Iterable[int] = (),
) -> Deletions:
    """IDs known at the end of the last sync, or emitted by this one, that no longer exist.

    ``emitted`` covers a row this run read and then saw deleted before its ID walk: it was
    never in the saved IDs. ``confirm`` (given when the walk was filtered) returns which
    candidates still exist. Updates ``state``.
    """
    previous = load_known(state, stream)
    candidates = [i for i in previous.ids if i not in current]
    known = set(previous.ids)
    candidates += sorted({i for i in emitted if i not in current and i not in known})
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

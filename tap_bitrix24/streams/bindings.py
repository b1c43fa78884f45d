"""The ``activity_bindings`` stream: every CRM entity each synced activity is bound to.

Bindings come from ``crm.activity.binding.list``, one call per activity, 50 to a ``batch``.
A binding change moves the activity's LAST_UPDATED, so the incremental walk re-reads the
activities whose bindings changed, except after a CRM merge (``CCrmActivity::Rebind`` leaves
LAST_UPDATED alone): with ``detect_deletes`` the stream finds those through the deletion walk
and a check of which bound entities still exist. Removed bindings vanish without a trace, so
the stream keeps a compact snapshot of what it last emitted (STATE key ``snapshot``) and emits
a tombstone (``_sdc_deleted_at``) for every binding that is gone.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from functools import cached_property
from typing import TYPE_CHECKING, Any

from tap_bitrix24.client.batch import MAX_COMMANDS, BatchCall
from tap_bitrix24.errors import StateError
from tap_bitrix24.streams.deletions import DELETED_AT
from tap_bitrix24.streams.entities import gone_entities
from tap_bitrix24.streams.schema import to_datetime
from tap_bitrix24.streams.snapshots import SNAPSHOT_KEY, SnapshotCheckpoints
from tap_bitrix24.streams.walking import ActivityWalkStream
from tap_bitrix24.walk.bindingset import BindingSnapshot
from tap_bitrix24.walk.ownerset import OwnerTable, owner_key

if TYPE_CHECKING:
    from singer_sdk.helpers.types import Context


BINDING_METHOD = "crm.activity.binding.list"

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "ACTIVITY_ID": {"type": ["integer"]},
        "OWNER_TYPE_ID": {"type": ["integer"], "description": "CRM entity type (2 deal, ...)"},
        "OWNER_ID": {"type": ["integer"]},
        "ACTIVITY_LAST_UPDATED": {"type": ["string", "null"], "format": "date-time"},
        DELETED_AT: {"type": ["string", "null"], "format": "date-time"},
    },
    "required": ["ACTIVITY_ID", "OWNER_TYPE_ID", "OWNER_ID"],
}


class ActivityBindingsStream(SnapshotCheckpoints, ActivityWalkStream):
    """(activity, CRM entity) pairs; removed bindings arrive as tombstones."""

    name = "activity_bindings"
    primary_keys = ("ACTIVITY_ID", "OWNER_TYPE_ID", "OWNER_ID")
    replication_key = "ACTIVITY_LAST_UPDATED"
    selected_by_default = False

    def list_select(self) -> list[str]:
        """Only what the walk needs: the binding calls do the rest."""
        return ["ID", "LAST_UPDATED"]

    @cached_property
    def snapshot(self) -> BindingSnapshot:
        """What this stream last emitted per activity."""
        try:
            return BindingSnapshot.decode(self.stream_state.get(SNAPSHOT_KEY))
        except ValueError as exc:
            raise StateError(
                f"the saved binding snapshot of stream '{self.name}' is unreadable ({exc}); "
                "clear the state (e.g. `meltano state clear`) to start over"
            ) from None

    def _fetch_bindings(
        self, ids: list[int], context: Context | None
    ) -> dict[int, list[tuple[int, int]] | None]:
        """Bindings of up to 50 activities in one batch; None for an activity that is gone."""
        call = BatchCall({f"a{i}": (BINDING_METHOD, {"activityId": i}) for i in ids})
        result = self.send_batch(call, context)
        found: dict[int, list[tuple[int, int]] | None] = {}
        for activity_id in ids:
            name = f"a{activity_id}"
            if name in result.errors:  # NOT_FOUND: deleted since the list walk read it
                found[activity_id] = None
                continue
            rows = result.result.get(name) or []
            found[activity_id] = [
                (int(b["entityTypeId"]), int(b["entityId"])) for b in rows if isinstance(b, dict)
            ]
        return found

    def _changes(
        self, activity_id: int, now: list[tuple[int, int]], last_updated: str | None, stamp: str
    ) -> list[dict[str, Any]]:
        before = set(self.snapshot.get(activity_id))
        records = [
            {
                "ACTIVITY_ID": activity_id,
                "OWNER_TYPE_ID": owner_type,
                "OWNER_ID": owner_id,
                "ACTIVITY_LAST_UPDATED": last_updated,
                DELETED_AT: None,
            }
            for owner_type, owner_id in sorted(set(now))
        ]
        records += [
            {
                "ACTIVITY_ID": activity_id,
                "OWNER_TYPE_ID": owner_type,
                "OWNER_ID": owner_id,
                "ACTIVITY_LAST_UPDATED": last_updated or stamp,
                DELETED_AT: stamp,
            }
            for owner_type, owner_id in sorted(before - set(now))
        ]
        if now:
            self.snapshot.put(activity_id, now)
        else:
            self.snapshot.forget(activity_id)
        return records

    def records_from_rows(
        self, rows: list[dict[str, Any]], context: Context | None
    ) -> Iterable[dict[str, Any]]:
        """Current bindings of the walked activities, plus tombstones for removed ones."""
        stamp = self.get_replication_key_signpost(context)
        updated = {int(r["ID"]): to_datetime(r.get("LAST_UPDATED")) for r in rows}
        ids = list(dict.fromkeys(updated))
        for start in range(0, len(ids), MAX_COMMANDS):
            chunk = ids[start : start + MAX_COMMANDS]
            for activity_id, now in self._fetch_bindings(chunk, context).items():
                yield from self._changes(activity_id, now or [], updated[activity_id], stamp)

    def after_walk(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """With ``detect_deletes``: tombstones for deleted activities' bindings, merges followed.

        See :meth:`_follow_merges`.
        """
        if self._bitrix_tap.settings.detect_deletes:
            stamp = self.get_replication_key_signpost(context)
            found = self.deletions(context)
            for activity_id in found.gone:
                yield from self._changes(activity_id, [], None, stamp)
            yield from self._follow_merges(found.current, stamp, context)
        self.checkpoint(self.stream_state)

    def _follow_merges(
        self, current: OwnerTable, stamp: str, context: Context | None
    ) -> Iterator[dict[str, Any]]:
        """Re-read the bindings of activities bound to a CRM entity that a merge removed.

        A merge rewrites b_crm_act_bind without touching LAST_UPDATED, then deletes the
        merged-away entity. An activity whose owner (from the deletion walk) is not among its
        saved bindings moved; an entity in the saved bindings that is nobody's owner now may be
        gone, so those are checked (``crm.item.list``, 50 IDs a command, 2,500 a request) and
        every activity bound to one that no longer exists is read again.
        """
        owners_now = current.owner_keys()
        stale: set[int] = set()
        candidates: set[tuple[int, int]] = set()
        for activity_id, bindings in self.snapshot.items():
            owner = current.get(activity_id)
            if owner is None:
                continue  # deleted, or left the filter
            if owner[0] > 0 and owner not in bindings:
                stale.add(activity_id)
            candidates.update(p for p in bindings if p[0] > 0 and owner_key(*p) not in owners_now)
        missing = gone_entities(candidates, lambda cmd: self.send_batch(cmd, context))
        if missing:
            for activity_id, bindings in self.snapshot.items():
                if activity_id in current and any(p in missing for p in bindings):
                    stale.add(activity_id)
        if not stale:
            return
        self.logger.info(
            "%d activities are bound to merged-away CRM entities; reading their bindings",
            len(stale),
        )
        for rows in self.read_by_ids(sorted(stale), ["ID", "LAST_UPDATED"], context):
            updated = {int(r["ID"]): to_datetime(r.get("LAST_UPDATED")) for r in rows}
            ids = list(updated)
            for start in range(0, len(ids), MAX_COMMANDS):
                chunk = ids[start : start + MAX_COMMANDS]
                for activity_id, now in self._fetch_bindings(chunk, context).items():
                    yield from self._changes(activity_id, now or [], updated[activity_id], stamp)

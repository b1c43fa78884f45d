"""The ``activity_communications`` stream: one typed row per communication of an activity.

It walks activities with ``select: [ID, LAST_UPDATED, COMMUNICATIONS]`` (COMMUNICATIONS comes
only when named), so it can be selected on its own.

Rows keep the portal's communication ID as their key, which joins to the rest of Bitrix24, but
that ID does not survive a save: ``CCrmActivity::SaveCommunications`` deletes an activity's
communications and inserts them again with new IDs. So the stream replaces each activity's rows
as a whole: it keeps the IDs it last emitted per activity (STATE key ``snapshot``) and emits a
tombstone (``_sdc_deleted_at``) for every ID that vanished, and, with ``detect_deletes``, for
the communications of deleted activities. The snapshot keeps each communication's CRM entity
too, so a merge that rewrites ENTITY_ID in place is followed (see :meth:`_follow_merges`).
(A key of activity + position or type + value would
not help: a changed or removed communication still leaves a row to drop, and two identical
phone numbers on one activity would collide.)
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from functools import cached_property
from typing import TYPE_CHECKING, Any

from tap_bitrix24.streams.deletions import DELETED_AT
from tap_bitrix24.streams.entities import gone_entities
from tap_bitrix24.streams.schema import COMMUNICATION_SCHEMA, to_communications, to_datetime
from tap_bitrix24.streams.snapshots import SnapshotCheckpoints, load_snapshot
from tap_bitrix24.streams.walking import ActivityWalkStream
from tap_bitrix24.walk.bindingset import CommunicationSnapshot
from tap_bitrix24.walk.ownerset import OwnerTable, owner_key

if TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        **COMMUNICATION_SCHEMA["properties"],
        "ID": {"type": ["integer"]},
        "ACTIVITY_ID": {"type": ["integer"]},
        "ACTIVITY_LAST_UPDATED": {"type": ["string", "null"], "format": "date-time"},
        DELETED_AT: {"type": ["string", "null"], "format": "date-time"},
    },
    "required": ["ID", "ACTIVITY_ID"],
}


class ActivityCommunicationsStream(SnapshotCheckpoints, ActivityWalkStream):
    """Phones, e-mails and chats an activity was made with, and the CRM entity behind each."""

    name = "activity_communications"
    primary_keys = ("ID",)
    replication_key = "ACTIVITY_LAST_UPDATED"
    selected_by_default = False

    def list_select(self) -> list[str]:
        """Just enough to produce the communication rows."""
        return ["ID", "LAST_UPDATED", "COMMUNICATIONS"]

    @cached_property
    def snapshot(self) -> CommunicationSnapshot:
        """The communications (ID, entity) this stream last emitted per activity."""
        return load_snapshot(CommunicationSnapshot.decode, self.stream_state, self.name)

    def _replace(
        self,
        activity_id: int,
        items: list[dict[str, Any]],
        last_updated: str | None,
        stamp: str,
    ) -> Iterator[dict[str, Any]]:
        """The activity's current rows, then tombstones for the IDs it no longer has."""
        now = {item["ID"] for item in items}
        entries = [
            (item["ID"], item.get("ENTITY_TYPE_ID") or 0, item.get("ENTITY_ID") or 0)
            for item in items
        ]
        for item in items:
            yield {
                **item,
                "ACTIVITY_ID": activity_id,
                "ACTIVITY_LAST_UPDATED": last_updated,
                DELETED_AT: None,
            }
        for gone in sorted({e[0] for e in self.snapshot.get(activity_id)} - now):
            yield {
                **dict.fromkeys(COMMUNICATION_SCHEMA["properties"]),
                "ID": gone,
                "ACTIVITY_ID": activity_id,
                "ACTIVITY_LAST_UPDATED": last_updated or stamp,
                DELETED_AT: stamp,
            }
        if entries:
            self.snapshot.put(activity_id, entries)
        else:
            self.snapshot.forget(activity_id)

    def records_from_rows(
        self, rows: list[dict[str, Any]], context: Context | None
    ) -> Iterable[dict[str, Any]]:
        """Flatten each activity's COMMUNICATIONS into rows; tombstone the replaced ones."""
        stamp = self.get_replication_key_signpost(context)
        for row in rows:
            activity_id = int(row["ID"])
            items = [
                item
                for item in to_communications(row.get("COMMUNICATIONS")) or []
                if item["ID"] is not None
            ]
            last_updated = to_datetime(row.get("LAST_UPDATED"))
            yield from self._replace(activity_id, items, last_updated, stamp)

    def after_walk(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """With ``detect_deletes``: deleted activities' rows tombstoned, merges followed."""
        if self._bitrix_tap.settings.detect_deletes:
            stamp = self.get_replication_key_signpost(context)
            found = self.deletions(context)
            for activity_id in found.gone:
                yield from self._replace(activity_id, [], None, stamp)
            yield from self._follow_merges(found.current, context)
        self.checkpoint(self.stream_state)

    def _follow_merges(self, current: OwnerTable, context: Context | None) -> Iterable[dict]:
        """Re-read activities whose communications point at a merged-away CRM entity.

        A merge rewrites the communications' ENTITY_ID in place (same IDs, LAST_UPDATED
        untouched). Entities in the snapshot that are nobody's owner now may be gone: they are
        checked (``crm.item.list``), and the activities using a gone one are read again.
        """
        owners_now = current.owner_keys()
        candidates = {
            (entity_type, entity_id)
            for activity_id, entries in self.snapshot.items()
            if activity_id in current
            for _, entity_type, entity_id in entries
            if entity_type > 0 and owner_key(entity_type, entity_id) not in owners_now
        }
        missing = gone_entities(candidates, lambda cmd: self.send_batch(cmd, context))
        if not missing:
            return
        stale = [
            activity_id
            for activity_id, entries in self.snapshot.items()
            if activity_id in current and any((e[1], e[2]) in missing for e in entries)
        ]
        self.logger.info(
            "%d activities have communications with merged-away CRM entities; reading them",
            len(stale),
        )
        for rows in self.read_by_ids(stale, self.list_select(), context):
            yield from self.records_from_rows(rows, context)

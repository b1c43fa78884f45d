"""The ``activity_communications`` stream: one typed row per communication of an activity.

It walks activities with ``select: [ID, LAST_UPDATED, COMMUNICATIONS]`` (COMMUNICATIONS comes
only when named), so it can be selected on its own.

Rows keep the portal's communication ID as their key, which joins to the rest of Bitrix24, but
that ID does not survive a save: ``CCrmActivity::SaveCommunications`` deletes an activity's
communications and inserts them again with new IDs. So the stream replaces each activity's rows
as a whole: it keeps the IDs it last emitted per activity (STATE key ``snapshot``) and emits a
tombstone (``_sdc_deleted_at``) for every ID that vanished, and, with ``detect_deletes``, for
the communications of deleted activities. (A key of activity + position or type + value would
not help: a changed or removed communication still leaves a row to drop, and two identical
phone numbers on one activity would collide.)
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from functools import cached_property
from typing import TYPE_CHECKING, Any

from tap_bitrix24.streams.deletions import DELETED_AT
from tap_bitrix24.streams.schema import COMMUNICATION_SCHEMA, to_communications, to_datetime
from tap_bitrix24.streams.snapshots import SnapshotCheckpoints, load_snapshot
from tap_bitrix24.streams.walking import ActivityWalkStream
from tap_bitrix24.walk.bindingset import IdListSnapshot

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
    def snapshot(self) -> IdListSnapshot:
        """The communication IDs this stream last emitted per activity."""
        return load_snapshot(IdListSnapshot.decode, self.stream_state, self.name)

    def _replace(
        self,
        activity_id: int,
        items: list[dict[str, Any]],
        last_updated: str | None,
        stamp: str,
    ) -> Iterator[dict[str, Any]]:
        """The activity's current rows, then tombstones for the IDs it no longer has."""
        now = {item["ID"] for item in items}
        for item in items:
            yield {
                **item,
                "ACTIVITY_ID": activity_id,
                "ACTIVITY_LAST_UPDATED": last_updated,
                DELETED_AT: None,
            }
        for gone in sorted(set(self.snapshot.get(activity_id)) - now):
            yield {
                **dict.fromkeys(COMMUNICATION_SCHEMA["properties"]),
                "ID": gone,
                "ACTIVITY_ID": activity_id,
                "ACTIVITY_LAST_UPDATED": last_updated or stamp,
                DELETED_AT: stamp,
            }
        if now:
            self.snapshot.put(activity_id, now)
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
        """With ``detect_deletes``: tombstones for the communications of deleted activities."""
        if self._bitrix_tap.settings.detect_deletes:
            stamp = self.get_replication_key_signpost(context)
            for activity_id in self.deletions(context).gone:
                yield from self._replace(activity_id, [], None, stamp)
        self.checkpoint(self.stream_state)

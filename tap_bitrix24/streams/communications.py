"""The ``activity_communications`` stream: one typed row per communication of an activity.

It walks activities with ``select: [ID, LAST_UPDATED, COMMUNICATIONS]`` (COMMUNICATIONS comes
only when named), so it can be selected on its own.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from tap_bitrix24.streams.schema import COMMUNICATION_SCHEMA, to_communications, to_datetime
from tap_bitrix24.streams.walking import ActivityWalkStream

if TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        **COMMUNICATION_SCHEMA["properties"],
        "ID": {"type": ["integer"]},
        "ACTIVITY_ID": {"type": ["integer"]},
        "ACTIVITY_LAST_UPDATED": {"type": ["string", "null"], "format": "date-time"},
    },
    "required": ["ID", "ACTIVITY_ID"],
}


class ActivityCommunicationsStream(ActivityWalkStream):
    """Phones, e-mails and chats an activity was made with, and the CRM entity behind each."""

    name = "activity_communications"
    primary_keys = ("ID",)
    replication_key = "ACTIVITY_LAST_UPDATED"
    selected_by_default = False

    def list_select(self) -> list[str]:
        """Just enough to produce the communication rows."""
        return ["ID", "LAST_UPDATED", "COMMUNICATIONS"]

    def records_from_rows(
        self, rows: list[dict[str, Any]], context: Context | None
    ) -> Iterable[dict[str, Any]]:
        """Flatten each activity's COMMUNICATIONS into rows."""
        for row in rows:
            activity_id = int(row["ID"])
            last_updated = to_datetime(row.get("LAST_UPDATED"))
            for item in to_communications(row.get("COMMUNICATIONS")) or []:
                if item["ID"] is None:
                    continue
                yield {**item, "ACTIVITY_ID": activity_id, "ACTIVITY_LAST_UPDATED": last_updated}

"""The ``stage_history`` stream: every stage move of leads, deals, smart invoices, smart processes.

``crm.stagehistory.list`` rows are only ever added (the portal deletes an item's rows with the
item), so the stream reads each type's rows past its last ``ID`` through the list engine's
keyset walk (50 ``>ID`` pages with ``start=-1`` chained in a batch, no COUNT: 2,500 rows a
request), one partition per type. Leads' ``STATUS_ID``/``STATUS_SEMANTIC_ID`` come as
``STAGE_ID``/``STAGE_SEMANTIC_ID``, so every type has the same columns.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from typing_extensions import override

from tap_bitrix24.streams.relations import TypeRelationStream
from tap_bitrix24.streams.schema import to_datetime
from tap_bitrix24.streams.walking import keyset_pages
from tap_bitrix24.walk.listspec import ListSpec

if TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

    from tap_bitrix24.tap import TapBitrix24

METHOD = "crm.stagehistory.list"

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "entityTypeId": {"type": ["integer"]},
        "ID": {"type": ["integer"]},
        "TYPE_ID": {
            "type": ["integer", "null"],
            "description": "1 created, 2 intermediate stage, 3 final stage, 5 pipeline change",
        },
        "OWNER_ID": {"type": ["integer", "null"]},
        "CREATED_TIME": {"type": ["string", "null"], "format": "date-time"},
        "CATEGORY_ID": {"type": ["integer", "null"]},
        "STAGE_SEMANTIC_ID": {"type": ["string", "null"]},
        "STAGE_ID": {"type": ["string", "null"]},
    },
    "required": ["entityTypeId", "ID"],
}


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


class StageHistoryStream(TypeRelationStream):
    """Stage moves, incremental by ``ID`` per CRM type."""

    name = "stage_history"
    primary_keys = ("entityTypeId", "ID")
    replication_key = "ID"
    is_sorted = True  # ascending ID within each type's partition
    selected_by_default = False
    WITHOUT = frozenset({3, 4, 7})  # contacts, companies, quotes

    def __init__(self, tap: TapBitrix24) -> None:
        super().__init__(tap, SCHEMA, path=METHOD)

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """Rows past the partition's bookmark: chained batches of 50 ``>ID`` pages."""
        entity_type = self.entity_type(context)
        spec = ListSpec(METHOD, rows_key="items", params={"entityTypeId": entity_type})
        last = _int(self.get_starting_replication_key_value(context)) or 0
        for rows in keyset_pages(self, spec, {}, [], last, context):
            for row in rows:
                yield {
                    "entityTypeId": entity_type,
                    "ID": _int(row.get("ID")),
                    "TYPE_ID": _int(row.get("TYPE_ID")),
                    "OWNER_ID": _int(row.get("OWNER_ID")),
                    "CREATED_TIME": to_datetime(row.get("CREATED_TIME")),
                    "CATEGORY_ID": _int(row.get("CATEGORY_ID")),
                    "STAGE_SEMANTIC_ID": row.get("STAGE_SEMANTIC_ID")
                    or row.get("STATUS_SEMANTIC_ID"),
                    "STAGE_ID": row.get("STAGE_ID") or row.get("STATUS_ID"),
                }

"""CRM item streams (``crm.item.list``): fixed types and one stream per smart process.

Leads, deals, contacts, companies, quotes and invoices, and ``smart_process_<entityTypeId>``
for each smart process.

Each is the walk engine with ``crm.item.list``'s :class:`~tap_bitrix24.walk.listspec.ListSpec`
for its type: ``updatedTime`` bookmarks, ``>id`` keyset chains of 50 pages, parallel ranges,
resumable STATE and, with ``detect_deletes``, tombstones from the ID-only walk. The ``select``
names only the catalog's columns: ``*`` makes the portal join every user field and load product
rows, contacts and observers, so it is sent only when an ``fm_*`` column is selected (``fm``
comes with nothing else).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from tap_bitrix24.streams.deletions import DELETED_AT
from tap_bitrix24.streams.item_schema import FM_COLUMNS, ItemConverter, item_schema
from tap_bitrix24.streams.walking import ListWalkStream
from tap_bitrix24.walk.listspec import item_list

if TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

    from tap_bitrix24.tap import TapBitrix24

#: The CRM types every portal may have: entityTypeId -> stream name.
FIXED_TYPES = {1: "leads", 2: "deals", 3: "contacts", 4: "companies", 7: "quotes", 31: "invoices"}
SMART_PROCESS_PREFIX = "smart_process_"


@dataclass(frozen=True)
class ItemType:
    """One CRM type the portal has, as the tap streams it."""

    entity_type_id: int
    title: str

    @property
    def stream_name(self) -> str:
        """``deals``, or ``smart_process_1038``."""
        return FIXED_TYPES.get(self.entity_type_id) or (
            f"{SMART_PROCESS_PREFIX}{self.entity_type_id}"
        )

    @property
    def description(self) -> str:
        """What the stream holds, for the catalog's schema."""
        what = "CRM type" if self.entity_type_id in FIXED_TYPES else "Smart process"
        return f"{what} '{self.title}' (crm.item.list, entityTypeId {self.entity_type_id})"


def is_item_stream(name: str) -> bool:
    """Whether a stream name is one of the item streams (STATE checks need no portal)."""
    suffix = name.removeprefix(SMART_PROCESS_PREFIX)
    return name in FIXED_TYPES.values() or (suffix != name and suffix.isdigit())


class ItemsStream(ListWalkStream):
    """The items of one CRM type, typed from ``crm.item.fields``."""

    primary_keys = ("id",)
    replication_key = "updatedTime"
    selected_by_default = False
    builds_selected_records = True

    def __init__(
        self,
        tap: TapBitrix24,
        item_type: ItemType,
        fields: Mapping[str, Mapping[str, Any]],
        *,
        detect_deletes: bool = False,
    ) -> None:
        self.name = item_type.stream_name
        self.item_type = item_type
        self.fields = fields
        schema = item_schema(fields, item_type.entity_type_id, item_type.description)
        if detect_deletes:
            schema["properties"][DELETED_AT] = {"type": ["string", "null"], "format": "date-time"}
        super().__init__(tap, schema, item_list(item_type.entity_type_id, self.name))

    def user_filter(self) -> dict[str, Any]:
        """The stream's entry of ``item_filters``, checked against the type's fields."""
        return self._bitrix_tap.item_filter(self.name)

    @cached_property
    def converter(self) -> ItemConverter:
        """Typed conversion to the selected properties."""
        return ItemConverter(self.fields, self.selected_schema)

    @cached_property
    def _select(self) -> list[str]:
        properties = [p for p in self.schema["properties"] if p != DELETED_AT]
        selected = [p for p in properties if self.mask.get(("properties", p), True)]
        if any(p in FM_COLUMNS.values() for p in selected):
            return ["*"]  # fm comes only with '*'
        return sorted({"id", "updatedTime", *selected})

    def list_select(self) -> list[str]:
        """The catalog's columns (``*`` only when a multi-field column is selected)."""
        return self._select

    def records_from_rows(
        self, rows: list[dict[str, Any]], context: Context | None
    ) -> Iterable[dict[str, Any]]:
        """Typed records."""
        convert = self.converter
        return [convert(row) for row in rows]

    def after_walk(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """With ``detect_deletes``: a tombstone for every item deleted since the last sync."""
        if not self._bitrix_tap.settings.detect_deletes:
            return
        found = self.deletions(context)
        stamp = self.get_replication_key_signpost(context)
        tombstone = self.converter.blank
        for ident in found.gone:
            yield tombstone(id=ident, updatedTime=stamp, **{DELETED_AT: stamp})

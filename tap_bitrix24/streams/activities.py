"""The ``activities`` stream: every field of ``crm.activity.list``, typed."""

from __future__ import annotations

from collections.abc import Iterable
from functools import cached_property
from typing import TYPE_CHECKING, Any

from tap_bitrix24.streams.deletions import DELETED_AT, deleted_since_last_sync
from tap_bitrix24.streams.filters import has_bindings
from tap_bitrix24.streams.schema import EXPLICIT_SELECT, RecordConverter
from tap_bitrix24.streams.walking import ActivityWalkStream

if TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

    from tap_bitrix24.tap import TapBitrix24


class ActivitiesStream(ActivityWalkStream):
    """CRM activities (calls, e-mails, meetings, tasks, to-dos, app activities)."""

    name = "activities"
    primary_keys = ("ID",)
    replication_key = "LAST_UPDATED"

    def __init__(self, tap: TapBitrix24, schema: dict[str, Any]) -> None:
        super().__init__(tap, schema)
        self._seen_ids: set[int] = set()  # BINDINGS filters repeat activities

    @cached_property
    def _select(self) -> list[str]:
        properties = [p for p in self.schema["properties"] if p != DELETED_AT]
        selected = [p for p in properties if self.mask.get(("properties", p), True)]
        extras = [f for f in ("IS_INCOMING_CHANNEL", "COMMUNICATIONS", "FILES") if f in selected]
        defaults = [p for p in selected if p not in EXPLICIT_SELECT]
        if defaults == [p for p in properties if p not in EXPLICIT_SELECT]:
            return ["*", *extras]
        return sorted({"ID", "LAST_UPDATED", *defaults}) + extras

    def list_select(self) -> list[str]:
        """``*`` plus the extras the settings ask for, or the catalog's chosen fields."""
        return self._select

    @cached_property
    def converter(self) -> RecordConverter:
        """Typed conversion for this stream's schema."""
        return RecordConverter(self.schema)

    @cached_property
    def _dedupe(self) -> bool:
        return has_bindings(self._bitrix_tap.checked_filter)

    def records_from_rows(
        self, rows: list[dict[str, Any]], context: Context | None
    ) -> Iterable[dict[str, Any]]:
        """Typed records; a BINDINGS filter's duplicate rows are dropped."""
        convert = self.converter
        if not self._dedupe:
            return [convert(row) for row in rows]
        seen = self._seen_ids
        records = []
        for row in rows:
            record = convert(row)
            if record["ID"] not in seen:
                seen.add(record["ID"])
                records.append(record)
        return records

    def after_walk(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """With ``detect_deletes``: a tombstone for every activity deleted since last sync."""
        if not self._bitrix_tap.settings.detect_deletes:
            return []
        current = self.current_ids(context)
        gone = deleted_since_last_sync(self.stream_state, current, self.name)
        stamp = self.get_replication_key_signpost(context)
        if gone:
            self.logger.info("%d activities were deleted since the last sync", len(gone))
        tombstone = self.converter.blank  # every property, like any other record
        return [tombstone(ID=i, LAST_UPDATED=stamp, **{DELETED_AT: stamp}) for i in gone]

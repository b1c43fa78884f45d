"""The ``activities`` stream: every field of ``crm.activity.list``, typed."""

from __future__ import annotations

from collections.abc import Iterable
from functools import cached_property
from typing import TYPE_CHECKING, Any

from tap_bitrix24.streams.deletions import DELETED_AT, load_known
from tap_bitrix24.streams.filters import has_bindings
from tap_bitrix24.streams.schema import EXPLICIT_SELECT, RecordConverter
from tap_bitrix24.streams.walking import ActivityWalkStream
from tap_bitrix24.walk.ownerset import OwnerTable

if TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

    from tap_bitrix24.tap import TapBitrix24


class ActivitiesStream(ActivityWalkStream):
    """CRM activities (calls, e-mails, meetings, tasks, to-dos, app activities)."""

    name = "activities"
    primary_keys = ("ID",)
    replication_key = "LAST_UPDATED"
    builds_selected_records = True

    def __init__(self, tap: TapBitrix24, schema: dict[str, Any]) -> None:
        super().__init__(tap, schema)
        self._seen_ids: set[int] = set()  # BINDINGS filters repeat activities
        # Owners emitted this sync that differ from the saved ones (with detect_deletes).
        self._emitted_owners: dict[int, tuple[int, int]] = {}

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
        """Typed conversion to the selected properties."""
        return RecordConverter(self.selected_schema)

    @cached_property
    def _dedupe(self) -> bool:
        return has_bindings(self._bitrix_tap.checked_filter)

    @cached_property
    def _tracks_owners(self) -> bool:
        """Merges move owners silently; worth following when the owner columns are extracted."""
        return self._bitrix_tap.settings.detect_deletes and all(
            self.mask.get(("properties", p), True) for p in ("OWNER_TYPE_ID", "OWNER_ID")
        )

    @cached_property
    def _saved_owners(self) -> OwnerTable:
        return load_known(self.stream_state, self.name)

    def records_from_rows(
        self, rows: list[dict[str, Any]], context: Context | None
    ) -> Iterable[dict[str, Any]]:
        """Typed records; a BINDINGS filter's duplicate rows are dropped."""
        convert = self.converter
        if not self._dedupe:
            records = [convert(row) for row in rows]
        else:
            seen = self._seen_ids
            records = []
            for row in rows:
                record = convert(row)
                if record["ID"] not in seen:
                    seen.add(record["ID"])
                    records.append(record)
        if self._tracks_owners:
            self._note_owners(records)
        return records

    def _note_owners(self, records: list[dict[str, Any]]) -> None:
        """Remember emitted owners the saved ones do not predict (few: edits and new rows)."""
        saved = self._saved_owners
        if not len(saved):
            return  # first sync with detect_deletes: the ID walk sets the baseline
        for record in records:
            owner = (record.get("OWNER_TYPE_ID"), record.get("OWNER_ID"))
            if None in owner:
                continue
            ident = record["ID"]
            if ident not in saved or saved.get(ident) not in (None, owner):
                self._emitted_owners[ident] = owner  # type: ignore[assignment]

    def after_walk(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """With ``detect_deletes``: tombstones for deleted activities, and merged-away owners.

        A merge of CRM entities moves owners without touching LAST_UPDATED; the deletion walk
        reads every owner, and each activity whose owner differs from what the target holds is
        read again (``@ID``, 2,500 a request) and emitted.
        """
        if not self._bitrix_tap.settings.detect_deletes:
            return
        tracks = self._tracks_owners
        saved = self._saved_owners if tracks else None
        found = self.deletions(context, keep_owners=tracks)
        stamp = self.get_replication_key_signpost(context)
        if saved is not None:
            moved = [
                ident
                for ident, owner in found.current.items()
                if (held := self._emitted_owners.get(ident) or saved.get(ident)) is not None
                and held != owner
            ]
            if moved:
                self.logger.info(
                    "%d activities changed owner without an update (CRM merges); reading them",
                    len(moved),
                )
            convert = self.converter
            for rows in self.read_by_ids(moved, self.list_select(), context):
                yield from (convert(row) for row in rows)
        tombstone = self.converter.blank  # every property, like any other record
        for ident in found.gone:
            yield tombstone(ID=ident, LAST_UPDATED=stamp, **{DELETED_AT: stamp})

"""The ``product_rows`` stream: the product rows of deals, leads, quotes, invoices, smart processes.

``crm.item.productrow.list`` answers one owner per call (its permission check reads one item),
so the rows come 50 owners to a ``batch``. A product-row change saves the item and moves its
``updatedTime``, so the stream walks each type's items changed since its bookmark (``id`` and
``updatedTime`` only, through the list engine's keyset walk) and re-reads those items' rows.
Rows removed from an item vanish on the portal, so the stream keeps the row IDs it last emitted
per item (partition STATE key ``rows``, packed as a :class:`~tap_bitrix24.walk.bindingset.
RowSnapshot`; the JSON object of earlier releases is still read) and emits a tombstone
(``_sdc_deleted_at``) for each one that is gone.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

from typing_extensions import override

from tap_bitrix24.client.batch import MAX_COMMANDS, BatchCall
from tap_bitrix24.errors import StateError
from tap_bitrix24.streams.deletions import DELETED_AT
from tap_bitrix24.streams.entities import gone_entities
from tap_bitrix24.streams.relations import TypeRelationStream
from tap_bitrix24.streams.schema import to_datetime
from tap_bitrix24.streams.walking import keyset_pages, utc_iso
from tap_bitrix24.walk.bindingset import RowSnapshot
from tap_bitrix24.walk.listspec import item_list

if TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

    from tap_bitrix24.tap import TapBitrix24

METHOD = "crm.item.productrow.list"
OWNER_CODES = {1: "L", 2: "D", 7: "Q", 31: "SI"}
SNAPSHOT = "rows"

_NUMBERS = ("price", "priceAccount", "priceExclusive", "priceNetto", "priceBrutto", "quantity",
            "discountRate", "discountSum", "taxRate")  # fmt: skip
_INTEGERS = ("id", "ownerId", "productId", "discountTypeId", "measureCode", "sort", "type",
             "storeId")  # fmt: skip
_TEXTS = ("ownerType", "productName", "taxIncluded", "customized", "measureName", "xmlId")

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "entityTypeId": {"type": ["integer"]},
        **{n: {"type": ["integer", "null"]} for n in _INTEGERS},
        **{n: {"type": ["number", "null"]} for n in _NUMBERS},
        **{n: {"type": ["string", "null"]} for n in _TEXTS},
        "itemUpdatedTime": {"type": ["string", "null"], "format": "date-time"},
        DELETED_AT: {"type": ["string", "null"], "format": "date-time"},
    },
    "required": ["entityTypeId", "id"],
}


def owner_code(entity_type_id: int) -> str:
    """``ownerType`` of a type: ``D``, ``L``, ``Q``, ``SI``, or ``T<hex>`` for a smart process."""
    return OWNER_CODES.get(entity_type_id) or f"T{entity_type_id:x}"


def _number(value: Any, kind: type) -> Any:
    try:
        return kind(value)
    except (TypeError, ValueError):
        return None


def _rows(answer: Any) -> list[dict[str, Any]]:
    rows = answer.get("productRows") if isinstance(answer, dict) else None
    return [r for r in rows or [] if isinstance(r, dict)]


def _record(entity_type: int, row: dict[str, Any], updated: str | None) -> dict[str, Any]:
    record: dict[str, Any] = {"entityTypeId": entity_type}
    record.update({n: _number(row.get(n), int) for n in _INTEGERS})
    record.update({n: _number(row.get(n), float) for n in _NUMBERS})
    record.update({n: None if row.get(n) is None else str(row.get(n)) for n in _TEXTS})
    record["itemUpdatedTime"] = updated
    record[DELETED_AT] = None
    return record


class ProductRowsStream(TypeRelationStream):
    """Product rows, re-read when their item's ``updatedTime`` moves; removed rows tombstoned."""

    name = "product_rows"
    primary_keys = ("entityTypeId", "id")
    replication_key = "itemUpdatedTime"
    is_sorted = False  # the items walk goes by id
    selected_by_default = False
    WITHOUT = frozenset({3, 4})  # contacts and companies have no product rows

    def __init__(self, tap: TapBitrix24) -> None:
        super().__init__(tap, SCHEMA, path=METHOD)

    def _changed_items(self, entity_type: int, context: Context | None) -> Iterator[list[Any]]:
        """(id, updatedTime) pages of the items changed since the bookmark, 2,500 a request."""
        since = self.get_starting_replication_key_value(context)
        condition = {">=updatedTime": since} if since else {}
        spec = item_list(entity_type, "items")
        for rows in keyset_pages(self, spec, condition, ["id", "updatedTime"], 0, context):
            yield [(int(r["id"]), to_datetime(r.get("updatedTime"))) for r in rows]

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """Rows of every changed item, and tombstones for rows its save removed."""
        entity_type = self.entity_type(context)
        code = owner_code(entity_type)
        state = self.get_context_state(context)
        snapshot = self._snapshot(state)
        for items in self._changed_items(entity_type, context):
            for first in range(0, len(items), MAX_COMMANDS):
                part = items[first : first + MAX_COMMANDS]
                call = BatchCall(
                    {
                        f"i{ident}": (METHOD, {"filter": {"=ownerType": code, "=ownerId": ident}})
                        for ident, _ in part
                    }
                )
                result = self.send_batch(call, context)
                for ident, updated in part:
                    rows = _rows(result.result.get(f"i{ident}"))
                    more = _number(result.next.get(f"i{ident}"), int)
                    while more is not None:  # more than 50 rows: the next pages one by one
                        query = {"filter": {"=ownerType": code, "=ownerId": ident}, "start": more}
                        body = self.send_json(METHOD, query, context)
                        rows += _rows(body.get("result"))
                        more = _number(body.get("next"), int)
                    now = [_record(entity_type, r, updated) for r in rows]
                    yield from now
                    ids = sorted(int(r["id"]) for r in now if r["id"] is not None)
                    for gone in sorted(set(snapshot.get(ident)) - set(ids)):
                        tomb = _record(entity_type, {"id": gone, "ownerId": ident}, updated)
                        tomb["ownerType"] = code
                        tomb[DELETED_AT] = updated
                        yield tomb
                    if ids:
                        snapshot.put(ident, ids)
                    else:
                        snapshot.forget(ident)
        if self._bitrix_tap.settings.detect_deletes:
            yield from self._rows_of_deleted_items(entity_type, snapshot, context)
        state[SNAPSHOT] = snapshot.encode()

    def _snapshot(self, state: dict[str, Any]) -> RowSnapshot:
        """The row IDs last emitted per item, from STATE (either release's form)."""
        try:
            return RowSnapshot.read(state.get(SNAPSHOT))
        except ValueError as exc:
            raise StateError(
                f"the saved row snapshot of stream '{self.name}' is unreadable ({exc}); "
                "clear the state (e.g. `meltano state clear`) to start over"
            ) from None

    def _rows_of_deleted_items(
        self, entity_type: int, snapshot: RowSnapshot, context: Context | None
    ) -> Iterator[dict[str, Any]]:
        """Tombstones for the rows of items that no longer exist (``detect_deletes``).

        A deleted item's rows vanish with it, and its updatedTime never moves again: the items
        the snapshot holds are checked with ``crm.item.list`` (``@id``, 2,500 a request).
        """
        held = {(entity_type, ident) for ident, _ in snapshot.items()}
        gone = gone_entities(held, lambda call: self.send_batch(call, context))
        signpost = self.get_replication_key_signpost(context)  # the SDK's: the run's start
        stamp = utc_iso(signpost) if isinstance(signpost, datetime) else str(signpost)
        for _, ident in sorted(gone):
            for row_id in snapshot.get(ident):
                tomb = _record(entity_type, {"id": row_id, "ownerId": ident}, stamp)
                tomb["ownerType"] = owner_code(entity_type)
                tomb[DELETED_AT] = stamp
                yield tomb
            snapshot.forget(ident)

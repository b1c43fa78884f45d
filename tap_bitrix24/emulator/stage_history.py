"""``crm.stagehistory.list``: stage moves of leads, deals, smart invoices and smart processes.

The history of the initial items is derived (IDs ``(item-1)*8 + k + 1``: the creation at the
first stage, then one row per stage up to the item's stage at version 0). Later rows (created
items, stage moves by updates) are appended to a log with IDs above every derived one, so rows
are only ever added; rows of a deleted item are hard-deleted with it (crm API doc §5).
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from typing import TYPE_CHECKING, Any

from .content import Draw
from .crm_items import TypeStore
from .crm_schema import DEAL, LEAD, SMART_INVOICE
from .dictionaries import stage_semantic
from .errors import ApiError
from .list_params import PAGE, compare, paged, split_operator
from .methods import CallResult
from .php import array_values, is_array, php_intval

if TYPE_CHECKING:
    from .portal import CallContext

SLOTS = 8  # derived row IDs per initial item
CREATED, MOVED, FINAL, PIPELINE = 1, 2, 3, 5
_OPERATORS = (">=", "<=", "!=", "!@", "@", ">", "<", "=", "!")


def supported(store: TypeStore) -> bool:
    t = store.itype.entity_type_id
    return t in (LEAD, DEAL, SMART_INVOICE) or store.itype.is_dynamic


def _stage_of(store: TypeStore, ident: int, version: int | None = None) -> tuple[str, int]:
    it = store.itype
    raw = store.record(ident).raw if version is None else store.record_at(ident, version).raw
    category = int(raw.get("categoryId") or it.categories[0])
    return str(raw.get("stageId", "")), category


class StageLog:
    """Rows appended after the start, per entity type: (ID, item, TYPE_ID, time, stage, cat)."""

    def __init__(self) -> None:
        self.rows: dict[int, list[tuple[int, int, int, int, str, int]]] = {}
        self.last: dict[tuple[int, int], tuple[str, int]] = {}
        self.next_id: dict[int, int] = {}
        self._initial: dict[int, dict[int, tuple[str, int]]] = {}

    def initial_stage(self, store: TypeStore, ident: int) -> tuple[str, int]:
        """(stage, category) at version 0, cached: deriving a whole row is the cost."""
        cache = self._initial.setdefault(store.itype.entity_type_id, {})
        hit = cache.get(ident)
        if hit is None:
            hit = cache[ident] = _stage_of(store, ident, 0)
        return hit

    def _append(
        self, store: TypeStore, ident: int, kind: int, now: int, stage: str, cat: int
    ) -> None:
        t = store.itype.entity_type_id
        row_id = self.next_id.get(t, store.initial * SLOTS + 1)
        self.next_id[t] = row_id + 1
        self.rows.setdefault(t, []).append((row_id, ident, kind, now, stage, cat))
        self.last[(t, ident)] = (stage, cat)

    def last_stage(self, store: TypeStore, ident: int) -> tuple[str, int]:
        logged = self.last.get((store.itype.entity_type_id, ident))
        return logged if logged is not None else self.initial_stage(store, ident)

    def inserted(self, store: TypeStore, idents: list[int], now: int) -> None:
        if supported(store):
            for ident in idents:
                stage, cat = _stage_of(store, ident)
                self._append(store, ident, CREATED, now, stage, cat)

    def updated(self, store: TypeStore, idents: list[int], now: int) -> None:
        """An update that moves the stage (or the pipeline) adds a row."""
        if not supported(store):
            return
        for ident in idents:
            before = self.last_stage(store, ident)
            stage, cat = _stage_of(store, ident)
            if (stage, cat) == before:
                continue
            stages = store.itype.stages(cat)
            if cat != before[1]:
                kind = PIPELINE
            elif stage_semantic(stages, stage) in ("S", "F"):
                kind = FINAL
            else:
                kind = MOVED
            self._append(store, ident, kind, now, stage, cat)

    def deleted(self, store: TypeStore, idents: list[int]) -> None:
        t = store.itype.entity_type_id
        gone = set(idents)
        if t in self.rows:
            self.rows[t] = [r for r in self.rows[t] if r[1] not in gone]
        for ident in gone:
            self.last.pop((t, ident), None)

    def iter_rows(self, store: TypeStore, low_id: int = 0) -> Iterator[tuple[Any, ...]]:
        """Every current row in ID order, from ``low_id`` on."""
        from bisect import bisect_left

        ids = store.ids
        pos = bisect_left(ids, max(1, (low_id - 1) // SLOTS + 1))
        while pos < len(ids) and ids[pos] <= store.initial:
            ident = ids[pos]
            for row in derived(store, ident, self.initial_stage(store, ident)):
                if row[0] >= low_id:
                    yield row
            pos += 1
        for row in self.rows.get(store.itype.entity_type_id, []):
            if row[0] >= low_id and store.exists(row[1]):
                yield row


def derived(
    store: TypeStore, ident: int, initial: tuple[str, int]
) -> list[tuple[int, int, int, int, str, int]]:
    """The initial history of an item: created at the first stage, then each move."""
    stage, cat = initial
    stages = store.itype.stages(cat)
    index = stages.index(stage) if stage in stages else 0
    final = stage_semantic(stages, stage) in ("S", "F")
    path = list(stages[: min(index, len(stages) - 2) + (0 if final else 1)])
    if final:
        path.append(stage)
    path = path or [stage]
    created = store.created(ident)
    # A span of its own (not updatedTime, which an update moves): the rows never change.
    span = min(
        1 + Draw(store.seed, store.itype.entity_type_id, ident, 31).n(60 * 86400),
        max(len(path), store.anchor - 1 - created),
    )
    base = (ident - 1) * SLOTS + 1
    out = []
    for k, s in enumerate(path):
        kind = CREATED if k == 0 else FINAL if (final and k == len(path) - 1) else MOVED
        out.append((base + k, ident, kind, created + span * k // len(path), s, cat))
    return out


def print_row(store: TypeStore, row: tuple[Any, ...], fmt: Any) -> dict[str, Any]:
    row_id, ident, kind, when, stage, cat = row
    semantic = stage_semantic(store.itype.stages(cat), stage)
    if store.itype.entity_type_id == LEAD:
        return {
            "ID": row_id,
            "TYPE_ID": kind,
            "OWNER_ID": ident,
            "CREATED_TIME": fmt(when),
            "STATUS_SEMANTIC_ID": semantic,
            "STATUS_ID": stage,
        }
    return {
        "ID": row_id,
        "TYPE_ID": kind,
        "OWNER_ID": ident,
        "CREATED_TIME": fmt(when),
        "CATEGORY_ID": cat,
        "STAGE_SEMANTIC_ID": semantic,
        "STAGE_ID": stage,
    }


def _value_of(store: TypeStore, name: str, row: tuple[Any, ...]) -> Any:
    """One column of a raw row (a sort key)."""
    return _values(store, row)[name]


def _values(store: TypeStore, row: tuple[Any, ...]) -> dict[str, Any]:
    """The row's columns under both spellings, CREATED_TIME unprinted (for filter and order)."""
    row_id, ident, kind, when, stage, cat = row
    semantic = stage_semantic(store.itype.stages(cat), stage)
    return {
        "ID": row_id,
        "TYPE_ID": kind,
        "OWNER_ID": ident,
        "CREATED_TIME": when,
        "CATEGORY_ID": cat,
        "STAGE_SEMANTIC_ID": semantic,
        "STAGE_ID": stage,
        "STATUS_SEMANTIC_ID": semantic,
        "STATUS_ID": stage,
    }


def stage_history_list(params: dict[str, Any], ctx: CallContext) -> CallResult:
    """``crm.stagehistory.list {entityTypeId, order, filter, select, start}``."""
    entity_type = php_intval(params.get("entityTypeId", 0))
    store = ctx.portal.items.get(entity_type)
    if store is None or not supported(store):
        raise ApiError("ENTITY_TYPE_NOT_SUPPORTED", f"Entity type {entity_type} is not supported")
    fmt = ctx.portal.clock.fmt
    columns = list(print_row(store, (0, 0, 0, 0, "", 0), fmt))
    conditions: list[tuple[str, str, Any]] = []
    raw_filter = params.get("filter") or {}
    low = 0
    if isinstance(raw_filter, dict):
        for key, value in raw_filter.items():
            key = str(key)
            op, name = split_operator(key, _OPERATORS)
            name = name.upper()
            if name not in columns:
                raise ApiError(
                    "INVALID_ARG_VALUE", f"Invalid filter: field '{name}' is not allowed"
                )
            op = op or ("@" if is_array(value) else "=")
            conv = _converter(name, ctx)
            wanted = {conv(v) for v in array_values(value)} if is_array(value) else conv(value)
            if op in ("@", "!@") and not isinstance(wanted, set):
                wanted = {wanted}
            conditions.append((op, name, wanted))
            if name == "ID" and op in (">", ">="):
                low = max(low, php_intval(wanted) + (1 if op == ">" else 0))
    order: list[tuple[str, bool]] = []
    if isinstance(params.get("order"), dict):
        for key, direction in params["order"].items():
            name = str(key).upper()
            if name not in columns:
                raise _not_allowed("order", name)
            order.append((name, str(direction).upper() == "DESC"))
    select = (
        [str(v).upper() for v in array_values(params.get("select"))]
        if is_array(params.get("select"))
        else []
    )
    chosen = [c for c in columns if c in select] or columns
    start = php_intval(params.get("start", 0))
    by_id = not order or order == [("ID", False)]

    def keep(values: dict[str, Any]) -> bool:
        return all(compare(op, values[name], wanted) for op, name, wanted in conditions)

    # Filter and sort on raw values (CREATED_TIME as Unix seconds); print the page only.
    matched: list[tuple[Any, ...]] = []
    for row in ctx.portal.stage_log.iter_rows(store, low):
        if not conditions or keep(_values(store, row)):
            matched.append(row)
            if start < 0 and by_id and len(matched) == PAGE:
                break
    for name, desc in reversed(order):
        matched.sort(key=partial(_value_of, store, name), reverse=desc)

    def render(row: tuple[Any, ...]) -> dict[str, Any]:
        printed = print_row(store, row, fmt)
        return {c: printed[c] for c in chosen}

    return paged(matched, start, ctx.portal.settings.cost_keyset_page, "items", render)


def _not_allowed(what: str, name: str) -> ApiError:
    return ApiError("INVALID_ARG_VALUE", f"Invalid {what}: field '{name}' is not allowed")


def _converter(name: str, ctx: CallContext) -> Any:
    if name in ("ID", "TYPE_ID", "OWNER_ID", "CATEGORY_ID"):
        return php_intval
    if name == "CREATED_TIME":
        return lambda v: ctx.portal.clock.parse(v, ctx.now)
    return lambda v: "" if v is None else str(v)

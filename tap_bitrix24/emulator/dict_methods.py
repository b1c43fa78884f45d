"""``crm.status.list``, ``crm.category.list``, ``crm.currency.list`` (crm API doc §2.6).

crm.status.list is the legacy list: UPPER keys, string values, no paging (everything at once),
default order SORT asc; filter values must be strings (an array is refused).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from .dictionaries import category_rows, category_supported, currency_rows, status_rows
from .errors import ApiError
from .methods import CallResult
from .php import is_array, php_intval

if TYPE_CHECKING:
    from .portal import CallContext

STATUS_KEYS = ("ID", "ENTITY_ID", "STATUS_ID", "NAME", "SORT", "SYSTEM", "CATEGORY_ID", "SEMANTICS")


def _sort_value(row: dict[str, Any], key: str) -> Any:
    value = row.get(key)
    if key in ("ID", "SORT", "CATEGORY_ID"):
        return php_intval(value)
    return "" if value is None else str(value).lower()


def status_list(params: dict[str, Any], ctx: CallContext) -> CallResult:
    """``crm.status.list {order, filter}``: every matching row at once, SORT asc by default."""
    rows = status_rows({t: s.itype for t, s in ctx.portal.items.items()})
    raw_filter = params.get("filter") or {}
    if not isinstance(raw_filter, dict):
        raw_filter = {}
    for key, value in raw_filter.items():
        name = str(key).upper().lstrip("=")
        if name not in STATUS_KEYS:
            continue
        if is_array(value):
            raise ApiError(
                "INVALID_ARG_VALUE", f"Filter value of '{name}' must be a string, not an array"
            )
        wanted = "" if value is None else str(value).lower()
        rows = [r for r in rows if ("" if r[name] is None else str(r[name]).lower()) == wanted]
    order = params.get("order")
    keys = []
    if isinstance(order, dict):
        keys = [
            (str(k).upper(), str(v).upper() == "DESC")
            for k, v in order.items()
            if str(k).upper() in STATUS_KEYS
        ]
    if not keys:
        keys = [("SORT", False)]
    rows = sorted(rows, key=lambda r: php_intval(r["ID"]))
    for key, desc in reversed(keys):
        rows.sort(key=partial(_sort_value, key=key), reverse=desc)
    return CallResult(
        [dict(r) for r in rows], ctx.portal.settings.cost_other, total=len(rows), rows=len(rows)
    )


def category_list(params: dict[str, Any], ctx: CallContext) -> CallResult:
    """``crm.category.list {entityTypeId}``: pipelines; deals include the default 0."""
    entity_type = php_intval(params.get("entityTypeId", 0))
    store = ctx.portal.items.get(entity_type)
    if store is None:
        raise ApiError("NOT_FOUND", "Smart process not found")
    if not category_supported(entity_type):
        raise ApiError(
            "ENTITY_TYPE_NOT_SUPPORTED", f"Entity type {store.itype.title} is not supported"
        )
    rows = category_rows(store.itype)
    return CallResult(
        {"categories": rows}, ctx.portal.settings.cost_other, total=len(rows), rows=len(rows)
    )


def currency_list(params: dict[str, Any], ctx: CallContext) -> CallResult:
    """``crm.currency.list``: current rates only."""
    rows = currency_rows(ctx.portal.anchor, ctx.portal.clock.fmt)
    return CallResult(rows, ctx.portal.settings.cost_other, total=len(rows), rows=len(rows))


Handler = Callable[[dict[str, Any], "CallContext"], CallResult]
DICT_METHODS: dict[str, tuple[Handler, str | None]] = {
    "crm.status.list": (status_list, "crm"),
    "crm.category.list": (category_list, "crm"),
    "crm.currency.list": (currency_list, "crm"),
}

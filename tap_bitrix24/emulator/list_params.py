"""What the CRM list methods other than crm.activity.list share: filter keys, comparisons, pages.

crm.item.list, crm.stagehistory.list and user.get read a ``filter`` key as an operator prefix
and a field (each method has its own operators). They, crm.item.productrow.list and
crm.type.list answer 50 rows a page with ``start`` floored to a page; ``start=-1`` skips the
COUNT, so such an answer has no ``total``/``next``. (crm.activity.list has quirks of its own:
listing.py.)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from .methods import CallResult

PAGE = 50


def split_operator(key: str, operators: Sequence[str]) -> tuple[str, str]:
    """``">=id"`` -> ``(">=", "id")``; OPERATORS longest first, ``""`` when none leads KEY."""
    op = next((o for o in operators if key.startswith(o)), "")
    return op, key[len(op) :]


def compare(op: str, actual: Any, wanted: Any) -> bool:
    """One condition of a filter (equality, ``@`` sets, ``%`` LIKE forms, orderings).

    ``@``/``!@`` take a set; an ordering against NULL, or between unlike types, is false.
    """
    if op in ("=", "@"):
        return actual == wanted if op == "=" else actual in wanted
    if op in ("!", "!=", "!@"):
        return actual != wanted if op != "!@" else actual not in wanted
    if op in ("%", "=%", "%=", "!%", "!=%", "!%="):
        hit = str(wanted).strip("%").lower() in str(actual if actual is not None else "").lower()
        return not hit if op.startswith("!") else hit
    if actual is None or wanted is None:
        return False
    try:
        if op == ">":
            return bool(actual > wanted)
        if op == ">=":
            return bool(actual >= wanted)
        if op == "<":
            return bool(actual < wanted)
        return bool(actual <= wanted)
    except TypeError:
        return False


def window(start: int, total: int, size: int = PAGE) -> tuple[int, int | None]:
    """(offset, next) of the page ``start`` asks for among TOTAL rows (``start < 0``: the first)."""
    offset = 0 if start < 0 else start // size * size
    return offset, offset + size if offset + size < total else None


def paged(
    rows: Sequence[Any],
    start: int,
    cost: float,
    key: str | None = None,
    render: Callable[[Any], Any] | None = None,
    size: int = PAGE,
) -> CallResult:
    """The page of ROWS (rendered, under KEY if given); ``start < 0`` without next/total."""
    offset, nxt = window(start, len(rows), size)
    page = list(rows[offset : offset + size])
    if render is not None:
        page = [render(row) for row in page]
    result = page if key is None else {key: page}
    if start < 0:
        return CallResult(result, cost, rows=len(page))
    return CallResult(result, cost, next=nxt, total=len(rows), rows=len(page))

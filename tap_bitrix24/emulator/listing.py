"""``crm.activity.list`` semantics: select, filter, order and paging, quirks included.

Mirrors the server's pipeline: the REST layer whitelists filter keys (unknown or lower-case keys
vanish), ``CSqlUtil`` parses prefixes and builds SQL (empty arrays drop a condition, arrays OR,
negations read "IS NULL OR NOT"), BINDINGS is an inner join without DISTINCT (duplicates counted in
``total``), ORDER BY has no implicit tie-breaker, and paging floors ``start`` to 50 and falls back
to page 1 when out of range.

Execution plans over the compact columns: ID and CREATED ranges by bisect (both ascend with the
position), LAST_UPDATED and other sort fields through cached sorted indexes; rows are only derived
for conditions on derived columns and for the 50 rows printed.
"""

from __future__ import annotations

import re
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from .data import Dataset, mix
from .dates import PortalClock
from .errors import ApiError
from .fields import (
    DEFAULT_SELECT,
    FILE_SELECT_NAMES,
    NO_SQL_FILTER,
    SORTABLE,
    activity_fields,
    field_kinds,
)
from .php import array_items, array_values, is_array, php_floatval, php_intval, php_strval

PAGE = 50
RANGE_OPS = ("=", ">", ">=", "<", "<=")
LIKE_OPS = ("%", "=%", "%=", "?", "*", "*=", "*%")
_OPS = (">=", ">", "<=", "<", "@", "=%", "%=", "%", "?", "*=", "*%", "*", "=")
BOUND_FIELDS = ("ID", "CREATED", "LAST_UPDATED")
NULL_KEY = float("-inf")
Pred = Callable[[Any], bool]


def resolve_array_param(params: dict[str, Any], name: str) -> tuple[bool, Any]:
    """(present, value) of ``name`` under any of the spellings the CRM proxy accepts.

    A null value counts as absent (PHP ``isset``).
    """
    for key in (name, name.upper(), name.capitalize(), "ar" + name.capitalize()):
        if params.get(key) is not None:
            return True, params[key]
    return False, None


# --------------------------------------------------------------------------- select
@dataclass
class Select:
    """What each row prints: the 39 defaults or named columns, plus the opt-in extras."""

    columns: tuple[str, ...] | None  # None = the default 39, printed from the row template
    communications: bool = False
    files: bool = False
    incoming: bool = False

    @property
    def has_extras(self) -> bool:
        """Any opt-in key beyond the column set."""
        return self.communications or self.files or self.incoming

    @classmethod
    def parse(cls, raw: Any) -> Select:
        """Read ``select`` the way the proxy and CSqlUtil do."""
        names = [php_strval(v) for v in array_values(raw)] if is_array(raw) else []
        spec = cls(None)
        spec.communications = "COMMUNICATIONS" in names
        spec.files = any(n in FILE_SELECT_NAMES for n in names)
        spec.incoming = "IS_INCOMING_CHANNEL" in names
        if not names or "*" in names:
            return spec
        defaults = set(DEFAULT_SELECT)
        columns: list[str] = []
        for name in names:
            if name in defaults and name not in columns:
                columns.append(name)
        if "DESCRIPTION" in columns:
            # E-mail bodies are uncompressed on output, which needs the provider columns.
            columns += [c for c in ("PROVIDER_ID", "PROVIDER_TYPE_ID") if c not in columns]
        if "ID" not in columns:
            columns.append("ID")
        spec.columns = tuple(columns)
        return spec


# --------------------------------------------------------------------------- filter
@dataclass
class Condition:
    """One compiled filter condition over positions."""

    field: str
    test: Callable[[int], bool]
    bound: tuple[str, int] | None = None  # exact range condition on a non-null indexed column


@dataclass
class Filter:
    """All conditions of a call, plus the BINDINGS join."""

    conditions: list[Condition] = field(default_factory=list)
    binding_pairs: list[tuple[int, int | None]] | None = None


def parse_key(key: str) -> tuple[bool, bool, str, str]:
    """'!>=LAST_UPDATED' -> (negated, or_null, op, field), as CSqlUtil::GetFilterOperation."""
    negated = key.startswith("!")
    if negated:
        key = key[1:]
    or_null = key.startswith("+")
    if or_null:
        key = key[1:]
    for op in _OPS:
        if key.startswith(op):
            return negated, or_null, op, key[len(op) :]
    return negated, or_null, "=", key


def _like_regex(pattern: str) -> re.Pattern[str]:
    out = []
    for ch in pattern:
        if ch == "%":
            out.append(".*")
        elif ch == "_":
            out.append(".")
        else:
            out.append(re.escape(ch))
    return re.compile("".join(out), re.IGNORECASE | re.DOTALL)


def _scalar_pred(kind: str, op: str, value: Any) -> tuple[Pred, bool]:
    """Predicate over one SQL value, and whether it already decides NULL (then NOT is plain)."""
    if kind == "datetime":
        if value is None:  # empty or unparsable -> IS NULL
            return (lambda x: x is None), True
        op = op if op in RANGE_OPS else "="
    elif kind in ("int", "double"):
        op = "=" if op in LIKE_OPS or op == "@" else op
        if op == "=" and value == 0:
            return (lambda x: x is None or x == 0), True
    else:
        if op in ("=", "@") and value == "":
            return (lambda x: x is None or x == ""), True
        folded = value.casefold()
        if op in ("=", "@"):
            return (lambda x: x is not None and x.casefold() == folded), False
        if op in ("%", "?", "*", "*=", "*%"):
            return (lambda x: x is not None and folded in x.casefold()), False
        if op in ("=%", "%="):
            rx = _like_regex(value)
            return (lambda x: x is not None and rx.fullmatch(x) is not None), False
        value = folded
        if op == ">":
            return (lambda x: x is not None and x.casefold() > value), False
        if op == ">=":
            return (lambda x: x is not None and x.casefold() >= value), False
        if op == "<":
            return (lambda x: x is not None and x.casefold() < value), False
        return (lambda x: x is not None and x.casefold() <= value), False
    if op == ">":
        return (lambda x: x is not None and x > value), False
    if op == ">=":
        return (lambda x: x is not None and x >= value), False
    if op == "<":
        return (lambda x: x is not None and x < value), False
    if op == "<=":
        return (lambda x: x is not None and x <= value), False
    return (lambda x: x == value), False


def _normalise(kind: str, value: Any, clock: PortalClock, now: float) -> Any:
    if kind == "int":
        return php_intval(value)
    if kind == "double":
        return php_floatval(value)
    if kind == "datetime":
        return clock.parse(value, now)
    return php_strval(value)


def _negate(pred: Pred, null_aware: bool) -> Pred:
    if null_aware:
        return lambda x: not pred(x)
    return lambda x: x is None or not pred(x)


def _or_null(pred: Pred) -> Pred:
    return lambda x: x is None or x == "" or pred(x)


def _at_pos(getter: Callable[[int], Any], pred: Pred) -> Callable[[int], bool]:
    return lambda pos: pred(getter(pos))


def compile_filter(raw: Any, ds: Dataset, clock: PortalClock, now: float) -> Filter:
    """Turn a ``filter`` array into conditions; unknown keys and empty arrays are dropped."""
    result = Filter()
    known = activity_fields()
    kinds = field_kinds()
    for key, value in array_items(raw):
        if key == "BINDINGS":
            pairs = _binding_pairs(value)
            if pairs:
                result.binding_pairs = (result.binding_pairs or []) + pairs
            continue
        negated, or_null, op, name = parse_key(key)
        if name not in known or name in NO_SQL_FILTER or name == "BINDINGS":
            continue  # not whitelisted (typo, lower case) or no SQL meaning: silently ignored
        kind = kinds[name]
        if kind == "object":
            kind = "string"
        if is_array(value):
            elements = array_values(value)
            if not elements:
                continue  # an empty array removes the condition
            normalised = [_normalise(kind, v, clock, now) for v in elements]
            if op == "@" and kind != "datetime":
                pred = _in_pred(kind, normalised)
                if negated:
                    pred = _negate(pred, False)
            else:
                parts = [_scalar_pred(kind, op, v) for v in normalised]
                if negated:
                    negs = [_negate(p, aware) for p, aware in parts]
                    pred = _all(negs)
                else:
                    pred = _any([p for p, _ in parts])
            bound = None
        else:
            single = _normalise(kind, value, clock, now)
            pred, aware = _scalar_pred(kind, op, single)
            if negated:
                pred = _negate(pred, aware)
            bound = None
            if (
                name in BOUND_FIELDS
                and not negated
                and not or_null
                and op in RANGE_OPS
                and single is not None
            ):
                bound = (op, single)
        if or_null:
            pred = _or_null(pred)
        result.conditions.append(Condition(name, _at_pos(ds.getter(name), pred), bound))
    return result


def _in_pred(kind: str, values: list[Any]) -> Pred:
    if kind == "string":
        members = {v.casefold() for v in values}
        return lambda x: x is not None and x.casefold() in members
    members_num = set(values)
    return lambda x: x is not None and x in members_num


def _any(preds: list[Pred]) -> Pred:
    if len(preds) == 1:
        return preds[0]
    return lambda x: any(p(x) for p in preds)


def _all(preds: list[Pred]) -> Pred:
    if len(preds) == 1:
        return preds[0]
    return lambda x: all(p(x) for p in preds)


def _binding_pairs(value: Any) -> list[tuple[int, int | None]]:
    pairs: list[tuple[int, int | None]] = []
    if not is_array(value):
        return pairs
    for item in array_values(value):
        if not isinstance(item, dict):
            continue
        type_id = php_intval(item.get("OWNER_TYPE_ID"))
        if type_id <= 0:
            continue  # an OWNER_ID-only entry does nothing
        owner = item.get("OWNER_ID")
        pairs.append((type_id, None if owner is None else php_intval(owner)))
    return pairs


# --------------------------------------------------------------------------- order
def parse_order(present: bool, raw: Any) -> list[tuple[str, bool]]:
    """Order keys (case-insensitive; non-ASC = DESC). [] = no ORDER BY at all."""
    if not present or (is_array(raw) and not array_values(raw)):
        return [("START_TIME", True)]
    if not is_array(raw):
        raise ApiError("", "Parameter 'order' must be array.")
    keys: list[tuple[str, bool]] = []
    seen: set[str] = set()
    for key, direction in array_items(raw):
        name = key.upper()
        if name not in SORTABLE or name in seen:
            continue
        seen.add(name)
        keys.append((name, php_strval(direction).upper() == "ASC"))
    return keys


def sort_key(ds: Dataset, name: str) -> Callable[[int], Any]:
    """Pos -> comparable key; SQL NULL sorts first ascending (MySQL)."""
    getter = ds.getter(name)
    kind = field_kinds().get(name, "string")
    if kind in ("int", "double", "datetime"):
        return lambda p: NULL_KEY if (v := getter(p)) is None else v
    return lambda p: (0, "") if (v := getter(p)) is None else (1, v.casefold())


# --------------------------------------------------------------------------- paging
class Pager:
    """Collects matching rows in order: page window, first page (fallback), and the count."""

    def __init__(self, start: int) -> None:
        self.keyset = start < 0
        self.skip = 0 if self.keyset else (start // PAGE) * PAGE
        self.first: list[int] = []
        self.window: list[int] = []
        self.total = 0

    def add(self, pos: int, times: int = 1) -> None:
        """Count one matching row (`times` copies for BINDINGS duplicates)."""
        for _ in range(times):
            if self.total < PAGE:
                self.first.append(pos)
            if self.skip <= self.total < self.skip + PAGE:
                self.window.append(pos)
            self.total += 1

    @property
    def done(self) -> bool:
        """A keyset page needs only its 50 rows (no COUNT)."""
        return self.keyset and self.total >= PAGE


@dataclass
class ListResult:
    """Positions to print (with duplicates), paging fields and the modelled server cost."""

    positions: list[int]
    total: int
    next: int | None
    keyset: bool
    matched: int
    skipped: int


class _Indexes:
    """Sorted indexes per field, rebuilt when the data generation changes.

    Stored columns are indexed straight from their arrays (compact ``array('q')`` results);
    derived columns go through their sort keys.
    """

    def __init__(self) -> None:
        self.generation = -1
        self.cache: dict[str, tuple[Any, Any]] = {}

    def get(self, ds: Dataset, name: str) -> tuple[Any, Any]:
        if self.generation != ds.generation:
            self.cache.clear()
            self.generation = ds.generation
        found = self.cache.get(name)
        if found is None:
            column = ds.column(name)
            if column is not None:
                order = array("q", sorted(range(len(ds)), key=column.__getitem__))
                found = (order, array("q", [column[p] for p in order]))
            else:
                key = sort_key(ds, name)
                keys = [key(p) for p in range(len(ds))]
                ordered = sorted(range(len(ds)), key=keys.__getitem__)
                found = (array("q", ordered), [keys[p] for p in ordered])
            self.cache[name] = found
        return found


INDEXES_ATTR = "_listing_indexes"


def _indexes(ds: Dataset) -> _Indexes:
    idx = getattr(ds, INDEXES_ATTR, None)
    if idx is None:
        idx = _Indexes()
        setattr(ds, INDEXES_ATTR, idx)
    return idx


def _bounds(keys: Any, conds: Iterable[tuple[str, Any]], lo: int, hi: int) -> tuple[int, int]:
    for op, value in conds:
        if op == ">":
            lo = max(lo, bisect_right(keys, value))
        elif op == ">=":
            lo = max(lo, bisect_left(keys, value))
        elif op == "<":
            hi = min(hi, bisect_left(keys, value))
        elif op == "<=":
            hi = min(hi, bisect_right(keys, value))
        else:
            lo = max(lo, bisect_left(keys, value))
            hi = min(hi, bisect_right(keys, value))
    return lo, max(lo, hi)


def run_list(
    ds: Dataset,
    flt: Filter,
    order: list[tuple[str, bool]],
    start: int,
    unstable_ties: bool = False,
) -> ListResult:
    """Evaluate a list call: which rows (in order) the page holds, and the paging fields."""
    n = len(ds)
    bounds: dict[str, list[tuple[str, Any]]] = {}
    for cond in flt.conditions:
        if cond.bound is not None:
            bounds.setdefault(cond.field, []).append(cond.bound)
    # ID and CREATED both ascend with the position: their bounds are one position range.
    lo, hi = _bounds(ds.ids, bounds.get("ID", ()), 0, n)
    lo, hi = _bounds(ds.created, bounds.get("CREATED", ()), lo, hi)
    in_range = [c.test for c in flt.conditions if not (c.bound and c.field in ("ID", "CREATED"))]
    lu: tuple[list[int], list[Any], int, int] | None = None
    if "LAST_UPDATED" in bounds:
        lu_order, lu_keys = _indexes(ds).get(ds, "LAST_UPDATED")
        a, b = _bounds(lu_keys, bounds["LAST_UPDATED"], 0, n)
        lu = (lu_order, lu_keys, a, b)
    in_lu = [c.test for c in flt.conditions if not (c.bound and c.field == "LAST_UPDATED")]
    if hi - lo < n:
        in_lu.append(lambda p: lo <= p < hi)
    pairs = flt.binding_pairs
    mult = _multiplicity(ds, pairs) if pairs else None
    pager = Pager(start)
    salt = (start // PAGE + 1) if unstable_ties else 0
    ids = ds.ids

    def tiebreak(p: int) -> int:
        return mix(ids[p] ^ salt)

    def collect(positions: Iterable[int], tests: list[Callable[[int], bool]]) -> None:
        matched = [p for p in positions if all(t(p) for t in tests)]
        if order:
            _order_rows(matched, ds, order, tiebreak)
        _emit(matched, pager, mult)

    first, ascending = order[0] if order else ("ID", True)  # no ORDER BY: primary-key order
    lu_size = lu[3] - lu[2] if lu else n + 1
    if first == "ID":
        if lu is not None and lu_size * 4 < hi - lo:
            collect(lu[0][lu[2] : lu[3]], in_lu)
        else:
            seq = range(lo, hi) if ascending else range(hi - 1, lo - 1, -1)
            if in_range or mult:
                _emit((p for p in seq if all(t(p) for t in in_range)), pager, mult)
            else:  # every position in the range matches once: slice, no scan
                pager.total = len(seq)
                pager.first = list(seq[:PAGE])
                pager.window = list(seq[pager.skip : pager.skip + PAGE])
    elif first == "LAST_UPDATED" and lu is not None and lu_size <= (hi - lo) * 4:
        _stream(lu[0], lu[1], lu[2], lu[3], ascending, order, ds, in_lu, pager, mult, tiebreak)
    elif lu is not None and lu_size < hi - lo:
        collect(lu[0][lu[2] : lu[3]], in_lu)
    elif hi - lo < n // 4:
        collect(range(lo, hi), in_range)
    else:
        idx_order, idx_keys = _indexes(ds).get(ds, first)
        tests = in_range + ([lambda p: lo <= p < hi] if hi - lo < n else [])
        _stream(idx_order, idx_keys, 0, n, ascending, order, ds, tests, pager, mult, tiebreak)

    if pager.keyset:
        return ListResult(pager.first[:PAGE], 0, None, True, pager.total, 0)
    pages = -(-pager.total // PAGE)
    page = pager.skip // PAGE + 1
    if page > pages:
        page, rows = 1, pager.first
    else:
        rows = pager.window
    nxt = page * PAGE if page < pages else None
    return ListResult(rows, pager.total, nxt, False, pager.total, (page - 1) * PAGE)


def _emit(positions: Iterable[int], pager: Pager, mult: Callable[[int], int] | None) -> None:
    for p in positions:
        times = mult(p) if mult else 1
        if times:
            pager.add(p, times)
            if pager.done:
                return


def _multiplicity(ds: Dataset, pairs: list[tuple[int, int | None]]) -> Callable[[int], int]:
    """Rows the binding join yields for an activity: its bindings matching any pair."""

    def count(pos: int) -> int:
        hits = 0
        for etype, eid in ds.bindings(pos):
            for ptype, pid in pairs:
                if etype == ptype and (pid is None or eid == pid):
                    hits += 1
                    break
        return hits

    return count


def _order_rows(
    rows: list[int], ds: Dataset, order: list[tuple[str, bool]], tiebreak: Callable[[int], int]
) -> list[int]:
    rows.sort(key=tiebreak)  # no implicit tie-breaker: equal keys come in no useful order
    for name, asc in reversed(order):
        rows.sort(key=sort_key(ds, name), reverse=not asc)
    return rows


def _stream(
    idx_order: list[int],
    idx_keys: list[Any],
    a: int,
    b: int,
    ascending: bool,
    order: list[tuple[str, bool]],
    ds: Dataset,
    tests: list[Callable[[int], bool]],
    pager: Pager,
    mult: Callable[[int], int] | None,
    tiebreak: Callable[[int], int],
) -> None:
    """Walk a sorted index slice; each run of equal first keys is ordered by the other keys."""
    rest = order[1:]
    if not tests and mult is None:
        # Every entry matches once: only the tie groups around the two windows need ordering.
        pager.total = b - a
        span = (idx_order, idx_keys, a, b, ascending, rest, ds, tiebreak)
        pager.first = _ordered_slice(*span, 0, PAGE)
        if not pager.keyset:
            pager.window = _ordered_slice(*span, pager.skip, pager.skip + PAGE)
        return
    step = 1 if ascending else -1
    i = a if ascending else b - 1
    end = b if ascending else a - 1
    while i != end:
        key = idx_keys[i]
        group = []
        while i != end and idx_keys[i] == key:
            p = idx_order[i]
            if all(t(p) for t in tests):
                group.append(p)
            i += step
        if len(group) > 1:
            _order_rows(group, ds, rest, tiebreak)
        for p in group:
            times = mult(p) if mult else 1
            if times:
                pager.add(p, times)
        if pager.done:
            return


def _ordered_slice(
    idx_order: Any,
    idx_keys: Any,
    a: int,
    b: int,
    ascending: bool,
    rest: list[tuple[str, bool]],
    ds: Dataset,
    tiebreak: Callable[[int], int],
    r0: int,
    r1: int,
) -> list[int]:
    """Rows r0..r1 (query order) of index entries a..b, as :func:`_stream` would order them."""
    r1 = min(r1, b - a)
    if r0 >= r1:
        return []
    j0, j1 = (a + r0, a + r1) if ascending else (b - r1, b - r0)
    g0 = bisect_left(idx_keys, idx_keys[j0], a, b)
    g1 = bisect_right(idx_keys, idx_keys[j1 - 1], a, b)
    out: list[int] = []
    i = g0 if ascending else g1 - 1
    end = g1 if ascending else g0 - 1
    step = 1 if ascending else -1
    while i != end:
        key = idx_keys[i]
        group = []
        while i != end and idx_keys[i] == key:
            group.append(idx_order[i])
            i += step
        if len(group) > 1:
            _order_rows(group, ds, rest, tiebreak)
        out += group
    offset = (g0 - a) if ascending else (b - g1)
    return out[r0 - offset : r1 - offset]


def parse_start(params: dict[str, Any]) -> int:
    """``start`` through PHP intval: missing or non-numeric -> 0."""
    return php_intval(params.get("start", 0))


def parse_filter_param(params: dict[str, Any]) -> Any:
    """The ``filter`` array; a non-array is the legacy CRM error."""
    present, raw = resolve_array_param(params, "filter")
    if not present:
        return {}
    if not is_array(raw):
        raise ApiError("", "Parameter 'filter' must be array.")
    return raw

"""``crm.item.list``, ``crm.item.fields``, ``crm.type.list``, ``crm.settings.mode.get``.

The universal API (crm/lib/controller/item.php): camelCase keys, JSON-native values, filter and
order keys camelCase or UPPER and validated (an unknown one is 400 INVALID_ARG_VALUE), 50 a page
with ``start`` floored to a page, ``start=-1`` without COUNT (no ``total``/``next``).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable
from functools import partial
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from .crm_items import DATE_TYPES, TypeStore, print_value
from .crm_schema import FM_TYPES, LEAD, SMART_INVOICE, Field, build_types
from .dates import PortalClock
from .errors import ApiError
from .list_params import PAGE, compare, paged, split_operator, window
from .methods import CallResult
from .php import Fragments, array_values, is_array, json_encode, php_intval

if TYPE_CHECKING:
    from .portal import CallContext

#: Fields read without deriving the row.
CHEAP = frozenset({"id", "createdTime", "updatedTime"})
PRINTED = DATE_TYPES | {"file"}
_OPERATORS = ("!=%", "!%=", ">=", "<=", "!=", "!@", "=%", "%=", "!%", "@", ">", "<", "%", "=", "!")
INT_TYPES = frozenset(
    {"integer", "user", "employee", "crm_category", "crm_company", "crm_contact", "crm_lead",
     "crm_deal", "crm_quote", "crm_entity", "enumeration"}
)  # fmt: skip


def _store(params: dict[str, Any], ctx: CallContext) -> TypeStore:
    entity_type = php_intval(params.get("entityTypeId", 0))
    store = ctx.portal.items.get(entity_type)
    if store is None:
        raise ApiError("NOT_FOUND", "Smart process not found")
    settings = ctx.portal.settings
    if entity_type == LEAD and settings.crm_mode == "simple":
        # Simple CRM: leads are switched off; reading them is refused, or finds none.
        if settings.simple_mode_leads == "denied":
            raise ApiError("ACCESS_DENIED", "Access denied.")
        return EMPTY_LEADS
    return store


def _lookup(store: TypeStore) -> dict[str, Field]:
    names: dict[str, Field] = {}
    for f in store.itype.fields:
        names[f.name] = f
        names[f.upper] = f
    return names


# ----------------------------------------------------------------------------- filter
#: The lead store a simple-mode portal shows with ``simple_mode_leads: "empty"``.
EMPTY_LEADS = TypeStore(build_types()[LEAD], 0, 0, 0, {})

Predicate = Callable[[TypeStore, int], bool]


def _normalize(f: Field, value: Any, ctx: CallContext) -> Any:
    if f.type in DATE_TYPES:
        ts = ctx.portal.clock.parse(value, ctx.now)
        if ts is not None and f.type == "date":
            # A DATE column compares days: the portal-local day of the value (stored values
            # are the UTC midnight of their day).
            ts = (ts + ctx.portal.clock.offset) // 86400 * 86400
        return ts
    if f.type == "boolean":
        text = str(value).strip().upper()
        return "Y" if text in ("Y", "1", "TRUE") else "N"
    if f.type in INT_TYPES:
        return php_intval(value)
    if f.type == "double":
        try:
            return float(value)
        except (TypeError, ValueError):
            return 0.0
    return "" if value is None else str(value)


def _raw(store: TypeStore, f: Field, ident: int) -> Any:
    if f.name == "id":
        return ident
    if f.name == "createdTime":
        return store.created(ident)
    if f.name == "updatedTime":
        return store.updated(ident)
    return store.record(ident).raw[f.name]


def _condition(f: Field, op: str, value: Any, ctx: CallContext) -> Predicate:
    if op in ("@", "!@") or (is_array(value) and op in ("=", "!", "!=", "")):
        op = "@" if op in ("@", "=", "") else "!@"
        wanted: Any = (
            {_normalize(f, v, ctx) for v in array_values(value)}
            if is_array(value)
            else {_normalize(f, value, ctx)}
        )
    else:
        op = op or "="
        wanted = None if value is None or value == "" else _normalize(f, value, ctx)
    multiple = f.multiple

    def check(store: TypeStore, ident: int) -> bool:
        actual = _raw(store, f, ident)
        if multiple:
            values = actual or [None]
            hits = [compare(op, v, wanted) for v in values]
            return all(hits) if op.startswith("!") else any(hits)
        return compare(op, actual, wanted)

    return check


def compile_item_filter(raw: Any, store: TypeStore, ctx: CallContext) -> list[Predicate]:
    """Predicates of a filter; unknown fields raise 400 INVALID_ARG_VALUE."""
    if raw in (None, "", []):
        return []
    if not isinstance(raw, dict):
        raise ApiError("INVALID_ARG_VALUE", "Parameter 'filter' must be array.")
    names = _lookup(store)
    logic = str(raw.get("logic", raw.get("LOGIC", "AND"))).upper()
    out: list[Predicate] = []
    for key, value in raw.items():
        key = str(key)
        if key.lower() == "logic":
            continue
        if key.isdigit() or (isinstance(value, dict) and key.startswith("__")):
            inner = compile_item_filter(value, store, ctx)
            sub_logic = str(value.get("logic", "AND")).upper() if isinstance(value, dict) else "AND"
            out.append(_combine(inner, sub_logic))
            continue
        op, name = split_operator(key, _OPERATORS)
        f = names.get(name)
        if f is None:
            raise ApiError("INVALID_ARG_VALUE", f"Invalid filter: field '{name}' is not allowed")
        out.append(_condition(f, op, value, ctx))
    if logic == "OR" and out:
        return [_combine(out, "OR")]
    return out


def _combine(preds: list[Predicate], logic: str) -> Predicate:
    if logic == "OR":
        return lambda s, i: any(p(s, i) for p in preds) if preds else True
    return lambda s, i: all(p(s, i) for p in preds)


def _id_floor(raw: Any) -> int:
    """Fast path: the lowest possible id from ``>id``/``>=id`` (camel or UPPER)."""
    low = 0
    if isinstance(raw, dict) and str(raw.get("logic", raw.get("LOGIC", ""))).upper() != "OR":
        for key, value in raw.items():
            if key in (">id", ">ID"):
                low = max(low, php_intval(value) + 1)
            elif key in (">=id", ">=ID"):
                low = max(low, php_intval(value))
    return low


# ----------------------------------------------------------------------------- select
class ItemSelect:
    """Which fields a row carries and under which keys."""

    def __init__(self, raw: Any, store: TypeStore, original_uf: bool) -> None:
        names = _lookup(store)
        values = [str(v) for v in array_values(raw)] if is_array(raw) else []
        if raw is None or (is_array(raw) and not values):
            values = ["*"]
        elif not is_array(raw):
            values = [str(raw)]
        self.star = "*" in values
        fields_ = store.itype.fields
        if self.star:
            chosen = list(fields_)
        else:
            wanted: set[str] = set()
            for v in values:
                if v.upper() == "UF_*":
                    wanted |= {f.name for f in fields_ if f.dynamic}
                elif v in names:
                    wanted.add(names[v].name)
            wanted.add("id")
            chosen = [f for f in fields_ if f.name in wanted]
            if original_uf:
                # The documented bug: the UPPER select list no longer matches the camelCase
                # standard keys, so array_intersect_key drops every standard field.
                chosen = [f for f in chosen if f.dynamic]
        self.fields = chosen
        # (output key, field, 0 = as is / 1 = a single datetime or date / 2 = other printing)
        self.columns = [
            (
                f.upper if f.dynamic and original_uf else f.name,
                f,
                1 if f.type in DATE_TYPES and not f.multiple else 2 if f.type in PRINTED else 0,
            )
            for f in chosen
        ]
        # Rendering: every value copied in column order at once, then the printed ones replaced
        # in place (a dict keeps a key's position when its value changes).
        self.keys = tuple(key for key, _, _ in self.columns)
        field_names = [f.name for f in chosen]
        self.getter = (
            itemgetter(*field_names)
            if len(field_names) > 1
            else _one(field_names[0] if field_names else "")
        )
        self.dates = tuple((key, f.name) for key, f, how in self.columns if how == 1)
        self.printed = tuple((key, f) for key, f, how in self.columns if how == 2)
        self.cheap = all(f.name in CHEAP for f in chosen)
        self.fm = self.star and store.itype.entity_type_id in FM_TYPES
        self.original_uf = original_uf
        self.uf_heavy = self.star or any(v.upper() == "UF_*" for v in values)


def _one(name: str) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
    """Like ``itemgetter(name)``, but a tuple of one (``itemgetter`` of one name is not)."""
    return lambda raw: (raw[name],)


def render(
    store: TypeStore, ident: int, sel: ItemSelect, clock: PortalClock, base: str, credential: str
) -> Any:
    """One item as crm.item.list prints it (``[]`` when nothing is left, like PHP).

    File URLs carry the caller's credential (access token or webhook secret), as the portal's.
    """
    t = store.itype.entity_type_id

    def file_url(f: Field, file_id: int) -> dict[str, Any]:
        query = f"entityTypeId={t}&id={ident}&fieldName={f.upper}&fileId={file_id}"
        return {
            "id": file_id,
            "url": f"{base}/bitrix/services/main/ajax.php?action=crm.controller.item.getFile"
            f"&SITE_ID=s1&{query}",
            "urlMachine": f"{base}/rest/crm.controller.item.getFile.json?{query}&auth={credential}",
        }

    out: dict[str, Any] = {}
    if sel.cheap:
        for key, f, _ in sel.columns:
            out[key] = print_value(f, _raw(store, f, ident), clock)
        return out if out else []
    rec = store.record(ident)
    raw = rec.raw
    if sel.keys:
        out = dict(zip(sel.keys, sel.getter(raw), strict=True))
        fmt = clock.fmt
        for key, name in sel.dates:
            value = raw[name]
            if value is not None:
                out[key] = fmt(value)
        for key, f in sel.printed:
            value = raw[f.name]
            if value is not None:
                out[key] = print_value(f, value, clock, file_url)
    if sel.fm:
        out["fm"] = [dict(x) for x in rec.fm or []]
    return out if out else []


# ----------------------------------------------------------------------------- methods
def item_list(params: dict[str, Any], ctx: CallContext) -> CallResult:
    """``crm.item.list``."""
    store = _store(params, ctx)
    settings = ctx.portal.settings
    original_uf = str(params.get("useOriginalUfNames", "N")) == "Y"
    sel = ItemSelect(params.get("select"), store, original_uf)
    raw_filter = params.get("filter")
    preds = compile_item_filter(raw_filter, store, ctx)
    order = _order(params.get("order"), store)
    start = php_intval(params.get("start", 0))
    ids = store.ids
    low = _id_floor(raw_filter)
    first = bisect_ids(ids, low)
    by_id = not order or (len(order) == 1 and order[0][0].name == "id")
    descending = bool(order) and order[0][1]
    matched: list[int] = []
    if start < 0 and by_id and not descending:
        # Keyset page: no COUNT, stop after one page.
        for pos in range(first, len(ids)):
            ident = ids[pos]
            if all(p(store, ident) for p in preds):
                matched.append(ident)
                if len(matched) == PAGE:
                    break
        page, total, nxt = matched, None, None
        cost = settings.cost_keyset_page
    else:
        matched = [ids[p] for p in range(first, len(ids)) if all(q(store, ids[p]) for q in preds)]
        if order and not by_id:
            for f, desc in reversed(order):
                matched.sort(key=partial(_sort_key, store, f), reverse=desc)
        elif descending:
            matched.reverse()
        offset, nxt = window(start, len(matched))
        page = matched[offset : offset + PAGE]
        if start < 0:
            total, nxt = None, None
            cost = settings.cost_keyset_page
        else:
            total = len(matched)
            ctx.portal.stats_data.counted_pages += 1
            cost = (
                settings.cost_offset_page
                + settings.cost_count_per_100k * total / 100_000
                + settings.cost_skip_per_100k * offset / 100_000
            )
    if sel.uf_heavy:
        cost += settings.cost_item_select_all
    items = ItemRows(store, page, sel, ctx.portal.clock, ctx.base_url, ctx.caller.credential)
    return CallResult({"items": items}, cost, next=nxt, total=total, rows=len(items))


class ItemRows(Fragments):
    """A page of items printed once into JSON fragments (while the portal lock is held)."""

    def __init__(
        self,
        store: TypeStore,
        idents: list[int],
        sel: ItemSelect,
        clock: PortalClock,
        base: str,
        credential: str,
    ) -> None:
        self.args = (store, sel, clock, base, credential)
        self.idents = idents
        self.fragments = [
            json_encode(render(store, i, sel, clock, base, credential)) for i in idents
        ]

    def row(self, index: int) -> Any:
        """Row ``index`` as a dict (None when out of range)."""
        if not 0 <= index < len(self.idents):
            return None
        store, sel, clock, base, credential = self.args
        return render(store, self.idents[index], sel, clock, base, credential)


def bisect_ids(ids: Any, low: int) -> int:
    """First position whose id is >= low."""
    return bisect_left(ids, low)


def _sort_key(store: TypeStore, f: Field, ident: int) -> tuple[int, Any]:
    value = _raw(store, f, ident)
    if isinstance(value, list):
        value = tuple(value)
    if value is None:
        return (0, 0)
    if isinstance(value, str):
        return (1, value.lower())
    return (1, value)


def _order(raw: Any, store: TypeStore) -> list[tuple[Field, bool]]:
    if raw in (None, "", []):
        return []
    if not isinstance(raw, dict):
        raise ApiError("INVALID_ARG_VALUE", "Parameter 'order' must be array.")
    names = _lookup(store)
    out = []
    for key, direction in raw.items():
        f = names.get(str(key))
        if f is None:
            raise ApiError("INVALID_ARG_VALUE", f"Invalid order: field '{key}' is not allowed")
        out.append((f, str(direction).upper() == "DESC"))
    return out


def item_fields(params: dict[str, Any], ctx: CallContext) -> CallResult:
    """``crm.item.fields``: ``{"fields": {camelName: description}}``."""
    store = _store(params, ctx)
    itype = store.itype
    fields_ = {f.name: f.describe() for f in itype.fields}
    stage = fields_.get("stageId")
    if stage is not None and (itype.is_dynamic or itype.entity_type_id == SMART_INVOICE):
        stage["statusType"] = itype.stage_entity(itype.categories[0])
    return CallResult({"fields": fields_}, ctx.portal.settings.cost_other)


def type_list(params: dict[str, Any], ctx: CallContext) -> CallResult:
    """``crm.type.list``: smart processes only (not 31), CRM admins only, 50 a page."""
    if not ctx.portal.settings.crm_admin:
        raise ApiError("ACCESS_DENIED", "Access denied.")
    anchor = ctx.portal.anchor
    clock = ctx.portal.clock
    types = []
    for t, store in sorted(ctx.portal.items.items(), key=lambda kv: kv[1].itype.type_id or 0):
        it = store.itype
        if it.type_id is None:
            continue
        types.append(
            {
                "id": it.type_id,
                "title": it.title,
                "code": it.code,
                "createdBy": 1,
                "entityTypeId": t,
                "customSectionId": None,
                "isCategoriesEnabled": "Y" if len(it.categories) > 1 else "N",
                "isStagesEnabled": "Y",
                "isBeginCloseDatesEnabled": "Y",
                "isClientEnabled": "Y",
                "isUseInUserfieldEnabled": "Y",
                "isLinkWithProductsEnabled": "Y",
                "isMycompanyEnabled": "Y",
                "isDocumentsEnabled": "Y",
                "isSourceEnabled": "Y",
                "isObserversEnabled": "Y",
                "isRecyclebinEnabled": "Y",
                "isAutomationEnabled": "Y",
                "isBizProcEnabled": "Y",
                "isSetOpenPermissions": "Y",
                "isPaymentsEnabled": "N",
                "isCountersEnabled": "N",
                "createdTime": clock.fmt(anchor - 800 * 86400 + it.type_id * 3600),
                "updatedTime": clock.fmt(anchor - 100 * 86400 + it.type_id * 3600),
                "updatedBy": 1,
            }
        )
    start = max(0, php_intval(params.get("start", 0)))
    return paged(types, start, ctx.portal.settings.cost_other, key="types")


def settings_mode(params: dict[str, Any], ctx: CallContext) -> CallResult:
    """``crm.settings.mode.get``: 1 classic (with leads), 2 simple (no leads)."""
    return CallResult(2 if ctx.portal.settings.crm_mode == "simple" else 1, 0.005)


CRM_METHODS: dict[str, tuple[Callable[[dict[str, Any], CallContext], CallResult], str | None]] = {
    "crm.item.list": (item_list, "crm"),
    "crm.item.fields": (item_fields, "crm"),
    "crm.type.list": (type_list, "crm"),
    "crm.settings.mode.get": (settings_mode, "crm"),
}

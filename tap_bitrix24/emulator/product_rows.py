"""``crm.item.productrow.list``: 0-5 product rows per deal, lead, quote, smart invoice, SPA item.

Rows are derived from (seed, type, item, row version). An update replaces an item's rows half
of the time (the server's save deletes and re-adds them, so the new rows get new IDs); otherwise
the rows stay as they were. Row IDs are unique across types (one b_crm_product_row table).
"""

from __future__ import annotations

from operator import itemgetter
from typing import TYPE_CHECKING, Any

from .content import Draw
from .crm_items import TypeStore
from .crm_schema import DEAL, LEAD, QUOTE, SMART_INVOICE, abbreviation
from .errors import ApiError
from .list_params import paged
from .methods import CallResult
from .php import array_values, is_array, php_intval

if TYPE_CHECKING:
    from .portal import CallContext

PAGE = 50  # rows a page (a test makes it smaller)
MAX_ROWS = 5
ID_SPAN = 5_000_001  # more than the most items a type may hold
PRODUCTS = ("Консультация", 'Licence "Pro"', "Widget & Co", "Доставка 🚚", "Support, 1 year")
TYPE_KEYS = {LEAD: 1, DEAL: 2, QUOTE: 3, SMART_INVOICE: 4}


def owner_types(stores: dict[int, TypeStore]) -> dict[str, TypeStore]:
    """``ownerType`` short codes that have product rows: D, L, Q, SI and ``T<hex>``."""
    return {abbreviation(t): s for t, s in stores.items() if t in TYPE_KEYS or s.itype.is_dynamic}


def _type_key(store: TypeStore) -> int:
    t = store.itype.entity_type_id
    return TYPE_KEYS.get(t) or 4 + (store.itype.type_id or 0)


def rows_version(store: TypeStore, ident: int) -> int:
    """The last version whose save replaced the rows (0: the rows the item was made with)."""
    t = store.itype.entity_type_id
    version = store.versions.get(ident, 0)
    while version > 0 and not Draw(store.seed, t * 7 + 3, ident, version).chance(50):
        version -= 1
    return version


def product_rows(store: TypeStore, ident: int) -> list[dict[str, Any]]:
    """The item's current rows as the method prints them, in ``sort`` order."""
    t = store.itype.entity_type_id
    version = rows_version(store, ident)
    d = Draw(store.seed, t * 7 + 5, ident, version)
    count = d.n(MAX_ROWS + 1)
    base = ((version * 16 + _type_key(store)) * ID_SPAN + ident) * (MAX_ROWS + 1)
    owner = abbreviation(t)
    out = []
    for k in range(count):
        netto = round(100 + d.n(100_000) / 10, 2)
        quantity = float(1 + d.n(10))
        discount_rate = float(d.pick((0, 0, 5, 10, 12.5)))
        discount_sum = round(netto * discount_rate / 100, 2)
        exclusive = round(netto - discount_sum, 2)
        tax = d.pick((None, 0.0, 20.0))
        included = "Y" if tax and d.chance(50) else "N"
        price = round(exclusive * (1 + (tax or 0) / 100), 2)
        out.append(
            {
                "id": base + k + 1,
                "ownerId": ident,
                "ownerType": owner,
                "productId": 0 if d.chance(20) else 1 + d.n(200),
                "productName": f"{d.pick(PRODUCTS)} #{k + 1}",
                "price": price,
                "priceAccount": price,
                "priceExclusive": exclusive,
                "priceNetto": netto,
                "priceBrutto": round(netto * (1 + (tax or 0) / 100), 2),
                "quantity": quantity,
                "discountTypeId": 2 if discount_rate else 1,
                "discountRate": discount_rate,
                "discountSum": discount_sum,
                "taxRate": tax,
                "taxIncluded": included,
                "customized": "Y",
                "measureCode": 796,
                "measureName": "pcs",
                "sort": 10 * (k + 1),
                "xmlId": "",
                "type": 1 if d.chance(80) else 7,
                "storeId": None,
            }
        )
    return out


def productrow_list(params: dict[str, Any], ctx: CallContext) -> CallResult:
    """``crm.item.productrow.list {filter: {=ownerType, =ownerId}, order, start}``."""
    raw = params.get("filter")
    raw = raw if isinstance(raw, dict) else {}
    owner_type = raw.get("=ownerType")
    owner_id = raw.get("=ownerId")
    if owner_type in (None, "") or owner_id in (None, "", []):
        raise ApiError("INVALID_ARG_VALUE", "Filter must contain =ownerType and =ownerId")
    store = owner_types(ctx.portal.items).get(str(owner_type))
    if store is None:
        raise ApiError("NOT_FOUND", f"Owner type {owner_type} has no product rows")
    owners = (
        [php_intval(v) for v in array_values(owner_id)]
        if is_array(owner_id)
        else [php_intval(owner_id)]
    )
    rows: list[dict[str, Any]] = []
    for ident in owners:
        if store.exists(ident):  # the webhook's admin passes the read check of a missing item
            rows += product_rows(store, ident)
    order = params.get("order")
    if isinstance(order, dict):
        for key, direction in reversed(list(order.items())):
            if key in ("id", "sort", "productId", "price", "ownerId"):
                rows.sort(key=itemgetter(key), reverse=str(direction).upper() == "DESC")
    start = max(0, php_intval(params.get("start", 0)))
    return paged(rows, start, ctx.portal.settings.cost_other, key="productRows", size=PAGE)

"""``GET /_emulator/truth/dictionaries[?kind=...]``: what a complete extraction must contain."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .dictionaries import category_rows, category_supported, currency_rows, status_rows
from .product_rows import owner_types, product_rows
from .stage_history import print_row, supported
from .userfields import ENTITIES, label
from .users import department_rows, user_rows

if TYPE_CHECKING:
    from .portal import Portal

KINDS = ("statuses", "categories", "currencies", "users", "departments", "productRows",
         "stageHistory", "fieldLabels")  # fmt: skip
LANGUAGES = ("en", "ru")  # the languages the userfield lists have labels in


def dictionary_truth(portal: Portal, kind: str | None = None) -> dict[str, Any]:
    """Every kind (or one), as the methods print them.

    Statuses, categories by entityTypeId, currencies, users (as the
    ``user`` scope prints them), departments, product rows by ownerType and ownerId (items
    with rows only), stage history rows by entityTypeId in ID order, the labels of the user
    fields of the types with a ``crm.<entity>.userfield.list`` by entityTypeId, upper field name
    and language.
    """
    if kind is not None and kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}")
    wanted = KINDS if kind is None else (kind,)
    fmt = portal.clock.fmt
    stores = portal.items
    out: dict[str, Any] = {}
    for name in wanted:
        if name == "statuses":
            out[name] = status_rows({t: s.itype for t, s in stores.items()})
        elif name == "categories":
            out[name] = {
                str(t): category_rows(s.itype) for t, s in stores.items() if category_supported(t)
            }
        elif name == "currencies":
            out[name] = currency_rows(portal.anchor, fmt)
        elif name == "users":
            rows = user_rows(portal.anchor, fmt)
            out[name] = [{k: v for k, v in r.items() if k != "_changed"} for r in rows]
        elif name == "departments":
            out[name] = department_rows()
        elif name == "productRows":
            by_owner: dict[str, Any] = {}
            for code, store in owner_types(stores).items():
                per_item = {str(i): product_rows(store, i) for i in store.ids}
                by_owner[code] = {k: v for k, v in per_item.items() if v}
            out[name] = by_owner
        elif name == "fieldLabels":
            out[name] = {
                str(t): {
                    f.upper: {lang: label(f, lang) for lang in LANGUAGES}
                    for f in stores[t].itype.fields
                    if f.dynamic
                }
                for t in ENTITIES.values()
                if t in stores
            }
        else:
            out[name] = {
                str(t): [print_row(s, r, fmt) for r in portal.stage_log.iter_rows(s)]
                for t, s in stores.items()
                if supported(s)
            }
    return out

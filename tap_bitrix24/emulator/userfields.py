"""``crm.{lead,deal,contact,company,quote}.userfield.list``: UF records with enumeration options.

The reliable source of option labels for the fixed types (crm API doc §3): records with ``LIST``
``[{ID, SORT, VALUE, DEF, XML_ID}]``; label columns only come in the language named by the
``LANG`` filter (without it the LANG join is missing and so are the labels). Not paginated:
everything at once with ``total``. Smart processes and invoices have no such method (their
options are in crm.item.fields ``items``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .crm_schema import COMPANY, CONTACT, DEAL, LEAD, QUOTE, Field
from .methods import CallResult

if TYPE_CHECKING:
    from .portal import CallContext

ENTITIES = {"lead": LEAD, "deal": DEAL, "contact": CONTACT, "company": COMPANY, "quote": QUOTE}
ENTITY_IDS = {LEAD: "CRM_LEAD", DEAL: "CRM_DEAL", CONTACT: "CRM_CONTACT", COMPANY: "CRM_COMPANY",
              QUOTE: "CRM_QUOTE"}  # fmt: skip
RUSSIAN = {
    "Code word": "Кодовое слово", "Tags": "Теги", "Seats": "Места", "Discount rate": "Скидка",
    "VIP": "VIP", "Contract date": "Дата договора", "Next call": "Следующий звонок",
    "Budget": "Бюджет", "Landing page": "Лендинг", "Delivery address": "Адрес доставки",
    "Priority": "Приоритет", "Channels": "Каналы", "Scan": "Скан", "Curator": "Куратор",
    "Team": "Команда", "Linked": "Связано", "Related": "Связанные", "Parent deal": "Сделка",
    "Source 2": "Источник 2", "Rating (app)": "Рейтинг (приложение)",
}  # fmt: skip
LABELS = ("EDIT_FORM_LABEL", "LIST_COLUMN_LABEL", "LIST_FILTER_LABEL")


def label(f: Field, lang: str) -> str | None:
    """The label in a language: ``en`` and ``ru`` are set, others are not (NULL)."""
    if lang == "en":
        return f.title
    if lang == "ru":
        return RUSSIAN.get(f.title, f.title)
    return None


def userfield_record(entity_type: int, k: int, f: Field, lang: str | None) -> dict[str, Any]:
    """One record, keys in the documented order."""
    user_type, owner = f.type, None
    if f.type.startswith("rest_"):
        prefix, _, rest = f.type.partition("_")[2].partition("_")
        user_type, owner = rest, f"rest_{prefix}"
    out: dict[str, Any] = {
        "ID": str(entity_type * 100 + k + 1),
        "ENTITY_ID": ENTITY_IDS[entity_type],
        "FIELD_NAME": f.upper,
        "USER_TYPE_ID": user_type,
        "XML_ID": None,
        "SORT": str(100 + 10 * k),
        "MULTIPLE": "Y" if f.multiple else "N",
        "MANDATORY": "N",
        "SHOW_FILTER": "E",
        "SHOW_IN_LIST": "Y",
        "EDIT_IN_LIST": "Y",
        "IS_SEARCHABLE": "N",
        "SETTINGS": dict(f.settings),
    }
    if lang is not None:
        for key in LABELS:
            out[key] = label(f, lang)
        out["ERROR_MESSAGE"] = None
        out["HELP_MESSAGE"] = None
    if owner is not None:
        out["USER_TYPE_OWNER"] = owner
    if f.type == "enumeration":
        out["LIST"] = [
            {
                "ID": str(ident),
                "SORT": str(10 * (n + 1)),
                "VALUE": value,
                "DEF": "N",
                "XML_ID": f"opt{ident}",
            }
            for n, (ident, value) in enumerate(f.items)
        ]
    return out


def _lister(entity_type: int) -> Callable[[dict[str, Any], CallContext], CallResult]:
    def userfield_list(params: dict[str, Any], ctx: CallContext) -> CallResult:
        store = ctx.portal.items[entity_type]
        raw = params.get("filter")
        raw = raw if isinstance(raw, dict) else {}
        lang = raw.get("LANG")
        lang = None if lang in (None, "") else str(lang).lower()
        rows = [
            userfield_record(entity_type, k, f, lang)
            for k, f in enumerate(x for x in store.itype.fields if x.dynamic)
        ]
        for key, value in raw.items():
            key = str(key).upper()
            if key in ("FIELD_NAME", "USER_TYPE_ID", "ID", "MULTIPLE", "XML_ID"):
                rows = [r for r in rows if str(r[key]) == str(value)]
        return CallResult(rows, ctx.portal.settings.cost_other, total=len(rows), rows=len(rows))

    return userfield_list


USERFIELD_METHODS = {
    f"crm.{name}.userfield.list": (_lister(t), "crm") for name, t in ENTITIES.items()
}

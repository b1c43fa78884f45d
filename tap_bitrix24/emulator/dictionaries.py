"""The names behind the IDs: statuses and stages, pipelines, currencies (facts: crm API doc §2.6).

Derived from the item types and the value pools the items draw from, so every ``stageId``,
``categoryId``, ``sourceId``, ``typeId`` and ``currencyId`` an item carries has its row here.
"""

from __future__ import annotations

from typing import Any

from .crm_schema import COMPANY, CONTACT, DEAL, LEAD, QUOTE, SMART_INVOICE, ItemType
from .crm_values import CURRENCIES, SOURCES, STATUS_CHOICES

#: (ENTITY_ID, pool of STATUS_IDs) of the plain dictionaries the items draw from.
PLAIN = (
    ("SOURCE", SOURCES),
    ("CONTACT_TYPE", STATUS_CHOICES["contact_type"]),
    ("COMPANY_TYPE", STATUS_CHOICES["company_type"]),
    ("EMPLOYEES", STATUS_CHOICES["employees"]),
    ("INDUSTRY", STATUS_CHOICES["industry"]),
    ("DEAL_TYPE", STATUS_CHOICES["deal_type"]),
    ("HONORIFIC", STATUS_CHOICES["honorific"]),
)
COLORS = {"P": "#39A8EF", "S": "#7BD500", "F": "#FF5752"}
SEMANTIC_WORDS = {"P": "process", "S": "success", "F": "failure"}
CATEGORY_NAMES = {0: "General", 9: "Wholesale", 2: "Invoices", 3: "Internal", 4: "External"}


def stage_semantic(stages: tuple[str, ...], stage: str) -> str:
    """P/S/F as the items compute it: the last stage fails, the one before succeeds."""
    index = stages.index(stage) if stage in stages else 0
    return "F" if index == len(stages) - 1 else "S" if index == len(stages) - 2 else "P"


def _title(status_id: str) -> str:
    name = status_id.split(":")[-1].replace("_", " ").capitalize()
    return name


def status_rows(types: dict[int, ItemType]) -> list[dict[str, Any]]:
    """Every crm_status row, in ID order."""
    rows: list[dict[str, Any]] = []

    def add(
        entity: str, status_id: str, sort: int, category: int | None, semantic: str | None
    ) -> None:
        color = COLORS.get(semantic or "", "#ACE9FB")
        extra = {"SEMANTICS": SEMANTIC_WORDS[semantic], "COLOR": color} if semantic else None
        row: dict[str, Any] = {
            "ID": str(len(rows) + 1),
            "ENTITY_ID": entity,
            "STATUS_ID": status_id,
            "NAME": _title(status_id),
            "NAME_INIT": _title(status_id) if semantic or sort <= 30 else "",
            "SORT": str(sort),
            "SYSTEM": "Y" if semantic in ("S", "F") or sort == 10 else "N",
            "CATEGORY_ID": None if category is None else str(category),
            "COLOR": color if semantic else None,
            "SEMANTICS": semantic if semantic in ("S", "F") else None,
        }
        if extra is not None:
            row["EXTRA"] = extra
        rows.append(row)

    staged = [t for t in (LEAD, DEAL, QUOTE, SMART_INVOICE) if t in types]
    staged += sorted(t for t, it in types.items() if it.is_dynamic)
    for t in staged:
        it = types[t]
        for category in it.categories:
            stages = it.stages(category)
            entity = it.stage_entity(category)
            cat = None if t in (LEAD, QUOTE) else category
            for k, stage in enumerate(stages):
                add(entity, stage, 10 * (k + 1), cat, stage_semantic(stages, stage))
    for entity, pool in PLAIN:
        for k, status_id in enumerate(pool):
            add(entity, status_id, 10 * (k + 1), None, None)
    return rows


def category_rows(it: ItemType) -> list[dict[str, Any]]:
    """crm.category.list rows of a type (deals: the virtual default pipeline 0 first)."""
    out = []
    for k, category in enumerate(it.categories):
        out.append(
            {
                "id": category,
                "name": CATEGORY_NAMES.get(category, f"{it.title} pipeline {category}"),
                "sort": 100 * (k + 1),
                "entityTypeId": it.entity_type_id,
                "isDefault": "Y" if k == 0 else "N",
                "originId": "",
                "originatorId": "",
            }
        )
    return out


def category_supported(entity_type_id: int) -> bool:
    """Leads and quotes have no pipelines; contacts and companies have the default one."""
    return entity_type_id not in (LEAD, QUOTE)


CLIENT_TYPES = (CONTACT, COMPANY)

CURRENCY_INFO = {
    "RUB": ("1", "1.0000", "Russian Ruble", "# ₽", " ", 2, 100),
    "USD": ("1", "92.5000", "US Dollar", "$#", ".", 2, 200),
    "EUR": ("1", "99.8100", "Euro", "&euro;#", ".", 2, 300),
}


def currency_rows(anchor: int, fmt: Any) -> list[dict[str, Any]]:
    """crm.currency.list rows: RUB is the base; the current rate only."""
    out = []
    for code in CURRENCIES:
        cnt, amount, name, fmt_string, thousands, decimals, sort = CURRENCY_INFO[code]
        out.append(
            {
                "CURRENCY": code,
                "AMOUNT_CNT": cnt,
                "AMOUNT": amount,
                "SORT": str(sort),
                "BASE": "Y" if code == "RUB" else "N",
                "FULL_NAME": name,
                "LID": "en",
                "FORMAT_STRING": fmt_string,
                "DEC_POINT": ".",
                "THOUSANDS_SEP": thousands,
                "DECIMALS": str(decimals),
                "DATE_UPDATE": fmt(anchor - 86400 * 3 - sort),
            }
        )
    return sorted(out, key=lambda r: int(r["SORT"]))

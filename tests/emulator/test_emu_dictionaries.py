"""Dictionaries over HTTP: status, category and currency lists, and item IDs that name rows.

Every stage, category, source, type and currency an item carries must have its row.
"""

from __future__ import annotations

import pytest

SMALL = {"1": 40, "2": 80, "3": 20, "4": 20, "7": 20, "31": 20, "128": 40, "133": 10, "1032": 20}


@pytest.fixture
def crm(make_api):
    return make_api(activities=100, items=SMALL)


def _items(api, entity_type: int) -> list[dict]:
    out: list[dict] = []
    start = 0
    while start is not None:
        body = api.call("crm.item.list", {"entityTypeId": entity_type, "start": start})
        out += body["result"]["items"]
        start = body.get("next")
    return out


def test_status_list_everything_at_once_sorted_by_sort(crm) -> None:
    body = crm.call("crm.status.list")
    rows = body["result"]
    assert len(rows) > 50 and "next" not in body  # not paginated
    sorts = [int(r["SORT"]) for r in rows]
    assert sorts == sorted(sorts)
    row = next(r for r in rows if r["STATUS_ID"] == "C9:WON")
    assert set(row) == {
        "ID", "ENTITY_ID", "STATUS_ID", "NAME", "NAME_INIT", "SORT", "SYSTEM", "CATEGORY_ID",
        "COLOR", "SEMANTICS", "EXTRA",
    }  # fmt: skip
    assert row["ENTITY_ID"] == "DEAL_STAGE_9" and row["CATEGORY_ID"] == "9"
    assert row["SEMANTICS"] == "S" and row["EXTRA"]["SEMANTICS"] == "success"
    entities = {r["ENTITY_ID"] for r in rows}
    assert {"STATUS", "SOURCE", "CONTACT_TYPE", "COMPANY_TYPE", "DEAL_TYPE"} <= entities
    assert "DEAL_STAGE" in entities
    assert {"QUOTE_STATUS", "SMART_INVOICE_STAGE_2", "DYNAMIC_128_STAGE_3"} <= entities
    spa = [r for r in rows if r["ENTITY_ID"] == "DYNAMIC_128_STAGE_4"]
    assert all(r["STATUS_ID"].startswith("DT128_4:") for r in spa)
    process = next(r for r in rows if r["STATUS_ID"] == "NEW" and r["ENTITY_ID"] == "STATUS")
    assert process["SEMANTICS"] is None and process["EXTRA"]["SEMANTICS"] == "process"


def test_status_list_filter_strings_order_and_array_refused(crm) -> None:
    rows = crm.result("crm.status.list", {"filter": {"ENTITY_ID": "DEAL_STAGE"}})
    assert [r["STATUS_ID"] for r in rows][:2] == ["NEW", "PREPARATION"]
    assert {r["ENTITY_ID"] for r in rows} == {"DEAL_STAGE"}
    desc = crm.result(
        "crm.status.list", {"filter": {"ENTITY_ID": "DEAL_STAGE"}, "order": {"SORT": "DESC"}}
    )
    assert desc == rows[::-1]
    refused = crm.call(
        "crm.status.list", {"filter": {"ENTITY_ID": ["DEAL_STAGE", "STATUS"]}}, expect=400
    )
    assert refused["error"] == "INVALID_ARG_VALUE"


def test_every_item_dictionary_value_has_its_row(crm) -> None:
    rows = crm.result("crm.status.list")
    by_entity: dict[str, set[str]] = {}
    for r in rows:
        by_entity.setdefault(r["ENTITY_ID"], set()).add(r["STATUS_ID"])
    categories = {
        t: {c["id"] for c in crm.result("crm.category.list", {"entityTypeId": t})["categories"]}
        for t in (2, 31, 128, 133, 1032)
    }
    deals = _items(crm, 2)
    for deal in deals:
        assert deal["categoryId"] in categories[2]
        entity = "DEAL_STAGE" if deal["categoryId"] == 0 else f"DEAL_STAGE_{deal['categoryId']}"
        assert deal["stageId"] in by_entity[entity]
        assert deal["sourceId"] is None or deal["sourceId"] in by_entity["SOURCE"]
        assert deal["typeId"] is None or deal["typeId"] in by_entity["DEAL_TYPE"]
    for lead in _items(crm, 1):
        assert lead["stageId"] in by_entity["STATUS"]
    for spa in _items(crm, 128):
        assert spa["categoryId"] in categories[128]
        assert spa["stageId"] in by_entity[f"DYNAMIC_128_STAGE_{spa['categoryId']}"]
    currencies = {r["CURRENCY"] for r in crm.result("crm.currency.list")}
    assert {d["currencyId"] for d in deals} <= currencies


def test_category_list_shapes(crm) -> None:
    body = crm.call("crm.category.list", {"entityTypeId": 2})
    cats = body["result"]["categories"]
    assert body["total"] == 2 and [c["id"] for c in cats] == [0, 9]
    assert cats[0] == {
        "id": 0,
        "name": "General",
        "sort": 100,
        "entityTypeId": 2,
        "isDefault": "Y",
        "originId": "",
        "originatorId": "",
    }
    contacts = crm.result("crm.category.list", {"entityTypeId": 3})["categories"]
    assert [c["id"] for c in contacts] == [0]
    lead = crm.call("crm.category.list", {"entityTypeId": 1}, expect=400)
    assert lead["error"] == "ENTITY_TYPE_NOT_SUPPORTED"
    assert crm.call("crm.category.list", {"entityTypeId": 999}, expect=400)["error"] == "NOT_FOUND"


def test_currency_list_rows(crm) -> None:
    rows = crm.result("crm.currency.list")
    assert [r["CURRENCY"] for r in rows] == ["RUB", "USD", "EUR"]
    assert set(rows[0]) == {
        "CURRENCY", "AMOUNT_CNT", "AMOUNT", "SORT", "BASE", "FULL_NAME", "LID", "FORMAT_STRING",
        "DEC_POINT", "THOUSANDS_SEP", "DECIMALS", "DATE_UPDATE",
    }  # fmt: skip
    assert [r["BASE"] for r in rows] == ["Y", "N", "N"]


def test_userfield_list_enumeration_options_and_lang_labels(crm) -> None:
    body = crm.call("crm.deal.userfield.list")
    records = body["result"]
    assert body["total"] == len(records) and "next" not in body  # everything at once
    assert "EDIT_FORM_LABEL" not in records[0]  # no LANG: the label join is missing
    enum = next(r for r in records if r["USER_TYPE_ID"] == "enumeration")
    assert enum["ENTITY_ID"] == "CRM_DEAL"
    assert [set(o) for o in enum["LIST"]] == [{"ID", "SORT", "VALUE", "DEF", "XML_ID"}] * len(
        enum["LIST"]
    )
    fields = crm.result("crm.item.fields", {"entityTypeId": 2})["fields"]
    described = next(f for f in fields.values() if f["upperName"] == enum["FIELD_NAME"])
    assert [(o["ID"], o["VALUE"]) for o in enum["LIST"]] == [
        (i["ID"], i["VALUE"]) for i in described["items"]
    ]
    english = crm.result("crm.deal.userfield.list", {"filter": {"LANG": "en"}})
    russian = crm.result("crm.deal.userfield.list", {"filter": {"LANG": "ru"}})
    pick = {r["FIELD_NAME"]: r for r in english}[enum["FIELD_NAME"]]
    assert pick["EDIT_FORM_LABEL"] == "Priority" == pick["LIST_COLUMN_LABEL"]
    assert {r["FIELD_NAME"]: r for r in russian}[enum["FIELD_NAME"]]["EDIT_FORM_LABEL"] == (
        "Приоритет"
    )
    app = next(r for r in records if r.get("USER_TYPE_OWNER"))
    assert app["USER_TYPE_ID"] == "rating" and app["USER_TYPE_OWNER"] == "rest_1"
    for entity in ("lead", "contact", "company", "quote"):
        assert crm.result(f"crm.{entity}.userfield.list")

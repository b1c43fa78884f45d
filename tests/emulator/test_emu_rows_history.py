"""Product rows and stage history over HTTP, and the dictionaries truth.

Rows change on item updates and deletes; the truth is what a complete extraction must hold.
"""

from __future__ import annotations

import pytest

SMALL = {"1": 30, "2": 60, "3": 10, "4": 10, "7": 20, "31": 20, "128": 40, "133": 10, "1032": 10}
OWNERS = {"D": 2, "L": 1, "Q": 7, "SI": 31, "T80": 128, "T85": 133, "T408": 1032}


@pytest.fixture
def crm(make_api):
    return make_api(activities=50, items=SMALL)


def _rows(api, owner_type: str, owner_id: int) -> list[dict]:
    filt = {"=ownerType": owner_type, "=ownerId": owner_id}
    return api.result("crm.item.productrow.list", {"filter": filt})["productRows"]


def _history(api, entity_type: int, **extra) -> list[dict]:
    return api.walk_type("crm.stagehistory.list", entity_type, "ID", **extra)


def test_productrow_list_shape_and_counts(crm) -> None:
    truth = crm.control("GET", "truth/dictionaries?kind=productRows")["productRows"]
    assert set(truth) == set(OWNERS)
    for code, entity_type in OWNERS.items():
        for ident in range(1, SMALL[str(entity_type)] + 1):
            rows = _rows(crm, code, ident)
            assert 0 <= len(rows) <= 5
            assert rows == truth[code].get(str(ident), [])
    row = next(iter(truth["D"].values()))[0]
    assert list(row) == [
        "id", "ownerId", "ownerType", "productId", "productName", "price", "priceAccount",
        "priceExclusive", "priceNetto", "priceBrutto", "quantity", "discountTypeId",
        "discountRate", "discountSum", "taxRate", "taxIncluded", "customized", "measureCode",
        "measureName", "sort", "xmlId", "type", "storeId",
    ]  # fmt: skip
    assert row["ownerType"] == "D" and isinstance(row["price"], float)
    ids = [r["id"] for rows in truth.values() for per in rows.values() for r in per]
    assert len(ids) == len(set(ids))  # one table: unique across types


def test_productrow_list_needs_owner_and_pages_by_fifty(crm) -> None:
    body = crm.call("crm.item.productrow.list", {"filter": {"=ownerType": "D"}}, expect=400)
    assert body["error"] == "INVALID_ARG_VALUE"
    refused = crm.call(
        "crm.item.productrow.list", {"filter": {"=ownerType": "C", "=ownerId": 1}}, expect=400
    )
    assert refused["error"] == "NOT_FOUND"
    every = crm.call(
        "crm.item.productrow.list",
        {"filter": {"=ownerType": "D", "=ownerId": list(range(1, 61))}},
    )
    assert len(every["result"]["productRows"]) == 50 and every["next"] == 50
    assert every["total"] > 50
    body = crm.call("crm.item.productrow.list", {"filter": {"=ownerType": "D", "=ownerId": 1}})
    assert body["total"] == len(body["result"]["productRows"]) and "next" not in body


def test_update_may_replace_rows_with_new_ids_and_delete_drops_them(crm) -> None:
    before = {i: _rows(crm, "D", i) for i in range(1, 61)}
    crm.control("POST", "mutate", {"items": {"2": {"update_ids": list(range(1, 61))}}})
    after = {i: _rows(crm, "D", i) for i in range(1, 61)}
    replaced = [i for i in before if before[i] != after[i]]
    kept = [i for i in before if before[i] and before[i] == after[i]]
    assert replaced and kept  # the save replaces the rows of some items only
    old_ids = {r["id"] for rows in before.values() for r in rows}
    assert all(r["id"] not in old_ids for i in replaced for r in after[i])
    crm.control("POST", "mutate", {"items": {"2": {"delete_ids": [kept[0]]}}})
    assert _rows(crm, "D", kept[0]) == []


def test_stagehistory_shape_paging_and_consistency_with_items(crm) -> None:
    body = crm.call("crm.stagehistory.list", {"entityTypeId": 2})
    assert len(body["result"]["items"]) == 50 and body["next"] == 50 and body["total"] > 60
    row = body["result"]["items"][0]
    assert list(row) == [
        "ID", "TYPE_ID", "OWNER_ID", "CREATED_TIME", "CATEGORY_ID", "STAGE_SEMANTIC_ID",
        "STAGE_ID",
    ]  # fmt: skip
    assert row["TYPE_ID"] == 1 and isinstance(row["ID"], int)
    keyset = crm.call("crm.stagehistory.list", {"entityTypeId": 2, "start": -1})
    assert "total" not in keyset and "next" not in keyset
    history = _history(crm, 2)
    assert len(history) == body["total"]
    last: dict[int, dict] = {}
    for h in history:
        last[h["OWNER_ID"]] = h
    deals = crm.result("crm.item.list", {"entityTypeId": 2, "select": ["stageId"], "start": 0})
    for deal in deals["items"]:
        assert last[deal["id"]]["STAGE_ID"] == deal["stageId"]
    lead = crm.result("crm.stagehistory.list", {"entityTypeId": 1})["items"][0]
    assert set(lead) == {"ID", "TYPE_ID", "OWNER_ID", "CREATED_TIME", "STATUS_SEMANTIC_ID",
                         "STATUS_ID"}  # fmt: skip
    for t in (31, 128):
        assert crm.result("crm.stagehistory.list", {"entityTypeId": t})["items"]
    refused = crm.call("crm.stagehistory.list", {"entityTypeId": 3}, expect=400)
    assert refused["error"] == "ENTITY_TYPE_NOT_SUPPORTED"
    bad = crm.call(
        "crm.stagehistory.list", {"entityTypeId": 2, "filter": {"TITLE": "x"}}, expect=400
    )
    assert bad["error"] == "INVALID_ARG_VALUE"
    picked = crm.result(
        "crm.stagehistory.list",
        {"entityTypeId": 2, "select": ["STAGE_ID"], "filter": {"OWNER_ID": 5}},
    )["items"]
    assert picked and all(list(r) == ["STAGE_ID"] for r in picked)


def test_stagehistory_rows_only_added_moves_add_deletes_remove(crm) -> None:
    before = _history(crm, 2)
    top = max(h["ID"] for h in before)
    changed = crm.control("POST", "mutate", {"items": {"2": {"update": 40, "insert": 3}}})
    after = _history(crm, 2)
    assert after[: len(before)] == before  # nothing rewritten
    added = [h for h in after if h["ID"] > top]
    created = [h for h in added if h["TYPE_ID"] == 1]
    assert sorted(h["OWNER_ID"] for h in created) == changed["items"]["2"]["inserted"]
    moves = [h for h in added if h["TYPE_ID"] != 1]
    assert moves and {h["OWNER_ID"] for h in moves} <= set(changed["items"]["2"]["updated"])
    new_only = _history(crm, 2, filter={})
    assert new_only == after
    victim = moves[0]["OWNER_ID"]
    crm.control("POST", "mutate", {"items": {"2": {"delete_ids": [victim]}}})
    assert all(h["OWNER_ID"] != victim for h in _history(crm, 2))


def test_truth_dictionaries_matches_methods(crm) -> None:
    crm.control("POST", "config", {"scope": ["crm", "user", "department"]})
    truth = crm.control("GET", "truth/dictionaries")
    by_id = sorted(crm.result("crm.status.list"), key=lambda r: int(r["ID"]))
    assert truth["statuses"] == by_id
    assert truth["currencies"] == crm.result("crm.currency.list")
    assert (
        truth["categories"]["2"]
        == crm.result("crm.category.list", {"entityTypeId": 2})["categories"]
    )
    assert truth["users"][:50] == crm.result("user.get")
    assert truth["departments"][:50] == crm.result("department.get", {"sort": "ID"})
    assert truth["stageHistory"]["2"] == _history(crm, 2)
    assert crm.control("GET", "truth/dictionaries?kind=nope", expect=400)["error"]

"""Merges (CCrmActivity::Rebind) and re-keyed communications (SaveCommunications)."""

from __future__ import annotations


def _pair(owner: list[int]) -> tuple[int, int]:
    return owner[0], owner[1]


def test_merge_moves_owners_and_bindings_without_touching_last_updated(make_api) -> None:
    api = make_api(activities=300)
    before = api.control("GET", "truth")
    entity_type, from_id = _pair(next(iter(before["owners"].values())))
    into_id = from_id % 50 + 1
    done = api.control(
        "POST",
        "merge",
        {"entity_type_id": entity_type, "from_id": from_id, "into_id": into_id},
    )
    after = api.control("GET", "truth")
    old, new = [entity_type, from_id], [entity_type, into_id]
    touched = {a for a, pairs in before["bindings"].items() if old in pairs}
    assert touched and {str(i) for i in done["moved"]} == touched
    assert after["activities"] == before["activities"]  # LAST_UPDATED untouched
    for ident in touched:
        assert old not in after["bindings"][ident] and new in after["bindings"][ident]
        if before["owners"][ident] == old:
            assert after["owners"][ident] == new
        got = api.result("crm.activity.binding.list", {"activityId": ident})
        assert [[b["entityTypeId"], b["entityId"]] for b in got] == after["bindings"][ident]
    rows = api.walk({"OWNER_TYPE_ID": entity_type, "OWNER_ID": from_id}, ["ID"])
    assert rows == []
    # The merged-away entity is gone; the other still exists.
    items = api.result(
        "crm.item.list",
        {"entityTypeId": entity_type, "filter": {"@id": [from_id, into_id]}, "select": ["id"]},
    )
    assert items == {"items": [{"id": into_id}]}
    again = {"entity_type_id": entity_type, "from_id": from_id, "into_id": into_id}
    assert "does not exist" in api.control("POST", "merge", again, expect=400)["error"]


def test_random_merges_via_mutate_and_schedule(make_api) -> None:
    api = make_api(activities=300)
    changed = api.control("POST", "mutate", {"merge": 2, "seed": 5})
    assert len(changed["merged"]) == 2
    api.control("POST", "schedule", {"after_requests": 0, "merge": 1})
    api.result("server.time")
    assert api.control("GET", "stats")["mutations"]["merged"] == 3
    truth = api.control("GET", "truth")
    for entity_type, from_id, _ in changed["merged"]:
        assert all([entity_type, from_id] not in p for p in truth["bindings"].values())


def test_item_list_pages_by_id(make_api) -> None:
    api = make_api(activities=300, items={"3": 75})  # contacts 1..75
    body = api.call("crm.item.list", {"entityTypeId": 3, "filter": {">id": 10}, "start": 0})
    assert [i["id"] for i in body["result"]["items"]] == list(range(11, 61))
    assert body["next"] == 50 and body["total"] == 65
    error = api.call("crm.item.list", {"filter": {"@id": [1]}}, expect=400)
    assert error["error"] == "NOT_FOUND"


def test_update_rekeys_communications(make_api) -> None:
    api = make_api(activities=300)
    before = api.control("GET", "truth/communications")
    ids = [int(a) for a, items in before.items() if items][:5]
    api.control("POST", "mutate", {"update_ids": ids, "seed": 1})
    after = api.control("GET", "truth/communications")
    every_before = {c["ID"] for items in before.values() for c in items}
    for ident in ids:
        new_ids = [c["ID"] for c in after[str(ident)]]
        assert len(new_ids) == len(before[str(ident)])
        assert not set(new_ids) & every_before
        assert [(c["TYPE"], c["VALUE"]) for c in after[str(ident)]] == [
            (c["TYPE"], c["VALUE"]) for c in before[str(ident)]
        ]
        row = api.result("crm.activity.get", {"id": ident})
        assert [c["ID"] for c in row["COMMUNICATIONS"]] == new_ids
    api.control("POST", "config", {"rekey_communications": False})
    api.control("POST", "mutate", {"update_ids": ids, "seed": 2})
    assert api.control("GET", "truth/communications") == after

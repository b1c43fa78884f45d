"""user.get and department.get over HTTP: scopes, ACTIVE quirks, paging, shapes."""

from __future__ import annotations

import pytest


@pytest.fixture
def staff(make_api):
    api = make_api(activities=50, items={"2": 60})
    api.control("POST", "config", {"scope": ["crm", "user", "department"]})
    return api


def _all_users(api, **payload) -> list[dict]:
    rows: list[dict] = []
    start = 0
    while start is not None:
        body = api.call("user.get", {**payload, "start": start})
        rows += body["result"]
        start = body.get("next")
    return rows


def test_user_get_pages_active_and_dismissed(staff) -> None:
    first = staff.call("user.get")
    assert len(first["result"]) == 50 and first["next"] == 50 and first["total"] == 75
    users = _all_users(staff)
    assert [int(u["ID"]) for u in users] == list(range(1, 76))
    assert {u["ACTIVE"] for u in users} == {True, False}  # dismissed users come back too
    user = users[0]
    assert user["TIMESTAMP_X"] == {} and user["LAST_ACTIVITY_DATE"] == {}
    assert isinstance(user["UF_DEPARTMENT"], list) and user["UF_DEPARTMENT"] == [1]
    assert user["EMAIL"] == "user1@example.com"
    keyset = staff.call("user.get", {"start": -1})
    assert len(keyset["result"]) == 50 and "total" not in keyset and "next" not in keyset


def test_every_assigned_user_exists(staff) -> None:
    ids = {int(u["ID"]) for u in _all_users(staff)}
    items = staff.result("crm.item.list", {"entityTypeId": 2, "select": ["assignedById"]})
    assert {i["assignedById"] for i in items["items"]} <= ids


@pytest.mark.parametrize(
    ("value", "active"),
    [("N", False), ("Y", True), ("false", True), ("0", False), (False, False), (True, True)],
)
def test_user_get_active_filter_normalised(staff, value, active) -> None:
    for payload in ({"FILTER": {"ACTIVE": value}}, {"ACTIVE": value}):
        users = _all_users(staff, **payload)
        assert users and {u["ACTIVE"] for u in users} == {active}


def test_user_get_form_encoded_false_means_active(staff) -> None:
    body = staff.session.get(staff.url("user.get"), params={"FILTER[ACTIVE]": "false"}).json()
    assert body["result"] and all(u["ACTIVE"] is True for u in body["result"])


def test_user_get_sort_and_id_keyset(staff) -> None:
    rows = staff.result("user.get", {"sort": "ID", "order": "DESC"})
    assert rows[0]["ID"] == "75"
    after = staff.result("user.get", {"FILTER": {">ID": 70}, "sort": "ID", "order": "ASC"})
    assert [u["ID"] for u in after] == ["71", "72", "73", "74", "75"]


def test_scopes(make_api) -> None:
    api = make_api(activities=10, items={"2": 10})  # default scope: crm, user_brief
    brief = api.result("user.get")[0]
    assert "EMAIL" not in brief and brief["UF_DEPARTMENT"] == [1]
    assert api.call("department.get", expect=403)["error"] == "insufficient_scope"
    api.control("POST", "config", {"scope": ["crm"]})
    assert api.call("user.get", expect=403)["error"] == "insufficient_scope"


def test_department_get_pages_by_lowercase_start(staff) -> None:
    body = staff.call("department.get")
    assert len(body["result"]) == 50 and body["total"] == 60 and body["next"] == 50
    root = next(d for d in body["result"] if d["ID"] == "1")
    assert set(root) == {"ID", "NAME", "SORT", "UF_HEAD"}
    second = staff.call("department.get", {"start": 50})["result"]
    assert len(second) == 10
    assert staff.call("department.get", {"START": 50})["result"] == body["result"]
    children = staff.result("department.get", {"PARENT": "1"})
    assert {d["ID"] for d in children} == {"2", "3", "4", "5", "6"}
    assert staff.result("department.get", {"FILTER": {"ID": "7"}})[0]["PARENT"] == "2"
    every = body["result"] + second
    ids = {int(d["ID"]) for d in every}
    for user in _all_users(staff):
        assert set(user["UF_DEPARTMENT"]) <= ids

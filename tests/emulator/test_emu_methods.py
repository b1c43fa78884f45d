"""The other methods, the time block, error shapes and request transport."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

#: Recordings of a real portal's answers (copies of the shared recordings), not the emulator's data.
RECORDINGS = Path(__file__).resolve().parents[1] / "fixtures"
TIME_KEYS = [
    "start",
    "finish",
    "duration",
    "processing",
    "date_start",
    "date_finish",
    "operating_reset_at",
    "operating",
]


def recorded(name: str) -> dict:
    """A recorded answer; a missing recording fails the test (never compare with ourselves)."""
    return json.loads((RECORDINGS / name).read_text())


def test_fields_identical_to_recording(api) -> None:
    body = api.call("crm.activity.fields")
    expected = recorded("crm.activity.fields.json")["result"]
    assert body["result"] == expected
    assert list(body["result"]) == list(expected)
    for name, info in body["result"].items():
        assert list(info) == list(expected[name])
    assert len(body["result"]) == 44 and list(body) == ["result", "time"]


def test_communication_fields(api) -> None:
    result = api.result("crm.activity.communication.fields")
    assert result == recorded("crm.activity.communication.fields.json")["result"]


def test_time_block(api) -> None:
    before = time.time()
    block = api.call("server.time")["time"]
    assert list(block) == TIME_KEYS
    assert before - 1 <= block["start"] <= block["finish"] <= time.time() + 1
    assert isinstance(block["operating_reset_at"], int)
    assert block["operating_reset_at"] > time.time()
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+03:00$", block["date_start"])


def test_server_time_profile_scope(api) -> None:
    now = api.result("server.time")
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+03:00$", now)
    profile = api.result("profile")
    assert profile["ID"] == "1" and profile["ADMIN"] is True and profile["NAME"]
    assert "crm" in api.result("scope")


def test_get(api, shared_rows) -> None:
    row = next(r for r in shared_rows if r["COMMUNICATIONS"])
    got = api.result("crm.activity.get", {"id": row["ID"]})
    assert {k: v for k, v in got.items() if k != "FILES"} == row
    assert api.result("crm.activity.get", params={"ID": row["ID"]})["ID"] == row["ID"]
    body = api.call("crm.activity.get", {"id": 3}, expect=400)
    assert body["error"] == "" and body["error_description"]
    body = api.call("crm.activity.get", {}, expect=400)
    assert body == {"error": "", "error_description": "ID is not defined or invalid."}


def test_binding_list(api) -> None:
    truth = api.control("GET", "truth")["bindings"]
    ident, pairs = next((i, p) for i, p in truth.items() if len(p) > 2)
    body = api.call("crm.activity.binding.list", {"activityId": int(ident)})
    assert body["result"] == [{"entityTypeId": t, "entityId": e} for t, e in pairs]
    raw = api.raw("crm.activity.binding.list", params={"activityId": ident}).text
    assert '"entityTypeId":' + str(pairs[0][0]) in raw  # real JSON integers
    assert "next" not in body and "total" not in body
    body = api.call("crm.activity.binding.list", {"activityId": 4}, expect=400)
    assert body == {"error": "NOT_FOUND", "error_description": "Element not found"}
    assert api.call("crm.activity.binding.list", {}, expect=400)["error"] == "100"


def test_bindings_invariants(api, shared_rows) -> None:
    truth = api.control("GET", "truth")
    assert truth["count"] == len(shared_rows)
    by_id = {r["ID"]: r for r in shared_rows}
    assert set(truth["activities"]) == set(by_id)
    for ident, pairs in truth["bindings"].items():
        row = by_id[ident]
        assert 1 <= len(pairs) <= 4
        assert pairs[0] == [int(row["OWNER_TYPE_ID"]), int(row["OWNER_ID"])]
        assert len({tuple(p) for p in pairs}) == len(pairs)
        assert truth["activities"][ident] == row["LAST_UPDATED"]


def test_unknown_method_and_error_shape(api) -> None:
    response = api.raw("crm.activity.nope")
    assert response.status_code == 404
    assert response.json() == {
        "error": "ERROR_METHOD_NOT_FOUND",
        "error_description": "Method not found!",
    }


def test_json_suffix_get_and_form(api, shared_rows) -> None:
    first = int(shared_rows[0]["ID"])
    url = api.server.webhook_url + "crm.activity.list.json"
    body = api.session.get(url, params={"order[ID]": "ASC", "select[]": "ID"}).json()
    assert int(body["result"][0]["ID"]) == first
    body = api.session.post(url, data="order[ID]=DESC&select[]=ID").json()
    assert int(body["result"][0]["ID"]) == int(shared_rows[-1]["ID"])


def test_post_body_wins_over_query(api, shared_rows) -> None:
    body = api.call(
        "crm.activity.list",
        {"order": {"ID": "DESC"}},
        params={"order[ID]": "ASC", "select[]": "ID", "start": "-1"},
    )
    assert body["result"][0]["ID"] == shared_rows[-1]["ID"]  # POST order, GET select/start
    assert list(body["result"][0]) == ["ID"] and body["total"] == 0


def test_malformed_json_body_is_ignored(api, shared_rows) -> None:
    response = api.raw(
        "crm.activity.list",
        params={"select[]": "ID", "order[ID]": "ASC"},
        data=b'{"filter": {">ID": 100',
        headers={"Content-Type": "application/json"},
    )
    body = response.json()
    assert response.status_code == 200 and body["total"] == len(shared_rows)
    assert body["result"][0]["ID"] == shared_rows[0]["ID"]


@pytest.mark.parametrize("method", ["crm.activity.list", "crm.activity.fields", "profile"])
def test_methods_are_case_insensitive(api, method) -> None:
    assert api.call(method.upper(), {"start": -1})["result"]

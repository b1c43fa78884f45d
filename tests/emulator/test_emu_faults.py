"""Scripted faults: every kind, and the count/after/every/method rules."""

from __future__ import annotations

import json
import math
import time

import pytest
import requests

KEYSET = "crm.activity.list?order[ID]=ASC&filter[%3EID]={ref}&select[]=ID&start=-1"


def add(api, *faults):
    return api.control("POST", "faults", {"faults": list(faults)})


@pytest.mark.parametrize(
    ("kind", "status", "code"),
    [
        ("503", 503, "QUERY_LIMIT_EXCEEDED"),
        ("429", 429, "OPERATION_TIME_LIMIT"),
        ("500", 500, "INTERNAL_SERVER_ERROR"),
        ("overload", 503, "OVERLOAD_LIMIT"),
        ("access_denied", 403, "ACCESS_DENIED"),
    ],
)
def test_error_kinds(make_api, kind, status, code) -> None:
    api = make_api()
    add(api, {"kind": kind, "count": 2})
    for _ in range(2):
        response = api.raw("server.time")
        assert response.status_code == status
        body = response.json()
        assert body["error"] == code and "time" not in body
    assert api.raw("server.time").status_code == 200
    stats = api.control("GET", "stats")
    assert stats["faults_fired"] == {kind: 2} and stats["errors_sent"][code] == 2


def test_429_announces_a_near_reset(make_api) -> None:
    api = make_api(time_factor=0.5)
    normal = api.call("crm.activity.list", {"start": -1})["time"]["operating_reset_at"]
    assert normal >= time.time() + 290  # a full window (600 s x 0.5) when nothing is recorded
    add(api, {"kind": "429", "method": "crm.activity.list", "seconds": 4, "after_requests": 1})
    before = time.time()
    pending = api.call("crm.activity.list", {"start": -1})["time"]["operating_reset_at"]
    after = time.time()  # bounds taken around the call: a loaded machine may delay it
    assert before + 1 <= pending <= math.ceil(after + 2 + 1)  # announced while pending
    assert api.call("server.time")["time"]["operating_reset_at"] >= before + 290  # other methods
    assert api.raw("crm.activity.list", {"start": -1}).status_code == 429
    block = api.call("crm.activity.list", {"start": -1})["time"]
    assert before + 1 <= block["operating_reset_at"] <= math.ceil(time.time() + 2 + 1)
    while time.time() < block["operating_reset_at"]:
        time.sleep(0.1)
    assert (
        api.call("crm.activity.list", {"start": -1})["time"]["operating_reset_at"]
        > time.time() + 290
    )


def test_html_kinds(make_api) -> None:
    api = make_api()
    add(api, {"kind": "502_html"}, {"kind": "html_200"})
    response = api.raw("server.time")
    assert response.status_code == 502 and "text/html" in response.headers["Content-Type"]
    assert "502 Bad Gateway" in response.text
    response = api.raw("server.time")
    assert response.status_code == 200 and response.text.lstrip().startswith("<!DOCTYPE html>")
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.text)


def test_drop_and_truncate(make_api) -> None:
    api = make_api()
    add(api, {"kind": "drop"}, {"kind": "truncate"})
    with pytest.raises(requests.ConnectionError):
        api.raw("server.time")
    response = api.raw("crm.activity.list", {"start": 0})
    assert response.status_code == 200
    with pytest.raises(ValueError):
        json.loads(response.content)
    assert api.call("server.time")["result"]


def test_slow(make_api) -> None:
    api = make_api()
    add(api, {"kind": "slow", "seconds": 0.4})
    began = time.monotonic()
    assert api.call("server.time")["result"]
    assert time.monotonic() - began >= 0.35
    with pytest.raises(requests.Timeout):
        add(api, {"kind": "slow", "seconds": 0.5})
        api.raw("server.time", timeout=0.1)


def test_expire_token(make_api) -> None:
    api = make_api()
    token = api.control("POST", "oauth/grant")["access_token"]
    add(api, {"kind": "expire_token"})
    body = api.call("profile", {"auth": token}, token="", expect=401)
    assert body["error"] == "expired_token"


def test_after_every_count_and_method(make_api) -> None:
    api = make_api()
    add(api, {"kind": "500", "after_requests": 2, "every": 2, "count": 3, "method": "profile"})
    statuses = []
    for _ in range(10):
        statuses.append(api.raw("server.time").status_code)  # other method: unaffected
        statuses.append(api.raw("profile").status_code)
    profile = statuses[1::2]
    assert set(statuses[0::2]) == {200}
    assert profile == [200, 200, 500, 200, 500, 200, 500, 200, 200, 200]
    listed = api.control("GET", "faults")["faults"]
    assert listed[0]["fired"] == 3 and listed[0]["seen"] == 7  # an exhausted fault stops looking
    api.control("DELETE", "faults")
    assert api.control("GET", "faults")["faults"] == []


def test_fault_aimed_at_a_method_fails_its_sub_call(make_api) -> None:
    api = make_api()
    add(api, {"kind": "500", "method": "crm.activity.list", "after_requests": 1})
    cmd = {
        f"p{k}": KEYSET.format(ref=0 if k == 0 else f"$result[p{k - 1}][49][ID]") for k in range(4)
    }
    response = api.raw("batch", {"halt": 0, "cmd": cmd})
    assert response.status_code == 200
    result = response.json()["result"]
    assert result["result_error"] == {
        "p1": {"error": "INTERNAL_SERVER_ERROR", "error_description": "Internal server error"}
    }
    # p2 refers to the failed p1: the literal text goes on, the walk restarts near the start
    assert result["result"]["p2"][0]["ID"] == result["result"]["p0"][0]["ID"]


@pytest.mark.parametrize(
    ("kind", "code"),
    [("subcall_429", "OPERATION_TIME_LIMIT"), ("subcall_500", "INTERNAL_SERVER_ERROR")],
)
def test_subcall_kinds(make_api, kind, code) -> None:
    api = make_api()
    add(api, {"kind": kind, "index": 2})
    cmd = {f"p{k}": KEYSET.format(ref=0) for k in range(4)}
    result = api.result("batch", {"halt": 0, "cmd": cmd})
    assert list(result["result_error"]) == ["p2"]
    assert result["result_error"]["p2"]["error"] == code
    assert set(result["result"]) == {"p0", "p1", "p3"}
    assert api.raw("server.time").status_code == 200  # sub-call kinds never hit a request
    result = api.result("batch", {"halt": 1, "cmd": cmd})
    assert result["result_error"] == []


def test_token_endpoint_fault(make_api) -> None:
    api = make_api(refresh_token="r0")
    add(api, {"kind": "503", "method": "oauth.token"})
    url = f"{api.server.url}/oauth/token/"
    params = {
        "grant_type": "refresh_token",
        "client_id": "local.emulator.app",
        "client_secret": "emulator-client-secret",
        "refresh_token": "r0",
    }
    assert api.session.get(url, params=params).status_code == 503
    assert api.session.get(url, params=params).status_code == 200


def test_bad_fault_specs(make_api) -> None:
    api = make_api()
    for spec in ({"kind": "nope"}, {"kind": "500", "count": 0}, {"kind": "500", "bogus": 1}):
        body = api.control("POST", "faults", {"faults": [spec]}, expect=400)
        assert body["error"]
    api.control("POST", "faults", {"faults": "x"}, expect=400)

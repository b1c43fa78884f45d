"""Mutations, schedules, truth, stats, and determinism by seed."""

from __future__ import annotations

import time
from datetime import datetime

from tap_bitrix24.emulator import EmulatorServer


def now_iso_bounds() -> tuple[float, float]:
    return time.time() - 2, time.time() + 2


def test_mutate_update_insert_delete_rebind(make_api) -> None:
    api = make_api(activities=300)
    before = api.control("GET", "truth")
    lo, hi = now_iso_bounds()
    changed = api.control("POST", "mutate", {"update": 5, "insert": 3, "delete": 4, "rebind": 2})
    assert [len(changed[k]) for k in ("updated", "inserted", "deleted", "rebound")] == [5, 3, 4, 2]
    after = api.control("GET", "truth")
    assert after["count"] == before["count"] + 3 - 4
    max_before = max(int(i) for i in before["activities"])
    assert all(i > max_before for i in changed["inserted"])
    assert changed["inserted"] == sorted(changed["inserted"])
    for ident in changed["deleted"]:
        assert str(ident) not in after["activities"]
        assert api.call("crm.activity.get", {"id": ident}, expect=400)
        assert api.call("crm.activity.binding.list", {"activityId": ident}, expect=400)
    for ident in changed["updated"] + changed["inserted"] + changed["rebound"]:
        stamp = datetime.fromisoformat(after["activities"][str(ident)]).timestamp()
        assert lo <= stamp <= hi
    for ident in changed["rebound"]:
        assert after["bindings"][str(ident)] != before["bindings"][str(ident)]
        assert after["bindings"][str(ident)][0] == before["bindings"][str(ident)][0]
        got = api.result("crm.activity.binding.list", {"activityId": ident})
        assert [[b["entityTypeId"], b["entityId"]] for b in got] == after["bindings"][str(ident)]
    untouched = set(before["activities"]) - {
        str(i) for k in ("updated", "deleted", "rebound") for i in changed[k]
    }
    assert all(after["activities"][i] == before["activities"][i] for i in untouched)


def test_updated_rows_are_visible_to_incremental_filters(make_api) -> None:
    api = make_api(activities=300)
    cutoff = api.result("server.time")
    changed = api.control("POST", "mutate", {"update": 4, "insert": 2})
    rows = api.result(
        "crm.activity.list",
        {
            "filter": {">=LAST_UPDATED": cutoff},
            "order": {"LAST_UPDATED": "ASC", "ID": "ASC"},
            "start": -1,
        },
    )
    assert sorted(int(r["ID"]) for r in rows) == sorted(changed["updated"] + changed["inserted"])
    for row in rows:
        assert row["LAST_UPDATED"] >= row["CREATED"]
        if int(row["ID"]) in changed["inserted"]:
            assert row["LAST_UPDATED"] == row["CREATED"]


def test_mutate_with_ids_and_validation(make_api) -> None:
    api = make_api(activities=100)
    ids = [int(i) for i in list(api.control("GET", "truth")["activities"])[:3]]
    changed = api.control("POST", "mutate", {"update": 1, "delete": 2, "ids": ids})
    assert changed["updated"] == ids[:1] and changed["deleted"] == sorted(ids[1:])
    changed = api.control("POST", "mutate", {"update": 1, "ids": [999_999]})
    assert changed["updated"] == []
    assert api.control("POST", "mutate", {"update": -1}, expect=400)["error"]
    assert api.control("POST", "mutate", {"explode": 1}, expect=400)["error"]


def test_mutations_are_deterministic_by_seed(make_api) -> None:
    a = make_api(activities=200, seed=5)
    b = make_api(activities=200, seed=5)
    for api in (a, b):
        api.changed = api.control(
            "POST", "mutate", {"update": 5, "delete": 5, "rebind": 5, "insert": 2, "seed": 42}
        )
    assert a.changed == b.changed
    truth_a, truth_b = a.control("GET", "truth"), b.control("GET", "truth")
    assert truth_a["bindings"] == truth_b["bindings"]
    assert set(truth_a["activities"]) == set(truth_b["activities"])


def test_schedule_applies_during_a_sync(make_api) -> None:
    api = make_api(activities=200)
    api.control(
        "POST",
        "schedule",
        {"after_requests": 2, "every_requests": 3, "times": 2, "update": 1, "insert": 1},
    )
    counts = []
    for _ in range(10):
        api.call("server.time")
        counts.append(api.control("GET", "truth")["count"])
    assert counts == [200, 200, 201, 201, 201, 202, 202, 202, 202, 202]
    stats = api.control("GET", "stats")
    assert stats["mutations"] == {"updated": 2, "inserted": 2, "deleted": 0, "rebound": 0}
    api.control("POST", "schedule", {"every_requests": 1, "times": 100, "delete": 1})
    api.call("server.time")
    api.control("DELETE", "schedule")
    api.call("server.time")
    assert api.control("GET", "truth")["count"] == 201
    assert api.control("POST", "schedule", {"bogus": 1}, expect=400)["error"]


def test_schedule_is_deterministic(make_api) -> None:
    results = []
    for _ in range(2):
        api = make_api(activities=150, seed=9)
        api.control("POST", "schedule", {"every_requests": 1, "times": 3, "update": 2, "seed": 7})
        for _ in range(4):
            api.call("server.time")
        results.append(api.control("GET", "truth")["bindings"])
    assert results[0] == results[1]


def test_stats_and_reset(make_api) -> None:
    api = make_api(activities=200)
    api.call("crm.activity.list", {"start": 0})
    api.call("batch", {"cmd": {"a": "crm.activity.list?start=-1", "b": "nope"}})
    api.call("nope", expect=404)
    stats = api.control("GET", "stats")
    assert stats["requests"] == 3
    assert stats["method_calls"] == {"crm.activity.list": 2, "batch": 1}
    assert stats["rows"] == 100
    assert stats["errors_sent"] == {"ERROR_METHOD_NOT_FOUND": 2}
    assert stats["http_status"] == {"200": 2, "404": 1}
    assert stats["server_seconds"] > 0.05
    api.control("POST", "stats/reset")
    stats = api.control("GET", "stats")
    assert stats["requests"] == 0 and stats["method_calls"] == {} and stats["rows"] == 0


def test_same_seed_same_data_other_seed_other_data() -> None:
    kwargs = {"activities": 300, "webhook_secret": "s", "anchor": 1_767_225_600}
    one = EmulatorServer(seed=11, **kwargs).portal
    two = EmulatorServer(seed=11, **kwargs).portal
    three = EmulatorServer(seed=12, **kwargs).portal
    assert one.truth() == two.truth()
    assert one.truth() != three.truth()
    rows_one = [one.data.fragment(p) for p in range(len(one.data))]
    rows_two = [two.data.fragment(p) for p in range(len(two.data))]
    assert rows_one == rows_two


def test_python_api_mirrors_control_endpoints() -> None:
    with EmulatorServer(activities=50, seed=2, webhook_secret="s") as server:
        portal = server.portal
        assert server.url.startswith("http://127.0.0.1:") and server.webhook_url.endswith(
            "/rest/1/s/"
        )
        changed = portal.mutate(update=1, insert=1)
        assert portal.truth()["count"] == 51 and changed["inserted"]
        portal.add_faults([{"kind": "500"}])
        portal.clear_faults()
        assert portal.configure(limits=True)["limits"] is True
        assert portal.grant_oauth()["access_token"]
        assert portal.stats()["requests"] == 0
        portal.reset_stats()

"""Leaky bucket, operating time, the cost model and the latency model (small time factors)."""

from __future__ import annotations

import threading
import time

import pytest

KEYSET = "crm.activity.list?order[ID]=ASC&filter[%3EID]=0&select[]=ID&start=-1"
OFFSET = "crm.activity.list?order[ID]=ASC&select[]=ID&start=0"


def test_leaky_bucket(make_api) -> None:
    api = make_api(limits=True, bucket_size=5, bucket_rate=2, time_factor=2.0)  # drains 1/s
    big_batch = {"cmd": {f"c{k}": "server.time" for k in range(50)}}
    statuses = [api.raw("batch", big_batch).status_code] + [
        api.raw("server.time").status_code for _ in range(5)
    ]
    assert statuses == [200, 200, 200, 200, 200, 503]  # a batch is one request
    body = api.call("server.time", expect=503)
    assert body == {"error": "QUERY_LIMIT_EXCEEDED", "error_description": "Too many requests"}
    time.sleep(1.1)
    assert api.raw("server.time").status_code == 200
    stats = api.control("GET", "stats")
    assert stats["http_status"]["503"] == 2 and stats["errors_sent"]["QUERY_LIMIT_EXCEEDED"] == 2


def test_bucket_drain_scales_with_time_factor(make_api) -> None:
    api = make_api(limits=True, bucket_size=3, bucket_rate=2, time_factor=0.05)  # 40 per second
    for _ in range(3):
        assert api.raw("server.time").status_code == 200
    time.sleep(0.1)
    assert [api.raw("server.time").status_code for _ in range(2)] == [200, 200]


def test_limits_off_by_default(make_api) -> None:
    api = make_api(bucket_size=2)
    assert {api.raw("server.time").status_code for _ in range(6)} == {200}


def test_cost_model_in_time_block(make_api) -> None:
    api = make_api(activities=200)
    assert api.call("crm.activity.list", {"start": -1})["time"]["processing"] == 0.03
    block = api.call("crm.activity.list", {"start": 100})["time"]
    assert block["processing"] == pytest.approx(0.030 + 2.08 * 200 / 1e5 + 0.2 * 100 / 1e5)
    assert api.call("server.time")["time"]["processing"] == 0.005
    api.control("POST", "config", {"cost_keyset_page": 0.5, "cost_other": 0.25})
    assert api.call("crm.activity.list", {"start": -1})["time"]["processing"] == 0.5
    assert api.call("profile")["time"]["processing"] == 0.25
    assert api.control("GET", "stats")["server_seconds"] == pytest.approx(
        0.03 + block["processing"] + 0.005 + 0.5 + 0.25
    )


def test_a_request_over_the_cutoff_gets_a_504(make_api) -> None:
    # 200 rows at 40,000 s per 100,000: an 80 s COUNT, past the cloud's 60 s cut-off.
    api = make_api(activities=200, cost_count_per_100k=40_000.0)
    response = api.raw("crm.activity.list", {"start": 0})
    assert response.status_code == 504 and b"504 Gateway Time-out" in response.content
    assert api.call("crm.activity.list", {"start": -1})["time"]["processing"] == 0.03
    batch = {"cmd": {"low": KEYSET, "count": OFFSET}}
    assert api.raw("batch", batch).status_code == 504  # a batch costs the sum of its calls
    stats = api.control("GET", "stats")
    assert stats["counted_pages"] == 2 and stats["http_status"]["504"] == 2
    api.control("POST", "config", {"request_cutoff": 0})
    assert api.call("crm.activity.list", {"start": 0})["total"] == 200


def test_operating_accounting_threshold(make_api) -> None:
    api = make_api(activities=200)
    for _ in range(3):  # a lone 30 ms page is never recorded
        assert api.call("crm.activity.list", {"start": -1})["time"]["operating"] == 0.03
    result = api.result("batch", {"cmd": {f"p{k}": KEYSET for k in range(5)}})
    operating = [result["result_time"][f"p{k}"]["operating"] for k in range(5)]
    assert operating == pytest.approx([0.03, 0.06, 0.09, 0.12, 0.15])
    # the batch's 0.15 s exceeded 0.1 s: it counts from now on, for that method only
    assert api.call("crm.activity.list", {"start": -1})["time"]["operating"] == pytest.approx(0.18)
    assert api.call("server.time")["time"]["operating"] == 0.005


def test_operating_limit_blocks_until_reset(make_api) -> None:
    factor = 0.004  # window 2.4 s real, one-minute buckets 0.24 s
    api = make_api(activities=200, limits=True, operating_limit=1.0, time_factor=factor)
    body = api.call("batch", {"cmd": {f"p{k}": OFFSET for k in range(40)}})
    result = body["result"]
    assert result["result_error"] == []  # the request that crosses the limit completes
    reset_at = result["result_time"]["p39"]["operating_reset_at"]
    # the window is 600 modelled seconds from the batch's own start (the emulator's clock)
    assert reset_at == pytest.approx(body["time"]["start"] + 600 * factor, abs=1.0)
    body = api.call("crm.activity.list", {"start": -1}, expect=429)
    assert body == {
        "error": "OPERATION_TIME_LIMIT",
        "error_description": "Method is blocked due to operation time limit.",
    }
    assert api.call("server.time")["result"]  # other methods keep working
    result = api.result("batch", {"cmd": {"a": KEYSET, "b": "server.time"}})
    assert result["result_error"]["a"]["error"] == "OPERATION_TIME_LIMIT"
    assert "b" in result["result"]
    while api.call("server.time")["time"]["start"] < reset_at + 0.3:  # the portal's clock
        time.sleep(0.1)
    assert api.call("crm.activity.list", {"start": -1})["result"]


def test_latency_model(make_api) -> None:
    """Answers take the modelled server time; concurrent requests are served concurrently.

    Asserted on what the emulator reports (time blocks, server seconds), not on how long the
    test waited, so a loaded machine cannot fail it.
    """
    factor = 1.0
    api = make_api(activities=200, latency=True, time_factor=factor)
    ten_pages = {"cmd": {f"p{k}": KEYSET for k in range(10)}}
    block = api.call("batch", ten_pages)["time"]
    assert block["processing"] == pytest.approx(10 * 0.03)
    assert block["finish"] - block["start"] >= 10 * 0.03 * factor
    assert block["duration"] == pytest.approx(block["finish"] - block["start"])
    assert api.control("GET", "stats")["server_seconds"] == pytest.approx(10 * 0.03)

    # Concurrent requests wait concurrently: the second is served (its modelled interval
    # starts) while the first is still inside its modelled time. Were sleeps done under the
    # portal's lock, the second would start only after the first finished. A 0.9 s window leaves a
    # loaded machine ample time to send the second request.
    api.control("POST", "config", {"time_factor": 3.0})
    blocks: list[dict] = []
    entered = threading.Barrier(2)

    def one() -> None:
        entered.wait()
        blocks.append(api.session.post(api.url("batch"), json=ten_pages, timeout=30).json()["time"])

    threads = [threading.Thread(target=one) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    first, second = sorted(blocks, key=lambda b: b["start"])
    assert second["start"] < first["finish"]

    # Latency off: the answer carries only the real (tiny) work, not the modelled 30 s.
    api.control("POST", "config", {"latency": False, "time_factor": 100.0})
    block = api.call("batch", ten_pages)["time"]
    assert block["processing"] == pytest.approx(10 * 0.03)
    assert block["finish"] - block["start"] < 10 * 0.03 * 100.0 / 10


def test_config_roundtrip_and_validation(make_api) -> None:
    api = make_api()
    settings = api.control("GET", "config")
    assert settings["bucket_rate"] == 2 and settings["operating_limit"] == 480
    assert settings["limits"] is False and settings["time_factor"] == 1
    changed = api.control("POST", "config", {"limits": True, "bucket_size": 10, "scope": ["crm"]})
    assert changed["limits"] is True and changed["bucket_size"] == 10
    for bad in ({"nope": 1}, {"limits": "yes"}, {"time_factor": 0}, {"bucket_rate": -1}):
        assert api.control("POST", "config", bad, expect=400)["error"]
    assert api.control("GET", "config")["bucket_size"] == 10


def test_limits_reset_endpoint(make_api) -> None:
    api = make_api(limits=True, bucket_size=2, time_factor=100.0)
    assert [api.raw("server.time").status_code for _ in range(3)] == [200, 200, 503]
    api.control("POST", "stats/reset", {"keep_limits": True})  # counters only
    assert api.raw("server.time").status_code == 503
    api.control("POST", "limits/reset")
    assert api.raw("server.time").status_code == 200
    assert api.control("GET", "stats")["http_status"] == {"503": 1, "200": 1}
    assert api.raw("server.time").status_code == 200
    assert api.raw("server.time").status_code == 503
    api.control("POST", "stats/reset")  # a fresh start: counters and limit state
    assert api.raw("server.time").status_code == 200
    assert api.control("GET", "stats")["http_status"] == {"200": 1}

"""Order rules and paging quirks of crm.activity.list."""

from __future__ import annotations

from datetime import datetime


def page(api, **payload):
    payload.setdefault("select", ["ID", "START_TIME", "LAST_UPDATED", "SUBJECT"])
    return api.call("crm.activity.list", payload)


def start_key(row):
    return datetime.fromisoformat(row["START_TIME"]).timestamp() if row["START_TIME"] else -1e18


def test_default_order_is_start_time_asc_without_tie_break(api, shared_rows) -> None:
    rows = []
    start = 0
    while True:
        body = page(api, start=start)
        rows += body["result"]
        if "next" not in body:
            break
        start = body["next"]
    assert len(rows) == len(shared_rows)
    keys = [start_key(r) for r in rows]
    assert keys == sorted(keys)  # NULL start times first, like MySQL
    assert rows[0]["START_TIME"] == ""
    # ties are not ordered by ID
    ties = [int(r["ID"]) for r in rows if r["START_TIME"] == ""]
    assert ties != sorted(ties)


def test_order_keys_case_insensitive_and_non_asc_is_desc(api, shared_rows) -> None:
    ids = sorted(int(r["ID"]) for r in shared_rows)
    for direction in ("DESC", "desc", "down", "", "Descending"):
        got = [int(r["ID"]) for r in page(api, order={"id": direction}, start=0)["result"]]
        assert got == ids[::-1][:50], direction
    got = [int(r["ID"]) for r in page(api, order={"Id": "asc"}, start=0)["result"]]
    assert got == ids[:50]


def test_unknown_order_keys_only_mean_no_order_by(api, shared_rows) -> None:
    ids = sorted(int(r["ID"]) for r in shared_rows)
    got = [int(r["ID"]) for r in page(api, order={"NOPE": "DESC"}, start=0)["result"]]
    assert got == ids[:50]  # primary-key order, not START_TIME
    got = [int(r["ID"]) for r in page(api, order={"NOPE": "ASC", "ID": "DESC"})["result"]]
    assert got == ids[::-1][:50]


def test_multi_key_order(api, shared_rows) -> None:
    body = page(api, order={"LAST_UPDATED": "ASC", "ID": "DESC"}, start=100)
    expected = sorted(
        shared_rows, key=lambda r: (datetime.fromisoformat(r["LAST_UPDATED"]), -int(r["ID"]))
    )
    assert [r["ID"] for r in body["result"]] == [r["ID"] for r in expected[100:150]]
    body = page(api, order={"SUBJECT": "DESC", "ID": "ASC"}, start=0)
    subjects = [r["SUBJECT"].casefold() for r in body["result"]]
    assert subjects == sorted(subjects, reverse=True)


def test_start_floored_to_multiple_of_50(api, shared_rows) -> None:
    ids = sorted(int(r["ID"]) for r in shared_rows)
    for start, first in ((0, 0), (49, 0), (50, 50), (75, 50), (99, 50), (1199, 1150)):
        body = page(api, order={"ID": "ASC"}, start=start)
        assert int(body["result"][0]["ID"]) == ids[first], start
    body = page(api, order={"ID": "ASC"}, start=75)
    assert body["next"] == 100 and body["total"] == 1200


def test_next_only_when_a_further_page_exists(api) -> None:
    body = page(api, order={"ID": "ASC"}, start=1150)
    assert len(body["result"]) == 50 and "next" not in body and body["total"] == 1200
    body = page(api, order={"ID": "ASC"}, start=1100)
    assert body["next"] == 1150
    body = page(api, filter={"ID": -5}, start=0)
    assert body["result"] == [] and body["total"] == 0 and "next" not in body


def test_out_of_range_start_returns_first_page_with_next(api, shared_rows) -> None:
    ids = sorted(int(r["ID"]) for r in shared_rows)
    for start in (1200, 5000, 10**9):
        body = page(api, order={"ID": "ASC"}, start=start)
        assert [int(r["ID"]) for r in body["result"]] == ids[:50]
        assert body["next"] == 50 and body["total"] == 1200


def test_keyset_start_shape(api, shared_rows) -> None:
    ids = sorted(int(r["ID"]) for r in shared_rows)
    for start in (-1, -50, "-1"):
        body = page(api, order={"ID": "ASC"}, start=start)
        assert [int(r["ID"]) for r in body["result"]] == ids[:50]
        assert body["total"] == 0 and "next" not in body
        assert list(body) == ["result", "total", "time"]
    body = page(api, order={"ID": "ASC"}, filter={">ID": ids[-10]}, start=-1)
    assert len(body["result"]) == 9


def test_non_numeric_start_is_zero(api, shared_rows) -> None:
    ids = sorted(int(r["ID"]) for r in shared_rows)
    for start in ("abc", "", None, "  "):
        body = page(api, order={"ID": "ASC"}, start=start)
        assert int(body["result"][0]["ID"]) == ids[0] and body["next"] == 50
    body = page(api, order={"ID": "ASC"})
    assert body["next"] == 50 and body["total"] == 1200


def test_keyset_walk_by_last_updated(api, shared_rows) -> None:
    """The incremental cursor pattern: (LAST_UPDATED, ID) with two keyset queries."""
    expected = sorted(
        shared_rows, key=lambda r: (datetime.fromisoformat(r["LAST_UPDATED"]), int(r["ID"]))
    )
    pivot = expected[400]
    same = page(
        api,
        order={"ID": "ASC"},
        filter={"=LAST_UPDATED": pivot["LAST_UPDATED"], ">ID": int(pivot["ID"])},
        start=-1,
    )["result"]
    later = page(
        api,
        order={"LAST_UPDATED": "ASC", "ID": "ASC"},
        filter={">LAST_UPDATED": pivot["LAST_UPDATED"]},
        start=-1,
    )["result"]
    tail = [r["ID"] for r in expected[401:]]
    assert [r["ID"] for r in same + later][:50] == tail[:50]


def test_unstable_ties_option(make_api) -> None:
    """With unstable_ties, equal sort keys come back in a different order on every page."""
    api = make_api(activities=400)

    def null_start_ids(start: int) -> list[str]:
        rows = page(api, start=start)["result"]
        return [r["ID"] for r in rows if r["START_TIME"] == ""]

    stable = null_start_ids(0)
    assert stable == null_start_ids(0)
    api.control("POST", "config", {"unstable_ties": True})
    assert null_start_ids(0) == null_start_ids(0)  # same page: same order
    assert null_start_ids(0) != stable


def test_fast_and_scanning_plans_agree(api) -> None:
    """Unfiltered pages are sliced from indexes; a no-op condition forces the scanning plan."""
    for order in ({}, {"START_TIME": "DESC"}, {"SUBJECT": "ASC"}, {"ID": "DESC"}):
        for start in (0, 250, 1150, 5000, -1):
            sliced = page(api, order=order, start=start)
            scanned = page(api, order=order, start=start, filter={"!ID": -1})
            assert sliced == {**scanned, "time": sliced["time"]}, (order, start)

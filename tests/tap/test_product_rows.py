"""The product_rows stream over HTTP: equal to the portal's rows, kept in step with item saves."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from tap_bitrix24.emulator import EmulatorServer
from tap_bitrix24.emulator import product_rows as emulated_rows
from tap_bitrix24.errors import StateError
from tap_bitrix24.streams.deletions import DELETED_AT
from tap_bitrix24.streams.product_rows import owner_code
from tap_bitrix24.walk.bindingset import RowSnapshot
from tests.conftest import Control, fast_config, run_tap, selected_catalog


def _truth(control: Control) -> dict[tuple[str, int], tuple[int, float]]:
    rows = control.get("truth/dictionaries?kind=productRows")["productRows"]
    return {
        (code, int(r["id"])): (int(owner), float(r["price"]))
        for code, owners in rows.items()
        for owner, items in owners.items()
        for r in items
    }


def _live(records: list[dict[str, Any]], into: dict[tuple[str, int], Any]) -> None:
    for r in records:
        key = (owner_code(r["entityTypeId"]), r["id"])
        if r[DELETED_AT]:
            into.pop(key, None)
        else:
            into[key] = (r["ownerId"], r["price"])


def test_product_rows_follow_item_saves_with_tombstones(fresh_emulator: EmulatorServer) -> None:
    control = Control(fresh_emulator.url)
    config = fast_config(fresh_emulator)
    catalog = selected_catalog(config, ["product_rows"])
    before = control.stats()["requests"]
    first = run_tap(config, catalog=catalog)
    requests_first = control.stats()["requests"] - before
    table: dict[tuple[str, int], Any] = {}
    _live(first.by_stream["product_rows"], table)
    assert table == _truth(control)
    assert not any(r[DELETED_AT] for r in first.by_stream["product_rows"])
    owners = {k[0] for k in table}
    assert {"D", "L", "Q", "SI"} <= owners
    # Items walk: ceil(items / 2,500) per type; rows: one batch per 50 items.
    truth_items = sum(
        control.get(f"truth/items?entityTypeId={t}&rows=0")["count"]
        for t in {r["entityTypeId"] for r in first.by_stream["product_rows"]}
    )
    assert requests_first <= truth_items / 50 + 3 * 10

    control.post("mutate", {"items": {"2": {"update": 60}, "7": {"update": 20}}})
    second = run_tap(config, first.state, catalog=catalog)
    records = second.by_stream.get("product_rows", [])
    assert any(r[DELETED_AT] for r in records)  # replaced rows arrive as tombstones
    assert len(records) < len(first.by_stream["product_rows"]) / 4  # only changed items
    _live(records, table)
    assert table == _truth(control)


def test_an_item_with_more_rows_than_a_page_gets_them_all(
    fresh_emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pages of 2 rows (the portal's are 50): the rows past the first page come too."""
    monkeypatch.setattr(emulated_rows, "PAGE", 2)
    control = Control(fresh_emulator.url)
    result = run_tap(fast_config(fresh_emulator), streams=["product_rows"])
    table: dict[tuple[str, int], Any] = {}
    _live(result.by_stream["product_rows"], table)
    assert table == _truth(control)


def test_rows_of_deleted_items_become_tombstones(fresh_emulator: EmulatorServer) -> None:
    """With detect_deletes, the rows of an item deleted on the portal leave the target too."""
    control = Control(fresh_emulator.url)
    config = fast_config(fresh_emulator, detect_deletes=True)
    catalog = selected_catalog(config, ["product_rows"])
    first = run_tap(config, catalog=catalog)
    table: dict[tuple[str, int], Any] = {}
    _live(first.by_stream["product_rows"], table)
    control.post("mutate", {"items": {"2": {"delete": 40}, "31": {"delete": 20}}})
    second = run_tap(config, first.state, catalog=catalog)
    _live(second.by_stream.get("product_rows", []), table)
    assert table == _truth(control)


def _partitions(state: dict[str, Any]) -> list[dict[str, Any]]:
    return state["bookmarks"]["product_rows"]["partitions"]


def _as_previous_release(state: dict[str, Any]) -> dict[str, Any]:
    """The same STATE with each snapshot as the previous release wrote it: a JSON object."""
    old = copy.deepcopy(state)
    for partition in _partitions(old):
        if "rows" in partition:
            snapshot = RowSnapshot.decode(partition["rows"])
            partition["rows"] = {str(item): list(rows) for item, rows in snapshot.items()}
    return old


def test_row_snapshots_are_packed_and_the_previous_releases_state_still_works(
    fresh_emulator: EmulatorServer,
) -> None:
    control = Control(fresh_emulator.url)
    config = fast_config(fresh_emulator, detect_deletes=True)
    catalog = selected_catalog(config, ["product_rows"])
    first = run_tap(config, catalog=catalog)
    packed = [p["rows"] for p in _partitions(first.state) if "rows" in p]
    assert packed and all(isinstance(p, str) and p.startswith("r1:") for p in packed)
    previous = _as_previous_release(first.state)
    assert len(json.dumps(first.state)) < len(json.dumps(previous)) / 2
    control.post("mutate", {"items": {"2": {"update": 60, "delete": 20}, "7": {"update": 20}}})

    outcomes = []
    for state in (first.state, previous):
        table: dict[tuple[str, int], Any] = {}
        _live(first.by_stream["product_rows"], table)
        run = run_tap(config, state, catalog=catalog)
        records = run.by_stream.get("product_rows", [])
        assert any(r[DELETED_AT] for r in records)  # replaced rows and deleted items' rows
        _live(records, table)
        assert table == _truth(control)
        assert all(isinstance(p["rows"], str) for p in _partitions(run.state) if "rows" in p)
        outcomes.append(sorted((r["entityTypeId"], r["id"], bool(r[DELETED_AT])) for r in records))
    assert outcomes[0] == outcomes[1]


def test_a_garbled_row_snapshot_is_one_clear_error(fresh_emulator: EmulatorServer) -> None:
    config = fast_config(fresh_emulator)
    catalog = selected_catalog(config, ["product_rows"])
    first = run_tap(config, catalog=catalog)
    state = copy.deepcopy(first.state)
    _partitions(state)[0]["rows"] = {"12": "not a list"}
    with pytest.raises(StateError, match="row snapshot of stream 'product_rows' is unreadable"):
        run_tap(config, state, catalog=catalog)

"""The stage_history stream over HTTP: equal to the portal's log, incremental by ID per type."""

from __future__ import annotations

from collections import Counter
from typing import Any

from tap_bitrix24.emulator import EmulatorServer
from tap_bitrix24.streams.schema import to_datetime
from tests.conftest import Control, fast_config, run_tap, selected_catalog


def _truth(control: Control) -> set[tuple[Any, ...]]:
    log = control.get("truth/dictionaries?kind=stageHistory")["stageHistory"]
    return {
        (
            int(t),
            int(r["ID"]),
            int(r["OWNER_ID"]),
            int(r["TYPE_ID"]),
            to_datetime(r["CREATED_TIME"]),
            r.get("STAGE_ID") or r.get("STATUS_ID"),
            r.get("STAGE_SEMANTIC_ID") or r.get("STATUS_SEMANTIC_ID"),
        )
        for t, rows in log.items()
        for r in rows
    }


def _got(records: list[dict[str, Any]]) -> set[tuple[Any, ...]]:
    return {
        (
            r["entityTypeId"],
            r["ID"],
            r["OWNER_ID"],
            r["TYPE_ID"],
            r["CREATED_TIME"],
            r["STAGE_ID"],
            r["STAGE_SEMANTIC_ID"],
        )
        for r in records
    }


def test_stage_history_equals_the_log_and_reads_only_new_rows(
    fresh_emulator: EmulatorServer,
) -> None:
    control = Control(fresh_emulator.url)
    config = fast_config(fresh_emulator)
    catalog = selected_catalog(config, ["stage_history"])
    before = control.stats()["requests"]
    first = run_tap(config, catalog=catalog)
    rows = first.by_stream["stage_history"]
    assert _got(rows) == _truth(control)
    per_type = Counter(r["entityTypeId"] for r in rows)
    # Chained batches: one request per 2,500 rows of a type (plus its short last chain), and
    # the sync's own discovery (crm.activity.fields, crm.type.list, one batch of every type's
    # fields).
    bound = sum(n // 2500 + 1 for n in per_type.values()) + 4
    assert control.stats()["requests"] - before <= bound
    assert {r["entityTypeId"] for r in rows} >= {1, 2, 31}  # leads, deals, smart invoices
    assert len(rows) == len(_got(rows))  # no row twice

    control.post("mutate", {"items": {"2": {"update": 40, "delete": 5}, "1": {"update": 20}}})
    second = run_tap(config, first.state, catalog=catalog)
    new = second.by_stream.get("stage_history", [])
    assert new  # the updates moved some stages
    assert not _got(new) & _got(rows)  # only rows added since the first sync
    # The portal dropped the deleted deals' rows; the warehouse keeps what it read.
    assert _got(new) == _truth(control) - _got(rows)

"""Every command of a batch is judged by its own error code: gone, retried, or fatal."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tap_bitrix24.emulator import EmulatorServer
from tap_bitrix24.tap import TapBitrix24
from tests.conftest import SECRET, Control, fast_config, run_cli, run_tap

BINDINGS = "activity_bindings"


@pytest.fixture
def small():
    """40 activities: one list request, then one binding batch of 40 commands."""
    with EmulatorServer(activities=40, seed=5, webhook_secret=SECRET) as server:
        yield server, Control(server.url)


def _bindings_config(server: EmulatorServer, **extra) -> dict:
    return fast_config(server, max_parallel_requests=1, **extra)


def test_activity_deleted_before_its_binding_call_is_a_tombstone_even_first(small):
    server, control = small
    config = _bindings_config(server)
    first = run_tap(config, streams=[BINDINGS])
    ids = sorted({r["ACTIVITY_ID"] for r in first.by_stream[BINDINGS]})
    control.post("mutate", {"update_ids": ids})  # the next sync re-reads every activity
    before = control.stats()["requests"]
    second = run_tap(config, state=first.state, streams=[BINDINGS])
    per_run = control.stats()["requests"] - before
    # The same sync again, with the lowest activity (the first command of the binding batch)
    # deleted right before that batch, i.e. after the list walk.
    control.post("mutate", {"update_ids": ids})
    control.post("schedule", {"after_requests": per_run - 1, "delete_ids": [ids[0]]})
    third = run_tap(config, state=second.state, streams=[BINDINGS])
    records = third.by_stream[BINDINGS]
    gone = [r for r in records if r["ACTIVITY_ID"] == ids[0]]
    assert gone and all(r["_sdc_deleted_at"] for r in gone)
    assert control.stats()["errors_sent"].get("NOT_FOUND") == 1
    assert {r["ACTIVITY_ID"] for r in records} == set(ids)


@pytest.mark.parametrize("index", [0, 7])
@pytest.mark.parametrize("kind", ["subcall_500", "subcall_429", "503"])
def test_failed_binding_commands_are_resent_alone(small, kind, index):
    server, control = small
    config = _bindings_config(server)
    expected = run_tap(config, streams=[BINDINGS]).by_stream[BINDINGS]
    before = control.stats()["method_calls"]["crm.activity.binding.list"]
    spec = {"kind": kind, "count": 2, "index": index, "method": "crm.activity.binding.list"}
    control.post("faults", {"faults": [spec]})
    result = run_tap(config, streams=[BINDINGS])
    assert result.by_stream[BINDINGS] == expected
    stats = control.stats()
    # The failed command alone is re-sent (at index 0), so a fault aimed elsewhere fires once.
    assert sum(stats["faults_fired"].values()) == (2 if index == 0 else 1)
    # 40 binding calls ran once each: the 39 that succeeded were not sent again.
    assert stats["method_calls"]["crm.activity.binding.list"] - before == 40


def test_fatal_code_in_a_later_command_ends_the_run_with_one_line(small, tmp_path):
    server, control = small
    config = _bindings_config(server)
    spec = {"kind": "access_denied", "count": 1000, "index": 5}
    control.post("faults", {"faults": [{**spec, "method": "crm.activity.binding.list"}]})
    done = run_cli(["--catalog", str(_catalog(config, tmp_path))], config, tmp_path)
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    assert "ACCESS_DENIED" in done.stderr and "commercial plan" in done.stderr


def _catalog(config: dict, tmp_path: Path) -> Path:
    """A catalog selecting the bindings stream only."""
    catalog = TapBitrix24(config=config).catalog_dict
    for entry in catalog["streams"]:
        for meta in entry["metadata"]:
            if meta["breadcrumb"] == []:
                meta["metadata"]["selected"] = entry["tap_stream_id"] == BINDINGS
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(catalog))
    return path

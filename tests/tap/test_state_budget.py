"""STATE stays small on big runs: walk checkpoints share one byte budget per run.

The bindings ``snapshot`` and the ``known_ids`` ride in every STATE; emitted after every batch
they would dominate the output of a large run. A tiny budget here plays a huge portal.
"""

from __future__ import annotations

import json

import pytest

from tap_bitrix24.emulator import EmulatorServer
from tap_bitrix24.streams import checkpoints
from tests.conftest import SECRET, Control, fast_config, run_tap

STREAMS = ["activities", "activity_bindings"]
FLOOR = 250_000


@pytest.fixture
def portal():
    with EmulatorServer(activities=12_000, seed=8, webhook_secret=SECRET) as server:
        yield server


def _sizes(states: list[dict]) -> list[int]:
    return [len(json.dumps(s, separators=(",", ":"))) for s in states]


def _pairs(records: list[dict]) -> set[tuple[int, int, int]]:
    return {(r["ACTIVITY_ID"], r["OWNER_TYPE_ID"], r["OWNER_ID"]) for r in records}


def test_state_bytes_per_run_are_bounded_and_resumable(portal, monkeypatch):
    monkeypatch.setattr(checkpoints, "STATE_FLOOR_BYTES", FLOOR)
    monkeypatch.setattr(checkpoints, "STATE_SHARE", 0.0)
    control = Control(portal.url)
    config = fast_config(portal, detect_deletes=True, max_parallel_requests=3)
    first = run_tap(config, streams=STREAMS)
    control.post("mutate", {"update": 6000, "seed": 9})
    second = run_tap(config, state=first.state, streams=STREAMS)
    for run in (first, second):
        sizes = _sizes(run.states)
        # Walk checkpoints stay within the budget; the final STATEs (one per stream and the
        # tap's last) come on top.
        assert sum(sizes) <= FLOOR + (len(STREAMS) + 1) * max(sizes), sizes
    assert max(_sizes(second.states)) > FLOOR / 3, "the STATE was never big: nothing tested"

    # Resuming from a checkpoint taken mid-walk loses nothing.
    mid = [s for s in second.states if any("walk" in b for b in s["bookmarks"].values())]
    assert mid, "no checkpoint went out during the walks"
    resumed = run_tap(config, state=mid[-1], streams=STREAMS)
    assert set(first.ids) | set(resumed.ids) == set(control.truth())
    truth = control.get("truth")["bindings"]
    expected = {(int(a), t, o) for a, pairs in truth.items() for t, o in pairs}
    table: set[tuple[int, int, int]] = set()
    for record in first.by_stream["activity_bindings"] + resumed.by_stream["activity_bindings"]:
        key = (record["ACTIVITY_ID"], record["OWNER_TYPE_ID"], record["OWNER_ID"])
        (table.discard if record.get("_sdc_deleted_at") else table.add)(key)
    assert table == expected

"""A sync killed with SIGKILL resumes from the last STATE it emitted, losing nothing."""

from __future__ import annotations

import json
import random

import pytest

from tap_bitrix24.emulator import EmulatorServer
from tests.conftest import SECRET, Control, fast_config, run_cli, run_tap, run_until_killed


@pytest.fixture(scope="module")
def big_portal():
    with EmulatorServer(activities=15_000, seed=21, webhook_secret=SECRET) as server:
        yield server


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5, 6])
def test_killed_sync_resumes_without_loss(big_portal, tmp_path, seed):
    rng = random.Random(seed)
    config = fast_config(big_portal, max_parallel_requests=rng.choice([1, 3]))
    truth = set(Control(big_portal.url).truth())
    records, state = run_until_killed(config, rng.randint(3000, 13_000), tmp_path)
    assert state is not None and "walk" in state["bookmarks"]["activities"]
    resumed = run_tap(config, state=state)
    emitted = records + resumed.ids
    assert set(emitted) == truth
    reread = len(emitted) - len(truth)
    # At most the batches that were in flight when the process died are read twice.
    assert reread <= 2500 * config["max_parallel_requests"]
    print(f"seed {seed}: killed after {len(records)} rows, re-read {reread} rows")


def test_a_fault_that_does_not_heal_leaves_a_resumable_state(big_portal, tmp_path):
    control = Control(big_portal.url)
    control.post("faults", {"faults": [{"kind": "overload", "count": 1000, "after_requests": 4}]})
    config = fast_config(big_portal, max_parallel_requests=1)
    try:
        done = run_cli([], config, tmp_path)
    finally:
        control.delete("faults")
    assert done.returncode != 0
    assert "OVERLOAD_LIMIT" in done.stderr and "Traceback" not in done.stderr
    lines = [json.loads(line) for line in done.stdout.split("\n") if line.strip()]
    emitted = [m["record"]["ID"] for m in lines if m["type"] == "RECORD"]
    states = [m["value"] for m in lines if m["type"] == "STATE"]
    assert emitted and states, "the run failed before emitting anything to resume from"
    last = states[-1]
    assert "walk" in last["bookmarks"]["activities"]
    resumed = run_tap(config, state=last)
    assert set(emitted) | set(resumed.ids) == set(control.truth())

"""The survey before a parallel walk never depends on a COUNT a huge portal cannot finish.

The emulator's count costs 2.08 modelled seconds per 100,000 matching rows (49.9 s at 2.4M, as
Bitrix24's docs measured) and a request over 60 modelled seconds is answered 504, like the cloud
front end. A large per-row count cost stands in for millions of rows.
"""

from __future__ import annotations

import logging

import pytest

from tap_bitrix24.emulator import EmulatorServer
from tests.conftest import SECRET, Control, fast_config, run_tap

ROWS = 12_000
HUGE_COUNT = 1_000.0  # modelled seconds per 100,000 rows: 120 s for this portal's count


@pytest.fixture
def huge_portal():
    with EmulatorServer(
        activities=ROWS, seed=5, webhook_secret=SECRET, cost_count_per_100k=HUGE_COUNT
    ) as server:
        yield server


def test_full_parallel_sync_takes_no_count(huge_portal):
    control = Control(huge_portal.url)
    result = run_tap(fast_config(huge_portal, max_parallel_requests=4))
    assert sorted(result.ids) == sorted(control.truth())
    stats = control.stats()
    assert stats["counted_pages"] == 0
    assert "504" not in stats["http_status"]


def test_a_count_that_times_out_is_not_retried(huge_portal, caplog):
    control = Control(huge_portal.url)
    config = fast_config(huge_portal, max_parallel_requests=4, start_date="2000-01-01")
    with caplog.at_level(logging.WARNING):
        result = run_tap(config)
    assert sorted(result.ids) == sorted(control.truth())
    stats = control.stats()
    assert stats["counted_pages"] == 1  # tried once, then walked without it
    assert stats["http_status"].get("504") == 1
    notes = [r.getMessage() for r in caplog.records if "without the count" in r.getMessage()]
    assert len(notes) == 1 and "504" in notes[0]


def test_a_cheap_count_still_sizes_an_incremental_walk(huge_portal):
    control = Control(huge_portal.url)
    control.post("config", {"cost_count_per_100k": 2.08})
    config = fast_config(huge_portal, max_parallel_requests=4)
    first = run_tap(config)
    control.post("stats/reset")
    control.post("mutate", {"update": 300, "seed": 3})
    second = run_tap(config, state=first.state)
    assert len(set(second.ids)) >= 300
    assert control.stats()["counted_pages"] == 1


def test_a_count_that_hangs_is_not_waited_for_twice(huge_portal, caplog):
    control = Control(huge_portal.url)
    control.post("config", {"cost_count_per_100k": 2.08})
    control.post("faults", {"faults": [{"kind": "slow", "method": "batch", "seconds": 3}]})
    config = fast_config(
        huge_portal, max_parallel_requests=4, start_date="2000-01-01", request_timeout=1
    )
    with caplog.at_level(logging.WARNING):
        result = run_tap(config)
    assert sorted(result.ids) == sorted(control.truth())
    assert control.stats()["faults_fired"] == {"slow": 1}
    notes = [r.getMessage() for r in caplog.records if "without the count" in r.getMessage()]
    assert len(notes) == 1 and "Timeout" in notes[0]

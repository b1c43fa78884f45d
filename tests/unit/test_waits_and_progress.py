"""Long waits speak (start, then every interval); progress counts wall time and the budget."""

from __future__ import annotations

import logging

from tap_bitrix24.client.limits import OperatingBudget, WaitStats
from tap_bitrix24.client.waiting import Waiter
from tap_bitrix24.progress import Progress
from tests.unit.test_limits_and_snapshots import FakeClock


def _lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "tap-bitrix24"]


def test_a_long_wait_is_logged_at_start_and_every_interval(caplog):
    clock = FakeClock()  # unix 1000 = 00:16:40 UTC
    waiter = Waiter(sleep=clock.sleep, clock=clock, interval=30)
    with caplog.at_level(logging.INFO, logger="tap-bitrix24"):
        waiter.sleep(95, "the operating-time budget of crm.activity.list")
        waiter.sleep(3, "a short retry")
    lines = _lines(caplog)
    assert lines[0] == (
        "Waiting 95 s, until 00:18:15 UTC, for the operating-time budget of crm.activity.list"
    )
    assert [line.split(": ")[1] for line in lines[1:]] == [
        "65 s left, until 00:18:15 UTC",
        "35 s left, until 00:18:15 UTC",
        "5 s left, until 00:18:15 UTC",
    ]
    assert clock.now == 1000 + 95 + 3


def test_operating_budget_wait_speaks_with_the_reset_time(caplog):
    clock = FakeClock()
    budget = OperatingBudget(limit=100, clock=clock, sleep=clock.sleep)
    budget.observe("crm.activity.list", {"operating": 100, "operating_reset_at": 1540})
    with caplog.at_level(logging.INFO, logger="tap-bitrix24"):
        budget.wait("crm.activity.list")
    lines = _lines(caplog)
    assert lines[0].startswith("Waiting 540 s, until 00:25:40 UTC, for the operating-time budget")
    assert len(lines) == 1 + 18  # then every 30 s while the 540.5 s pass


def test_unknown_reset_waits_at_most_a_window_after_the_refusal():
    clock = FakeClock()
    budget = OperatingBudget(limit=100, clock=clock, sleep=clock.sleep)
    budget.blocked("crm.activity.list")  # a 429 with no reset time known
    waited = 0.0
    while budget.wait_time("crm.activity.list") > 0:
        waited += budget.wait("crm.activity.list")
    assert waited == 600


def test_throttling_time_is_wall_time_not_a_sum_over_threads():
    clock = FakeClock()
    stats = WaitStats(clock=clock)
    with stats.waiting(), stats.waiting():  # two workers wait for the same minute
        clock.sleep(60)
    clock.sleep(10)
    assert stats.wall_seconds() == 60


def test_remaining_time_accounts_for_the_operating_budget(caplog):
    clock = FakeClock()
    progress = Progress(
        "activities",
        30,
        requests=lambda: 10,
        waits=lambda: (0, 0.0),
        operating=lambda: (300.0, 420.0, 600.0),  # 300 operating seconds for 100,000 rows
        clock=clock,
    )
    progress.expected = 1_000_000
    clock.sleep(100)
    with caplog.at_level(logging.INFO, logger="tap-bitrix24"):
        progress.add(100_000)
    # 900,000 rows at 1,000 rows/s is 900 s, but they need 2,700 operating seconds: 6.4 windows.
    line = _lines(caplog)[0]
    assert "about 900000 rows and 3857 s remaining (bound by the operating-time budget)" in line

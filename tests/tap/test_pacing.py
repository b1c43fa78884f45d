"""Pacing: the tap stays inside the portal's rate and operating-time limits.

The emulator enforces both, scaled down in time; the tap must not collect 503s and 429s.
"""

from __future__ import annotations

from tap_bitrix24.emulator import EmulatorServer
from tests.conftest import SECRET, Control, run_tap

FACTOR = 0.01  # one modelled second = 10 ms: the 10-minute window lasts 6 s


def test_parallel_walk_slows_down_before_the_portal_refuses():
    limits = {
        "limits": True,
        "latency": True,
        "time_factor": FACTOR,
        "bucket_rate": 2.0,
        "bucket_size": 6.0,
        "operating_limit": 12.0,  # about 8 chained batches of 50 keyset pages per window
    }
    with EmulatorServer(activities=40_000, seed=2, webhook_secret=SECRET, **limits) as emulator:
        control = Control(emulator.url)
        config = {
            "webhook_url": emulator.webhook_url,
            "requests_per_second": 2.0 / FACTOR,
            "burst": 6,
            "operating_limit": 12,
            "max_parallel_requests": 3,
            "retry_backoff_seconds": 0.01,
        }
        result = run_tap(config)
        stats = control.stats()
        truth = control.truth()
    assert sorted(result.ids) == sorted(truth)
    refused = {k: v for k, v in stats["errors_sent"].items() if v}
    assert not refused, refused  # neither 503 QUERY_LIMIT_EXCEEDED nor 429 OPERATION_TIME_LIMIT
    assert stats["server_seconds"] > 2 * 12, "the walk did not need several operating windows"

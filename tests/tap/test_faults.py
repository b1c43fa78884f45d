"""Bad days: faults that heal are retried and lose nothing; faults that don't end cleanly."""

from __future__ import annotations

import pytest

from tests.conftest import fast_config, run_cli, run_tap

HEALING = [
    {"kind": "503", "count": 3, "after_requests": 1, "every": 2},
    {"kind": "429", "count": 1, "after_requests": 2},
    {"kind": "500", "count": 2, "after_requests": 1, "every": 3},
    {"kind": "502_html", "count": 2, "after_requests": 2},
    {"kind": "drop", "count": 2, "after_requests": 1, "every": 2},
    {"kind": "truncate", "count": 2, "after_requests": 1, "every": 2},
    {"kind": "slow", "count": 1, "after_requests": 1, "seconds": 3},
    {"kind": "subcall_500", "count": 2, "after_requests": 1},
    {"kind": "subcall_429", "count": 1, "after_requests": 1},
]


@pytest.mark.parametrize("pagination", ["keyset", "offset"])
def test_a_mix_of_healing_faults_loses_nothing(fresh_emulator, control, pagination):
    control.post("faults", {"faults": HEALING})
    config = fast_config(
        fresh_emulator,
        pagination=pagination,
        request_timeout=2,
        max_parallel_requests=2,
        max_retries=20,
        retry_backoff_seconds=0.002,  # the faults come in a row: keep the doubling short
    )
    result = run_tap(config)
    assert sorted(set(result.ids)) == sorted(control.truth())
    sent = control.stats()["errors_sent"]
    assert sum(sent.values()) >= 5, sent


@pytest.mark.parametrize(
    ("fault", "words"),
    [
        ("access_denied", ["ACCESS_DENIED", "commercial plan"]),
        ("overload", ["OVERLOAD_LIMIT", "support"]),
        ("html_200", ["does not answer like a Bitrix24 portal"]),
    ],
)
def test_faults_that_do_not_heal_end_with_one_line(fresh_emulator, control, tmp_path, fault, words):
    control.post("faults", {"faults": [{"kind": fault, "count": 1000, "after_requests": 2}]})
    done = run_cli([], fast_config(fresh_emulator, max_retries=3), tmp_path)
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    for word in words:
        assert word in done.stderr
    assert fresh_emulator.webhook_url.split("/")[-2] not in done.stderr + done.stdout


def test_missing_crm_scope(fresh_emulator, control, tmp_path):
    control.post("config", {"scope": ["user", "task"]})
    done = run_cli([], fast_config(fresh_emulator), tmp_path)
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "insufficient_scope" in done.stderr and "crm" in done.stderr

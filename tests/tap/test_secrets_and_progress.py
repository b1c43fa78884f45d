"""No secret in any output; progress lines for long syncs."""

from __future__ import annotations

import json

from tap_bitrix24.emulator import EmulatorServer
from tests.conftest import Control, fast_config, run_cli

WEBHOOK_SECRET = "zq9-WEBHOOK-SECRET-do-not-leak-4471"


def _assert_clean(done, secrets: list[str]) -> None:
    for secret in secrets:
        assert secret not in done.stdout, f"{secret[:6]}… leaked into stdout (records or STATE)"
        assert secret not in done.stderr, f"{secret[:6]}… leaked into the logs"


def test_webhook_secret_never_appears(tmp_path):
    with EmulatorServer(activities=600, seed=5, webhook_secret=WEBHOOK_SECRET) as emulator:
        control = Control(emulator.url)
        control.post(
            "faults",
            {
                "faults": [
                    {"kind": "500", "count": 1, "after_requests": 1},
                    {"kind": "drop", "count": 1, "after_requests": 2},
                    {"kind": "truncate", "count": 1, "after_requests": 3},
                ]
            },
        )
        config = fast_config(
            emulator, include_files=True, include_communications=True, max_retries=10
        )
        done = run_cli([], config, tmp_path)
        assert done.returncode == 0, done.stderr[-2000:]
        records = [json.loads(line) for line in done.stdout.split("\n") if '"RECORD"' in line]
        assert any(r["record"].get("FILES") for r in records)
        _assert_clean(done, [WEBHOOK_SECRET])
        assert "auth=" not in done.stdout
        # and when the run fails on a bad filter, or with a wrong secret:
        bad = fast_config(emulator, filter={"OWNERTYPE": 1})
        _assert_clean(run_cli([], bad, tmp_path), [WEBHOOK_SECRET])
        wrong = dict(config, webhook_url=emulator.webhook_url.replace(WEBHOOK_SECRET, "x" * 12))
        _assert_clean(run_cli(["--discover"], wrong, tmp_path), [WEBHOOK_SECRET])


def test_oauth_secrets_never_appear(fresh_emulator, control, tmp_path):
    grant = control.post("oauth/grant")
    config = {
        "portal_url": fresh_emulator.url,
        "client_id": grant["client_id"],
        "client_secret": grant["client_secret"],
        "refresh_token": grant["refresh_token"],
        "access_token": grant["access_token"],
        "oauth_token_url": f"{fresh_emulator.url}/oauth/token/",
        "token_store_path": str(tmp_path / "tokens.json"),
        "include_files": True,
        "requests_per_second": 1000,
        "burst": 1000,
    }
    control.post("faults", {"faults": [{"kind": "expire_token", "count": 1, "after_requests": 3}]})
    done = run_cli([], config, tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    store = json.loads((tmp_path / "tokens.json").read_text())
    secrets = [
        grant["client_secret"],
        grant["refresh_token"],
        grant["access_token"],
        store["refresh_token"],
        store["access_token"],
    ]
    _assert_clean(done, secrets)
    assert "auth=" not in done.stdout


def test_progress_is_logged_at_a_steady_pace(tmp_path):
    with EmulatorServer(activities=20_000, seed=8, webhook_secret="progress-secret") as emulator:
        config = fast_config(emulator, progress_interval_seconds=0.001, max_parallel_requests=2)
        done = run_cli([], config, tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [line for line in done.stderr.splitlines() if "Progress activities:" in line]
    assert len(lines) >= 3
    for words in ("rows in", "rows/s", "requests", "throttling waits"):
        assert all(words in line for line in lines), words
    assert any("remaining" in line for line in lines[:-1])
    assert any("Finished activities: 20000 rows" in line for line in done.stderr.splitlines())

"""OAuth 2.0 with rotating refresh tokens: the newest token survives between runs."""

from __future__ import annotations

import stat

import pytest

from tap_bitrix24.emulator import EmulatorServer
from tests.conftest import Control, run_cli, run_tap
from tests.tap.test_faults import HEALING


def _oauth_config(emulator, grant: dict, tmp_path) -> dict:
    return {
        "portal_url": emulator.url,
        "client_id": grant["client_id"],
        "client_secret": grant["client_secret"],
        "refresh_token": grant["refresh_token"],
        "oauth_token_url": f"{emulator.url}/oauth/token/",
        "token_store_path": str(tmp_path / "tokens.json"),
        "requests_per_second": 1000,
        "burst": 1000,
        "retry_backoff_seconds": 0.01,
    }


def test_two_runs_with_the_same_config_both_succeed(fresh_emulator, control, tmp_path):
    grant = control.post("oauth/grant")
    config = _oauth_config(fresh_emulator, grant, tmp_path)
    truth = control.truth()
    first = run_tap(config)
    assert set(first.ids) == set(truth)
    store = tmp_path / "tokens.json"
    assert stat.S_IMODE(store.stat().st_mode) == 0o600
    assert grant["refresh_token"] not in store.read_text()  # rotated
    second = run_tap(config)  # the config still holds the first, now dead, refresh token
    assert set(second.ids) == set(truth)


def test_expired_access_token_is_refreshed_mid_sync(fresh_emulator, control, tmp_path):
    grant = control.post("oauth/grant")
    config = _oauth_config(fresh_emulator, grant, tmp_path)
    config["access_token"] = grant["access_token"]
    config["max_parallel_requests"] = 1
    control.post("faults", {"faults": [{"kind": "expire_token", "count": 1, "after_requests": 2}]})
    result = run_tap(config)
    assert set(result.ids) == set(control.truth())


def test_revoked_refresh_token_is_one_clear_line(fresh_emulator, control, tmp_path):
    grant = control.post("oauth/grant")
    control.post("oauth/revoke")
    config = _oauth_config(fresh_emulator, grant, tmp_path)
    done = run_cli([], config, tmp_path)
    assert done.returncode != 0
    assert "invalid_grant" in done.stderr
    assert "Traceback" not in done.stderr
    for secret in (grant["refresh_token"], grant["client_secret"]):
        assert secret not in done.stderr and secret not in done.stdout


def test_new_refresh_token_in_config_wins_over_the_store(fresh_emulator, control, tmp_path):
    first_grant = control.post("oauth/grant")
    run_tap(_oauth_config(fresh_emulator, first_grant, tmp_path))
    second_grant = control.post("oauth/grant")  # the user re-authorised the app
    result = run_tap(_oauth_config(fresh_emulator, second_grant, tmp_path))
    assert set(result.ids) == set(Control(fresh_emulator.url).truth())


@pytest.mark.parametrize(("faults", "seed"), [(False, 0), (False, 1), (True, 1)])
def test_short_lived_tokens_with_six_requests_in_flight(tmp_path, faults, seed):
    """Tokens that live 4 requests wear out under the other requests in flight: refresh again.

    Before the fix every run without faults (and some with) ended "freshly refreshed token".
    """
    with EmulatorServer(activities=12_000, seed=seed, access_token_uses=4) as server:
        control = Control(server.url)
        grant = control.post("oauth/grant")
        if faults:  # the healing faults on the REST requests (the token server has its own)
            specs = [
                f if f["kind"].startswith("subcall") else {**f, "method": "batch"} for f in HEALING
            ]
            control.post("faults", {"faults": specs})
        config = _oauth_config(server, grant, tmp_path)
        config.update(max_parallel_requests=6, max_retries=20, retry_backoff_seconds=0.002)
        result = run_tap(config)
        assert set(result.ids) == set(control.truth())
        assert control.stats()["oauth_requests"] >= 3


def test_token_refused_on_its_first_use_after_a_refresh_is_one_line(
    fresh_emulator, control, tmp_path
):
    grant = control.post("oauth/grant")
    control.post("config", {"access_token_uses": 0})
    config = _oauth_config(fresh_emulator, grant, tmp_path)
    # Every token dies before its first request: the refreshed one too.
    control.post("faults", {"faults": [{"kind": "expire_token", "count": 1000}]})
    done = run_cli([], config, tmp_path)
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "expired_token" in done.stderr and "first use" in done.stderr
    assert control.stats()["oauth_requests"] == 1


def test_token_request_carries_only_the_refresh_grant(fresh_emulator, control, tmp_path):
    """The token server gets the refresh token and client credentials, never an access token."""
    grant = control.post("oauth/grant")
    config = _oauth_config(fresh_emulator, grant, tmp_path)
    config["access_token"] = grant["access_token"]
    control.post("faults", {"faults": [{"kind": "expire_token", "count": 1, "after_requests": 2}]})
    run_tap(config)
    received = control.stats()["oauth_params"]
    assert set(received) == {"grant_type", "client_id", "client_secret", "refresh_token"}

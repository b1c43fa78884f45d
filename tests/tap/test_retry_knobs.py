"""The SDK's backoff knobs are the tap's retry policy: they carry the settings and are obeyed."""

from __future__ import annotations

from typing import Any

import backoff
import pytest

from tap_bitrix24.client.errors import Bitrix24Error
from tap_bitrix24.emulator import EmulatorServer
from tap_bitrix24.streams.base import Bitrix24Stream
from tap_bitrix24.tap import TapBitrix24
from tests.conftest import SECRET, Control, fast_config, run_tap

#: Every offset page of ``crm.activity.list`` (the SDK's ``request_records`` path) fails.
BROKEN_LIST = {"kind": "500", "count": 1000, "method": "crm.activity.list"}


@pytest.fixture
def portal():
    with EmulatorServer(activities=120, seed=11, webhook_secret=SECRET) as server:
        yield server, Control(server.url)


def _offset_config(server: EmulatorServer, **extra: Any) -> dict[str, Any]:
    return fast_config(server, max_parallel_requests=1, **{"pagination": "offset", **extra})


def test_backoff_max_tries_is_max_retries_and_bounds_the_sdk_path(portal):
    server, control = portal
    config = _offset_config(server, max_retries=3, retry_backoff_seconds=0.5)
    stream = TapBitrix24(config=config).streams["activities"]
    assert stream.backoff_max_tries() == 3
    waits = stream.backoff_wait_generator()
    next(waits)  # backoff's generators start with a dummy value
    assert [next(waits) for _ in range(9)] == [0.5, 1, 2, 4, 8, 16, 32, 60, 60]

    control.post("faults", {"faults": [BROKEN_LIST]})
    config["retry_backoff_seconds"] = 0.001
    with pytest.raises(Bitrix24Error, match="after 3 attempts"):
        run_tap(config, streams=["activities"])
    assert control.stats()["faults_fired"] == {"500": 3}


@pytest.mark.parametrize("pagination", ["offset", "keyset"])  # request_records, send_batch
def test_overridden_sdk_knobs_drive_the_retries(portal, monkeypatch, pagination):
    server, control = portal
    seen: list[tuple[int, float, str]] = []

    def handler(self: Bitrix24Stream, details: Any) -> None:
        seen.append((details["tries"], details["wait"], details["exception"].code))

    monkeypatch.setattr(Bitrix24Stream, "backoff_max_tries", lambda self: 4)
    monkeypatch.setattr(
        Bitrix24Stream, "backoff_wait_generator", lambda self: backoff.constant(interval=0.002)
    )
    monkeypatch.setattr(Bitrix24Stream, "backoff_jitter", lambda self, value: value / 2)
    monkeypatch.setattr(Bitrix24Stream, "backoff_handler", handler)
    control.post("faults", {"faults": [BROKEN_LIST]})
    with pytest.raises(Bitrix24Error, match="after 4 attempts"):
        config = _offset_config(server, max_retries=7, pagination=pagination)
        run_tap(config, streams=["activities"])
    if pagination == "offset":
        assert control.stats()["faults_fired"] == {"500": 4}
    assert seen == [(n, 0.001, "INTERNAL_SERVER_ERROR") for n in (1, 2, 3)]

"""OPERATION_TIME_LIMIT without a known reset time: wait for the window, say so, go on.

The emulator runs at 1/100 of real time and so does the client (its sleep and clock are
scaled): the portal's 10-minute window lasts 6 real seconds.
"""

from __future__ import annotations

import logging
import time

import requests

from tap_bitrix24.client.auth import WebhookAuth
from tap_bitrix24.client.transport import Bitrix24Client, RetryPolicy
from tap_bitrix24.emulator import EmulatorServer
from tap_bitrix24.walk.keyset import KeyRange, chain_commands
from tests.conftest import SECRET, Control

FACTOR = 0.01
LIST = "crm.activity.list"


def _client(server: EmulatorServer, *, scaled: bool) -> Bitrix24Client:
    start = time.time()
    rest = server.webhook_url.split("/rest/")[0] + "/rest/"
    options = {}
    if scaled:
        options = {
            "sleep": lambda seconds: time.sleep(seconds * FACTOR),
            "clock": lambda: start + (time.time() - start) / FACTOR,
        }
    return Bitrix24Client(
        rest_base=rest,
        auth=WebhookAuth(rest, "1", SECRET),
        session=requests.Session(),
        requests_per_second=1000,
        burst=1000,
        retry=RetryPolicy(max_tries=4, base_seconds=1.0),
        wait_log_interval=120,
        **options,
    )


def test_refusal_without_a_reset_time_waits_for_the_window(caplog):
    limits = {"limits": True, "time_factor": FACTOR, "operating_limit": 1.0}
    with EmulatorServer(activities=500, seed=3, webhook_secret=SECRET, **limits) as server:
        control = Control(server.url)
        # An earlier run spent the budget: 50 keyset pages cost 1.5 modelled seconds.
        spender = _client(server, scaled=False)
        spender.call("batch", chain_commands(KeyRange(0, None), {}, ["ID"]).body())
        # The rerun has seen no time block: its first call is refused without a reset time.
        client = _client(server, scaled=True)
        started = client._clock()
        with caplog.at_level(logging.INFO, logger="tap-bitrix24"):
            body = client.call(LIST, {"order": {"ID": "ASC"}, "select": ["ID"], "start": -1})
        waited = client._clock() - started  # modelled seconds
        refused = control.stats()["errors_sent"]["OPERATION_TIME_LIMIT"]
    assert body["result"]
    # Tried again after 1, 2, 4 ... then every 60 (modelled) seconds until the window let the
    # call through: 6 short tries, then about one a minute for the rest of the 10 minutes.
    assert 2 <= refused <= 6 + 10 + 1
    assert waited <= 600 + 60 + 30
    assert any(
        "reset unknown" in r.getMessage() and "Waiting" in r.getMessage() for r in caplog.records
    )

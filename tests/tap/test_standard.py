"""The singer-sdk standard tap test suite, against an emulated portal."""

from __future__ import annotations

import atexit

from singer_sdk.testing import SuiteConfig, get_tap_test_class

from tap_bitrix24.emulator import EmulatorServer
from tap_bitrix24.tap import TapBitrix24

_server = EmulatorServer(activities=400, seed=3, webhook_secret="std-suite-secret-1")
_server.start()
atexit.register(_server.stop)

TestTapBitrix24 = get_tap_test_class(
    TapBitrix24,
    config={
        "webhook_url": _server.webhook_url,
        "requests_per_second": 1000,
        "burst": 1000,
        "start_date": "2020-01-01T00:00:00+00:00",
    },
    suite_config=SuiteConfig(max_records_limit=150),
)

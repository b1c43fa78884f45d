"""The singer-sdk standard tap test suite, against an emulated portal."""

from __future__ import annotations

import atexit

from singer_sdk.testing import SuiteConfig, get_tap_test_class

from tap_bitrix24.emulator import EmulatorServer
from tap_bitrix24.tap import TapBitrix24

_server = EmulatorServer(
    activities=400, seed=3, webhook_secret="std-suite-secret-1", scope=["crm", "user", "department"]
)
_server.start()
atexit.register(_server.stop)

CONFIG = {
    "webhook_url": _server.webhook_url,
    "requests_per_second": 1000,
    "burst": 1000,
    "start_date": "2020-01-01T00:00:00+00:00",
    "include_communications": True,
    "include_files": True,
}


def _everything_selected() -> dict:
    """The discovered catalog with every stream selected (some are off by default)."""
    catalog = TapBitrix24(config=CONFIG).catalog_dict
    for stream in catalog["streams"]:
        for entry in stream["metadata"]:
            if entry["breadcrumb"] == []:
                entry["metadata"]["selected"] = True
    return catalog


TestTapBitrix24 = get_tap_test_class(
    TapBitrix24,
    config=CONFIG,
    catalog=_everything_selected(),
    suite_config=SuiteConfig(max_records_limit=150),
)

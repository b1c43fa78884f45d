"""The tap's own record path writes what the SDK's would, byte for byte.

Records of ``activities`` and item streams skip the SDK's per-record pruning and go out through
a buffered writer (``sdk_private.PreparedRecordsStream``, ``output.py``). Here the same sync
runs twice against one portal: as shipped, and the way it ran before (converters over the whole
schema, the SDK's pruning and conforming, the SDK's writer flushing every message). Every line
must match, apart from ``time_extracted`` (the clock at which a record was made).
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from singer_sdk.contrib.msgspec import MsgSpecWriter

from tap_bitrix24.emulator import EmulatorServer
from tap_bitrix24.sdk_private import PreparedRecordsStream
from tap_bitrix24.streams.base import Bitrix24Stream
from tap_bitrix24.tap import TapBitrix24
from tests.conftest import SECRET, fast_config, run_tap, selected_catalog

EXTRACTED = re.compile(r',"time_extracted":"[^"]*"')
STREAMS = ["activities", "deals", "contacts"]
DESELECTED = {"activities": ["DESCRIPTION", "SETTINGS"], "contacts": ["fm_web", "comments"]}


@pytest.fixture(scope="module")
def portal():
    with EmulatorServer(
        activities=600, seed=23, webhook_secret=SECRET, items={2: 300, 3: 300}
    ) as server:
        yield server


def _catalog(config: dict[str, Any], deselect: dict[str, list[str]]) -> dict[str, Any]:
    catalog = selected_catalog(config, STREAMS)
    for entry in catalog["streams"]:
        drop = deselect.get(entry["tap_stream_id"], [])
        for meta in entry["metadata"]:
            if meta["breadcrumb"][-1:] and meta["breadcrumb"][-1] in drop:
                meta["metadata"]["selected"] = False
    return catalog


def _sdk_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the tap run the way it did before its own record path."""
    monkeypatch.setattr(Bitrix24Stream, "selected_schema", property(lambda self: self.schema))
    monkeypatch.setattr(PreparedRecordsStream, "records_prepared", lambda self: False)
    monkeypatch.setattr(Bitrix24Stream, "records_prepared", lambda self: False)
    monkeypatch.setattr(TapBitrix24, "message_writer_class", MsgSpecWriter)


def _lines(stdout: str) -> list[str]:
    records = (line for line in stdout.split("\n") if line.startswith('{"type":"RECORD"'))
    return [EXTRACTED.sub("", line) for line in records]


@pytest.mark.parametrize(
    ("extra", "deselect"),
    [
        ({}, {}),
        (
            {
                "include_communications": True,
                "include_files": True,
                "detect_deletes": True,
                "stream_maps": {"activities": {"subject_upper": "SUBJECT.upper()"}},
            },
            DESELECTED,
        ),
    ],
    ids=["defaults", "comms-files-deletes-maps-deselected"],
)
def test_records_are_the_sdk_paths_byte_for_byte(
    portal: EmulatorServer,
    monkeypatch: pytest.MonkeyPatch,
    extra: dict[str, Any],
    deselect: dict[str, list[str]],
) -> None:
    config = fast_config(portal, max_parallel_requests=1, **extra)  # one walk order
    catalog = _catalog(config, deselect)
    ours = run_tap(config, catalog=catalog)
    with monkeypatch.context() as patch:
        _sdk_path(patch)
        before = run_tap(config, catalog=catalog)

    assert set(ours.by_stream) == set(STREAMS)
    assert len(ours.by_stream["activities"]) == 600
    for stream, names in deselect.items():  # the selection took effect on both paths
        assert not set(names) & set(ours.by_stream[stream][0])
    if "stream_maps" in extra:
        assert "subject_upper" in ours.by_stream["activities"][0]
    assert _lines(ours.stdout) == _lines(before.stdout)
    kinds = [line[:20] for line in ours.stdout.split("\n") if line]
    assert kinds == [line[:20] for line in before.stdout.split("\n") if line]


def test_a_deselected_nested_property_takes_the_sdk_path(portal: EmulatorServer) -> None:
    """Pruning inside objects is the SDK's: the tap's path is only for top-level selection."""
    config = fast_config(portal, max_parallel_requests=1, include_communications=True)
    catalog = selected_catalog(config, ["activities"])
    entry = next(e for e in catalog["streams"] if e["tap_stream_id"] == "activities")
    entry["metadata"].append(
        {
            "breadcrumb": ["properties", "SETTINGS", "properties", "EMAIL_META"],
            "metadata": {"selected": False},
        }
    )
    tap = TapBitrix24(config=config, catalog=catalog, setup_mapper=False)
    stream = tap.streams["activities"]
    assert isinstance(stream, Bitrix24Stream)
    assert not stream.records_prepared()

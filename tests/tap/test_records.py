"""What records hold: every schema property on every record, exact decimals, typed filter values."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from tap_bitrix24.emulator import EmulatorServer
from tests.conftest import fast_config, run_cli, run_tap
from tests.tap.test_cli import _fails_cleanly

ALL_STREAMS = ["activities", "activity_bindings", "activity_communications"]


def _raw_rows(emulator: EmulatorServer, select: list[str], flt: dict | None = None) -> list[dict]:
    """Every row as the portal sends it (a keyset walk over HTTP): the oracle."""
    rows: list[dict[str, Any]] = []
    last = 0
    while True:
        body = {
            "order": {"ID": "ASC"},
            "filter": {**(flt or {}), ">ID": last},
            "select": select,
            "start": -1,
        }
        page = requests.post(f"{emulator.webhook_url}crm.activity.list", json=body, timeout=30)
        page.raise_for_status()
        result = page.json()["result"]
        if not result:
            return rows
        rows += result
        last = int(result[-1]["ID"])


def _schema_keys(result) -> dict[str, list[str]]:
    return {s["stream"]: list(s["schema"]["properties"]) for s in result.schemas}


def test_every_record_of_every_stream_has_every_schema_property(fresh_emulator, control):
    """target-csv-style loaders take their columns from the first record: none may be missing."""
    config = fast_config(
        fresh_emulator, include_communications=True, include_files=True, detect_deletes=True
    )
    first = run_tap(config, streams=ALL_STREAMS)
    control.post("mutate", {"delete": 15, "rebind": 15, "update": 15, "seed": 3})
    second = run_tap(config, state=first.state, streams=ALL_STREAMS)
    for result in (first, second):
        keys = _schema_keys(result)
        assert set(result.by_stream) == set(ALL_STREAMS)
        assert "FILES" in keys["activities"] and "_sdc_deleted_at" in keys["activities"]
        for stream, records in result.by_stream.items():
            assert records, stream
            for record in records:
                assert list(record) == keys[stream], (stream, record)
    # the second sync carried tombstones, and they too have every property (null but the key)
    tombstones = [r for r in second.records if r["_sdc_deleted_at"]]
    assert len(tombstones) == 15
    assert all(r["SUBJECT"] is None and r["FILES"] is None for r in tombstones)
    bindings = second.by_stream["activity_bindings"]
    assert any(r["_sdc_deleted_at"] for r in bindings)


def test_decimal_sums_arrive_digit_for_digit(emulator):
    """RESULT_SUM/RESULT_VALUE are DECIMAL(18,4): 18 digits do not survive a float."""
    raw = {
        int(r["ID"]): r
        for r in _raw_rows(emulator, ["ID", "RESULT_SUM", "RESULT_VALUE"])
        if r["RESULT_SUM"] is not None
    }
    assert any(len(r["RESULT_SUM"].split(".")[0]) == 14 for r in raw.values())
    result = run_tap(fast_config(emulator))
    emitted: dict[int, dict] = {}
    for line in result.stdout.split("\n"):
        if '"type":"RECORD"' in line:
            record = json.loads(line, parse_float=str)["record"]  # the number's own text
            emitted[record["ID"]] = record
    assert len(emitted) == len(result.records)
    for ident, row in raw.items():
        assert emitted[ident]["RESULT_SUM"] == row["RESULT_SUM"], ident  # e.g. 94668123456789.6646
        assert emitted[ident]["RESULT_VALUE"] == row["RESULT_VALUE"], ident
    schema = next(s for s in result.schemas if s["stream"] == "activities")["schema"]
    assert schema["properties"]["RESULT_SUM"]["type"] == ["number", "null"]


@pytest.mark.parametrize(("value", "wire"), [(False, "N"), (True, "Y"), ("N", "N")])
def test_boolean_filter_on_a_y_n_field(emulator, value, wire):
    """The tap emits COMPLETED as a boolean, so users filter with one: it must mean Y/N."""
    expected = {
        int(r["ID"]) for r in _raw_rows(emulator, ["ID", "COMPLETED"]) if r["COMPLETED"] == wire
    }
    assert expected
    result = run_tap(fast_config(emulator, filter={"COMPLETED": value}))
    assert set(result.ids) == expected
    assert len(result.ids) == len(expected)
    assert all(r["COMPLETED"] is (wire == "Y") for r in result.records)


def test_typed_filter_values_are_sent_as_the_field_wants(emulator):
    """Whole numbers from a config (Decimals, numeric text) and lists of them work."""
    flt = {"@OWNER_TYPE_ID": ["2", 3], "!COMPLETED": True}
    result = run_tap(fast_config(emulator, filter=flt))
    oracle = _raw_rows(emulator, ["ID"], {"@OWNER_TYPE_ID": [2, 3], "!COMPLETED": "Y"})
    assert set(result.ids) == {int(r["ID"]) for r in oracle} and oracle


@pytest.mark.parametrize(
    ("flt", "words"),
    [
        ({"COMPLETED": "yes"}, ["'COMPLETED'", "Y/N field", "true or false"]),
        ({"COMPLETED": 0}, ["'COMPLETED'", "Y/N field"]),
        ({"OWNER_TYPE_ID": "deal"}, ["'OWNER_TYPE_ID'", "whole number"]),
        ({"@RESPONSIBLE_ID": [1, 2.5]}, ["'@RESPONSIBLE_ID'", "whole number"]),
        ({"TYPE_ID": True}, ["'TYPE_ID'", "boolean", "whole number"]),
        ({"SUBJECT": False}, ["'SUBJECT'", "boolean"]),
        ({"RESULT_SUM": "lots"}, ["'RESULT_SUM'", "number such as"]),
        ({"@TYPE_ID": [1, {"x": 2}]}, ["'@TYPE_ID'", "a value or a list of values"]),
    ],
)
def test_filter_values_wrong_for_the_field_are_refused(emulator, flt, words, tmp_path):
    _fails_cleanly(run_cli([], fast_config(emulator, filter=flt), tmp_path), *words)

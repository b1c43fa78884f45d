"""Schema mapping from crm.activity.fields, and typed conversion of real-shaped rows."""

from __future__ import annotations

import json
import logging
import random
from datetime import datetime, timezone
from pathlib import Path

import jsonschema
import pytest

from tap_bitrix24.streams.schema import RecordConverter, build_schema, property_schema

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"  # copies of shared/data


def _load(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


@pytest.fixture(scope="module")
def fields() -> dict:
    return _load("crm.activity.fields.json")["result"]


@pytest.fixture(scope="module")
def sample() -> list[dict]:
    return _load("crm.activity.list.sample.json")["result"]


def test_one_property_per_field_except_bindings_and_deprecated(fields):
    schema = build_schema(fields, include_communications=True, include_files=True)
    assert set(schema["properties"]) == set(fields) - {"BINDINGS", "WEBDAV_ELEMENTS"}
    assert len(schema["properties"]) == 42


def test_communications_and_files_only_when_asked(fields):
    plain = build_schema(fields)
    assert "COMMUNICATIONS" not in plain["properties"]
    assert "FILES" not in plain["properties"]
    assert "IS_INCOMING_CHANNEL" in plain["properties"]


@pytest.mark.parametrize(
    ("field", "expected_type"),
    [
        ("ID", ["integer"]),
        ("OWNER_ID", ["integer", "null"]),
        ("OWNER_TYPE_ID", ["integer", "null"]),  # crm_enum_ownertype
        ("RESPONSIBLE_ID", ["integer", "null"]),  # user
        ("RESULT_SUM", ["number", "null"]),  # double
        ("COMPLETED", ["boolean", "null"]),  # char
        ("SETTINGS", ["object", "null"]),
        ("COMMUNICATIONS", ["array", "null"]),
        ("FILES", ["array", "null"]),
        ("SUBJECT", ["string", "null"]),
    ],
)
def test_field_types(fields, field, expected_type):
    schema = build_schema(fields, include_communications=True, include_files=True)
    assert schema["properties"][field]["type"] == expected_type


def test_datetime_fields_are_date_time_strings(fields):
    prop = build_schema(fields)["properties"]["LAST_UPDATED"]
    assert prop == {
        "type": ["string", "null"],
        "format": "date-time",
        "description": "Last Updated Date",
    }


def test_unknown_type_maps_to_string_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="tap-bitrix24"):
        prop = property_schema("UF_NEW", {"type": "crm_brand_new_thing"})
    assert prop["type"] == ["string", "null"]
    assert "crm_brand_new_thing" in caplog.text
    converted = RecordConverter({"properties": {"UF_NEW": prop}})({"UF_NEW": {"a": 1}})
    assert converted == {"UF_NEW": '{"a": 1}'}


def test_sample_page_converts_to_valid_records(fields, sample):
    schema = build_schema(fields, include_communications=True, include_files=True)
    convert = RecordConverter(schema)
    validator = jsonschema.Draft7Validator(schema, format_checker=jsonschema.FormatChecker())
    for row in sample:
        record = convert(row)
        errors = [e.message for e in validator.iter_errors(record)]
        assert not errors, (row["ID"], errors)
        assert isinstance(record["ID"], int)


def test_sample_edge_cases(fields, sample):
    convert = RecordConverter(build_schema(fields, include_communications=True, include_files=True))
    by_id = {int(r["ID"]): convert(r) for r in sample}
    first = by_id[21]
    assert first["OWNER_TYPE_ID"] == 1
    assert first["COMPLETED"] is True
    assert first["SETTINGS"] == {}  # [] on the wire
    assert first["LAST_UPDATED"] == "2025-01-11T11:04:57+00:00"  # +03:00 normalised to UTC
    assert first["RESULT_SUM"] is None
    assert first["COMMUNICATIONS"][0] == {
        "ID": 1,
        "TYPE": "PHONE",
        "VALUE": "89484663623",
        "ENTITY_ID": 559,
        "ENTITY_TYPE_ID": 1,
        "ENTITY_SETTINGS": {"NAME": "Никита", "LAST_NAME": "Лебедева", "LEAD_TITLE": "Лид #559"},
    }
    todo = by_id[216]
    assert todo["START_TIME"] is None  # "" on the wire
    assert todo["DEADLINE"] == "9999-12-30T21:00:00+00:00"
    assert todo["SETTINGS"] == {"PING_OFFSETS": [0, 15]}
    with_files = by_id[364]
    assert [f["id"] for f in with_files["FILES"]] == [1001, 1002]
    assert all("auth=" not in f["url"] for f in with_files["FILES"])
    assert "fileId=1001" in with_files["FILES"][0]["url"]


def test_file_url_loses_the_callers_token():
    from tap_bitrix24.streams.schema import to_files

    url = "https://p.example/bitrix/tools/crm_show_file.php?fileId=7&ownerTypeId=6&ownerId=9&auth=SECRET123"
    assert to_files([{"id": "7", "url": url}]) == [
        {
            "id": 7,
            "url": "https://p.example/bitrix/tools/crm_show_file.php?fileId=7&ownerTypeId=6&ownerId=9",
        }
    ]


def test_negative_offset_year_9999_keeps_original():
    from tap_bitrix24.streams.schema import to_datetime

    assert to_datetime("9999-12-31T23:00:00-05:00") == "9999-12-31T23:00:00-05:00"
    assert to_datetime("") is None
    assert to_datetime("2024-01-01T00:00:00+03:00") == "2023-12-31T21:00:00+00:00"


@pytest.mark.parametrize(
    ("text", "written"),
    [
        ("12345678901234.5678", b"12345678901234.5678"),  # 18 digits: a float keeps ~16
        ("1.0000", b"1.0000"),
        ("0.0001", b"0.0001"),
        ("", b"null"),
        (None, b"null"),
    ],
)
def test_decimal_fields_reach_the_sdk_writer_digit_for_digit(text, written):
    from singer_sdk.contrib.msgspec import encoder

    from tap_bitrix24.streams.schema import to_decimal

    assert encoder.encode(to_decimal(text)) == written


def test_absent_fields_are_present_as_null(fields):
    schema = build_schema(fields, include_communications=True, include_files=True)
    convert = RecordConverter(schema)
    record = convert({"ID": "5", "UNKNOWN": 1})
    assert list(record) == list(schema["properties"])
    assert record["ID"] == 5 and record["FILES"] is None and record["SUBJECT"] is None
    tombstone = convert.blank(ID=7, LAST_UPDATED="2025-01-01T00:00:00+00:00")
    assert list(tombstone) == list(schema["properties"]) and tombstone["ID"] == 7


def _reference_utc(value: str) -> str | None:
    """The conversion by its definition: parse, shift to UTC, print (kept if out of range)."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return parsed.isoformat() + "+00:00"
    try:
        return parsed.astimezone(timezone.utc).isoformat()
    except OverflowError:
        return value


def test_to_datetime_equals_the_plain_conversion_for_any_value() -> None:
    """The per-hour shortcut gives exactly what parsing each value gives, valid or not."""
    from tap_bitrix24.streams import schema

    rng = random.Random(7)
    offsets = ["+03:00", "-05:00", "+00:00", "+05:30", "-09:30", "+14:00", "-12:00"]
    values = [
        "9999-12-31T23:59:59-05:00",
        "9999-12-31T22:00:00+03:00",
        "0001-01-01T00:30:00+03:00",
        "0001-01-01T05:00:00-03:00",
        "2024-02-29T01:15:00+03:00",
        "2023-02-29T01:15:00+03:00",  # no such day
        "2024-03-10T24:00:00+03:00",  # no such hour
        "2024-03-10T10:60:00+03:00",
        "2024-03-10T10:59:60+03:00",
        "2024-03-10 10:59:59+03:00",
        "2024-03-10T10:59:59.12:00",
        "2024-03-10T10:59:59",
        "2024-03-10",
    ]
    for _ in range(20_000):
        year = rng.choice([1, 1970, 2023, 2024, 2025, 9999])
        values.append(
            f"{year:04d}-{rng.randint(1, 12):02d}-{rng.randint(1, 31):02d}"
            f"T{rng.randint(0, 24):02d}:{rng.randint(0, 60):02d}:{rng.randint(0, 59):02d}"
            + rng.choice(offsets)
        )
    schema._UTC_HOURS.clear()
    for _ in range(2):  # once filling the per-hour table, once reading it
        assert [schema.to_datetime(v) for v in values] == [_reference_utc(v) for v in values]

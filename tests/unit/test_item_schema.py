"""Item typing and item filter checks that the emulator's values do not reach."""

from __future__ import annotations

import random
from datetime import datetime, timezone

import pytest

from tap_bitrix24.client.redact import strip_auth_param
from tap_bitrix24.errors import ConfigError
from tap_bitrix24.streams.item_filters import validate_item_filter
from tap_bitrix24.streams.item_schema import ItemConverter, item_schema, to_utc_date


def _uf(kind: str, upper: str, *, multiple: bool = False) -> dict:
    return {"type": kind, "isMultiple": multiple, "isDynamic": True, "upperName": upper}


FIELDS = {
    "id": {"type": "integer", "isMultiple": False, "upperName": "ID", "title": "ID"},
    "opened": {"type": "boolean", "isMultiple": False, "upperName": "OPENED"},
    "ufCrm_1": _uf("enumeration", "UF_CRM_1", multiple=True),
    "ufCrm_2": _uf("boolean", "UF_CRM_2"),
    "ufCrm_3": _uf("file", "UF_CRM_3", multiple=True),
    "ufCrm_4": _uf("money", "UF_CRM_4"),
}


def test_empty_multiple_values_arrive_as_false_and_become_empty_arrays():
    convert = ItemConverter(FIELDS, item_schema(FIELDS, 2, "Deals"))
    record = convert({"id": 5, "ufCrm_1": False, "ufCrm_3": False, "ufCrm_4": ""})
    assert record["ufCrm_1"] == [] and record["ufCrm_3"] == [] and record["ufCrm_4"] is None


def test_file_urls_lose_the_token_and_money_splits():
    convert = ItemConverter(FIELDS, item_schema(FIELDS, 2, "Deals"))
    url = "https://p.example/rest/crm.controller.item.getFile.json?id=5&fileId=9&auth=tok123"
    record = convert({"id": 5, "ufCrm_3": [{"id": 9, "url": url, "urlMachine": url}]})
    assert "tok123" not in str(record) and record["ufCrm_3"][0]["id"] == 9
    assert convert({"id": 1, "ufCrm_4": "12.50|EUR"})["ufCrm_4"]["currency"] == "EUR"


def test_a_date_is_the_utc_date_of_the_instant_the_portal_prints():
    assert to_utc_date("1999-12-31T19:00:00-05:00") == "2000-01-01"
    assert to_utc_date("2000-01-01T02:00:00+02:00") == "2000-01-01"


def test_item_filters_take_upper_names_and_write_booleans_as_the_field_wants():
    checked = validate_item_filter("deals", {"OPENED": True, "ufCrm_2": False}, FIELDS)
    assert checked == {"OPENED": "Y", "ufCrm_2": 0}


def test_an_empty_list_in_an_item_filter_is_refused():
    with pytest.raises(ConfigError, match=r"item_filters.deals: '@id' has an empty list"):
        validate_item_filter("deals", {"@id": []}, FIELDS)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://p/x.php?fileId=7&auth=S1&ownerId=9", "https://p/x.php?fileId=7&ownerId=9"),
        ("https://p/x.php?auth=S1", "https://p/x.php"),
        ("https://p/x.php?auth=S1#part", "https://p/x.php#part"),
        ("https://p/x.php?a=%20b&auth=S1&c=d+e#f", "https://p/x.php?a=%20b&c=d+e#f"),
        ("https://p/x.php?a=1&fileId=2", "https://p/x.php?a=1&fileId=2"),
        ("https://p/auth=x/y.php?a=1", "https://p/auth=x/y.php?a=1"),
    ],
)
def test_file_urls_lose_only_the_token(url: str, expected: str) -> None:
    assert strip_auth_param(url) == expected


def test_utc_dates_agree_with_parsing_each_value() -> None:
    rng = random.Random(3)
    for _ in range(5000):
        offset = rng.choice(["+03:00", "-05:00", "+00:00", "+05:30", ""])
        year = rng.choice([1999, 2000, 2024])
        value = f"{year}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        value += f"T{rng.randint(0, 23):02d}:{rng.choice([0, 30]):02d}:00{offset}"
        parsed = datetime.fromisoformat(value)
        if parsed.tzinfo is not None:
            parsed = parsed.astimezone(timezone.utc)
        assert to_utc_date(value) == parsed.date().isoformat(), value
    assert to_utc_date("") is None
    assert to_utc_date("not a date") is None

"""PHP request parsing and json_encode output, the layer every call goes through."""

from __future__ import annotations

import json

import pytest

from tap_bitrix24.emulator.dates import PortalClock
from tap_bitrix24.emulator.php import (
    json_encode,
    parse_str,
    php_array,
    php_intval,
    php_truthy,
)


def test_parse_str_brackets_lists_and_plus() -> None:
    parsed = parse_str("filter[>ID]=5&select[]=ID&select[]=SUBJECT&order[ID]=ASC&q=a+b%2Bc")
    assert parsed == {
        "filter": {">ID": "5"},
        "select": ["ID", "SUBJECT"],
        "order": {"ID": "ASC"},
        "q": "a b+c",
    }


def test_parse_str_nested_and_edge_keys() -> None:
    parsed = parse_str("filter[BINDINGS][0][OWNER_TYPE_ID]=2&a.b=1&x[=1&&=3")
    assert parsed["filter"] == {"BINDINGS": [{"OWNER_TYPE_ID": "2"}]}
    assert parsed["a_b"] == "1"
    assert parsed["x_"] == "1"
    assert "" not in parsed


@pytest.mark.parametrize(
    ("value", "expected"),
    [("12abc", 12), ("abc", 0), ("  -7", -7), ("$result[p][49][ID]", 0), (3.9, 3), ("1e3", 1000)],
)
def test_intval(value: object, expected: int) -> None:
    assert php_intval(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [("0", False), ("", False), ("false", True), ("1", True), (0, False), (True, True)],
)
def test_truthiness(value: object, expected: bool) -> None:
    assert php_truthy(value) is expected


def test_php_array_sequential_keys_become_list() -> None:
    assert php_array({}) == []
    assert php_array({"0": "a", "1": "b"}) == ["a", "b"]
    assert php_array({"1": "b"}) == {"1": "b"}
    assert php_array({"p0": 1}) == {"p0": 1}


def test_json_encode_escapes_like_php() -> None:
    value = {"s": "a/b <i> & \"q\" 'x' \\ \u2028 Ж 👋", "n": None, "l": []}
    encoded = json_encode(value)
    text = encoded.decode("utf-8")
    assert "\\/" in text and "\\u003C" in text and "\\u003E" in text
    assert "\\u0026" in text and "\\u0022" in text and "\\u0027" in text
    assert "\\u2028" in text and "Ж" in text and "👋" in text
    assert json.loads(encoded) == value


def test_clock_formats_and_parses() -> None:
    clock = PortalClock("+03:00")
    ts = 1_724_677_896
    assert clock.fmt(ts) == "2024-08-26T16:11:36+03:00"
    assert clock.fmt_json(ts) == b'"2024-08-26T16:11:36+03:00"'
    assert clock.fmt(None) == ""
    assert clock.parse("2024-08-26T16:11:36+03:00") == ts
    assert clock.parse("2024-08-26T13:11:36Z") == ts
    assert clock.parse("2024-08-26 16:11:36") == ts
    assert clock.parse("2024-08-26T16:11:36.999") == ts
    assert clock.parse("26.08.2024") == clock.parse("2024-08-26") == ts - (16 * 3600 + 11 * 60 + 36)
    assert clock.parse("not a date") is None
    assert clock.parse("") is None
    assert clock.fmt(clock.local_ts(9999, 12, 31)) == "9999-12-31T00:00:00+03:00"

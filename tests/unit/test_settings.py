"""Settings come from one JSON schema: its defaults, minimums and allowed values."""

from __future__ import annotations

import json
from dataclasses import MISSING, fields
from decimal import Decimal

import pytest

from tap_bitrix24.errors import ConfigError
from tap_bitrix24.settings import CONFIG_SCHEMA, Settings, parse_settings

WEBHOOK = {"webhook_url": "https://p.example.com/rest/1/abc/"}
PROPS = CONFIG_SCHEMA["properties"]
NUMERIC = [k for k, p in PROPS.items() if {"integer", "number"} & set(p["type"])]


def test_unset_settings_take_the_schema_defaults() -> None:
    settings = parse_settings(dict(WEBHOOK))
    plain = [
        f.name
        for f in fields(Settings)
        if f.default is MISSING and f.default_factory is MISSING and f.name in PROPS
    ]
    assert len(plain) == 14, plain
    for name in plain:
        assert getattr(settings, name) == PROPS[name]["default"], name


def test_every_numeric_setting_has_a_default_and_a_minimum_in_the_schema() -> None:
    assert len(NUMERIC) == 8
    for name in NUMERIC:
        assert "default" in PROPS[name] and "minimum" in PROPS[name], name
    assert PROPS["pagination"]["enum"] == ["keyset", "offset"]


@pytest.mark.parametrize("name", NUMERIC)
def test_numeric_strings_and_decimals_are_read_as_numbers(name: str) -> None:
    """Meltano passes env vars as strings; the SDK reads JSON numbers as Decimal."""
    integer = "integer" in PROPS[name]["type"]
    for given in ("7", " 7 ", Decimal("7"), 7):
        value = getattr(parse_settings({**WEBHOOK, name: given}), name)
        assert value == 7 and type(value) is (int if integer else float), (given, value)
    if not integer:
        assert getattr(parse_settings({**WEBHOOK, name: "2.5"}), name) == 2.5
    assert getattr(parse_settings({**WEBHOOK, name: ""}), name) == PROPS[name]["default"]


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"burst": "many"}, "burst: expected integer, got 'many'"),
        ({"burst": "2.5"}, "burst: expected integer, got 2.5"),
        ({"request_timeout": "0"}, "request_timeout: must be at least 1, got 0"),
        ({"requests_per_second": "nan"}, "requests_per_second: expected number, got 'nan'"),
        ({"pagination": "pages"}, "pagination: expected one of 'keyset', 'offset', got 'pages'"),
        ({"filter": "X=1"}, 'filter: expected object such as {"OWNER_TYPE_ID": 2'),
        (
            {"field_options_language": "english"},
            'field_options_language: expected a value such as "en" (pattern ^([a-z]{2})?$), '
            "got 'english'",
        ),
    ],
)
def test_schema_errors_name_the_setting_and_the_fix(config: dict, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_settings({**WEBHOOK, **config})
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_secret_of_the_wrong_type_is_not_echoed() -> None:
    config = {"portal_url": "https://p.example.com", "client_id": "a", "refresh_token": "r"}
    with pytest.raises(ConfigError) as caught:
        parse_settings({**config, "client_secret": 918273645})
    assert "client_secret: expected string" in str(caught.value)
    assert "918273645" not in str(caught.value)


def test_a_tap_instance_leaves_the_tap_schema_its_own() -> None:
    """The SDK adds its built-in settings to the tap class's schema; CONFIG_SCHEMA stays ours."""
    from tap_bitrix24.tap import TapBitrix24

    before = json.dumps(CONFIG_SCHEMA, sort_keys=True)
    TapBitrix24(config=WEBHOOK, validate_config=False, setup_mapper=False)
    assert json.dumps(CONFIG_SCHEMA, sort_keys=True) == before
    assert "flattening_max_depth" in TapBitrix24.config_jsonschema["properties"]

"""Dictionary streams over HTTP against the emulator: content equals the portal's truth."""

from __future__ import annotations

import logging
from typing import Any

import pytest
import requests

from tap_bitrix24.emulator import EmulatorServer
from tap_bitrix24.streams.dictionaries import DICTIONARIES
from tests.conftest import Control, fast_config, run_tap

SPEC = {d.name: d for d in DICTIONARIES}
NAMES = sorted(SPEC)
FIXED = (1, 2, 3, 4, 7)  # the types with a crm.<entity>.userfield.list


def _expected(name: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted((SPEC[name].record(r) for r in rows), key=_key(name))


def _key(name: str) -> Any:
    keys = SPEC[name].keys
    return lambda record: tuple(str(record[k]) for k in keys)


def _options(server: EmulatorServer, control: Control, language: str = "") -> list[dict[str, Any]]:
    """Every option of every enumeration field, read plainly from the portal's field lists.

    The field's label is crm.item.fields' (the portal's language), or with ``language`` the
    emulator's label in it where it has one (user fields of the types with a userfield list).
    """
    labels = control.get("truth/dictionaries?kind=fieldLabels")["fieldLabels"]
    rows = []
    types = [int(t) for t in control.get("truth/dictionaries?kind=categories")["categories"]]
    for entity_type in sorted({1, 2, 3, 4, 7, 31, *types}):
        answer = requests.post(
            server.webhook_url + "crm.item.fields", json={"entityTypeId": entity_type}, timeout=30
        ).json()
        fields = answer.get("result", {}).get("fields", {})
        for field, spec in fields.items():
            if spec.get("type") == "enumeration":
                by_language = labels.get(str(entity_type), {}).get(spec["upperName"], {})
                field_label = by_language.get(language) or spec["listLabel"]
                for position, item in enumerate(spec["items"]):
                    rows.append(
                        {
                            "entityTypeId": entity_type,
                            "field": field,
                            "fieldLabel": field_label,
                            "id": int(item["ID"]),
                            "label": item["VALUE"],
                            "sort": (position + 1) * 10,
                        }
                    )
    return sorted(rows, key=lambda r: (r["entityTypeId"], r["field"], r["id"]))


def test_dictionaries_equal_the_portal_truth(fresh_emulator: EmulatorServer) -> None:
    control = Control(fresh_emulator.url)
    control.post("config", {"scope": ["crm", "user", "department"]})
    result = run_tap(fast_config(fresh_emulator), streams=NAMES)
    truth = control.get("truth/dictionaries")
    got = {name: sorted(result.by_stream.get(name, []), key=_key(name)) for name in NAMES}

    assert got["statuses"] == _expected("statuses", truth["statuses"])
    pipelines = [
        {**row, "entityTypeId": int(t)} for t, rows in truth["categories"].items() for row in rows
    ]
    assert got["pipelines"] == _expected("pipelines", pipelines)
    assert {"entityTypeId": 2, "id": 0} in [
        {"entityTypeId": r["entityTypeId"], "id": r["id"]} for r in got["pipelines"]
    ]  # the default deal pipeline
    assert got["currencies"] == _expected("currencies", truth["currencies"])
    assert got["users"] == _expected("users", truth["users"])
    assert any(u["ACTIVE"] is False for u in got["users"])  # dismissed users too
    assert all(isinstance(d, int) for u in got["users"] for d in u["UF_DEPARTMENT"] or [])
    assert got["departments"] == _expected("departments", truth["departments"])
    options = [{k: v for k, v in r.items() if k != "stream"} for r in got["field_options"]]
    item_options = sorted(
        (r for r in options if r["entityTypeId"] != 6),
        key=lambda r: (r["entityTypeId"], r["field"], r["id"]),
    )
    assert item_options == _options(fresh_emulator, control)
    assert item_options  # the emulator's types have enumeration fields


@pytest.mark.parametrize("language", ["en", "ru"])
def test_field_labels_come_in_the_configured_language(
    fresh_emulator: EmulatorServer, language: str
) -> None:
    control = Control(fresh_emulator.url)
    control.post("stats/reset", {})
    config = fast_config(fresh_emulator, field_options_language=language)
    result = run_tap(config, streams=["field_options"])
    got = sorted(
        ({k: v for k, v in r.items() if k != "stream"} for r in result.by_stream["field_options"]),
        key=lambda r: (r["entityTypeId"], r["field"], r["id"]),
    )
    expected = _options(fresh_emulator, control, language)
    assert [r for r in got if r["entityTypeId"] != 6] == expected
    fixed = {(r["field"], r["fieldLabel"]) for r in expected if r["entityTypeId"] in FIXED}
    assert fixed  # the fixed types have enumeration user fields, labelled in the language
    in_english = {(r["field"], r["fieldLabel"]) for r in _options(fresh_emulator, control, "en")}
    assert (fixed <= in_english) is (language == "en")  # Russian labels differ from English ones
    calls = control.get("stats")["method_calls"]
    assert calls["crm.deal.userfield.list"] == 1  # one batch of the five lists per sync


def test_a_missing_scope_skips_only_its_stream(
    fresh_emulator: EmulatorServer, caplog: pytest.LogCaptureFixture
) -> None:
    Control(fresh_emulator.url).post("config", {"scope": ["crm"]})
    with caplog.at_level(logging.WARNING):
        result = run_tap(fast_config(fresh_emulator), streams=["users", "departments", "statuses"])
    assert "users" not in result.by_stream
    assert "departments" not in result.by_stream
    assert result.by_stream["statuses"]
    lines = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert len(lines) == 2
    assert any("'user' scope" in line and "'users'" in line for line in lines)
    assert any("'department' scope" in line for line in lines)

"""crm.activity.list select rules and value formats (the shapes of the recorded sample)."""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path

from tap_bitrix24.emulator.fields import DEFAULT_SELECT

ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+03:00$")
SAMPLE = Path(__file__).resolve().parents[1] / "fixtures" / "crm.activity.list.sample.json"
PAGE = {"order": {"ID": "ASC"}, "start": -1}


def test_default_select_is_39_fields_in_order(api) -> None:
    for select in (None, [], ["*"]):
        payload = dict(PAGE) if select is None else {**PAGE, "select": select}
        rows = api.result("crm.activity.list", payload)
        assert len(rows) == 50
        assert all(list(r) == list(DEFAULT_SELECT) for r in rows)
    assert len(DEFAULT_SELECT) == 39


def test_default_keys_match_recorded_sample(api) -> None:
    sample = json.loads(SAMPLE.read_text())["result"][0]
    row = api.result("crm.activity.list", PAGE)[0]
    assert list(row) == [k for k in sample if k not in ("COMMUNICATIONS", "FILES")]


def test_communications_only_when_named(api, shared_rows) -> None:
    plain = api.result("crm.activity.list", {**PAGE, "select": ["*"]})
    assert all("COMMUNICATIONS" not in r for r in plain)
    named = api.result("crm.activity.list", {**PAGE, "select": ["*", "COMMUNICATIONS"]})
    assert all(isinstance(r["COMMUNICATIONS"], list) for r in named)
    counts = {len(r["COMMUNICATIONS"]) for r in shared_rows}
    assert counts <= {0, 1, 2, 3} and {0, 1, 2} <= counts
    item = next(c for r in shared_rows for c in r["COMMUNICATIONS"])
    assert list(item) == ["ID", "TYPE", "VALUE", "ENTITY_ID", "ENTITY_TYPE_ID", "ENTITY_SETTINGS"]
    assert all(isinstance(item[k], str) for k in ("ID", "TYPE", "VALUE", "ENTITY_ID"))
    for row in shared_rows:
        ids = [int(c["ID"]) for c in row["COMMUNICATIONS"]]
        assert ids == sorted(ids)
        for c in row["COMMUNICATIONS"]:
            assert isinstance(c["ENTITY_SETTINGS"], (dict, list))


def test_files_key_only_for_activities_with_files(api) -> None:
    for name in ("FILES", "STORAGE_ELEMENT_IDS", "WEBDAV_ELEMENTS"):
        rows = api.walk(select=["*", name])
        with_files = [r for r in rows if "FILES" in r]
        assert with_files and len(with_files) < len(rows)
        assert all(name == "FILES" or name not in r for r in rows)
        for row in with_files:
            for f in row["FILES"]:
                assert isinstance(f["id"], int)
                assert f["url"] == (
                    f"{api.server.url}/bitrix/tools/crm_show_file.php?fileId={f['id']}"
                    f"&ownerTypeId=6&ownerId={row['ID']}&auth=test-secret"
                )
    rows = api.walk(select=["*"])
    assert all("FILES" not in r for r in rows)


def test_named_select_unknown_names_id_appended(api) -> None:
    rows = api.result("crm.activity.list", {**PAGE, "select": ["SUBJECT", "NOPE", "subject"]})
    assert all(list(r) == ["SUBJECT", "ID"] for r in rows)
    rows = api.result("crm.activity.list", {**PAGE, "select": ["DESCRIPTION"]})
    assert list(rows[0]) == ["DESCRIPTION", "PROVIDER_ID", "PROVIDER_TYPE_ID", "ID"]
    rows = api.result("crm.activity.list", {**PAGE, "select": ["only_unknown"]})
    assert list(rows[0]) == ["ID"]


def test_is_incoming_channel_and_bindings_never_returned(api) -> None:
    rows = api.result("crm.activity.list", {**PAGE, "select": ["*", "BINDINGS"]})
    assert all("BINDINGS" not in r and "IS_INCOMING_CHANNEL" not in r for r in rows)
    rows = api.result("crm.activity.list", {**PAGE, "select": ["ID", "IS_INCOMING_CHANNEL"]})
    assert {r["IS_INCOMING_CHANNEL"] for r in rows} <= {"Y", "N"}
    assert list(rows[0]) == ["ID", "IS_INCOMING_CHANNEL"]


def test_value_formats(shared_rows) -> None:
    datetimes = ("CREATED", "LAST_UPDATED", "START_TIME", "END_TIME", "DEADLINE")
    seen_empty = seen_9999 = seen_null = False
    settings_shapes: set[str] = set()
    for row in shared_rows:
        for key, value in row.items():
            if key in ("SETTINGS", "PROVIDER_PARAMS", "COMMUNICATIONS"):
                continue
            assert value is None or isinstance(value, str), (key, value)
            seen_null |= value is None
        for key in datetimes:
            value = row[key]
            assert value == "" or ISO.match(value), (key, value)
            seen_empty |= value == ""
            seen_9999 |= value.startswith("9999-12-31T00:00:00")
        assert row["CREATED"] and row["LAST_UPDATED"] >= row["CREATED"]
        assert row["COMPLETED"] in ("Y", "N")
        for key in ("SETTINGS", "PROVIDER_PARAMS"):
            assert row[key] == [] or (isinstance(row[key], dict) and row[key])
            settings_shapes.add("list" if row[key] == [] else "object")
    assert seen_empty and seen_9999 and seen_null
    assert settings_shapes == {"list", "object"}


def test_data_shape(shared_rows) -> None:
    ids = [int(r["ID"]) for r in shared_rows]
    assert ids == sorted(ids) and len(set(ids)) == len(ids) == 1200
    assert any(b - a > 1 for a, b in itertools.pairwise(ids))  # gaps
    owner_types = {int(r["OWNER_TYPE_ID"]) for r in shared_rows}
    assert {1, 2, 3, 4, 31} <= owner_types and any(t >= 128 for t in owner_types)
    assert {r["TYPE_ID"] for r in shared_rows} >= {"1", "2", "3", "4", "6"}
    assert {r["DESCRIPTION_TYPE"] for r in shared_rows} >= {"1", "2", "3"}
    updated = [r["LAST_UPDATED"] for r in shared_rows]
    assert sum(r["LAST_UPDATED"] == r["CREATED"] for r in shared_rows) > 300
    assert max(updated.count(u) for u in set(updated)) > 10  # many share one second
    assert min(r["CREATED"] for r in shared_rows) < "2023-06-01"
    text = json.dumps(shared_rows, ensure_ascii=False)
    assert "<p>" in text and "[b]" in text and ("👋" in text or "💬" in text)


def test_raw_body_is_php_escaped(api) -> None:
    body = api.raw("crm.activity.list", {"order": {"ID": "ASC"}, "start": 0}).content.decode()
    assert "\\/" in body and '"time":{' in body
    assert "/" not in body.replace("\\/", "")
    assert re.search(r"[А-я]", body)  # unicode is not \u-escaped
    assert body.index('"result"') < body.index('"next"') < body.index('"total"')
    assert body.index('"total"') < body.index('"time"')

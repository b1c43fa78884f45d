"""The command line: --about, --discover, and one clear line for every bad setting."""

from __future__ import annotations

import json

import pytest

from tests.conftest import SECRET, fast_config, run_cli


def test_about_markdown_needs_no_config(tmp_path):
    done = run_cli(["--about", "--format=markdown"], None, tmp_path)
    assert done.returncode == 0, done.stderr
    for setting in ("webhook_url", "client_secret", "filter", "pagination", "burst"):
        assert f"| {setting} |" in done.stdout


def test_discover_lists_typed_properties_for_every_field(emulator, tmp_path):
    config = fast_config(emulator, include_communications=True, include_files=True)
    done = run_cli(["--discover"], config, tmp_path)
    assert done.returncode == 0, done.stderr
    catalog = json.loads(done.stdout)
    streams = {s["tap_stream_id"]: s for s in catalog["streams"]}
    activity_streams = {"activities", "activity_bindings", "activity_communications"}
    item_streams = {"leads", "deals", "contacts", "companies", "quotes", "invoices"}
    assert activity_streams | item_streams <= set(streams)
    assert {s for s in streams if s.startswith("smart_process_")} == {
        "smart_process_128",
        "smart_process_133",
        "smart_process_1032",
    }
    stream = streams["activities"]
    props = stream["schema"]["properties"]
    assert len(props) == 42 and "BINDINGS" not in props
    assert props["ID"]["type"] == ["integer"]
    assert props["OWNER_TYPE_ID"]["type"] == ["integer", "null"]
    assert props["RESULT_SUM"]["type"] == ["number", "null"]
    assert props["LAST_UPDATED"]["format"] == "date-time"
    assert props["COMPLETED"]["type"] == ["boolean", "null"]
    assert props["SETTINGS"]["type"] == ["object", "null"]
    assert props["COMMUNICATIONS"]["items"]["properties"]["ENTITY_ID"]["type"] == [
        "integer",
        "null",
    ]
    top = next(m for m in stream["metadata"] if m["breadcrumb"] == [])
    assert top["metadata"]["table-key-properties"] == ["ID"]
    assert top["metadata"]["valid-replication-keys"] == ["LAST_UPDATED"]
    bindings_top = next(m for m in streams["activity_bindings"]["metadata"] if not m["breadcrumb"])
    assert bindings_top["metadata"]["selected-by-default"] is False


def _fails_cleanly(done, *words: str) -> str:
    assert done.returncode != 0
    assert "Traceback" not in done.stderr, done.stderr
    error_lines = [line for line in done.stderr.splitlines() if "error" in line.lower()]
    assert error_lines, done.stderr
    text = done.stderr
    for word in words:
        assert word in text, (word, text)
    return text


BAD_SETTINGS = [
    ({}, ["webhook_url", "refresh_token"]),
    (
        {
            "webhook_url": "https://x.bitrix24.com/rest/1/abc/",
            "portal_url": "https://x.bitrix24.com",
            "client_id": "a",
            "client_secret": "b",
            "refresh_token": "c",
        },
        ["exactly one"],
    ),
    ({"webhook_url": "http://portal.example.com/rest/1/abc/"}, ["webhook_url", "https"]),
    ({"webhook_url": "https://portal.example.com/crm/deal/"}, ["webhook_url", "/rest/"]),
    ({"portal_url": "https://p.example.com", "client_id": "a"}, ["client_secret", "refresh_token"]),
    (
        {"webhook_url": "https://p.example.com/rest/1/abc/", "start_date": "yesterday-ish"},
        ["start_date"],
    ),
    ({"webhook_url": "https://p.example.com/rest/1/abc/", "pagination": "pages"}, ["pagination"]),
    ({"webhook_url": "https://p.example.com/rest/1/abc/", "burst": "many"}, ["burst"]),
    (
        {"webhook_url": "https://p.example.com/rest/1/abc/", "requests_per_second": -1},
        ["requests_per_second"],
    ),
    ({"webhook_url": "https://p.example.com/rest/1/abc/", "filter": "OWNER_TYPE_ID=2"}, ["filter"]),
    ({"webhook_url": 5}, ["webhook_url", "string"]),
    (
        {"webhook_url": "https://p.example.com/rest/1/abc/", "include_files": "yes"},
        ["include_files"],
    ),
    ({"webhook_url": "https://p.example.com/rest/1/abc/", "burst": 2.5}, ["burst", "integer"]),
    (
        {"webhook_url": "https://p.example.com/rest/1/abc/", "max_parallel_requests": 0},
        ["max_parallel"],
    ),
    ({"webhok_url": "https://p.example.com/rest/1/abc/"}, ["unknown setting", "webhok_url"]),
]


@pytest.mark.parametrize(("config", "words"), BAD_SETTINGS)
def test_bad_settings_get_one_clear_line(config, words, tmp_path):
    _fails_cleanly(run_cli(["--discover"], config, tmp_path), *words)


@pytest.mark.parametrize(
    ("flt", "words"),
    [
        ({"OWNER_TYPE": 2}, ["OWNER_TYPE", "unknown field"]),
        ({"owner_type_id": 2}, ["owner_type_id", "did you mean OWNER_TYPE_ID"]),
        ({"~OWNER_TYPE_ID": 2}, ["~OWNER_TYPE_ID"]),
        ({"@TYPE_ID": []}, ["empty list"]),
        ({">CREATED": "last tuesday"}, ["CREATED", "ISO"]),
        ({">ID": 5}, ["set by the tap"]),
    ],
)
def test_filter_typos_are_refused(emulator, flt, words, tmp_path):
    config = fast_config(emulator, filter=flt)
    _fails_cleanly(run_cli([], config, tmp_path), *words)


def test_wrong_secret_names_the_code(emulator, tmp_path):
    config = fast_config(emulator)
    config["webhook_url"] = emulator.webhook_url.replace(SECRET, "wrong-secret-123")
    text = _fails_cleanly(run_cli([], config, tmp_path), "NO_AUTH_FOUND", "webhook_url")
    assert "wrong-secret-123" not in text


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:9/rest/1/abcdef/", "https://portal.does-not-resolve.invalid/rest/1/abcdef/"],
)
def test_unreachable_portal(tmp_path, url):
    config = {"webhook_url": url, "retry_backoff_seconds": 0.01}
    text = _fails_cleanly(run_cli([], config, tmp_path), "cannot talk to the portal")
    assert "abcdef" not in text


@pytest.mark.parametrize(
    ("state", "words"),
    [
        ("{not json", ["--state", "not valid JSON"]),
        ('["a list"]', ["--state", "JSON object"]),
        (
            '{"bookmarks": {"orders": {"replication_key_value": "2024-01-01"}}}',
            ["orders", "another tap"],
        ),
        (
            '{"bookmarks": {"activities": {"replication_key_value": "soon"}}}',
            ["activities", "date-time"],
        ),
        (
            '{"bookmarks": {"activities": {"walk": {"ranges": "x", "signpost": "y"}}}}',
            ["activities", "unreadable"],
        ),
    ],
)
def test_unusable_state_gets_one_clear_line(emulator, tmp_path, state, words):
    (tmp_path / "state.json").write_text(state)
    config = fast_config(emulator)
    (tmp_path / "config.json").write_text(json.dumps(config))
    done = run_cli(
        ["--config", str(tmp_path / "config.json"), "--state", str(tmp_path / "state.json")],
        None,
        tmp_path,
    )
    _fails_cleanly(done, *words)


def test_unreadable_config_file(tmp_path):
    (tmp_path / "broken.json").write_text("{webhook_url: nope")
    _fails_cleanly(run_cli(["--config", str(tmp_path / "broken.json")], None, tmp_path), "--config")


def test_numbers_given_as_strings_are_read(emulator, tmp_path):
    """Meltano passes numbers set as env vars (`kind: string`) to the tap as strings."""
    config = {key: str(value) for key, value in fast_config(emulator).items()}
    done = run_cli([], config, tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert '"type":"RECORD"' in done.stdout.replace(" ", "")

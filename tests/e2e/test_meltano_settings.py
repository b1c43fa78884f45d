"""meltano.yml agrees with the plugins: setting names, secrets, kinds, capabilities.

The tap's `config_jsonschema` (what `tap-bitrix24 --about` prints) is the truth; meltano.yml must
declare exactly its settings, mark exactly its secrets sensitive, and use a matching kind.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tap_bitrix24.settings import SDK_SETTINGS

from .conftest import REPO, Meltano

SECRET_MARKER = "e2e-not-a-real-secret-6b1d"


def _meltano_yml() -> dict[str, Any]:
    return yaml.safe_load((REPO / "meltano.yml").read_text(encoding="utf-8"))


def _plugin(kind: str, name: str) -> dict[str, Any]:
    plugins = _meltano_yml()["plugins"][kind]
    return next(p for p in plugins if p["name"] == name)


def _settings(kind: str, name: str) -> dict[str, dict[str, Any]]:
    return {s["name"]: s for s in _plugin(kind, name).get("settings", [])}


def _is_sensitive(setting: dict[str, Any]) -> bool:
    return bool(setting.get("sensitive")) or setting.get("kind") in {"password", "oauth"}


def _expected_kind(prop: dict[str, Any]) -> set[str]:
    """Meltano kinds acceptable for a JSON schema property."""
    types = prop.get("type", [])
    types = {types} if isinstance(types, str) else set(types)
    types.discard("null")
    if prop.get("enum") or (prop.get("items") or {}).get("enum"):
        return {"options"} if "array" not in types else {"array"}
    if "boolean" in types:
        return {"boolean"}
    if "integer" in types:
        return {"integer"}
    if "number" in types:
        return {"string"}  # Meltano 4.4 cannot pass a decimal read from an env var
    if "object" in types:
        return {"object"}
    if "array" in types:
        return {"array"}
    if prop.get("format") == "date-time":
        return {"date_iso8601"}
    return {"string", "password", "file", "email"}


def _tap_properties() -> dict[str, Any]:
    """The tap's own settings in its config_jsonschema.

    The SDK merges its built-in settings into the class's schema once a tap is instantiated;
    Meltano declares those itself, so they are left out of every comparison.
    """
    from tap_bitrix24.tap import TapBitrix24

    props = TapBitrix24.config_jsonschema["properties"]
    return {name: prop for name, prop in props.items() if name not in SDK_SETTINGS}


def test_meltano_yml_and_readme_are_generated_from_about() -> None:
    """meltano.yml's settings and README's table are what the generator makes of --about."""
    proc = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "sync_meltano_settings.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr


def test_tap_settings_match_config_jsonschema() -> None:
    props = _tap_properties()
    declared = _settings("extractors", "tap-bitrix24")
    assert sorted(declared) == sorted(props), (
        f"only in meltano.yml: {sorted(set(declared) - set(props))}; "
        f"only in the tap: {sorted(set(props) - set(declared))} "
        "(run: .venv/bin/python scripts/sync_meltano_settings.py)"
    )
    problems = []
    for name, prop in props.items():
        setting = declared[name]
        secret = bool(prop.get("secret") or prop.get("writeOnly"))
        if secret != _is_sensitive(setting):
            problems.append(f"{name}: secret={secret} but sensitive={_is_sensitive(setting)}")
        kind = setting.get("kind", "string")
        if kind not in _expected_kind(prop):
            problems.append(f"{name}: kind {kind!r}, schema {prop}")
        if kind == "options":
            values = {o["value"] for o in setting["options"]}
            allowed = set(prop.get("enum") or [])
            if values != allowed - {None}:
                problems.append(f"{name}: options {sorted(values)} != enum {sorted(allowed)}")
        if "value" in setting and "default" in prop and setting["value"] != prop["default"]:
            problems.append(f"{name}: value {setting['value']!r} != default {prop['default']!r}")
    assert not problems, "\n".join(problems)


def test_no_setting_kind_meltano_rejects() -> None:
    valid = {
        "string",
        "integer",
        "boolean",
        "decimal",
        "date_iso8601",
        "email",
        "password",
        "oauth",
        "options",
        "file",
        "array",
        "object",
        "hidden",
    }
    for kind in ("extractors", "loaders"):
        for plugin in _meltano_yml()["plugins"][kind]:
            if plugin.get("inherit_from"):
                assert plugin["inherit_from"] in {
                    p["name"] for p in _meltano_yml()["plugins"][kind]
                }
                continue
            assert plugin.get("namespace"), f"{plugin['name']}: custom plugins need a namespace"
            assert "variant" not in plugin, f"{plugin['name']}: variant needs Meltano Hub"
            for s in plugin.get("settings", []):
                assert s.get("kind", "string") in valid, (plugin["name"], s)


def test_dev_environment_is_the_default() -> None:
    project = _meltano_yml()
    assert project["default_environment"] == "dev"
    assert "dev" in {e["name"] for e in project["environments"]}
    assert "state" in _plugin("extractors", "tap-bitrix24")["capabilities"]


def _about(executable: Path) -> dict[str, Any]:
    proc = subprocess.run(
        [str(executable), "--about", "--format=json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(proc.stdout)


@pytest.mark.e2e
def test_loader_settings_exist_in_the_loaders(installed_plugins: Path) -> None:
    executable = _plugin("loaders", "target-postgres")["executable"]
    about = _about(installed_plugins / "loaders/target-postgres/venv/bin" / executable)
    unknown = set(_settings("loaders", "target-postgres")) - set(about["settings"]["properties"])
    assert not unknown, f"target-postgres has no settings {sorted(unknown)}"
    assert about["name"] == "target-postgres", about["name"]
    assert set(_settings("loaders", "target-jsonl")) == {
        "destination_path",
        "do_timestamp_file",
        "custom_name",
    }


@pytest.mark.e2e
def test_meltano_invoke_about(meltano: Meltano) -> None:
    proc = meltano(
        "--log-level=warning", "invoke", "--no-install", "tap-bitrix24", "--about", "--format=json"
    )
    about = json.loads(proc.stdout)
    own = set(about["settings"]["properties"]) - SDK_SETTINGS
    assert sorted(own) == sorted(_settings("extractors", "tap-bitrix24"))
    declared = set(_plugin("extractors", "tap-bitrix24")["capabilities"])
    assert declared <= set(about["capabilities"]), about["capabilities"]
    assert about["name"] == "tap-bitrix24"


@pytest.mark.e2e
def test_meltano_config_list(meltano: Meltano) -> None:
    secret_url = f"https://example.bitrix24.com/rest/1/{SECRET_MARKER}/"
    proc = meltano(
        "--log-level=warning",
        "--environment=dev",
        "config",
        "list",
        "--all",
        "tap-bitrix24",
        env={"TAP_BITRIX24_WEBHOOK_URL": secret_url},
    )
    out = proc.stdout
    for name in _settings("extractors", "tap-bitrix24"):
        assert f"{name} [env: TAP_BITRIX24_{name.upper()}]" in out, f"{name} not listed:\n{out}"
    assert SECRET_MARKER not in out, "meltano config list printed the webhook secret"
    assert "(redacted)" in out


def _numeric_settings() -> dict[str, str]:
    """Every numeric setting with a non-default value, as an environment variable would hold it."""
    values = {}
    for name, prop in _tap_properties().items():
        types = set(prop["type"]) - {"null"}
        if "integer" in types:
            values[name] = str(prop["default"] + 1)
        elif "number" in types:
            values[name] = str(prop["default"] + 0.5)
    return values


@pytest.mark.e2e
def test_numeric_settings_from_environment_variables(project: Meltano) -> None:
    """Every numeric setting can come from a TAP_BITRIX24_* variable through Meltano 4.4.

    `kind: decimal` crashed Meltano ("Decimal is not JSON serializable"); numbers now use
    `kind: integer` or `kind: string`, and the tap reads numeric strings as numbers.
    """
    values = _numeric_settings()
    assert len(values) == 8, values
    env = {f"TAP_BITRIX24_{name.upper()}": value for name, value in values.items()}
    printed = json.loads(
        project("--log-level=warning", "config", "print", "tap-bitrix24", env=env).stdout
    )
    assert {name: float(printed[name]) for name in values} == {
        name: float(value) for name, value in values.items()
    }
    # The tap takes them (a sync validates its config; settings.py reads the numeric strings).
    proc = project("--log-level=warning", "invoke", "--no-install", "tap-bitrix24", env=env)
    records = [
        line for line in proc.stdout.splitlines() if '"type":"RECORD"' in line.replace(" ", "")
    ]
    assert records, proc.stderr[-2000:]


@pytest.mark.e2e
def test_a_bad_number_from_the_environment_gets_one_line(project: Meltano) -> None:
    proc = project(
        "--log-level=warning",
        "invoke",
        "--no-install",
        "tap-bitrix24",
        env={"TAP_BITRIX24_REQUESTS_PER_SECOND": "fast"},
        check=False,
    )
    assert proc.returncode != 0
    assert "requests_per_second: expected number, got 'fast'" in proc.stderr, proc.stderr[-2000:]
    # Meltano prints its own traceback when discovery fails; none comes from the tap's code.
    assert "tap_bitrix24/" not in proc.stderr, proc.stderr[-3000:]

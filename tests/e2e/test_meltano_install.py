"""The plugin definition in README.md works in a Meltano project outside this repository.

A fresh project (`meltano init` in a temp dir) gets the README's YAML block as its extractor,
with the `pip_url` pointing at a wheel built from this checkout (standing in for the git
repository), and target-jsonl; `meltano install` installs both into the project's own venvs, and
`meltano run tap-bitrix24 target-jsonl` syncs the emulator, then runs incrementally from the
state Meltano kept.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from .conftest import REPO, Emulator, Meltano, read_jsonl, tail

pytestmark = pytest.mark.e2e

PLUGIN_BEGIN = "<!-- BEGIN plugin definition"
PLUGIN_END = "<!-- END plugin definition -->"


def readme_plugin() -> dict[str, Any]:
    """The extractor entry README.md tells users to paste (the ```yaml block in the markers)."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    block = text.split(PLUGIN_BEGIN, 1)[1].split(PLUGIN_END, 1)[0]
    source = block.split("```yaml\n", 1)[1].split("```", 1)[0]
    (plugin,) = yaml.safe_load(source)["plugins"]["extractors"]
    return plugin


def test_readme_plugin_declares_what_meltano_needs() -> None:
    plugin = readme_plugin()
    assert plugin["pip_url"].startswith("git+https://"), plugin["pip_url"]
    assert plugin["namespace"] == "tap_bitrix24" and plugin["executable"] == "tap-bitrix24"
    assert {"state", "catalog", "discover", "about"} <= set(plugin["capabilities"])
    settings = {s["name"]: s for s in plugin["settings"]}
    assert settings["webhook_url"].get("sensitive") is True
    assert plugin["select"] == ["activities.*"]


@pytest.fixture(scope="module")
def outside(meltano_bin: str, tmp_path_factory: pytest.TempPathFactory) -> Meltano:
    """A `meltano init` project outside the repository with README's tap from a built wheel."""
    base = tmp_path_factory.mktemp("outside")
    assert REPO not in base.parents, f"{base} is inside the repository"
    wheels = base / "wheels"
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(REPO)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert built.returncode == 0, tail(built.stdout + built.stderr)
    (wheel,) = wheels.glob("tap_bitrix24-*.whl")
    init = subprocess.run(
        [meltano_bin, "init", "--no-usage-stats", str(base / "project")],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=base,
    )
    assert init.returncode == 0, tail(init.stdout + init.stderr)
    project = Meltano(bin=meltano_bin, root=base / "project")
    config = yaml.safe_load((project.root / "meltano.yml").read_text(encoding="utf-8"))
    tap = readme_plugin()
    tap["pip_url"] = str(wheel)
    repo_yml = yaml.safe_load((REPO / "meltano.yml").read_text(encoding="utf-8"))
    jsonl = next(p for p in repo_yml["plugins"]["loaders"] if p["name"] == "target-jsonl")
    config["plugins"] = {"extractors": [tap], "loaders": [jsonl]}
    config.setdefault("default_environment", "dev")
    (project.root / "meltano.yml").write_text(
        yaml.safe_dump(config, sort_keys=False), encoding="utf-8"
    )
    project("--log-level=warning", "install")
    return project


def test_the_tap_is_installed_from_the_wheel_not_the_checkout(outside: Meltano) -> None:
    venv = outside.root / ".meltano" / "extractors" / "tap-bitrix24" / "venv"
    (module,) = venv.glob("lib/python*/site-packages/tap_bitrix24/tap.py")
    assert REPO not in module.resolve().parents
    assert not list(venv.glob("lib/python*/site-packages/__editable__*"))


def test_run_and_incremental_run(outside: Meltano, emulator: Emulator, tmp_path: Path) -> None:
    env = {
        "TAP_BITRIX24_WEBHOOK_URL": emulator.webhook_url,
        "TARGET_JSONL_DESTINATION_PATH": str(tmp_path / "full"),
        "TARGET_JSONL_DO_TIMESTAMP_FILE": "false",
    }
    (tmp_path / "full").mkdir()
    truth = emulator.truth()
    outside.run("tap-bitrix24", "target-jsonl", env=env)
    records = read_jsonl(tmp_path / "full" / "activities.jsonl")
    assert sorted(int(r["ID"]) for r in records) == sorted(truth)

    changed = emulator.mutate(update=5, seed=3)["updated"]
    env["TARGET_JSONL_DESTINATION_PATH"] = str(tmp_path / "changes")
    (tmp_path / "changes").mkdir()
    outside.run("tap-bitrix24", "target-jsonl", env=env)
    again = {int(r["ID"]) for r in read_jsonl(tmp_path / "changes" / "activities.jsonl")}
    assert set(changed) <= again and len(again) < len(truth) // 10, sorted(again)[:20]

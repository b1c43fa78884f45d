"""Two client portals in one Meltano project, synced in parallel into one PostgreSQL.

The project is meltano.yml with its two example portals: plugins that inherit tap-bitrix24, each
with its own webhook (TAP_BITRIX24_<PLUGIN>_WEBHOOK_URL) and its own load_schema, which
target-postgres uses as its schema (renamed per test run: TAP_BITRIX24_<PLUGIN>__LOAD_SCHEMA).
Meltano's system database, where the state lives, is in the same PostgreSQL
(MELTANO_DATABASE_URI=postgresql+psycopg://...). Each job keeps its own state, so an
incremental run of each portal reads only that portal's changes.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest
import yaml

from .conftest import REPO, Emulator, Meltano, Postgres, start_emulator
from .test_meltano_postgres import Table, assert_mirrors

pytestmark = pytest.mark.e2e

PORTALS = {"acme": 11, "globex": 12}  # portal -> emulator seed
ACTIVITIES = 1500


@dataclass
class Portal:
    """One emulated client portal, its plugin and its target schema."""

    name: str
    plugin: str
    emulator: Emulator
    table: Table

    @property
    def state_id(self) -> str:
        """The state ID of `meltano run <plugin> target-postgres` in the dev environment."""
        return f"dev:{self.plugin}-to-target-postgres"

    def bookmark(self, project: Meltano) -> dt.datetime:
        """The activities bookmark in this job's state."""
        state = project.state(self.state_id)["singer_state"]
        value = state["bookmarks"]["activities"]["replication_key_value"]
        return dt.datetime.fromisoformat(value).astimezone(dt.timezone.utc)

    def batched_at(self) -> dict[int, dt.datetime]:
        """ID -> _sdc_batched_at (when the loader last wrote the row)."""
        cols = self.table.columns()
        id_col, at_col = cols["ID"][0], cols["_SDC_BATCHED_AT"][0]
        with self.table.postgres.connect() as conn:
            rows = conn.execute(
                f'SELECT "{id_col}", "{at_col}" FROM "{self.table.schema}"."activities"'
            ).fetchall()
        return {int(i): at for i, at in rows}


def test_meltano_yml_declares_the_portals() -> None:
    """Each example portal inherits the tap and loads into its own schema."""
    project = yaml.safe_load((REPO / "meltano.yml").read_text(encoding="utf-8"))
    extractors = {p["name"]: p for p in project["plugins"]["extractors"]}
    schemas = {extractors["tap-bitrix24"]["load_schema"]}
    for name in PORTALS:
        plugin = extractors[f"tap-bitrix24-{name}"]
        assert plugin["inherit_from"] == "tap-bitrix24", plugin
        schemas.add(plugin["load_schema"])
    assert len(schemas) == len(PORTALS) + 1, schemas
    loader = project["environments"][0]["config"]["plugins"]["loaders"]
    postgres = next(p for p in loader if p["name"] == "target-postgres")
    assert postgres["config"]["default_target_schema"] == "$MELTANO_EXTRACT__LOAD_SCHEMA"


@pytest.fixture(scope="module")
def setup(
    meltano: Meltano, postgres: Postgres, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Meltano, dict[str, Portal], str]]:
    """Two emulators, the project wired to them, and Meltano's system db in a PG schema."""
    run_id = uuid.uuid4().hex[:8]
    schemas = {p: f"e2e_portal_{p}_{run_id}" for p in PORTALS}
    system_schema = f"e2e_meltano_{run_id}"
    portals: dict[str, Portal] = {}
    try:
        for name, seed in PORTALS.items():
            emulator = start_emulator(
                tmp_path_factory.mktemp(f"emulator-{name}"), activities=ACTIVITIES, seed=seed
            )
            plugin = f"tap-bitrix24-{name}"
            portals[name] = Portal(name, plugin, emulator, Table(postgres, schemas[name]))
            prefix = plugin.upper().replace("-", "_")
            meltano.env[f"{prefix}_WEBHOOK_URL"] = emulator.webhook_url
            meltano.env[f"{prefix}__LOAD_SCHEMA"] = schemas[name]  # unique per test run
        with postgres.connect() as conn:
            conn.execute(f'CREATE SCHEMA "{system_schema}"')
        meltano.env["MELTANO_DATABASE_URI"] = (
            f"postgresql+psycopg://{postgres.user}:{postgres.password}@{postgres.host}:"
            f"{postgres.port}/{postgres.database}?options=-csearch_path%3D{system_schema}"
        )
        target = postgres.target_env("unused")
        del target["TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA"]  # each portal's load_schema
        meltano.env.update(target)
        yield meltano, portals, system_schema
    finally:
        for portal in portals.values():
            portal.emulator.stop()
        with postgres.connect() as conn:
            for schema in [*schemas.values(), system_schema]:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _run_in_parallel(project: Meltano, portals: dict[str, Portal]) -> None:
    with ThreadPoolExecutor(len(portals)) as pool:
        jobs = [pool.submit(project.run, p.plugin, "target-postgres") for p in portals.values()]
        for job in jobs:
            job.result()


@pytest.fixture(scope="module")
def first_runs(setup) -> dict[str, dict[int, dt.datetime]]:
    """Both portals' full runs, in parallel; each portal's truth at that time."""
    project, portals, _ = setup
    project("--log-level=warning", "state", "list")  # migrate the system db once, not twice
    truths = {name: p.emulator.truth() for name, p in portals.items()}
    _run_in_parallel(project, portals)
    return truths


def test_each_portal_lands_in_its_own_schema(setup, first_runs) -> None:
    _, portals, _ = setup
    assert first_runs["acme"] != first_runs["globex"], "the same data: this would prove nothing"
    for name, portal in portals.items():
        assert_mirrors(portal.table, first_runs[name])


def test_each_job_keeps_its_own_state_in_postgres(setup, first_runs, postgres: Postgres) -> None:
    project, portals, system_schema = setup
    for name, portal in portals.items():
        assert portal.bookmark(project) == max(first_runs[name].values()), name
    with postgres.connect() as conn:
        stored = {r[0] for r in conn.execute(f'SELECT state_id FROM "{system_schema}"."state"')}
    assert {p.state_id for p in portals.values()} <= stored, stored


def test_incremental_runs_read_only_their_own_changes(setup, first_runs) -> None:
    project, portals, _ = setup
    before = {name: p.batched_at() for name, p in portals.items()}
    bookmarks = {name: max(truth.values()) for name, truth in first_runs.items()}  # as checked
    changes = {
        "acme": portals["acme"].emulator.mutate(update=7, insert=3, seed=5),
        "globex": portals["globex"].emulator.mutate(update=4, seed=6),
    }
    _run_in_parallel(project, portals)
    for name, portal in portals.items():
        truth = portal.emulator.truth()
        assert_mirrors(portal.table, truth)
        changed = set(changes[name]["updated"]) | set(changes[name]["inserted"])
        after = portal.batched_at()
        rewritten = {i for i, at in after.items() if i not in before[name] or at > before[name][i]}
        # Bitrix24 filters LAST_UPDATED by the second: activities sharing the old bookmark's
        # second come again; nothing else that did not change may be read.
        same_second = {i for i, t in first_runs[name].items() if t == bookmarks[name]}
        assert changed <= rewritten, (name, sorted(changed - rewritten))
        assert rewritten <= changed | same_second, (name, sorted(rewritten - changed))
        assert portal.bookmark(project) == max(truth.values()), name

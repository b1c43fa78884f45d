"""`meltano run tap-bitrix24 target-postgres` against a real PostgreSQL.

The table must mirror the emulator: one row per activity, upserted on ID by incremental runs,
and rebuilt by `meltano run --full-refresh`, with typed columns: LAST_UPDATED is a timestamptz
holding the portal's instant (the project's target-postgres is the stock loader with date-times
as timestamptz, loaders/target-postgres-tz). The loader writes with a session time zone far from
UTC, so an instant stored as wall time would show up as a wrong instant.
"""

from __future__ import annotations

import datetime as dt

import pytest

from .conftest import Emulator, Meltano, Postgres

pytestmark = pytest.mark.e2e

STATE_ID = "dev:tap-bitrix24-to-target-postgres"
TABLE = "activities"
# libpq reads PGTZ: the loader's session TimeZone (not UTC, not the emulator's +03:00).
WRITER_TZ = {"PGTZ": "Asia/Kathmandu"}


class Table:
    """Read access to the loaded activities table (column names matched case-insensitively)."""

    def __init__(self, postgres: Postgres, schema: str) -> None:
        self.postgres = postgres
        self.schema = schema

    def columns(self) -> dict[str, tuple[str, str]]:
        """Upper-cased column name -> (actual name, information_schema data_type)."""
        with self.postgres.connect() as conn:
            rows = conn.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = %s AND table_name = %s",
                (self.schema, TABLE),
            ).fetchall()
        assert rows, f"no table {self.schema}.{TABLE} (tables: {self.tables()})"
        return {name.upper(): (name, data_type) for name, data_type in rows}

    def tables(self) -> list[str]:
        """Tables in the schema."""
        with self.postgres.connect() as conn:
            return [
                r[0]
                for r in conn.execute(
                    "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                    (self.schema,),
                )
            ]

    def rows(self) -> list[tuple[int, dt.datetime]]:
        """(ID, LAST_UPDATED as an aware UTC instant) of every row."""
        cols = self.columns()
        id_col = cols["ID"][0]
        ts_col, ts_type = cols["LAST_UPDATED"]
        assert ts_type == "timestamp with time zone", f"LAST_UPDATED is {ts_type}"
        with self.postgres.connect() as conn:
            rows = conn.execute(
                f'SELECT "{id_col}", "{ts_col}" FROM "{self.schema}"."{TABLE}"'
            ).fetchall()
        return [(int(i), ts.astimezone(dt.timezone.utc)) for i, ts in rows]

    def truncate(self) -> None:
        """Empty the table."""
        with self.postgres.connect() as conn:
            conn.execute(f'TRUNCATE "{self.schema}"."{TABLE}"')


@pytest.fixture(scope="module")
def table(postgres: Postgres, pg_schema: str) -> Table:
    """The activities table in the module's schema."""
    return Table(postgres, pg_schema)


@pytest.fixture(scope="module")
def run_pg(project: Meltano, postgres: Postgres, pg_schema: str):
    """`meltano run [FLAGS] tap-bitrix24 target-postgres` into the module's schema."""

    def run(*flags: str) -> None:
        env = {**postgres.target_env(pg_schema), **WRITER_TZ}
        project.run(*flags, "tap-bitrix24", "target-postgres", env=env)

    return run


def assert_mirrors(table: Table, truth: dict[int, dt.datetime]) -> None:
    """The table holds exactly the emulator's activities with their LAST_UPDATED instants."""
    rows = table.rows()
    ids = [i for i, _ in rows]
    assert len(ids) == len(set(ids)), "duplicate IDs in the table"
    loaded = dict(rows)
    missing = set(truth) - set(loaded)
    extra = set(loaded) - set(truth)
    assert not missing and not extra, (
        f"{len(missing)} activities missing (e.g. {sorted(missing)[:10]}), "
        f"{len(extra)} rows not in the emulator (e.g. {sorted(extra)[:10]})"
    )
    stale = {
        i: (loaded[i].isoformat(), truth[i].isoformat()) for i in truth if loaded[i] != truth[i]
    }
    assert not stale, f"LAST_UPDATED (table, emulator) differs for {len(stale)}: {stale}"


@pytest.fixture(scope="module")
def loaded(run_pg, emulator: Emulator) -> None:
    """The first, full load."""
    run_pg()


@pytest.mark.usefixtures("loaded")
def test_column_types(table: Table) -> None:
    cols = table.columns()
    types = {name: cols[name][1] for name in ("ID", "LAST_UPDATED", "COMPLETED")}
    assert types["ID"] in {"integer", "bigint"}, types
    assert types["COMPLETED"] == "boolean", types
    assert types["LAST_UPDATED"] == "timestamp with time zone", types


@pytest.mark.usefixtures("loaded")
def test_last_updated_is_timestamptz(table: Table) -> None:
    """Every date-time column (LAST_UPDATED, the other dates, _sdc_*_at) is a timestamptz."""
    types = {name: data_type for name, data_type in table.columns().values()}
    assert types["LAST_UPDATED"] == "timestamp with time zone", types
    assert types["_sdc_extracted_at"] == "timestamp with time zone", types
    naive = sorted(
        name for name, data_type in types.items() if data_type.startswith("timestamp without")
    )
    assert not naive, f"timestamp columns without a time zone: {naive}"


@pytest.mark.usefixtures("loaded")
def test_instants_equal_the_emulators_as_timestamptz(
    table: Table, emulator: Emulator, postgres: Postgres
) -> None:
    """PostgreSQL itself compares each LAST_UPDATED with the portal's string cast to timestamptz."""
    body = emulator.truth_body()
    ids = [int(i) for i in body["activities"]]
    printed = list(body["activities"].values())
    assert all(p.endswith("+03:00") for p in printed[:10]), printed[:10]
    id_col, ts_col = table.columns()["ID"][0], table.columns()["LAST_UPDATED"][0]
    with postgres.connect() as conn:
        conn.execute("SET TIME ZONE 'America/Los_Angeles'")  # the reader's zone matters neither
        differ = conn.execute(
            f"""
            SELECT e.id, e.ts, t."{ts_col}"::text
              FROM unnest(%s::bigint[], %s::text[]) AS e(id, ts)
              LEFT JOIN "{table.schema}"."{TABLE}" t ON t."{id_col}" = e.id
             WHERE t."{ts_col}" IS DISTINCT FROM e.ts::timestamptz
            """,
            (ids, printed),
        ).fetchall()
    assert not differ, f"{len(differ)} of {len(ids)} (id, emulator, table) differ: {differ[:10]}"


@pytest.mark.usefixtures("loaded")
def test_full_load_mirrors_the_emulator(table: Table, emulator: Emulator, project: Meltano) -> None:
    truth = emulator.truth()
    assert_mirrors(table, truth)
    state = project.state(STATE_ID)
    bookmark = state["singer_state"]["bookmarks"]["activities"]["replication_key_value"]
    assert dt.datetime.fromisoformat(bookmark).astimezone(dt.timezone.utc) == max(truth.values())


@pytest.mark.usefixtures("loaded")
def test_incremental_run_upserts_updates_and_inserts(
    table: Table, emulator: Emulator, run_pg
) -> None:
    changes = emulator.mutate(update=30, insert=20)
    assert len(changes["updated"]) == 30 and len(changes["inserted"]) == 20, changes
    run_pg()
    assert_mirrors(table, emulator.truth())


@pytest.mark.usefixtures("loaded")
def test_full_refresh_rebuilds_the_table(table: Table, emulator: Emulator, run_pg) -> None:
    table.truncate()
    run_pg()  # incremental: only the bookmark's second comes again
    truth = emulator.truth()
    newest = max(truth.values())
    assert {ts for _, ts in table.rows()} <= {newest}, "an incremental run ignored the state"
    run_pg("--full-refresh")
    assert_mirrors(table, truth)

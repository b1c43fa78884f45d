"""The README's joins, run against what Meltano loaded into PostgreSQL.

Deals, pipelines, statuses, users, activities and their bindings go through `meltano run
tap-bitrix24 target-postgres`; then the SQL the README documents (a view of deals with pipeline,
stage and responsible user names, and activities with their deal's stage) runs in that schema,
and its answer must equal what the emulator's own data says.
"""

from __future__ import annotations

import json
import re

import pytest

from .conftest import REPO, Emulator, Meltano, Postgres

pytestmark = pytest.mark.e2e

EMULATOR_ACTIVITIES = 1000
STREAMS = ["activities", "activity_bindings", "deals", "pipelines", "statuses", "users"]


def readme_sql() -> list[str]:
    """The statements of the README's SQL block that creates ``deals_named``."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```sql\n(.*?)```", text, re.S)
    block = next((b for b in blocks if "CREATE VIEW deals_named" in b), None)
    assert block, "README.md has no ```sql block creating the deals_named view"
    lines = [line for line in block.splitlines() if not line.strip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


def expected(emulator: Emulator) -> tuple[dict[int, tuple], set[tuple[int, int, str | None]]]:
    """What the view and the activities query must answer, from the emulator's data."""
    deals = emulator._call("/_emulator/truth/items?entityTypeId=2")["rows"]
    dictionaries = emulator._call("/_emulator/truth/dictionaries")
    pipelines = {int(c["id"]): c["name"] for c in dictionaries["categories"]["2"]}
    stages = {}
    for status in dictionaries["statuses"]:
        if status["ENTITY_ID"] == "DEAL_STAGE" or status["ENTITY_ID"].startswith("DEAL_STAGE_"):
            stages[status["STATUS_ID"]] = status["NAME"]
    users = {
        int(u["ID"]): " ".join(p for p in (u.get("NAME"), u.get("LAST_NAME")) if p).strip()
        for u in dictionaries["users"]
    }
    named = {
        int(d["id"]): (
            pipelines.get(int(d["categoryId"])),
            stages.get(d["stageId"]),
            users.get(int(d["assignedById"])) or None,
        )
        for d in deals.values()
    }
    truth = emulator.truth_body()
    with_stage = {
        (int(activity), owner, named[owner][1])
        for activity, pairs in truth["bindings"].items()
        for owner_type, owner in pairs
        if owner_type == 2 and owner in named
    }
    return named, with_stage


def test_the_readme_joins_name_deals_and_activities(
    project: Meltano, emulator: Emulator, postgres: Postgres, pg_schema: str
) -> None:
    emulator._call("/_emulator/config", {"scope": ["crm", "user", "department"]})
    env = {
        **postgres.target_env(pg_schema),
        "TAP_BITRIX24__SELECT": json.dumps([f"{s}.*" for s in STREAMS]),
    }
    project.run("tap-bitrix24", "target-postgres", env=env)
    statements = readme_sql()
    with postgres.connect() as conn:
        conn.execute(f'SET search_path TO "{pg_schema}"')
        for statement in statements[:-1]:
            conn.execute(statement)
        view = conn.execute(
            "SELECT id, pipeline, stage, NULLIF(responsible, '') FROM deals_named"
        ).fetchall()
        activities = conn.execute(statements[-1]).fetchall()
    named, with_stage = expected(emulator)
    assert named and with_stage, "the emulator should hold deals bound to activities"
    assert {int(i): (p, s, r) for i, p, s, r in view} == named
    assert all(stage is not None for _, _, stage, _ in view), "a deal without its stage's name"
    assert {(int(a), int(d), s) for a, _, d, s in activities} == with_stage

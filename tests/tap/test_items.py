"""CRM item streams over HTTP against the emulator: typing, incremental walks, deletes, access."""

from __future__ import annotations

import logging
import math
from datetime import datetime, timezone
from typing import Any

import pytest
import requests

from tap_bitrix24.emulator import EmulatorServer
from tap_bitrix24.tap import TapBitrix24
from tests.conftest import (
    SECRET,
    Control,
    discover,
    fast_config,
    run_cli,
    run_tap,
    run_until_killed,
    selected_catalog,
)

FIXED = ["leads", "deals", "contacts", "companies", "quotes", "invoices"]
SMART = ["smart_process_128", "smart_process_133", "smart_process_1032"]
TYPE_OF = {"leads": 1, "deals": 2, "contacts": 3, "companies": 4, "quotes": 7, "invoices": 31}
INTEGERS = {
    "integer", "user", "employee", "enumeration", "crm_category", "crm_company", "crm_contact",
    "crm_lead", "crm_deal", "crm_quote", "crm_entity",
}  # fmt: skip


def _entity_type(stream: str) -> int:
    return TYPE_OF.get(stream) or int(stream.removeprefix("smart_process_"))


def _fields(server: EmulatorServer, entity_type: int) -> dict[str, Any]:
    response = requests.post(
        server.webhook_url + "crm.item.fields", json={"entityTypeId": entity_type}, timeout=30
    )
    return response.json()["result"]["fields"]


def _truth(control: Control, entity_type: int, rows: bool = True) -> dict[str, Any]:
    return control.get(f"truth/items?entityTypeId={entity_type}&rows={int(rows)}")


def _utc(text: str) -> str:
    return datetime.fromisoformat(text).astimezone(timezone.utc).isoformat()


def _expected_one(kind: str, value: Any) -> Any:
    """What the tap must emit for one value the portal printed (the spec, written plainly)."""
    if value is None:
        return None
    if kind in INTEGERS:
        return int(value)
    if kind == "double":
        return float(value)
    if kind == "boolean":
        return value == "Y"
    if kind == "datetime":
        return _utc(value)
    if kind == "date":
        return datetime.fromisoformat(value).astimezone(timezone.utc).date().isoformat()
    if kind == "money":
        amount, currency = value.split("|")
        return {"amount": float(amount), "currency": currency}
    if kind == "file":
        return {"id": value["id"], "url": value["url"], "urlMachine": value["urlMachine"]}
    return value


def _expected(info: dict[str, Any], value: Any) -> Any:
    if info["isMultiple"]:
        values = value if isinstance(value, list) else []
        return [_expected_one(info["type"], v) for v in values]
    return _expected_one(info["type"], value)


@pytest.fixture(scope="module")
def west():
    """A portal five hours west of UTC with every CRM type and a few hundred items each."""
    counts = {1: 120, 2: 300, 3: 150, 4: 100, 7: 60, 31: 60, 128: 60, 133: 60, 1032: 60}
    with EmulatorServer(
        activities=20, seed=5, webhook_secret=SECRET, utc_offset="-05:00", items=counts
    ) as server:
        yield server


def test_every_item_stream_types_every_field_on_a_negative_offset_portal(west):
    control = Control(west.url)
    result = run_tap(fast_config(west), streams=FIXED + SMART)
    assert SECRET not in result.stdout and "auth=" not in result.stdout
    shifted_dates = 0
    for stream in FIXED + SMART:
        entity_type = _entity_type(stream)
        fields = {n: f for n, f in _fields(west, entity_type).items() if not f.get("isDeprecated")}
        truth = _truth(control, entity_type)
        records = {r["id"]: r for r in result.by_stream[stream]}
        assert len(records) == truth["count"] == len(result.by_stream[stream]), stream
        for ident, row in truth["rows"].items():
            record = records[int(ident)]
            for name, info in fields.items():
                want = _expected(info, row.get(name))
                if info["type"] == "file" and want:
                    for key in ("url", "urlMachine"):
                        want[key] = want[key].split("&auth=")[0]
                assert record[name] == want, (stream, ident, name, row.get(name))
                if info["type"] == "date" and row.get(name):
                    shifted_dates += row[name][:10] != record[name]
            if entity_type in (1, 3, 4):
                kinds = {"PHONE": "fm_phone", "EMAIL": "fm_email", "WEB": "fm_web", "IM": "fm_im"}
                for kind, column in kinds.items():
                    want = [
                        {"id": x["id"], "valueType": x["valueType"], "value": x["value"]}
                        for x in row["fm"]
                        if x["typeId"] == kind
                    ]
                    assert record[column] == want
    # West of UTC the portal prints a date as the evening before: the UTC date is the date.
    assert shifted_dates > 100


def test_schema_titles_descriptions_and_types_come_from_crm_item_fields(west):
    catalog = discover(fast_config(west))
    entry = next(s for s in catalog["streams"] if s["tap_stream_id"] == "smart_process_128")
    schema = entry["schema"]
    assert "Projects" in schema["description"]
    props = schema["properties"]
    fields = _fields(west, 128)
    uf = {f["listLabel"]: n for n, f in fields.items() if f.get("isDynamic")}
    assert props[uf["Budget"]]["properties"]["amount"]["type"] == ["number", "null"]
    assert props[uf["Contract date"]]["format"] == "date"
    assert props[uf["Channels"]]["items"]["type"] == ["integer", "null"]
    assert props[uf["Linked"]]["type"] == ["string", "null"]
    assert props[uf["Priority"]]["title"] == "Priority"
    assert fields[uf["Priority"]]["upperName"] in props[uf["Priority"]]["description"]
    assert props["id"]["type"] == ["integer"]
    top = next(m for m in entry["metadata"] if m["breadcrumb"] == [])
    assert top["metadata"]["selected-by-default"] is False


@pytest.mark.parametrize(
    ("stream", "count"),
    [
        ("deals", 12_000),
        ("contacts", 6_000),
        ("leads", 5_100),
        ("companies", 2_600),
        ("quotes", 900),
        ("invoices", 7_400),
        ("smart_process_1032", 5_000),
    ],
)
def test_first_sync_takes_at_most_ceil_n_over_2500_plus_10_requests(stream, count):
    entity_type = _entity_type(stream)
    with EmulatorServer(
        activities=20, seed=3, webhook_secret=SECRET, items={entity_type: count}
    ) as server:
        control = Control(server.url)
        config = fast_config(server)
        catalog = selected_catalog(config, [stream])  # meltano's separate --discover run
        before = control.stats()["requests"]
        result = run_tap(config, catalog=catalog)
        used = control.stats()["requests"] - before
        assert len(result.by_stream[stream]) == count
        print(f"{stream}: {count} items in {used} requests (the run's discovery included)")
        assert used <= math.ceil(count / 2500) + 10


def test_only_the_selected_columns_are_asked_for(west):
    """``select: ['*']`` loads product rows and every relation: sent only for ``fm``."""
    config = fast_config(west)
    catalog = discover(config)
    for entry in catalog["streams"]:
        keep = entry["tap_stream_id"] in ("deals", "contacts")
        for meta in entry["metadata"]:
            if meta["breadcrumb"] == []:
                meta["metadata"]["selected"] = keep
            elif entry["tap_stream_id"] == "contacts" and meta["breadcrumb"][-1] == "fm_phone":
                meta["metadata"]["selected"] = False
    tap = TapBitrix24(config=config, catalog=catalog)
    streams = tap.streams
    deals = streams["deals"].list_select()  # type: ignore[attr-defined]
    assert "*" not in deals and "id" in deals and "updatedTime" in deals
    assert "*" in streams["contacts"].list_select()  # type: ignore[attr-defined]
    for entry in catalog["streams"]:
        if entry["tap_stream_id"] == "contacts":
            for meta in entry["metadata"]:
                if meta["breadcrumb"] and meta["breadcrumb"][-1].startswith("fm_"):
                    meta["metadata"]["selected"] = False
    tap = TapBitrix24(config=config, catalog=catalog)
    assert "*" not in tap.streams["contacts"].list_select()  # type: ignore[attr-defined]


def test_union_of_two_syncs_under_concurrent_change_holds_every_item_at_its_latest():
    with EmulatorServer(activities=20, seed=13, webhook_secret=SECRET, items={2: 9000}) as server:
        control = Control(server.url)
        changes = {"2": {"update": 40, "insert": 10, "delete": 5}}
        control.post(
            "schedule", {"after_requests": 5, "every_requests": 1, "times": 6, "items": changes}
        )
        config = fast_config(server, max_parallel_requests=3, detect_deletes=True)
        first = run_tap(config, streams=["deals"])
        assert control.stats()["mutations"].get("items_updated", 0) > 0
        control.delete("schedule")
        second = run_tap(config, state=first.state, streams=["deals"])
        latest: dict[int, dict[str, Any]] = {}
        for record in first.by_stream["deals"] + second.by_stream.get("deals", []):
            if record["_sdc_deleted_at"]:
                latest.pop(record["id"], None)
            else:
                latest[record["id"]] = record
        truth = {int(k): _utc(v) for k, v in _truth(control, 2, rows=False)["items"].items()}
        assert {i: latest[i]["updatedTime"] for i in truth} == truth
        stale = set(latest) - set(truth)
        assert len(stale) <= changes["2"]["delete"] * 6  # deleted after the deletion walk


def test_deleted_items_arrive_as_tombstones():
    with EmulatorServer(activities=20, seed=17, webhook_secret=SECRET, items={3: 700}) as server:
        control = Control(server.url)
        config = fast_config(server, detect_deletes=True)
        first = run_tap(config, streams=["contacts"])
        assert not any(r["_sdc_deleted_at"] for r in first.by_stream["contacts"])
        control.post("mutate", {"items": {"3": {"delete_ids": [3, 500]}}})
        second = run_tap(config, state=first.state, streams=["contacts"])
        gone = {r["id"] for r in second.by_stream["contacts"] if r["_sdc_deleted_at"]}
        assert gone == {3, 500}
        third = run_tap(config, state=second.state, streams=["contacts"])
        assert not any(r["_sdc_deleted_at"] for r in third.by_stream.get("contacts", []))


def test_a_killed_item_sync_resumes_from_its_last_state(tmp_path):
    with EmulatorServer(activities=20, seed=19, webhook_secret=SECRET, items={2: 15_000}) as server:
        config = fast_config(server, max_parallel_requests=3)
        catalog = selected_catalog(config, ["deals"])
        ids, state = run_until_killed(config, 7000, tmp_path, catalog=catalog, id_key="id")
        assert state is not None and "walk" in state["bookmarks"]["deals"]
        resumed = run_tap(config, state=state, streams=["deals"])
        emitted = ids + [r["id"] for r in resumed.by_stream["deals"]]
        truth = {int(k) for k in _truth(Control(server.url), 2, rows=False)["items"]}
        assert set(emitted) == truth
        assert len(emitted) - len(truth) <= 2500 * 3  # only the batches in flight, again


def test_unknown_field_types_are_strings_with_one_warning(west, caplog):
    with caplog.at_level(logging.WARNING):
        catalog = discover(fast_config(west))
    notes = [r.getMessage() for r in caplog.records if "unknown Bitrix24 types" in r.getMessage()]
    assert len(notes) == 1 and "rest_1_rating" in notes[0]
    deals = next(s for s in catalog["streams"] if s["tap_stream_id"] == "deals")
    app_field = next(n for n in deals["schema"]["properties"] if f"deals.{n} (" in notes[0])
    assert deals["schema"]["properties"][app_field]["type"] == ["string", "null"]


def test_a_non_admin_webhook_gets_the_fixed_types_and_one_warning(caplog):
    with EmulatorServer(activities=20, seed=2, webhook_secret=SECRET, crm_admin=False) as server:
        with caplog.at_level(logging.WARNING):
            catalog = discover(fast_config(server))
        names = {s["tap_stream_id"] for s in catalog["streams"]}
        assert set(FIXED) <= names and not any(n.startswith("smart_process_") for n in names)
        warnings = [r for r in caplog.records if "not a CRM administrator" in r.getMessage()]
        assert len(warnings) == 1 and "smart processes" in warnings[0].getMessage()


@pytest.mark.parametrize("leads", ["denied", "empty"])
def test_a_simple_crm_portal_has_no_leads_stream(leads):
    with EmulatorServer(
        activities=20, seed=2, webhook_secret=SECRET, crm_mode="simple", simple_mode_leads=leads
    ) as server:
        catalog = discover(fast_config(server))
        names = {s["tap_stream_id"] for s in catalog["streams"]}
        assert "leads" not in names and "deals" in names


def test_item_filters_are_applied_per_stream(west):
    control = Control(west.url)
    config = fast_config(west, item_filters={"deals": {"categoryId": 9, "opened": True}})
    result = run_tap(config, streams=["deals", "companies"])
    rows = _truth(control, 2)["rows"].values()
    want = {r["id"] for r in rows if r["categoryId"] == 9 and r["opened"] == "Y"}
    assert {r["id"] for r in result.by_stream["deals"]} == want and want
    assert len(result.by_stream["companies"]) == _truth(control, 4, rows=False)["count"]


@pytest.mark.parametrize(
    ("item_filters", "message"),
    [
        ({"deals": {"stageid": "NEW"}}, "item_filters.deals: unknown field in key 'stageid'"),
        ({"deals": {">id": 5}}, "item_filters.deals: '>id' is set by the tap itself"),
        ({"tasks": {"id": 5}}, "item_filters: this portal has no item stream 'tasks'"),
        ({"deals": "stageId=NEW"}, "item_filters: the filter of stream 'deals' must be an object"),
    ],
)
def test_a_bad_item_filter_is_one_clear_line(west, tmp_path, item_filters, message):
    done = run_cli(["--discover"], fast_config(west, item_filters=item_filters), tmp_path)
    assert done.returncode != 0
    assert message in done.stderr and "Traceback" not in done.stderr

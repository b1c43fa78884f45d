"""CRM items over HTTP: crm.item.list / crm.item.fields / crm.type.list / crm.settings.mode.get."""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import pytest

from tap_bitrix24.emulator.__main__ import build_parser, item_counts
from tap_bitrix24.emulator.crm_schema import build_types

SMALL = {"1": 60, "2": 130, "3": 70, "4": 55, "7": 20, "31": 20, "128": 75, "133": 10, "1032": 60}
UF_TYPES = {
    "string",
    "integer",
    "double",
    "boolean",
    "date",
    "datetime",
    "money",
    "url",
    "address",
    "enumeration",
    "file",
    "employee",
    "crm",
    "crm_status",
    "rest_1_rating",
}


@pytest.fixture
def crm(make_api):
    return make_api(activities=200, items=SMALL)


def _fields(api, entity_type: int) -> dict:
    return api.result("crm.item.fields", {"entityTypeId": entity_type})["fields"]


def _walk(api, entity_type: int, **extra) -> list[dict]:
    return api.walk_type("crm.item.list", entity_type, "id", **extra)


def test_list_shape_paging_and_json_types(crm) -> None:
    body = crm.call("crm.item.list", {"entityTypeId": 2})
    items = body["result"]["items"]
    assert len(items) == 50 and body["total"] == 130 and body["next"] == 50
    assert list(body) == ["result", "next", "total", "time"]
    row = items[0]
    fields = _fields(crm, 2)
    assert list(row) == list(fields)  # select '*' by default: standard fields, then UFs
    assert isinstance(row["id"], int) and isinstance(row["opportunity"], float)
    assert row["isManualOpportunity"] in ("Y", "N") and isinstance(row["assignedById"], int)
    assert row["createdTime"].endswith("+03:00") and "fm" not in row
    for name, f in fields.items():
        if f["isMultiple"]:
            assert all(isinstance(r[name], list) for r in items), name  # empty -> []
    last = crm.call("crm.item.list", {"entityTypeId": 2, "start": 100})
    assert len(last["result"]["items"]) == 30 and "next" not in last and last["total"] == 130
    floored = crm.call("crm.item.list", {"entityTypeId": 2, "start": 73})
    assert floored["result"]["items"][0]["id"] == 51 and floored["next"] == 100


def test_start_minus_one_answers_without_total_or_next(crm) -> None:
    body = crm.call("crm.item.list", {"entityTypeId": 2, "start": -1, "select": ["id"]})
    assert "total" not in body and "next" not in body
    assert [r["id"] for r in body["result"]["items"]] == list(range(1, 51))
    stats = crm.control("GET", "stats")
    assert stats["counted_pages"] == 0
    crm.call("crm.item.list", {"entityTypeId": 2, "start": 0, "select": ["id"]})
    assert crm.control("GET", "stats")["counted_pages"] == 1


def test_unknown_filter_or_order_field_is_an_error(crm) -> None:
    error = crm.call(
        "crm.item.list", {"entityTypeId": 2, "filter": {">=DATE_MODIFY": 1}}, expect=400
    )
    assert error == {
        "error": "INVALID_ARG_VALUE",
        "error_description": "Invalid filter: field 'DATE_MODIFY' is not allowed",
    }
    error = crm.call("crm.item.list", {"entityTypeId": 2, "order": {"bogus": "ASC"}}, expect=400)
    assert error["error"] == "INVALID_ARG_VALUE" and "'bogus'" in error["error_description"]
    missing = crm.call("crm.item.list", {"entityTypeId": 999}, expect=400)
    assert missing["error"] == "NOT_FOUND"


def test_filter_keys_camel_or_upper_and_operators(crm) -> None:
    camel = crm.result("crm.item.list", {"entityTypeId": 2, "filter": {">id": 100}})
    upper = crm.result("crm.item.list", {"entityTypeId": 2, "filter": {">ID": 100}})
    assert camel == upper and [r["id"] for r in camel["items"]] == list(range(101, 131))
    picked = crm.result(
        "crm.item.list", {"entityTypeId": 2, "filter": {"@id": [3, 5, 999]}, "select": ["id"]}
    )
    assert picked == {"items": [{"id": 3}, {"id": 5}]}
    rows = _walk(crm, 2)
    truth = crm.control("GET", "truth/items?entityTypeId=2&rows=0")["items"]
    cut = sorted(truth.values())[len(truth) // 2]
    recent = _walk(crm, 2, filter={">=updatedTime": cut})
    assert {r["id"] for r in recent} == {int(i) for i, u in truth.items() if u >= cut}
    assert "+03:00" in cut  # an ISO value with an offset, as printed
    flag = next(f for f, d in _fields(crm, 2).items() if d["type"] == "boolean" and d["isDynamic"])
    yes = _walk(crm, 2, filter={flag: 1})
    assert yes and {r["id"] for r in yes} == {r["id"] for r in rows if r[flag] == "Y"}
    multi = next(
        f for f, d in _fields(crm, 2).items() if d["type"] == "enumeration" and d["isMultiple"]
    )
    option = next(r[multi][0] for r in rows if r[multi])
    got = _walk(crm, 2, filter={multi: option})
    assert {r["id"] for r in got} == {r["id"] for r in rows if option in r[multi]}
    desc = crm.result("crm.item.list", {"entityTypeId": 2, "order": {"ID": "DESC"}})
    assert desc["items"][0]["id"] == 130


def test_select_columns_uf_star_and_fm(crm) -> None:
    fields = _fields(crm, 3)
    uf = [f for f, d in fields.items() if d["isDynamic"]]
    rows = crm.result(
        "crm.item.list", {"entityTypeId": 3, "select": ["NAME", "updatedTime", uf[0]]}
    )["items"]
    assert list(rows[0]) == ["id", "name", "updatedTime", uf[0]]
    only_uf = crm.result("crm.item.list", {"entityTypeId": 3, "select": ["UF_*"]})["items"]
    assert list(only_uf[0]) == ["id", *uf]
    star = crm.result("crm.item.list", {"entityTypeId": 3, "select": ["*"]})["items"]
    with_fm = [r for r in star if r["fm"]]
    assert with_fm and all(
        set(x) == {"id", "valueType", "value", "typeId"} for x in with_fm[0]["fm"]
    )
    assert {x["typeId"] for r in star for x in r["fm"]} == {"PHONE", "EMAIL", "WEB", "IM"}
    assert all(r["hasPhone"] == ("Y" if any(x["typeId"] == "PHONE" for x in r["fm"]) else "N")
               for r in star)  # fmt: skip
    named = crm.result("crm.item.list", {"entityTypeId": 3, "select": ["id", "fm"]})["items"]
    assert list(named[0]) == ["id"]  # fm cannot be named in select


def test_use_original_uf_names(crm) -> None:
    fields = _fields(crm, 128)
    uf = {name: d["upperName"] for name, d in fields.items() if d["isDynamic"]}
    assert all(n.startswith("ufCrm1_") and u.startswith("UF_CRM_1_") for n, u in uf.items())
    star = crm.result(
        "crm.item.list", {"entityTypeId": 128, "select": ["*"], "useOriginalUfNames": "Y"}
    )["items"][0]
    assert "id" in star and set(uf.values()) <= set(star) and not set(uf) & set(star)
    # The documented bug: with an explicit select every standard field is stripped.
    first_uf = next(iter(uf))
    explicit = crm.result(
        "crm.item.list",
        {"entityTypeId": 128, "select": ["id", "title", first_uf], "useOriginalUfNames": "Y"},
    )["items"]
    assert list(explicit[0]) == [uf[first_uf]]
    bare = crm.result(
        "crm.item.list", {"entityTypeId": 128, "select": ["id"], "useOriginalUfNames": "Y"}
    )["items"]
    assert bare[:3] == [[], [], []]


@pytest.mark.parametrize(("offset", "clock"), [("-05:00", "19:00:00"), ("+02:00", "02:00:00")])
def test_dates_follow_the_portal_offset(make_api, offset: str, clock: str) -> None:
    api = make_api(activities=50, items={"2": 60}, utc_offset=offset)
    rows = _walk(api, 2)
    for row in rows:
        assert row["createdTime"].endswith(offset) and row["updatedTime"].endswith(offset)
        # date('c', MakeTimeStamp(d) + date('Z')): the UTC midnight of the day, printed locally.
        assert row["begindate"][11:] == f"{clock}{offset}"
        instant = dt.datetime.fromisoformat(row["begindate"]).astimezone(dt.timezone.utc)
        assert instant.time() == dt.time(0, 0)
    if offset.startswith("-"):
        day = dt.datetime.fromisoformat(rows[0]["begindate"]).astimezone(dt.timezone.utc).date()
        assert rows[0]["begindate"][:10] == (day - dt.timedelta(days=1)).isoformat()
    # A date filter compares days.
    day = rows[0]["begindate"]
    utc_day = dt.datetime.fromisoformat(day).astimezone(dt.timezone.utc).date().isoformat()
    same = _walk(api, 2, filter={"=begindate": utc_day})
    assert rows[0]["id"] in {r["id"] for r in same}
    assert all(r["begindate"] == day for r in same)


def test_item_fields_describe_every_uf_type(crm) -> None:
    for entity_type in (1, 2, 3, 4, 7, 31, 128, 133, 1032):
        fields = _fields(crm, entity_type)
        dynamic = {n: d for n, d in fields.items() if d["isDynamic"]}
        assert {d["type"] for d in dynamic.values()} == UF_TYPES, entity_type
        for name, d in fields.items():
            assert {"type", "isRequired", "isReadOnly", "isImmutable", "isMultiple", "isDynamic",
                    "title", "upperName"} <= set(d)  # fmt: skip
            if d["type"] == "enumeration":
                assert d["items"] and all(set(i) == {"ID", "VALUE"} for i in d["items"])
            if entity_type in (1, 2, 3, 4, 7):
                assert not d["isDynamic"] or (
                    name.startswith("ufCrm_") and d["upperName"] == "UF_CRM_" + name[6:]
                )
        assert fields["id"]["upperName"] == "ID"
    deal = _fields(crm, 2)
    assert deal["stageId"]["statusType"] == "DEAL_STAGE"
    assert deal["createdTime"]["upperName"] == "CREATED_TIME"
    assert _fields(crm, 1032)["stageId"]["statusType"] == "DYNAMIC_1032_STAGE_11"


#: entityTypeId -> (digest of the crm.item.fields answer as sent, digest of each field's value
#: kind): any change to a type's fields, their order, descriptions or generated values shows.
FIELDS_DIGESTS = {
    1: ("810bf1eb90404be4", "5e25ce4a1e60839c"),
    2: ("58550d23537a6ea6", "459cd2cbf54a0a3e"),
    3: ("9935849bd6b07916", "8e9d273a7ffae849"),
    4: ("1e5767afa975bf9e", "ab8ca792b3deae96"),
    7: ("8e53082a016ca804", "255a007a0242860a"),
    31: ("ecd08fffb9ad706e", "47c1999d43491441"),
    128: ("aa3910331d6c7142", "ba8d419775fe4ce7"),
    133: ("14f902c99277fcef", "ff5e6d1afa7567ec"),
    1032: ("669ccd8766402fec", "419e7225a08f7756"),
}


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def test_item_fields_output_is_pinned(crm) -> None:
    """crm.item.fields per type, key order included, stays what it was (a refactor guard)."""
    types = build_types()
    for entity_type, pinned in FIELDS_DIGESTS.items():
        answer = json.dumps(_fields(crm, entity_type), ensure_ascii=False)
        kinds = repr([(f.name, f.kind) for f in types[entity_type].fields])
        assert (_digest(answer), _digest(kinds)) == pinned, (entity_type, answer)


def test_crm_binding_values(crm) -> None:
    rows = _walk(crm, 2)
    fields = _fields(crm, 2)
    crm_fields = {n: d for n, d in fields.items() if d["type"] == "crm"}
    single_type = next(n for n, d in crm_fields.items() if list(d["settings"]) == ["DEAL"])
    multi = next(n for n, d in crm_fields.items() if d["isMultiple"])
    mixed = next(n for n, d in crm_fields.items() if n not in (single_type, multi))
    assert all(r[single_type] is None or r[single_type].isdigit() for r in rows)
    prefixed = {v.split("_")[0] for r in rows for v in r[multi]} | {
        r[mixed].split("_")[0] for r in rows if r[mixed]
    }
    assert prefixed <= {"L", "D", "C", "CO", "T80"} and "T80" in prefixed
    money = next(n for n, d in fields.items() if d["type"] == "money")
    assert all(r[money] is None or r[money].split("|")[1] in ("RUB", "USD", "EUR") for r in rows)


def test_file_urls_carry_the_callers_credential(crm) -> None:
    name = next(n for n, d in _fields(crm, 2).items() if d["type"] == "file")
    rows = _walk(crm, 2, select=["id", name])
    value = next(r[name] for r in rows if r[name])
    assert set(value) == {"id", "url", "urlMachine"}
    assert value["urlMachine"].endswith("&auth=test-secret") and "auth=" not in value["url"]


def test_type_list_and_admin_only(crm) -> None:
    body = crm.call("crm.type.list", {})
    types = body["result"]["types"]
    assert [t["entityTypeId"] for t in types] == [128, 1032, 133] and body["total"] == 3
    assert types[0]["id"] == 1 and types[0]["title"] == "Projects"
    crm.control("POST", "config", {"crm_admin": False})
    denied = crm.call("crm.type.list", {}, expect=403)
    assert denied["error"] == "ACCESS_DENIED"


def test_simple_crm_mode_refuses_leads(crm) -> None:
    assert crm.result("crm.settings.mode.get") == 1
    crm.control("POST", "config", {"crm_mode": "simple"})
    assert crm.result("crm.settings.mode.get") == 2
    error = crm.call("crm.item.list", {"entityTypeId": 1}, expect=403)
    assert error["error"] == "ACCESS_DENIED"
    assert crm.result("crm.item.list", {"entityTypeId": 2})["items"]
    crm.control("POST", "config", {"crm_mode": "nope"}, expect=400)
    crm.control("POST", "config", {"simple_mode_leads": "empty"})
    body = crm.call("crm.item.list", {"entityTypeId": 1, "start": 0})
    assert body["result"] == {"items": []} and body["total"] == 0


def test_batch_references_through_items(crm) -> None:
    base = "crm.item.list?entityTypeId=2&select[]=id&order[id]=ASC&start=-1"
    cmd = {"p0": base + "&filter[>id]=0"}
    for k in (1, 2):
        cmd[f"p{k}"] = f"{base}&filter[>id]=$result[p{k - 1}][items][49][id]"
    result = crm.result("batch", {"cmd": cmd})
    assert result["result_error"] == [] and result["result_total"] == []
    ids = [r["id"] for k in ("p0", "p1", "p2") for r in result["result"][k]["items"]]
    assert ids == list(range(1, 131))


def test_mutations_and_truth(crm) -> None:
    before = crm.control("GET", "truth/items?entityTypeId=2")
    assert before["count"] == 130 and set(before["rows"]) == set(before["items"])
    done = crm.control(
        "POST", "mutate", {"items": {"2": {"update": 3, "insert": 2, "delete_ids": [7, 8]}}}
    )["items"]["2"]
    assert len(done["updated"]) == 3 and done["inserted"] == [131, 132]
    assert done["deleted"] == [7, 8]
    after = crm.control("GET", "truth/items", {"entityTypeId": 2})
    assert after["count"] == 130 and "7" not in after["items"]
    listed = {r["id"]: r for r in _walk(crm, 2)}
    assert {str(i) for i in listed} == set(after["items"])
    for ident in done["updated"] + done["inserted"]:
        assert listed[ident]["updatedTime"] == after["items"][str(ident)]
        assert after["items"][str(ident)] > before["items"].get(str(ident), "")
    assert listed == {int(i): r for i, r in after["rows"].items()}
    crm.control("POST", "mutate", {"items": {"2": {"bogus": 1}}}, expect=400)
    crm.control("POST", "schedule", {"after_requests": 0, "items": {"3": {"delete_ids": [1]}}})
    assert crm.result("crm.item.list", {"entityTypeId": 3})["items"][0]["id"] == 2


def test_activity_owners_exist_and_merges_delete_items(make_api) -> None:
    api = make_api(activities=300)
    truth = api.control("GET", "truth")
    owners = {tuple(o) for o in truth["owners"].values()}
    for entity_type in (1, 2, 3, 4, 31, 128, 133):
        wanted = sorted({i for t, i in owners if t == entity_type})
        got = api.result(
            "crm.item.list",
            {"entityTypeId": entity_type, "filter": {"@id": wanted}, "select": ["id"]},
        )["items"]
        assert [r["id"] for r in got] == wanted[:50]
    entity_type, from_id = next(iter(owners))
    into_id = from_id % 50 + 1
    api.control(
        "POST", "merge", {"entity_type_id": entity_type, "from_id": from_id, "into_id": into_id}
    )
    items = api.control("GET", f"truth/items?entityTypeId={entity_type}&rows=0")["items"]
    assert str(from_id) not in items and str(into_id) in items


def test_cli_item_counts() -> None:
    args = build_parser().parse_args(["--deals", "10", "--items", "128=5", "--no-crm-admin"])
    assert item_counts(args) == {"2": 10, "128": 5} and args.crm_admin is False
    with pytest.raises(ValueError, match="TYPE=N"):
        item_counts(build_parser().parse_args(["--items", "x"]))
    every = build_parser().parse_args(["--deals", "10", "--items", "*=7"])
    assert item_counts(every) == {"2": 10, "*": 7}


def test_items_star_sets_every_type_not_named(make_api) -> None:
    api = make_api(activities=200, items={"2": 60, "*": 50})
    totals = {
        t: api.call("crm.item.list", {"entityTypeId": t, "select": ["id"]})["total"]
        for t in (1, 2, 3, 4, 7, 31, 128, 133, 1032)
    }
    assert totals == {1: 50, 2: 60, 3: 50, 4: 50, 7: 50, 31: 50, 128: 50, 133: 50, 1032: 50}


def test_deleting_an_item_takes_its_activities_along(make_api) -> None:
    api = make_api(activities=400)
    before = api.control("GET", "truth")
    bound = {}
    for ident, pairs in before["bindings"].items():
        for t, e in pairs:
            bound.setdefault((t, e), []).append(ident)
    # A deal with one activity bound to it alone and one with other bindings too, if any.
    target = max((k for k in bound if k[0] == 2), key=lambda k: len(bound[k]))
    done = api.control("POST", "mutate", {"items": {"2": {"delete_ids": [target[1]]}}})
    per_type = done["items"]["2"]
    after = api.control("GET", "truth")
    alone = {i for i in bound[target] if before["bindings"][i] == [list(target)]}
    assert alone and set(bound[target]) - alone  # both cases occur
    assert {str(i) for i in per_type["activities_deleted"]} == alone
    assert {str(i) for i in per_type["activities_unbound"]} == set(bound[target]) - alone
    assert all(list(target) not in pairs for pairs in after["bindings"].values())
    for ident in set(bound[target]) - alone:
        assert after["owners"][ident] == after["bindings"][ident][0]
        assert after["activities"][ident] == before["activities"][ident]


def test_counted_pages_cost_more_and_hit_the_operating_limit(crm) -> None:
    keyset = crm.call("crm.item.list", {"entityTypeId": 2, "start": -1, "select": ["id"]})
    counted = crm.call("crm.item.list", {"entityTypeId": 2, "start": 0, "select": ["id"]})
    star = crm.call("crm.item.list", {"entityTypeId": 2, "start": -1})
    assert keyset["time"]["processing"] == pytest.approx(0.03)
    assert counted["time"]["processing"] == pytest.approx(0.03 + 2.08 * 130 / 100_000)
    assert star["time"]["processing"] == pytest.approx(0.05)  # UF joins and more under '*'
    crm.control(
        "POST",
        "config",
        {"limits": True, "operating_limit": 1.0, "cost_offset_page": 2.0, "bucket_size": 1000.0},
    )
    crm.control("POST", "limits/reset")
    crm.call("crm.item.list", {"entityTypeId": 2, "start": 0})
    refused = crm.call("crm.item.list", {"entityTypeId": 2, "start": 0}, expect=429)
    assert refused["error"] == "OPERATION_TIME_LIMIT"
    assert crm.result("crm.item.fields", {"entityTypeId": 2})["fields"]  # other methods go on


def test_or_logic_like_and_deprecated_mirrors(crm) -> None:
    rows = _walk(crm, 2)
    either = _walk(crm, 2, filter={"0": {"logic": "OR", "0": {"=id": 3}, "1": {"=id": 9}}})
    assert [r["id"] for r in either] == [3, 9]
    top = {"entityTypeId": 2, "filter": {"logic": "OR", "=id": 3, ">id": 128}, "select": ["id"]}
    assert crm.result("crm.item.list", top)["items"] == [{"id": 3}, {"id": 129}, {"id": 130}]
    like = _walk(crm, 2, filter={"%title": "бета"})
    assert {r["id"] for r in like} == {r["id"] for r in rows if "бета" in r["title"].lower()}
    assert like
    for row in rows:
        assert row["contactIds"][:1] == ([row["contactId"]] if row["contactId"] else [])

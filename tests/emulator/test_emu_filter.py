"""crm.activity.list filter semantics, checked against a Python oracle over all rows."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone

import pytest


def listed(api, flt, order=None) -> tuple[list[int], int]:
    """Every matching ID through offset paging (follows ``next``), and ``total``."""
    ids: list[int] = []
    start = 0
    while True:
        body = api.call(
            "crm.activity.list",
            {"filter": flt, "order": order or {"ID": "ASC"}, "start": start, "select": ["ID"]},
        )
        ids += [int(r["ID"]) for r in body["result"]]
        if "next" not in body:
            return ids, body["total"]
        start = body["next"]


def ts(value: str) -> float:
    return datetime.fromisoformat(value).timestamp()


def oracle(rows, pred) -> list[int]:
    return [int(r["ID"]) for r in rows if pred(r)]


@pytest.mark.parametrize(
    ("key", "pred"),
    [
        (">ID", lambda i, v: i > v),
        (">=ID", lambda i, v: i >= v),
        ("<ID", lambda i, v: i < v),
        ("<=ID", lambda i, v: i <= v),
        ("=ID", lambda i, v: i == v),
        ("ID", lambda i, v: i == v),
        ("!ID", lambda i, v: i != v),
        ("!=ID", lambda i, v: i != v),
    ],
)
def test_integer_prefixes(api, shared_rows, key, pred) -> None:
    pivot = int(shared_rows[600]["ID"])
    ids, total = listed(api, {key: pivot})
    assert ids == oracle(shared_rows, lambda r: pred(int(r["ID"]), pivot))
    assert total == len(ids)


def test_in_and_not_in(api, shared_rows) -> None:
    wanted = [int(shared_rows[i]["ID"]) for i in (3, 50, 700)] + [999_999_999]
    assert listed(api, {"@ID": wanted})[0] == sorted(wanted[:3])
    ids, _ = listed(api, {"!@ID": wanted})
    assert ids == oracle(shared_rows, lambda r: int(r["ID"]) not in wanted)
    # a scalar with @ is a one-element IN; strings are cast for integer fields
    assert listed(api, {"@ID": str(wanted[0])})[0] == [wanted[0]]


def test_integer_values_are_cast(api, shared_rows) -> None:
    pivot = int(shared_rows[100]["ID"])
    assert listed(api, {">ID": f"{pivot}abc"})[0] == listed(api, {">ID": pivot})[0]
    assert listed(api, {">ID": "$result[p0][49][ID]"})[0] == oracle(shared_rows, lambda r: True)
    assert listed(api, {"ID": "not a number"}) == ([], 0)  # =0 -> IS NULL OR 0: nothing


def test_arrays_or_and_negated_arrays(api, shared_rows) -> None:
    ids, _ = listed(api, {"TYPE_ID": [2, "4"]})
    assert ids == oracle(shared_rows, lambda r: r["TYPE_ID"] in ("2", "4"))
    ids, _ = listed(api, {"!TYPE_ID": [2, 4]})
    assert ids == oracle(shared_rows, lambda r: r["TYPE_ID"] not in ("2", "4"))
    ids, _ = listed(api, {"@OWNER_TYPE_ID": [31, 128, 133]})
    assert ids == oracle(shared_rows, lambda r: r["OWNER_TYPE_ID"] in ("31", "128", "133"))


def test_unknown_and_lower_case_keys_are_dropped(api, shared_rows) -> None:
    everything = oracle(shared_rows, lambda r: True)
    for flt in ({"NOPE": 1}, {">id": 100}, {"last_updated": "2020-01-01"}, {">=LAST_UPDATE": "x"}):
        assert listed(api, flt) == (everything, len(everything)), flt


def test_empty_array_drops_condition(api, shared_rows) -> None:
    everything = oracle(shared_rows, lambda r: True)
    for flt in ({"@ID": []}, {"TYPE_ID": []}, {"!@ID": []}, {"BINDINGS": []}):
        assert listed(api, flt)[0] == everything, flt


def test_no_sql_fields_are_accepted_and_ignored(api, shared_rows) -> None:
    everything = oracle(shared_rows, lambda r: True)
    assert listed(api, {"COMMUNICATIONS": "x", "FILES": 1})[0] == everything


@pytest.mark.parametrize(
    "value",
    ["{iso}", "{utc}", "{naive}", "{naive_space}"],
)
def test_datetime_forms(api, shared_rows, value) -> None:
    pivot = shared_rows[900]["LAST_UPDATED"]  # e.g. 2025-03-04T05:06:07+03:00
    moment = datetime.fromisoformat(pivot)
    forms = {
        "{iso}": pivot,
        "{utc}": moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "{naive}": pivot[:19],  # no offset: portal time
        "{naive_space}": pivot[:10] + " " + pivot[11:19],
    }
    ids, _ = listed(api, {">=LAST_UPDATED": forms[value]})
    assert ids == oracle(shared_rows, lambda r: ts(r["LAST_UPDATED"]) >= moment.timestamp())
    ids, _ = listed(api, {"LAST_UPDATED": forms[value]})
    assert ids == oracle(shared_rows, lambda r: r["LAST_UPDATED"] == pivot)


def test_date_only_forms_are_portal_midnight(api, shared_rows) -> None:
    day = shared_rows[500]["CREATED"][:10]
    midnight = datetime.fromisoformat(day + "T00:00:00+03:00").timestamp()
    expected = oracle(shared_rows, lambda r: ts(r["CREATED"]) < midnight)
    assert listed(api, {"<CREATED": day})[0] == expected
    dmy = f"{day[8:10]}.{day[5:7]}.{day[0:4]}"
    assert listed(api, {"<CREATED": dmy})[0] == expected


def test_unparsable_date_is_null(api, shared_rows) -> None:
    assert listed(api, {">LAST_UPDATED": "garbage"}) == ([], 0)
    assert listed(api, {">=LAST_UPDATED": ""}) == ([], 0)
    ids, _ = listed(api, {"START_TIME": "no date"})  # IS NULL: activities without a start
    assert ids and ids == oracle(shared_rows, lambda r: r["START_TIME"] == "")
    ids, _ = listed(api, {"!START_TIME": "no date"})  # IS NOT NULL
    assert ids == oracle(shared_rows, lambda r: r["START_TIME"] != "")


def test_datetime_second_precision_and_like_on_dates(api, shared_rows) -> None:
    pivot = shared_rows[10]["CREATED"]
    ids, _ = listed(api, {"CREATED": pivot[:19] + ".750"})  # fraction dropped
    assert ids == oracle(shared_rows, lambda r: r["CREATED"] == pivot)
    assert listed(api, {"%CREATED": pivot})[0] == ids  # LIKE on a datetime reads as =


def test_string_like_prefixes(api, shared_rows) -> None:
    def sub(r, s):
        return r["SUBJECT"] is not None and s.casefold() in r["SUBJECT"].casefold()

    ids, _ = listed(api, {"%SUBJECT": "звонок"})
    assert ids and ids == oracle(shared_rows, lambda r: sub(r, "звонок"))
    ids, _ = listed(api, {"!%SUBJECT": "звонок"})
    assert ids == oracle(shared_rows, lambda r: not sub(r, "звонок"))
    for key in ("=%SUBJECT", "%=SUBJECT"):
        ids, _ = listed(api, {key: "вход%"})
        assert ids and ids == oracle(
            shared_rows, lambda r: r["SUBJECT"].casefold().startswith("вход")
        )
    for key in ("!=%SUBJECT", "!%=SUBJECT"):
        ids, _ = listed(api, {key: "вход%"})
        assert ids == oracle(shared_rows, lambda r: not r["SUBJECT"].casefold().startswith("вход"))
    # '%' in a plain substring search is literal, '_' in a pattern is one character
    assert listed(api, {"%SUBJECT": "%"})[0] == oracle(shared_rows, lambda r: sub(r, "%"))
    ids, _ = listed(api, {"=%PROVIDER_ID": "CRM_T_DO"})
    assert ids == oracle(shared_rows, lambda r: r["PROVIDER_ID"] == "CRM_TODO")


def test_string_equality_and_empty(api, shared_rows) -> None:
    ids, _ = listed(api, {"PROVIDER_ID": "crm_email"})  # case-insensitive collation
    assert ids and ids == oracle(shared_rows, lambda r: r["PROVIDER_ID"] == "CRM_EMAIL")
    ids, _ = listed(api, {"DESCRIPTION": ""})  # NULL or empty
    assert ids == oracle(shared_rows, lambda r: r["DESCRIPTION"] in (None, ""))
    ids, _ = listed(api, {"!DESCRIPTION": ""})
    assert ids == oracle(shared_rows, lambda r: r["DESCRIPTION"] not in (None, ""))
    ids, _ = listed(api, {"!PROVIDER_ID": "CRM_EMAIL", "COMPLETED": "N"})
    assert ids == oracle(
        shared_rows, lambda r: r["PROVIDER_ID"] != "CRM_EMAIL" and r["COMPLETED"] == "N"
    )


def test_conditions_are_anded(api, shared_rows) -> None:
    pivot = shared_rows[300]["LAST_UPDATED"]
    flt = {">=LAST_UPDATED": pivot, "TYPE_ID": 2, "<ID": int(shared_rows[1000]["ID"])}
    ids, _ = listed(api, flt)
    assert ids == oracle(
        shared_rows,
        lambda r: (
            ts(r["LAST_UPDATED"]) >= ts(pivot)
            and r["TYPE_ID"] == "2"
            and int(r["ID"]) < int(shared_rows[1000]["ID"])
        ),
    )


def test_owner_filters_use_primary_owner_only(api, shared_rows) -> None:
    truth = api.control("GET", "truth")["bindings"]
    ids, _ = listed(api, {"OWNER_TYPE_ID": 3})
    assert ids == oracle(shared_rows, lambda r: r["OWNER_TYPE_ID"] == "3")
    bound = [int(i) for i, pairs in truth.items() if any(t == 3 for t, _ in pairs)]
    assert len(set(bound)) > len(ids)


def test_bindings_join_duplicates_counted_in_total(api) -> None:
    truth = api.control("GET", "truth")["bindings"]
    expected = Counter()
    for ident, pairs in truth.items():
        hits = sum(1 for t, _ in pairs if t == 3)
        if hits:
            expected[int(ident)] = hits
    assert max(expected.values()) >= 2  # some activities have two contacts
    ids, total = listed(api, {"BINDINGS": [{"OWNER_TYPE_ID": 3}]})
    assert Counter(ids) == expected
    assert total == sum(expected.values()) == len(ids)
    # two pairs: one row per matching binding row
    ident, pairs = next((i, p) for i, p in truth.items() if len(p) >= 2)
    flt = {"BINDINGS": [{"OWNER_TYPE_ID": t, "OWNER_ID": e} for t, e in pairs[:2]]}
    ids, total = listed(api, flt)
    assert ids.count(int(ident)) == 2


def test_bindings_filter_ignored_shapes(api, shared_rows) -> None:
    everything = oracle(shared_rows, lambda r: True)
    for value in ({"OWNER_TYPE_ID": 3}, [{"OWNER_ID": 5}], "3", [{"OWNER_TYPE_ID": 0}]):
        assert listed(api, {"BINDINGS": value})[0] == everything, value


def test_bindings_with_owner_id(api) -> None:
    truth = api.control("GET", "truth")["bindings"]
    etype, eid = next(p for pairs in truth.values() for p in pairs[1:])
    expected = sorted(int(i) for i, pairs in truth.items() for p in pairs if p == [etype, eid])
    flt = {"BINDINGS": [{"OWNER_TYPE_ID": etype, "OWNER_ID": eid}]}
    assert sorted(listed(api, flt)[0]) == expected


def test_null_params_count_as_absent(api) -> None:
    body = api.call("crm.activity.list", {"filter": None, "order": None, "select": None})
    assert body["total"] == 1200 and len(body["result"][0]) == 39


def test_param_spellings(api, shared_rows) -> None:
    pivot = int(shared_rows[-5]["ID"])
    for key in ("filter", "FILTER", "Filter", "arFilter"):
        body = api.call("crm.activity.list", {key: {">ID": pivot}, "start": -1})
        assert len(body["result"]) == 4, key


def test_filter_must_be_array(api) -> None:
    body = api.call("crm.activity.list", {"filter": "ID=5"}, expect=400)
    assert body == {"error": "", "error_description": "Parameter 'filter' must be array."}
    body = api.call("crm.activity.list", {"order": "ID"}, expect=400)
    assert body["error_description"] == "Parameter 'order' must be array."


def test_form_encoded_filter(api, shared_rows) -> None:
    pivot = int(shared_rows[1100]["ID"])
    body = api.raw(
        "crm.activity.list",
        data={"filter[>ID]": pivot, "order[ID]": "ASC", "select[]": "ID", "start": "-1"},
    ).json()
    assert [int(r["ID"]) for r in body["result"]] == oracle(
        shared_rows, lambda r: int(r["ID"]) > pivot
    )[:50]

"""Batch encoding, reading chained pages, range splitting and the parallel walker."""

from __future__ import annotations

import itertools
import threading
from urllib.parse import parse_qsl, unquote

from tap_bitrix24.client.batch import BatchResult, php_query
from tap_bitrix24.walk.keyset import (
    Chain,
    KeyRange,
    KeysetWalker,
    chain_commands,
    read_chain,
    split_span,
)
from tap_bitrix24.walk.listspec import item_list


def test_php_query_brackets_and_plus():
    query = php_query(
        {
            "filter": {">=LAST_UPDATED": "2024-01-01T00:00:00+03:00", "@TYPE_ID": [1, 2]},
            "order": {"ID": "ASC"},
            "select": ["*", "COMMUNICATIONS"],
            "start": -1,
        }
    )
    assert "%2B03%3A00" in query or "%2B03:00" in query  # '+' must travel as %2B
    pairs = dict(parse_qsl(query))
    assert pairs["filter[>=LAST_UPDATED]"] == "2024-01-01T00:00:00+03:00"
    assert pairs["filter[@TYPE_ID][1]"] == "2"
    assert pairs["select[1]"] == "COMMUNICATIONS"
    assert pairs["start"] == "-1"


def test_chain_commands_reference_the_previous_page():
    call = chain_commands(KeyRange(100, 900), {"OWNER_TYPE_ID": 2}, ["*"], pages=3)
    assert call.names == ["p0", "p1", "p2"] and call.chained
    commands = call.body()["cmd"]
    first = dict(parse_qsl(commands["p0"].split("?", 1)[1]))
    second = unquote(commands["p1"])
    assert first["filter[>ID]"] == "100"
    assert first["filter[<=ID]"] == "900"
    assert first["order[ID]"] == "ASC"
    assert "filter[>ID]=$result[p0][49][ID]" in second


def _rows(start: int, count: int) -> list[dict]:
    return [{"ID": str(i)} for i in range(start, start + count)]


def test_read_chain_stops_after_a_short_page():
    result = BatchResult(result={"p0": _rows(1, 50), "p1": _rows(51, 7), "p2": _rows(1, 50)})
    chain = read_chain(result, ["p0", "p1", "p2"])
    assert len(chain.rows) == 57
    assert chain.exhausted and chain.last_id == 57 and chain.pages == 2


def test_read_chain_stops_at_a_failed_command_without_exhausting():
    result = BatchResult(
        result={"p0": _rows(1, 50), "p2": _rows(1, 50)},
        errors={"p1": {"error": "OPERATION_TIME_LIMIT"}},
    )
    chain = read_chain(result, ["p0", "p1", "p2"])
    assert len(chain.rows) == 50 and not chain.exhausted and chain.last_id == 50


def test_split_span_covers_everything_once():
    ranges = split_span(0, 10_000, 4)
    assert ranges[0].after == 0 and ranges[-1].upto is None
    for left, right in itertools.pairwise(ranges):
        assert left.upto == right.after


def test_walker_reads_every_id_once_across_parallel_ranges():
    ids = list(range(1, 20_001, 3))
    lock = threading.Lock()
    calls = []

    def fetch(r: KeyRange) -> Chain:
        with lock:
            calls.append(r)
        chosen = [i for i in ids if i > r.after and (r.upto is None or i <= r.upto)][:2500]
        rows = [{"ID": str(i)} for i in chosen]
        return Chain(rows, int(rows[-1]["ID"]) if rows else None, len(rows) < 2500, 1)

    walker = KeysetWalker(fetch, split_span(0, ids[-1], 3), workers=3)
    seen = [int(row["ID"]) for step in walker for row in step.rows]
    assert sorted(seen) == ids
    assert len(seen) == len(set(seen))
    assert walker.ranges == {}


def test_id_set_roundtrip_and_size():
    import random

    from tap_bitrix24.walk.idset import decode_ids, encode_ids

    rng = random.Random(4)
    ids, value = [], 0
    for _ in range(100_000):
        value += rng.choice([1, 1, 2, 3, 7])
        ids.append(value)
    text = encode_ids(ids)
    assert list(decode_ids(text)) == ids
    assert len(text) < 2.0 * len(ids)  # bytes per ID stays small


def test_garbled_id_set_is_refused():
    import pytest

    from tap_bitrix24.walk.idset import decode_ids

    for bad in ("v1:!!!", "nope", "v1:" + "A" * 8):
        with pytest.raises(ValueError):
            decode_ids(bad)


def test_item_list_chains_reference_items_and_lowercase_ids():
    spec = item_list(2, "deals")
    call = chain_commands(KeyRange(10, None), {"stageId": "NEW"}, ["id"], pages=2, spec=spec)
    commands = call.body()["cmd"]
    first = dict(parse_qsl(commands["p0"].split("?", 1)[1]))
    assert commands["p0"].startswith("crm.item.list?")
    assert first["entityTypeId"] == "2" and first["filter[>id]"] == "10"
    assert first["order[id]"] == "ASC" and first["start"] == "-1"
    assert "filter[>id]=$result[p0][items][49][id]" in unquote(commands["p1"])
    page = {"items": [{"id": i} for i in range(11, 61)]}
    chain = read_chain(BatchResult(result={"p0": page, "p1": {"items": []}}), ["p0", "p1"], spec)
    assert len(chain.rows) == 50 and chain.last_id == 60 and chain.exhausted


def test_php_query_encodes_string_lists_like_any_other_value():
    """Select lists are encoded once and reused; the text must be what the general path gives."""
    from urllib.parse import quote

    from tap_bitrix24.client.batch import _pairs

    params = {
        "entityTypeId": 2,
        "filter": {">id": "$result[p0][items][49][id]", "@stageId": ["C1:NEW", "WON"]},
        "select": ["id", "ufCrm_1700002000", "title & more", "тема", "a[b]", "x+y"],
        "empty": [],
        "order": ("ASC", "DESC"),
        "start": -1,
    }
    expected = "&".join(
        f"{quote(key, safe='[]$*')}={quote(item, safe='[]$*')}"
        for name, value in params.items()
        for key, item in _pairs(name, value)
    )
    assert php_query(params) == expected
    assert php_query(params) == expected  # the second time from the cache

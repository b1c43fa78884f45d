"""Pinned bytes: the emulator's faster row paths must serve exactly what the plain ones served.

The digests were taken from the emulator before its row paths were sped up (per-type value
makers, pre-encoded item rows, the threshold form of ``Draw.chance``); a change of content is a
change of these pins, made on purpose.
"""

from __future__ import annotations

import hashlib
import json
import random

import pytest

from tap_bitrix24.emulator.content import _CHANCE, Draw
from tap_bitrix24.emulator.php import json_encode
from tap_bitrix24.emulator.portal import Portal

PINS = {
    ("crm.item.list", 2): "51fb0b3fec55a948",
    ("crm.item.list", 3): "c17be8910574dce9",
    ("crm.item.list", 31): "746801ec4afaeb74",
    ("crm.item.list", 1032): "dcfcc48c3eb18dbb",
    ("crm.activity.list", 0): "ef7fba10c1ba5ce8",
}


@pytest.fixture(scope="module")
def portal() -> Portal:
    return Portal(
        activities=600, seed=3, webhook_secret="s", anchor=1_767_225_600, items={"*": 120}
    )


def _digest(portal: Portal, method: str, params: dict[str, object]) -> str:
    reply = portal.handle_rest(
        f"/rest/1/s/{method}",
        "",
        json.dumps(params).encode(),
        {"content-type": "application/json"},
        "c",
    )
    body = reply.body[: reply.body.rindex(b',"time":{')]  # the time block holds real time
    return hashlib.sha256(body).hexdigest()[:16]


@pytest.mark.parametrize(("method", "entity_type"), list(PINS))
def test_list_pages_are_byte_identical(portal: Portal, method: str, entity_type: int) -> None:
    if method == "crm.item.list":
        params: dict[str, object] = {"entityTypeId": entity_type, "select": ["*"], "start": 50}
    else:
        params = {"select": ["*", "COMMUNICATIONS", "FILES"], "start": 100}
    assert _digest(portal, method, params) == PINS[(method, entity_type)]


def test_json_encode_quote_backslash_and_separators() -> None:
    encoded = json_encode(['x\\"y', "end\\", "a\u2029b", 'q"', "</&'>"])
    assert encoded == (
        b'["x\\\\\\u0022y","end\\\\","a\\u2029b","q\\u0022","\\u003C\\/\\u0026\\u0027\\u003E"]'
    )


def test_chance_threshold_matches_the_formula() -> None:
    rng = random.Random(5)
    states = [rng.getrandbits(64) for _ in range(2000)] + [0, 2**64 - 1]
    for p in range(101):
        t = _CHANCE[p]
        states += [h for h in (t - 1, t, t + 1, t - (1 << 32)) if 0 <= h < 2**64]
    for h in states:
        for p in range(101):
            assert (h < _CHANCE[p]) == ((((h >> 32) * 100) >> 32) < p)
    d, plain = Draw(9, 8, 7), Draw(9, 8, 7)
    for p in list(range(101)) * 20:
        plain.h = (plain.h * 6364136223846793005 + 1442695040888963407) & (2**64 - 1)
        assert d.chance(p) == ((((plain.h >> 32) * 100) >> 32) < p)

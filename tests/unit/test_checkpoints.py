"""The STATE budget's arithmetic: sizes without re-encoding, and the allowance."""

from __future__ import annotations

import base64
import json

from tap_bitrix24.streams.checkpoints import StateBudget, json_size
from tap_bitrix24.streams.walking import Survey


def test_json_size_matches_the_encoding_without_encoding_long_strings():
    blob = base64.b64encode(bytes(range(256)) * 100).decode()
    state = {
        "bookmarks": {
            "activities": {"known_ids": blob, "walk": {"ranges": [[0, 10], [10, None]]}},
            "activity_bindings": {"snapshot": blob, "flag": True, "n": 1.5, "s": "é"},
        }
    }
    assert json_size(state) == len(json.dumps(state, separators=(",", ":")))


def test_budget_spaces_out_big_states_in_proportion_to_what_was_read():
    budget = StateBudget(floor=1000, share=0.1)
    assert budget.allows(400, received=0)
    budget.spend(400)
    assert budget.allows(600, received=0)
    budget.spend(600)
    assert not budget.allows(500, received=4000)  # 1000 + 400 allowed, 1500 asked
    assert budget.allows(500, received=5000)
    assert budget.skipped == 1


def test_survey_estimates_density_from_its_end_pages_without_a_count():
    lows = list(range(1, 101, 2))  # every other ID at the bottom
    highs = list(range(10_000, 9_950, -1))  # every ID at the top
    survey = Survey(lows, highs)
    assert 0.5 < survey.density < 1.0
    assert not survey.at_most(2500)
    assert Survey([5, 7], [7, 5]).at_most(2500)  # a short first page is the whole list
    assert Survey(lows, highs, total=7000).density == 7000 / 10_000

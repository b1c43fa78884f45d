"""Sizing a walk before it starts: the survey's two end pages, chain lengths and progress.

The survey reads the lowest and highest matching IDs (one ``select: [ID]`` page from each end,
in one batch) and, from a bookmark, the count. From those the walk decides whether to split the
ID space into parallel ranges and how long each range's chains should be.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from tap_bitrix24.client.batch import MAX_COMMANDS, BatchCall, BatchResult
from tap_bitrix24.walk.keyset import KeyRange
from tap_bitrix24.walk.listspec import PAGE_SIZE, ListSpec


@dataclass
class Survey:
    """The lowest and highest matching IDs (one page each) and the count, when it was taken."""

    lows: list[int]
    highs: list[int]
    total: int | None = None

    @property
    def low(self) -> int:
        return self.lows[0]

    @property
    def high(self) -> int:
        return self.highs[0]

    @property
    def density(self) -> float:
        """Matching rows per ID: counted, or estimated from the two end pages."""
        span = max(1, self.high - self.low + 1)
        if self.total is not None:
            return self.total / span
        if len(self.lows) < PAGE_SIZE:
            return len(self.lows) / span  # the first page was the whole list
        gaps = (self.lows[-1] - self.lows[0]) + (self.highs[0] - self.highs[-1])
        return min(1.0, 2 * (PAGE_SIZE - 1) / max(1, gaps))

    def parts(self, workers: int) -> int:
        """Ranges worth walking in parallel: one per chained batch of expected rows at most.

        More ranges than chains would each end in a part-used chain: requests for nothing.
        """
        rows = self.density * (self.high - self.low + 1)
        return max(1, min(workers, math.ceil(rows / (PAGE_SIZE * MAX_COMMANDS))))

    def at_most(self, rows: int) -> bool:
        """Whether at most ``rows`` rows match (known from the count or the ID span)."""
        if self.total is not None:
            return self.total <= rows
        return len(self.lows) < PAGE_SIZE or self.high - self.low + 1 <= rows


def survey_call(spec: ListSpec, condition: dict[str, Any], *, count: bool) -> BatchCall:
    """The survey's batch: the lowest and highest page of IDs, and the count when asked."""
    select = [spec.id_field]
    commands = {
        "low": (spec.method, spec.query(condition, select, -1, "ASC")),
        "high": (spec.method, spec.query(condition, select, -1, "DESC")),
    }
    if count:
        commands["count"] = (spec.method, spec.query(condition, select, 0, "ASC"))
    return BatchCall(commands)


def read_survey(spec: ListSpec, result: BatchResult, *, count: bool) -> Survey | None:
    """The survey from its batch's answer; ``None`` when nothing matches."""
    low, high = spec.rows(result.result.get("low")), spec.rows(result.result.get("high"))
    if not low or not high:
        return None
    counted = result.total.get("count") if count else None
    total = int(counted) if counted is not None else None  # a failed count: none
    return Survey([spec.row_id(r) for r in low], [spec.row_id(r) for r in high], total)


def pages_for(key_range: KeyRange, density: float | None, high: int | None) -> int:
    """Chain length for a range: enough pages for the rows the survey expects, plus slack.

    Pages past the end of a range still run (and cost operating time) on the portal, so a
    range near its end gets a short chain. Without a survey every chain is 50 pages.
    """
    if density is None or high is None:
        return MAX_COMMANDS
    end = key_range.upto if key_range.upto is not None else high
    expected = max(0, end - key_range.after) * density
    pages = math.ceil(expected * 1.1 / PAGE_SIZE) + 1
    if key_range.upto is None:
        pages += 1  # new rows land above the surveyed maximum
    return max(1, min(MAX_COMMANDS, pages))


def span_of(ranges: Iterable[KeyRange]) -> tuple[int, int] | None:
    """The ID span the ranges cover at the start of a walk (for progress)."""
    ranges = list(ranges)
    if not ranges:
        return None
    low = min(r.after for r in ranges)
    high = max((r.upto or r.after) for r in ranges)
    return (low, high) if high > low else None


def walked(span: tuple[int, int] | None, ranges: Iterable[KeyRange]) -> float | None:
    """The share of ``span`` the ranges left no longer cover."""
    if span is None:
        return None
    low, high = span
    left = sum(max(0, min(r.upto or high, high) - r.after) for r in ranges)
    return 1 - left / (high - low)

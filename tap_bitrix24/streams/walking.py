"""Streams that walk ``crm.activity.list``: bookmarks, keyset/offset walks and resumable STATE.

Bookmark rule: a sync starting from bookmark B reads ``LAST_UPDATED >= B``; the bookmark it
leaves is capped at the portal time at which the walk began (the SDK's signpost, taken from
``server.time``), so an activity updated mid-walk behind the cursor is read next time.

Keyset mode keeps ``walk`` in the stream's STATE while it runs (the bookmark it started from,
the signpost, and the cursor of every ID range) and emits STATE after every chained batch that
the run's STATE budget allows (``checkpoints``: all of them while the STATE is small), so a
killed sync resumes where it stopped. The key is removed when the walk completes.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import requests
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.streams.rest import HTTPRequest, PageContext
from typing_extensions import override

from tap_bitrix24.client.batch import MAX_COMMANDS, BatchCall
from tap_bitrix24.client.errors import Bitrix24Error, Kind, kind_of
from tap_bitrix24.client.transport import Bitrix24Client
from tap_bitrix24.errors import StateError, TapError
from tap_bitrix24.progress import Progress
from tap_bitrix24.sdk_private import write_state_message
from tap_bitrix24.streams.base import Bitrix24Stream
from tap_bitrix24.streams.checkpoints import budget_of, json_size
from tap_bitrix24.streams.deletions import Deletions, deleted_since_last_sync
from tap_bitrix24.walk.keyset import (
    LIST_METHOD,
    PAGE_SIZE,
    Chain,
    KeyRange,
    KeysetWalker,
    chain_commands,
    read_chain,
    split_span,
)
from tap_bitrix24.walk.offset import NextOffsetPaginator
from tap_bitrix24.walk.ownerset import OwnerTable

if TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

    from tap_bitrix24.tap import TapBitrix24

WALK_KEY = "walk"
ID_WALK_SELECT = ["ID", "OWNER_TYPE_ID", "OWNER_ID"]


def utc_iso(moment: datetime) -> str:
    """The one bookmark format: UTC, second precision, ``+00:00``."""
    return moment.astimezone(timezone.utc).replace(microsecond=0).isoformat()


class ActivityWalkStream(Bitrix24Stream):
    """Base for streams fed by a walk over ``crm.activity.list``.

    Subclasses say which fields to :meth:`list_select` and turn raw rows into records in
    :meth:`records_from_rows`; their replication key holds the activity's LAST_UPDATED.
    """

    is_sorted = False  # keyset walks go by ID, not by LAST_UPDATED
    # Records are typed by our own converters to match the schema exactly; the SDK's
    # per-value conformance pass would only repeat that work (it dominated the CPU profile).
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE
    # STATE goes out after every chained batch, when its cursor is true. The SDK's own "every
    # 10,000 records" STATE would land mid-batch and then swallow the one after the batch.
    STATE_MSG_FREQUENCY = sys.maxsize

    def __init__(self, tap: TapBitrix24, schema: dict[str, Any]) -> None:
        super().__init__(tap=tap, schema=schema, path=LIST_METHOD)
        self._signpost: datetime | None = None
        self._since: str | None = None
        self._paginator: NextOffsetPaginator | None = None
        self._density: float | None = None  # matching rows per ID, from the survey
        self._high: int | None = None  # highest matching ID at the survey

    # -- what subclasses define ------------------------------------------------------------

    def list_select(self) -> list[str]:
        """The ``select`` of every list call."""
        raise NotImplementedError

    def records_from_rows(
        self, rows: list[dict[str, Any]], context: Context | None
    ) -> Iterable[dict[str, Any]]:
        """Turn one batch of raw rows into records."""
        raise NotImplementedError

    # -- the filter ------------------------------------------------------------------------

    def base_filter(self) -> dict[str, Any]:
        """The user's (checked) filter plus the bookmark condition."""
        condition = dict(self._bitrix_tap.checked_filter)
        if self._since:
            condition[">=LAST_UPDATED"] = self._since
        return condition

    # -- bookmarks -------------------------------------------------------------------------

    def walk_started(self) -> datetime:
        """The portal's clock when this walk began (or began before an interruption)."""
        if self._signpost is None:
            saved = self.stream_state.get(WALK_KEY)
            if isinstance(saved, dict) and isinstance(saved.get("signpost"), str):
                try:
                    self._signpost = datetime.fromisoformat(saved["signpost"])
                except ValueError:
                    self._signpost = None
            if self._signpost is None:
                self._signpost = self._bitrix_tap.portal_now()
        return self._signpost

    @override
    def get_replication_key_signpost(self, context: Context | None = None) -> str:
        """The cap on the bookmark: the walk's start, in the records' own format.

        Bookmarks are compared as strings, so the signpost is written exactly like the
        LAST_UPDATED values (``2026-11-30T02:46:05+00:00``).
        """
        return utc_iso(self.walk_started())

    def _starting_since(self, context: Context | None) -> str | None:
        try:
            start = self.get_starting_timestamp(context)
        except ValueError:
            raise StateError(
                f"the bookmark of stream '{self.name}' is not a date-time; clear the state "
                "(e.g. `meltano state clear`) to start over"
            ) from None
        return utc_iso(start) if start else None

    # -- the walk --------------------------------------------------------------------------

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """Walk the list in the configured mode; records stream out batch by batch."""
        settings = self._bitrix_tap.settings
        client = self.client
        self.progress = Progress(
            self.name,
            settings.progress_interval_seconds,
            requests=lambda: client.counters.requests,
            waits=client.waits.summary,
            operating=client.operating.outlook,
        )
        batches = (
            self._offset_batches(context)
            if settings.pagination == "offset"
            else self._keyset_batches(context)
        )
        for rows in batches:
            yield from self.records_from_rows(rows, context)
        yield from self.after_walk(context)
        self.progress.log(final=True)

    def after_walk(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """Records to emit once the walk is complete (deletion tombstones, for instance)."""
        return ()

    # offset mode: the SDK's request loop with a paginator keyed on `next`

    @override
    def get_new_paginator(self) -> NextOffsetPaginator:
        """Offset pages follow the API's ``next``."""
        self._paginator = NextOffsetPaginator()
        return self._paginator

    @override
    def get_http_request(self, *, page: PageContext) -> HTTPRequest:
        """One ``crm.activity.list`` page at offset ``page.next_page_token``."""
        return HTTPRequest(
            url=self.client.url(LIST_METHOD),
            method="POST",
            headers=self.http_headers,
            data={
                "order": {"ID": "ASC"},
                "filter": self.base_filter(),
                "select": self.list_select(),
                "start": page.next_page_token or 0,
            },
        )

    @override
    def parse_response(self, response: requests.Response) -> Iterable[dict[str, Any]]:
        """Rows of one offset page."""
        return Bitrix24Client.json(response).get("result") or []

    def _offset_batches(self, context: Context | None) -> Iterator[list[dict[str, Any]]]:
        self.stream_state.pop(WALK_KEY, None)
        self._since = self._starting_since(context)
        self.walk_started()
        page: list[dict[str, Any]] = []
        for row in self.request_records(context):
            page.append(row)
            if len(page) == 50:
                yield self._count(page)
                page = []
        if page:
            yield self._count(page)

    def _count(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if self._paginator is not None:
            self.progress.expected = self._paginator.total
        self.progress.add(len(rows))
        return rows

    # keyset mode: chained batches over ID ranges, several in flight

    def _load_walk(self) -> dict[str, Any] | None:
        saved = self.stream_state.get(WALK_KEY)
        if saved is None:
            return None
        try:
            ranges = [KeyRange.from_state(r) for r in saved["ranges"]]
            since = saved.get("since")
            if since is not None:
                datetime.fromisoformat(since)
            datetime.fromisoformat(saved["signpost"])
        except (KeyError, TypeError, ValueError) as exc:
            raise StateError(
                f"the saved walk of stream '{self.name}' is unreadable ({exc}); clear the state "
                "(e.g. `meltano state clear`) to start a full sync, or pass the last good STATE"
            ) from None
        return {"since": since, "ranges": ranges}

    def fetch_chain(
        self,
        key_range: KeyRange,
        context: Context | None,
        *,
        select: list[str] | None = None,
        condition: dict[str, Any] | None = None,
    ) -> Chain:
        """One chained batch of up to 50 keyset pages for ``key_range``."""
        call = chain_commands(
            key_range,
            self.base_filter() if condition is None else condition,
            self.list_select() if select is None else select,
            pages=self._pages_for(key_range) if condition is None else MAX_COMMANDS,
        )
        chain = read_chain(self.send_batch(call, context), call.names)
        if chain.pages == 0:
            raise TapError(
                f"the portal {self.client.host} answered a batch without list results; "
                "check that the URL points at a Bitrix24 portal"
            )
        return chain

    def _pages_for(self, key_range: KeyRange) -> int:
        """Chain length for a range: enough pages for the rows the survey expects, plus slack.

        Pages past the end of a range still run (and cost operating time) on the portal, so a
        range near its end gets a short chain. Without a survey every chain is 50 pages.
        """
        if self._density is None or self._high is None:
            return MAX_COMMANDS
        end = key_range.upto if key_range.upto is not None else self._high
        expected = max(0, end - key_range.after) * self._density
        pages = math.ceil(expected * 1.1 / PAGE_SIZE) + 1
        if key_range.upto is None:
            pages += 1  # new activities land above the surveyed maximum
        return max(1, min(MAX_COMMANDS, pages))

    def id_walk(self, context: Context | None) -> OwnerTable:
        """Every activity matching the user's filter now, with its owner: a cheap keyset walk.

        ceil(N / 2,500) requests; the owners cost no extra request (see :mod:`ownerset`).
        """
        condition = dict(self._bitrix_tap.checked_filter)
        walker = KeysetWalker(
            lambda r: self.fetch_chain(r, context, select=ID_WALK_SELECT, condition=condition),
            [KeyRange(0, None)],
        )
        table = OwnerTable()
        for step in walker:
            for row in step.rows:
                owner_type = int(row.get("OWNER_TYPE_ID") or 0)
                table.append(int(row["ID"]), owner_type, int(row.get("OWNER_ID") or 0))
        table.settle()
        return table

    def read_by_ids(
        self, ids: list[int], select: list[str], context: Context | None
    ) -> Iterator[list[dict[str, Any]]]:
        """Rows of the given activities, whatever the filter, one batch at a time.

        ``@ID`` pages of 50, 50 pages to a batch (2,500 IDs a request); an ID that no longer
        exists is simply absent.
        """
        per_batch = PAGE_SIZE * MAX_COMMANDS
        for start in range(0, len(ids), per_batch):
            chunk = ids[start : start + per_batch]
            call = BatchCall(
                {
                    f"i{k}": (
                        LIST_METHOD,
                        {
                            "order": {"ID": "ASC"},
                            "filter": {"@ID": chunk[k : k + PAGE_SIZE]},
                            "select": select,
                            "start": -1,
                        },
                    )
                    for k in range(0, len(chunk), PAGE_SIZE)
                }
            )
            result = self.send_batch(call, context)  # the client ends the run on a failed command
            rows: list[dict[str, Any]] = []
            for name in call.names:
                page = result.result.get(name)
                rows.extend(page if isinstance(page, list) else [])
            yield rows

    def existing_ids(self, ids: list[int], context: Context | None) -> set[int]:
        """Which of ``ids`` still exist on the portal (no filter): len(ids) / 2,500 requests."""
        found: set[int] = set()
        for rows in self.read_by_ids(ids, ["ID"], context):
            found.update(int(row["ID"]) for row in rows)
        return found

    def deletions(self, context: Context | None, *, keep_owners: bool = False) -> Deletions:
        """The ID walk, and which activities were deleted on the portal since the last sync.

        With a filter, candidates (known IDs missing from the filtered walk) are checked
        without it: an activity that merely left the filter is not deleted.
        """
        current = self.id_walk(context)
        filtered = bool(self._bitrix_tap.checked_filter)
        found = deleted_since_last_sync(
            self.stream_state,
            current,
            self.name,
            confirm=(lambda ids: self.existing_ids(ids, context)) if filtered else None,
            keep_owners=keep_owners,
        )
        if found.gone:
            self.logger.info("%d activities were deleted since the last sync", len(found.gone))
        return found

    def checkpoint(self, state: dict[str, Any]) -> None:
        """Add what a subclass must keep to STATE before it is emitted after a batch."""

    def _first_ranges(self, context: Context | None) -> list[KeyRange]:
        """One range, or one per worker when the list is worth walking in parallel."""
        workers = self._bitrix_tap.settings.max_parallel_requests
        if workers <= 1:
            return [KeyRange(0, None)]
        survey = self._survey(context)
        if survey is None:
            return [KeyRange(0, None)]
        self.progress.expected = survey.total
        self._density = survey.density
        self._high = survey.high
        if survey.at_most(PAGE_SIZE * MAX_COMMANDS):
            return [KeyRange(0, None)]  # one chained batch reads it all
        return split_span(survey.low - 1, survey.high, workers)

    def _survey(self, context: Context | None) -> Survey | None:
        """Lowest and highest matching ID (two cheap keyset pages) and, from a bookmark, the count.

        The count is a COUNT query whose cost grows with the matching rows (49.9 s on 2.4M rows
        in Bitrix24's docs; a cloud request is cut off at 60 s). A full sync does without it:
        the ID space is walked whole, so the ends' density is a fair estimate. From a bookmark
        it is cheap (an index on LAST_UPDATED) and sizes the chains of sparse ranges; when it
        fails or times out it is not retried: the survey is sent again without it.
        """
        if self._since is None:
            return self._survey_batch(context, count=False)
        try:
            return self._survey_batch(context, count=True, tries=1)
        except Bitrix24Error as exc:
            if kind_of(exc.code) is Kind.FATAL:
                raise
            problem = str(exc).split("; ")[0]
        except TapError as exc:
            problem = str(exc).split("; ")[0]
        self.logger.warning(
            "Counting the rows of %s failed (%s); walking without the count", self.name, problem
        )
        return self._survey_batch(context, count=False)

    def _survey_batch(
        self, context: Context | None, *, count: bool, tries: int | None = None
    ) -> Survey | None:
        condition = self.base_filter()

        def page(order: str, start: int) -> tuple[str, dict[str, Any]]:
            query = {"order": {"ID": order}, "filter": condition, "select": ["ID"], "start": start}
            return LIST_METHOD, query

        commands = {"low": page("ASC", -1), "high": page("DESC", -1)}
        if count:
            commands["count"] = page("ASC", 0)
        result = self.send_batch(BatchCall(commands), context, tries=tries)
        low, high = result.result.get("low"), result.result.get("high")
        if not isinstance(low, list) or not isinstance(high, list) or not low or not high:
            return None
        counted = result.total.get("count") if count else None
        total = int(counted) if counted is not None else None  # a failed count: none
        return Survey([int(r["ID"]) for r in low], [int(r["ID"]) for r in high], total)

    def _keyset_batches(self, context: Context | None) -> Iterator[list[dict[str, Any]]]:
        saved = self._load_walk()
        if saved is not None:
            self._since = saved["since"]
            ranges = saved["ranges"]
            self.logger.info(
                "Resuming an interrupted keyset walk of %s over %d ID range(s) from bookmark %s",
                self.name,
                len(ranges),
                self._since,
            )
        else:
            self._since = self._starting_since(context)
            ranges = self._first_ranges(context)
        signpost = self.walk_started()
        walker = KeysetWalker(
            lambda r: self.fetch_chain(r, context),
            ranges,
            workers=self._bitrix_tap.settings.max_parallel_requests,
            chain_span=int(PAGE_SIZE * MAX_COMMANDS / self._density)
            if self._density
            else PAGE_SIZE * MAX_COMMANDS,
        )
        state = self.stream_state
        state[WALK_KEY] = {
            "since": self._since,
            "signpost": utc_iso(signpost) if signpost else None,
            "ranges": [r.to_state() for r in walker.ranges.values()],
        }
        span = _span(walker.ranges.values())
        budget = budget_of(self._bitrix_tap)
        for step in walker:
            if step.rows:
                yield step.rows
            self.progress.fraction = _walked(span, walker.ranges.values())
            self.progress.add(len(step.rows))
            # Every row so far has been written: move the saved cursors and say so, when the
            # run's STATE budget has room for this STATE (a small one always fits).
            if budget.allows(json_size(self.tap_state), self.client.counters.received):
                state[WALK_KEY]["ranges"] = [r.to_state() for r in walker.ranges.values()]
                self.checkpoint(state)
                budget.spend(json_size(self.tap_state))
                write_state_message(self)
        state.pop(WALK_KEY, None)


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

    def at_most(self, rows: int) -> bool:
        """Whether at most ``rows`` rows match (known from the count or the ID span)."""
        if self.total is not None:
            return self.total <= rows
        return len(self.lows) < PAGE_SIZE or self.high - self.low + 1 <= rows


def _span(ranges: Iterable[KeyRange]) -> tuple[int, int] | None:
    ranges = list(ranges)
    if not ranges:
        return None
    low = min(r.after for r in ranges)
    high = max((r.upto or r.after) for r in ranges)
    return (low, high) if high > low else None


def _walked(span: tuple[int, int] | None, ranges: Iterable[KeyRange]) -> float | None:
    if span is None:
        return None
    low, high = span
    left = sum(max(0, min(r.upto or high, high) - r.after) for r in ranges)
    return 1 - left / (high - low)

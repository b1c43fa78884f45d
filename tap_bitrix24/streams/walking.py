"""The one walk engine, wired to the SDK: bookmarks, keyset/offset walks and resumable STATE.

Any Bitrix24 list runs through :class:`ListWalkStream`, described by a
:class:`~tap_bitrix24.walk.listspec.ListSpec` (``crm.activity.list``, ``crm.item.list`` of each
CRM type). The walk itself (ranges, steals, chains, the survey) lives in :mod:`tap_bitrix24.walk`;
this module is the glue: SDK hooks, the bookmark, STATE checkpoints and the deletion ID walk.

Bookmark rule: a sync starting from bookmark B reads ``<updated field> >= B``; the bookmark it
leaves is capped at the portal time at which the walk began (the SDK's signpost, taken from
``server.time``), so a row updated mid-walk behind the cursor is read next time.

Keyset mode keeps ``walk`` in the stream's STATE while it runs (the bookmark it started from,
the signpost, and the cursor of every ID range) and emits STATE after every chained batch that
the run's STATE budget allows (``checkpoints``: all of them while the STATE is small), so a
killed sync resumes where it stopped. The key is removed when the walk completes.
"""

from __future__ import annotations

import sys
from array import array
from collections.abc import Iterable, Iterator
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
    Chain,
    KeyRange,
    KeysetWalker,
    chain_commands,
    read_chain,
    split_span,
)
from tap_bitrix24.walk.listspec import ACTIVITY_LIST, PAGE_SIZE, ListSpec
from tap_bitrix24.walk.offset import NextOffsetPaginator
from tap_bitrix24.walk.ownerset import OwnerTable
from tap_bitrix24.walk.survey import (
    Survey,
    pages_for,
    read_survey,
    span_of,
    survey_call,
    walked,
)

if TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

    from tap_bitrix24.tap import TapBitrix24

__all__ = [
    "ActivityWalkStream",
    "ListWalkStream",
    "Survey",
    "keyset_pages",
    "read_list_chain",
    "utc_iso",
]

WALK_KEY = "walk"


def utc_iso(moment: datetime) -> str:
    """The one bookmark format: UTC, second precision, ``+00:00``."""
    return moment.astimezone(timezone.utc).replace(microsecond=0).isoformat()


def read_list_chain(
    stream: Bitrix24Stream,
    spec: ListSpec,
    key_range: KeyRange,
    condition: dict[str, Any],
    select: list[str],
    context: Context | None,
    *,
    pages: int = MAX_COMMANDS,
) -> Chain:
    """One chained batch of up to ``pages`` keyset pages of ``spec``'s list for ``key_range``.

    A batch without list results is no Bitrix24 portal's answer: one clear error, not a loop.
    """
    call = chain_commands(key_range, condition, select, pages=pages, spec=spec)
    chain = read_chain(stream.send_batch(call, context), call.names, spec)
    if chain.pages == 0:
        raise TapError(
            f"the portal {stream.client.host} answered a batch without list results; "
            "check that the URL points at a Bitrix24 portal"
        )
    return chain


def keyset_pages(
    stream: Bitrix24Stream,
    spec: ListSpec,
    condition: dict[str, Any],
    select: list[str],
    after: int,
    context: Context | None,
) -> Iterator[list[dict[str, Any]]]:
    """The rows of ``spec``'s list past ID ``after``, one chained batch (2,500 rows) at a time.

    The list engine's sequential walk (one open range), for streams that ride another list
    (product rows on the items, stage history on its own list) rather than being one.
    """
    walker = KeysetWalker(
        lambda r: read_list_chain(stream, spec, r, condition, select, context),
        [KeyRange(after, None)],
        row_id=spec.row_id,
    )
    for step in walker:
        if step.rows:
            yield step.rows


class ListWalkStream(Bitrix24Stream):
    """Base for streams fed by a walk over one Bitrix24 list, described by ``spec``.

    Subclasses say which fields to :meth:`list_select`, which checked filter the user set
    (:meth:`user_filter`), and turn raw rows into records in :meth:`records_from_rows`; their
    replication key holds the row's change stamp (``spec.updated_field``).
    """

    is_sorted = False  # keyset walks go by ID, not by LAST_UPDATED
    # Records are typed by our own converters to match the schema exactly; the SDK's
    # per-value conformance pass would only repeat that work (it dominated the CPU profile).
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE
    # STATE goes out after every chained batch, when its cursor is true. The SDK's own "every
    # 10,000 records" STATE would land mid-batch and then swallow the one after the batch.
    STATE_MSG_FREQUENCY = sys.maxsize

    def __init__(self, tap: TapBitrix24, schema: dict[str, Any], spec: ListSpec) -> None:
        self.spec = spec
        self._walked_ids = array("q")  # IDs this run read (with detect_deletes)
        super().__init__(tap=tap, schema=schema, path=spec.method)
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

    def user_filter(self) -> dict[str, Any]:
        """The user's filter for this list, checked against its fields."""
        raise NotImplementedError

    # -- the filter ------------------------------------------------------------------------

    def base_filter(self) -> dict[str, Any]:
        """The user's (checked) filter plus the bookmark condition."""
        condition = dict(self.user_filter())
        if self._since:
            condition[self.spec.since_key] = self._since
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
        change stamps in records (``2026-11-30T02:46:05+00:00``).
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
        track = settings.detect_deletes
        id_field = self.spec.id_field
        for rows in batches:
            if track:  # rows deleted before the end-of-run ID walk still get a tombstone
                self._walked_ids.extend(int(row[id_field]) for row in rows)
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
        """One list page at offset ``page.next_page_token``."""
        spec = self.spec
        return HTTPRequest(
            url=self.client.url(spec.method),
            method="POST",
            headers=self.http_headers,
            data=spec.query(self.base_filter(), self.list_select(), page.next_page_token or 0),
        )

    @override
    def parse_response(self, response: requests.Response) -> Iterable[dict[str, Any]]:
        """Rows of one offset page."""
        return self.spec.rows(Bitrix24Client.json(response).get("result")) or []

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

    def fetch_chain(self, key_range: KeyRange, context: Context | None) -> Chain:
        """One chained batch of the sync's keyset pages for ``key_range``, sized by the survey."""
        return read_list_chain(
            self,
            self.spec,
            key_range,
            self.base_filter(),
            self.list_select(),
            context,
            pages=pages_for(key_range, self._density, self._high),
        )

    def id_walk(self, context: Context | None) -> OwnerTable:
        """Every row matching the user's filter now (with its owner, for activities).

        A cheap keyset walk: ceil(N / 2,500) requests; the owners cost no extra request (see
        :mod:`ownerset`).
        """
        spec = self.spec
        select = [spec.id_field, *(spec.owner_fields or ())]
        table = OwnerTable()
        type_field, owner_field = spec.owner_fields or ("", "")
        for rows in keyset_pages(self, spec, dict(self.user_filter()), select, 0, context):
            for row in rows:
                owner_type = int(row.get(type_field) or 0)
                table.append(spec.row_id(row), owner_type, int(row.get(owner_field) or 0))
        table.settle()
        return table

    def read_by_ids(
        self, ids: list[int], select: list[str], context: Context | None
    ) -> Iterator[list[dict[str, Any]]]:
        """Rows with the given IDs, whatever the filter, one batch at a time.

        ``@ID`` pages of 50, 50 pages to a batch (2,500 IDs a request); an ID that no longer
        exists is simply absent.
        """
        spec = self.spec
        per_batch = PAGE_SIZE * MAX_COMMANDS
        for start in range(0, len(ids), per_batch):
            chunk = ids[start : start + per_batch]
            call = BatchCall(
                {
                    f"i{k}": (
                        spec.method,
                        spec.query({spec.in_key: chunk[k : k + PAGE_SIZE]}, select, -1),
                    )
                    for k in range(0, len(chunk), PAGE_SIZE)
                }
            )
            result = self.send_batch(call, context)  # the client ends the run on a failed command
            rows: list[dict[str, Any]] = []
            for name in call.names:
                rows.extend(spec.rows(result.result.get(name)) or [])
            yield rows

    def existing_ids(self, ids: list[int], context: Context | None) -> set[int]:
        """Which of ``ids`` still exist on the portal (no filter): len(ids) / 2,500 requests."""
        found: set[int] = set()
        for rows in self.read_by_ids(ids, [self.spec.id_field], context):
            found.update(self.spec.row_id(row) for row in rows)
        return found

    def deletions(self, context: Context | None, *, keep_owners: bool = False) -> Deletions:
        """The ID walk, and which rows were deleted on the portal since the last sync.

        With a filter, candidates (known IDs missing from the filtered walk) are checked
        without it: a row that merely left the filter is not deleted.
        """
        current = self.id_walk(context)
        filtered = bool(self.user_filter())
        found = deleted_since_last_sync(
            self.stream_state,
            current,
            self.name,
            confirm=(lambda ids: self.existing_ids(ids, context)) if filtered else None,
            keep_owners=keep_owners,
            emitted=self._walked_ids,
        )
        if found.gone:
            self.logger.info(
                "%d %s were deleted since the last sync", len(found.gone), self.spec.noun
            )
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
        return split_span(survey.low - 1, survey.high, survey.parts(workers))

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
        call = survey_call(self.spec, self.base_filter(), count=count)
        result = self.send_batch(call, context, tries=tries)
        return read_survey(self.spec, result, count=count)

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
            row_id=self.spec.row_id,
        )
        state = self.stream_state
        state[WALK_KEY] = {
            "since": self._since,
            "signpost": utc_iso(signpost) if signpost else None,
            "ranges": [r.to_state() for r in walker.ranges.values()],
        }
        span = span_of(walker.ranges.values())
        budget = budget_of(self._bitrix_tap)
        for step in walker:
            if step.rows:
                yield step.rows
            self.progress.fraction = walked(span, walker.ranges.values())
            self.progress.add(len(step.rows))
            # Every row so far has been written: move the saved cursors and say so, when the
            # run's STATE budget has room for this STATE (a small one always fits).
            if budget.allows(json_size(self.tap_state), self.client.counters.received):
                state[WALK_KEY]["ranges"] = [r.to_state() for r in walker.ranges.values()]
                self.checkpoint(state)
                budget.spend(json_size(self.tap_state))
                write_state_message(self)
        state.pop(WALK_KEY, None)


class ActivityWalkStream(ListWalkStream):
    """Base for streams fed by a walk over ``crm.activity.list`` (the tap's ``filter``)."""

    def __init__(self, tap: TapBitrix24, schema: dict[str, Any]) -> None:
        super().__init__(tap, schema, ACTIVITY_LIST)

    def user_filter(self) -> dict[str, Any]:
        """The ``filter`` setting, checked against ``crm.activity.fields``."""
        return self._bitrix_tap.checked_filter

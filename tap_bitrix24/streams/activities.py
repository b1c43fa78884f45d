"""The ``activities`` stream: ``crm.activity.list`` with typed records and safe bookmarks.

Bookmark rule: a sync starting from bookmark B reads ``LAST_UPDATED >= B``; the bookmark it
leaves is capped at the portal time at which the walk began (the SDK's signpost, taken from
``server.time``), so an activity updated mid-walk behind the cursor is read next time.

Keyset mode keeps ``walk`` in the stream's STATE while it runs (the bookmark it started from,
the signpost, and the cursor of every ID range), so a killed sync resumes where it stopped.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime, timezone
from functools import cached_property
from typing import TYPE_CHECKING, Any

import requests
from singer_sdk.streams import RESTStream
from singer_sdk.streams.rest import HTTPRequest, PageContext

from tap_bitrix24.client.batch import BatchResult, php_query
from tap_bitrix24.client.transport import Bitrix24Client, methods_of
from tap_bitrix24.errors import StateError, TapError
from tap_bitrix24.progress import Progress
from tap_bitrix24.streams.filters import has_bindings
from tap_bitrix24.streams.schema import EXPLICIT_SELECT, RecordConverter
from tap_bitrix24.walk.keyset import (
    LIST_METHOD,
    Chain,
    KeyRange,
    KeysetWalker,
    chain_commands,
    read_chain,
    split_span,
)
from tap_bitrix24.walk.offset import NextOffsetPaginator

if TYPE_CHECKING:
    from singer_sdk.helpers.types import Context, RequestFunc

    from tap_bitrix24.tap import TapBitrix24

WALK_KEY = "walk"


def utc_iso(moment: datetime) -> str:
    """The one bookmark format: UTC, second precision, ``+00:00``."""
    return moment.astimezone(timezone.utc).replace(microsecond=0).isoformat()


class ActivitiesStream(RESTStream[Any]):
    """CRM activities (calls, e-mails, meetings, tasks, to-dos, app activities)."""

    name = "activities"
    primary_keys = ("ID",)
    replication_key = "LAST_UPDATED"
    http_method = "POST"
    is_sorted = False  # keyset walks go by ID, not by LAST_UPDATED

    def __init__(self, tap: TapBitrix24, schema: dict[str, Any]) -> None:
        self._bitrix_tap = tap
        super().__init__(tap=tap, schema=schema, path=LIST_METHOD)
        self._signpost: datetime | None = None
        self._since: str | None = None

    # -- SDK hooks: transport --------------------------------------------------------------

    @property
    def client(self) -> Bitrix24Client:
        """The tap's shared Bitrix24 client."""
        return self._bitrix_tap.client

    @property
    def url_base(self) -> str:
        """``https://portal/rest/``; the auth callable adds the credential per request."""
        return self.client.rest_base

    @property
    def authenticator(self):
        """Webhook or OAuth auth from the client."""
        return self.client.auth

    @property
    def requests_session(self) -> requests.Session:
        """One session (and connection pool) for the whole tap."""
        return self.client.session

    @property
    def timeout(self) -> int:
        """Per-request timeout from the settings."""
        return int(self._bitrix_tap.settings.request_timeout)

    def request_decorator(self, func: RequestFunc) -> RequestFunc:
        """Pacing, retries and token refresh live in the client; the SDK sends."""

        def send(prepared: requests.PreparedRequest, context: Context | None) -> requests.Response:
            return self.client.retrying(lambda: func(prepared, context), methods_of(prepared))

        return send

    def validate_response(self, response: requests.Response) -> None:
        """Bitrix24 errors are in the body; the client maps them."""
        self.client.check(response)

    def response_error_message(self, response: requests.Response) -> str:
        """Never echo URLs or bodies: they can carry credentials."""
        return f"HTTP {response.status_code} from {self.client.host}"

    # -- what to read ----------------------------------------------------------------------

    @cached_property
    def select(self) -> list[str]:
        """``*`` plus the explicitly selected extras the settings and catalog ask for."""
        settings = self._bitrix_tap.settings
        selected = [p for p in self.schema["properties"] if self.mask.get(("properties", p), True)]
        extras = [f for f in ("IS_INCOMING_CHANNEL",) if f in selected]
        if settings.include_communications and "COMMUNICATIONS" in selected:
            extras.append("COMMUNICATIONS")
        if settings.include_files and "FILES" in selected:
            extras.append("FILES")
        defaults = [p for p in selected if p not in EXPLICIT_SELECT]
        all_defaults = [p for p in self.schema["properties"] if p not in EXPLICIT_SELECT]
        if defaults == all_defaults:
            return ["*", *extras]
        return sorted({"ID", "LAST_UPDATED", *defaults}) + extras

    @cached_property
    def converter(self) -> RecordConverter:
        """Typed conversion for this stream's schema."""
        return RecordConverter(self.schema)

    def base_filter(self) -> dict[str, Any]:
        """The user's filter plus the bookmark condition."""
        condition = dict(self._bitrix_tap.checked_filter)
        if self._since:
            condition[">=LAST_UPDATED"] = self._since
        return condition

    # -- bookmarks -------------------------------------------------------------------------

    def get_replication_key_signpost(self, context: Context | None = None) -> datetime | None:
        """The portal's clock when this walk began (or began before an interruption)."""
        if self._signpost is None:
            saved = self.stream_state.get(WALK_KEY)
            if isinstance(saved, dict) and saved.get("signpost"):
                self._signpost = datetime.fromisoformat(saved["signpost"])
            else:
                self._signpost = self._bitrix_tap.portal_now()
        return self._signpost

    def _starting_since(self, context: Context | None) -> str | None:
        start = self.get_starting_timestamp(context)
        return utc_iso(start) if start else None

    # -- records ---------------------------------------------------------------------------

    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """Walk the list in the configured mode and yield typed records."""
        settings = self._bitrix_tap.settings
        self.progress = Progress(
            self.name,
            settings.progress_interval_seconds,
            requests=lambda: self.client.counters.requests,
            waits=lambda: (
                self.client.waits.rate_waits + self.client.waits.operating_waits,
                self.client.waits.rate_seconds + self.client.waits.operating_seconds,
            ),
        )
        rows = (
            self._offset_rows(context)
            if settings.pagination == "offset"
            else self._keyset_rows(context)
        )
        dedupe = has_bindings(self._bitrix_tap.checked_filter)
        seen: set[int] = set()
        convert = self.converter
        for row in rows:
            record = convert(row)
            if dedupe:
                if record["ID"] in seen:
                    continue
                seen.add(record["ID"])
            yield record
        self.progress.log(final=True)

    # offset mode: the SDK's request loop with a paginator keyed on `next`

    def get_new_paginator(self) -> NextOffsetPaginator:
        """Offset pages follow the API's ``next``."""
        self._paginator = NextOffsetPaginator()
        return self._paginator

    def get_http_request(self, *, page: PageContext) -> HTTPRequest:
        """One ``crm.activity.list`` page at offset ``page.next_page_token``."""
        return HTTPRequest(
            url=self.client.url(LIST_METHOD),
            method="POST",
            headers=self.http_headers,
            data={
                "order": {"ID": "ASC"},
                "filter": self.base_filter(),
                "select": self.select,
                "start": page.next_page_token or 0,
            },
        )

    def parse_response(self, response: requests.Response) -> Iterable[dict[str, Any]]:
        """Rows of one offset page, and progress bookkeeping."""
        rows = Bitrix24Client.json(response).get("result") or []
        paginator = getattr(self, "_paginator", None)
        self.progress.expected = paginator.total if paginator else None
        self.progress.add(len(rows))
        return rows

    def _offset_rows(self, context: Context | None) -> Iterator[dict[str, Any]]:
        self._since = self._starting_since(context)
        self.get_replication_key_signpost(context)
        yield from self.request_records(context)

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
                f"the saved state of stream '{self.name}' is unreadable ({exc}); clear it "
                "(e.g. `meltano state clear`) to start a full sync, or pass the last good STATE"
            ) from None
        return {"since": since, "ranges": ranges}

    def _fetch_chain(self, key_range: KeyRange, context: Context | None) -> Chain:
        commands = chain_commands(key_range, self.base_filter(), self.select)
        prepared = self.build_prepared_request(
            method="POST", url=self.client.url("batch"), json={"halt": 0, "cmd": commands}
        )
        response = self.request_decorator(self._request)(prepared, context)
        chain = read_chain(BatchResult.from_body(Bitrix24Client.json(response)), list(commands))
        if chain.pages == 0:
            raise TapError(
                f"the portal {self.client.host} answered a batch without list results; "
                "check that the URL points at a Bitrix24 portal"
            )
        return chain

    def _first_ranges(self, context: Context | None) -> list[KeyRange]:
        """One range, or several when the list is big enough to walk in parallel."""
        workers = self._bitrix_tap.settings.max_parallel_requests
        if workers <= 1:
            return [KeyRange(0, None)]
        span = self._id_span()
        if span is None:
            return [KeyRange(0, None)]
        low, high = span
        return split_span(low - 1, high, workers)

    def _id_span(self) -> tuple[int, int] | None:
        """Lowest and highest ID matching the filter (two cheap keyset pages)."""
        condition = self.base_filter()
        commands = {
            f"{name}": f"{LIST_METHOD}?" + _query(condition, order)
            for name, order in (("low", "ASC"), ("high", "DESC"))
        }
        result = self.client.batch(commands)
        low = result.result.get("low")
        high = result.result.get("high")
        if not low or not high or not isinstance(low, list) or not isinstance(high, list):
            return None
        return int(low[0]["ID"]), int(high[0]["ID"])

    def _keyset_rows(self, context: Context | None) -> Iterator[dict[str, Any]]:
        saved = self._load_walk()
        if saved is not None:
            self._since = saved["since"]
            ranges = saved["ranges"]
            self.logger.info(
                "Resuming an interrupted keyset walk over %d ID range(s) from bookmark %s",
                len(ranges),
                self._since,
            )
        else:
            self._since = self._starting_since(context)
            ranges = self._first_ranges(context)
        signpost = self.get_replication_key_signpost(context)
        walker = KeysetWalker(
            lambda r: self._fetch_chain(r, context),
            ranges,
            workers=self._bitrix_tap.settings.max_parallel_requests,
        )
        state = self.stream_state
        state[WALK_KEY] = {
            "since": self._since,
            "signpost": utc_iso(signpost) if signpost else None,
            "ranges": [r.to_state() for r in walker.ranges.values()],
        }
        start_span = _span_size(walker.ranges.values())
        for step in walker:
            yield from step.rows
            # Every row of the step has been written: move the saved cursors.
            state[WALK_KEY]["ranges"] = [r.to_state() for r in walker.ranges.values()]
            self.progress.fraction = _walked_fraction(start_span, walker.ranges.values())
            self.progress.add(len(step.rows))
        state.pop(WALK_KEY, None)


def _query(condition: dict[str, Any], direction: str) -> str:
    return php_query(
        {"order": {"ID": direction}, "filter": condition, "select": ["ID"], "start": -1}
    )


def _span_size(ranges: Iterable[KeyRange]) -> int | None:
    total = 0
    for r in ranges:
        if r.upto is None:
            return None
        total += r.upto - r.after
    return total


def _walked_fraction(start: int | None, ranges: Iterable[KeyRange]) -> float | None:
    if not start:
        return None
    left = sum((r.upto or r.after) - r.after for r in ranges)
    return 1 - left / start

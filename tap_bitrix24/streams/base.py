"""The SDK's REST stream wired to the Bitrix24 client (one transport for every stream)."""

from __future__ import annotations

from collections.abc import Generator, Iterable
from functools import cached_property
from typing import TYPE_CHECKING, Any

import requests
from singer_sdk.streams import RESTStream
from typing_extensions import override

from tap_bitrix24.client.auth import OAuthAuth, WebhookAuth
from tap_bitrix24.client.batch import BatchCall, BatchResult
from tap_bitrix24.client.transport import Bitrix24Client, Knobs, method_of
from tap_bitrix24.sdk_private import PreparedRecordsStream, nothing_to_prune, send_once

if TYPE_CHECKING:
    from backoff.types import Details
    from singer_sdk.helpers.types import Context, RequestFunc

    from tap_bitrix24.tap import TapBitrix24


class Bitrix24Stream(PreparedRecordsStream, RESTStream[Any]):
    """Routes the SDK's request hooks through :class:`Bitrix24Client`.

    Pacing, retries and token refresh live in the client (``request_decorator``); Bitrix24's
    in-body errors are mapped by the client (``validate_response``); the SDK sends. The SDK's
    backoff knobs return the client's policy (``max_retries``, ``retry_backoff_seconds``) and
    ``request_decorator`` hands them to the client's retry loop, so overriding one takes effect.
    """

    http_method = "POST"
    #: The stream's records are built by a converter from :attr:`selected_schema` (exactly the
    #: selected properties, typed), so the SDK's per-record pruning can be skipped.
    builds_selected_records = False

    def __init__(self, tap: TapBitrix24, schema: dict[str, Any], path: str) -> None:
        self._bitrix_tap = tap
        super().__init__(tap=tap, schema=schema, path=path)

    @cached_property
    def selected_schema(self) -> dict[str, Any]:
        """The schema with only the properties the catalog selects: what records hold."""
        mask = self.mask
        properties = self.schema.get("properties", {})
        return {
            **self.schema,
            "properties": {n: p for n, p in properties.items() if mask[("properties", n)]},
        }

    @cached_property
    def prepared(self) -> bool:
        """Records need no pruning by the SDK (see ``sdk_private.PreparedRecordsStream``)."""
        return self.builds_selected_records and nothing_to_prune(self)

    @override
    def records_prepared(self) -> bool:
        """:attr:`prepared`, decided once per run."""
        return self.prepared

    @override
    def generate_child_contexts(
        self, record: dict[str, Any], context: Context | None
    ) -> Iterable[Context | None]:
        """No child streams, no contexts: the SDK would otherwise try, per record, to sync none."""
        if not self.child_streams:
            return ()
        return super().generate_child_contexts(record, context)

    @property
    def client(self) -> Bitrix24Client:
        """The tap's shared Bitrix24 client."""
        return self._bitrix_tap.client

    @property
    @override
    def url_base(self) -> str:
        """``https://portal/rest/``; the auth callable adds the credential per request."""
        return self.client.rest_base

    @property
    @override
    def authenticator(self) -> WebhookAuth | OAuthAuth:
        """Webhook or OAuth auth from the client."""
        return self.client.auth

    @property
    @override
    def requests_session(self) -> requests.Session:
        """One session (and connection pool) for the whole tap."""
        return self.client.session

    @property
    @override
    def timeout(self) -> int:
        """Per-request timeout from the settings."""
        return int(self._bitrix_tap.settings.request_timeout)

    @override
    def backoff_max_tries(self) -> int:
        """Attempts per request: the ``max_retries`` setting."""
        return self.client.retry.max_tries

    @override
    def backoff_wait_generator(self) -> Generator[float, Any, None]:
        """``backoff.expo`` from ``retry_backoff_seconds``, doubling up to 60 s."""
        return self.client.retry.wait_generator()

    @override
    def backoff_jitter(self, value: float) -> float:
        """±25 % around the scheduled wait."""
        return self.client.retry.jitter(value)

    @override
    def backoff_handler(self, details: Details) -> None:
        """One warning per retry naming the Bitrix24 code (never a URL: it may hold a secret)."""
        self.client.log_backoff(details)

    def backoff_knobs(self, tries: int | None = None) -> Knobs:
        """The SDK's backoff knobs of this stream, for the client's retry loop."""
        return Knobs(
            max_tries=tries or self.backoff_max_tries(),
            wait_generator=self.backoff_wait_generator,
            jitter=self.backoff_jitter,
            on_backoff=self.backoff_handler,
        )

    @override
    def request_decorator(self, func: RequestFunc) -> RequestFunc:
        """Run each request under the client's limits, retrying on the SDK's backoff knobs.

        The client drives backoff's wait generator itself (its sleeps are injectable and long
        ones speak), and adds what Bitrix24 needs: operating waits, token refresh.
        """

        def send(prepared: requests.PreparedRequest, context: Context | None) -> requests.Response:
            return self.client.retrying(
                lambda: func(prepared, context), [method_of(prepared)], knobs=self.backoff_knobs()
            )

        return send

    @override
    def validate_response(self, response: requests.Response) -> None:
        """Bitrix24 errors are in the body; the client maps them."""
        self.client.check(response)

    @override
    def response_error_message(self, response: requests.Response) -> str:
        """Never echo URLs or bodies: they can carry credentials."""
        return f"HTTP {response.status_code} from {self.client.host}"

    def send_json(
        self,
        method: str,
        body: dict[str, Any],
        context: Context | None,
        *,
        tries: int | None = None,
    ) -> dict:
        """POST one method through the SDK request path; return the decoded body.

        ``tries`` caps the attempts (a request the caller can do without).
        """
        prepared = self.build_prepared_request(
            method="POST", url=self.client.url(method), json=body
        )
        response = self.client.retrying(
            lambda: send_once(self, prepared, context), [method], knobs=self.backoff_knobs(tries)
        )
        return Bitrix24Client.json(response)

    def send_batch(
        self,
        call: BatchCall,
        context: Context | None,
        *,
        tries: int | None = None,
        keep: frozenset[str] = frozenset(),
    ) -> BatchResult:
        """Run one ``batch`` through the SDK request path; the client judges each command.

        ``tries`` caps the attempts (a request the caller can do without); error codes in
        ``keep`` stay in the result's ``errors`` for the caller.
        """

        def post(sub: BatchCall) -> requests.Response:
            prepared = self.build_prepared_request(
                method="POST", url=self.client.url("batch"), json=sub.body()
            )
            return send_once(self, prepared, context)

        return self.client.batch(call, post, knobs=self.backoff_knobs(tries), keep=keep)

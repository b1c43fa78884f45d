"""The SDK's REST stream wired to the Bitrix24 client (one transport for every stream)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import requests
from singer_sdk.streams import RESTStream
from typing_extensions import override

from tap_bitrix24.client.auth import OAuthAuth, WebhookAuth
from tap_bitrix24.client.batch import BatchCall, BatchResult
from tap_bitrix24.client.transport import Bitrix24Client, method_of
from tap_bitrix24.sdk_private import send_once

if TYPE_CHECKING:
    from singer_sdk.helpers.types import Context, RequestFunc

    from tap_bitrix24.tap import TapBitrix24


class Bitrix24Stream(RESTStream[Any]):
    """Routes the SDK's request hooks through :class:`Bitrix24Client`.

    Pacing, retries and token refresh live in the client (``request_decorator``); Bitrix24's
    in-body errors are mapped by the client (``validate_response``); the SDK sends.
    """

    http_method = "POST"

    def __init__(self, tap: TapBitrix24, schema: dict[str, Any], path: str) -> None:
        self._bitrix_tap = tap
        super().__init__(tap=tap, schema=schema, path=path)

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
    def request_decorator(self, func: RequestFunc) -> RequestFunc:
        """Run each request under the client's limits and retry policy."""

        def send(prepared: requests.PreparedRequest, context: Context | None) -> requests.Response:
            return self.client.retrying(lambda: func(prepared, context), [method_of(prepared)])

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
        response = self.client.retrying(lambda: send_once(self, prepared, context), [method], tries)
        return Bitrix24Client.json(response)

    def send_batch(
        self, call: BatchCall, context: Context | None, *, tries: int | None = None
    ) -> BatchResult:
        """Run one ``batch`` through the SDK request path; the client judges each command.

        ``tries`` caps the attempts (a request the caller can do without).
        """

        def post(sub: BatchCall) -> requests.Response:
            prepared = self.build_prepared_request(
                method="POST", url=self.client.url("batch"), json=sub.body()
            )
            return send_once(self, prepared, context)

        return self.client.batch(call, post, tries=tries)

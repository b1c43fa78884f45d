"""The HTTP transport: one place for pacing, retries, token refresh and error mapping.

:class:`Bitrix24Client` is used directly for single calls (``crm.activity.fields``,
``server.time``) and, through :meth:`Bitrix24Client.retrying` and :meth:`Bitrix24Client.check`,
by the SDK streams (their ``request_decorator`` and ``validate_response`` hooks), so every
request of the tap obeys the same leaky bucket, operating budget and retry policy.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import msgspec
import requests

from tap_bitrix24.client.auth import OAuthAuth, WebhookAuth
from tap_bitrix24.client.batch import BatchResult
from tap_bitrix24.client.errors import Bitrix24Error, Kind, TransientError, describe, kind_of
from tap_bitrix24.client.limits import LeakyBucket, OperatingBudget, WaitStats
from tap_bitrix24.client.redact import redact
from tap_bitrix24.errors import TapError

logger = logging.getLogger("tap-bitrix24")

#: Network faults that heal by retrying.
NETWORK_ERRORS = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
    ConnectionResetError,
)

NETWORK_CODES = frozenset(e.__name__ for e in NETWORK_ERRORS)

_JSON_ATTR = "_bitrix24_json"


@dataclass
class RetryPolicy:
    """Bounded exponential backoff with jitter."""

    max_tries: int = 8
    base_seconds: float = 1.0
    max_seconds: float = 60.0
    max_operating_waits: int = 6

    def delay(self, attempt: int) -> float:
        """Seconds to wait before attempt ``attempt + 1`` (attempt counts from 1)."""
        raw = min(self.max_seconds, self.base_seconds * 2 ** (attempt - 1))
        return raw * (0.75 + random.random() * 0.5)


@dataclass
class RequestCounters:
    """What the client did, for progress logs and benchmarks."""

    requests: int = 0
    retries: int = 0
    refreshes: int = 0
    received: int = 0  # bytes of the answers that passed the checks


_decoder = msgspec.json.Decoder()


def _decode(content: bytes) -> Any:
    """Decode a response body (msgspec: several times faster than json on 2,500-row batches)."""
    try:
        return _decoder.decode(content)
    except msgspec.DecodeError as exc:
        raise ValueError(str(exc)) from None


def _path_method(request: requests.PreparedRequest) -> str:
    path = urlsplit(request.url or "").path.rstrip("/")
    return path.rsplit("/", 1)[-1].removesuffix(".json")


def batch_commands(request: requests.PreparedRequest) -> list[tuple[str, str]]:
    """``(name, method)`` of each command of a batch request, in order ([] if not a batch)."""
    if _path_method(request) != "batch":
        return []
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        return []
    commands = body.get("cmd", {}) if isinstance(body, dict) else {}
    items = commands.items() if isinstance(commands, dict) else enumerate(commands)
    return [(str(name), str(text).split("?", 1)[0]) for name, text in items]


def methods_of(request: requests.PreparedRequest) -> list[str]:
    """The Bitrix24 methods a request calls (the sub-methods for a batch)."""
    commands = batch_commands(request)
    if commands:
        return sorted({method for _, method in commands})
    return [_path_method(request)]


class Bitrix24Client:
    """Talks to one portal with one credential."""

    def __init__(
        self,
        *,
        rest_base: str,
        auth: WebhookAuth | OAuthAuth,
        session: requests.Session,
        requests_per_second: float = 2.0,
        burst: int = 50,
        operating_limit: float = 420.0,
        concurrency: int = 1,
        timeout: float = 90.0,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rest_base = rest_base
        self.auth = auth
        self.session = session
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self.waits = WaitStats()
        self.bucket = LeakyBucket(requests_per_second, burst, sleep=sleep, stats=self.waits)
        self.operating = OperatingBudget(
            limit=operating_limit, concurrency=concurrency, sleep=sleep, stats=self.waits
        )
        self.counters = RequestCounters()
        self._sleep = sleep
        self._count_lock = threading.Lock()
        self._reached = False  # has the portal answered anything yet?
        self.host = urlsplit(rest_base).netloc

    # -- building and sending -------------------------------------------------------------

    def url(self, method: str) -> str:
        """The (secret-free) URL of ``method``; the auth callable adds the credential."""
        return f"{self.rest_base}{method}"

    def call(self, method: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Call one method (POST, JSON body) and return the decoded response body."""
        request = requests.Request("POST", self.url(method), json=dict(params or {}))
        prepared = self.session.prepare_request(request)

        def send() -> requests.Response:
            response = self.session.send(self.auth(prepared.copy()), timeout=self.timeout)
            self.check(response)
            return response

        return self.json(self.retrying(send, [method]))

    def retrying(
        self,
        send: Callable[[], requests.Response],
        methods: Sequence[str],
        tries: int | None = None,
    ) -> requests.Response:
        """Run ``send`` under the limits, retrying what heals and refreshing expired tokens.

        ``send`` performs one attempt and raises :class:`TransientError`, a network error or
        :class:`Bitrix24Error` (never retried). ``tries`` caps the attempts for a request the
        caller can do without (default: ``max_retries``).
        """
        max_tries = tries or self.retry.max_tries
        attempt = 0
        operating_waits = 0
        refreshed = False
        while True:
            for method in methods:
                self.operating.wait(method)
            self.bucket.acquire()
            credential = self.auth.credential_id()
            with self._count_lock:
                self.counters.requests += 1
            try:
                response = send()
                with self._count_lock:
                    self.counters.received += len(response.content)
                return response
            except TransientError as exc:
                if exc.kind is Kind.EXPIRED:
                    if refreshed:
                        raise Bitrix24Error(
                            "expired_token",
                            hint="the portal rejected a freshly refreshed token; re-authorise "
                            "the app",
                        ) from None
                    self.auth.refresh(credential)
                    refreshed = True
                    with self._count_lock:
                        self.counters.refreshes += 1
                    continue
                if exc.kind is Kind.OPERATING:
                    operating_waits += 1
                    for method in methods:
                        self.operating.blocked(method)
                    if operating_waits <= self.retry.max_operating_waits:
                        wait = max(self.operating.wait_time(m) for m in methods)
                        self._log_retry(exc.code, exc.description, wait, operating_waits)
                        if wait <= 0:
                            self._sleep(self.retry.delay(operating_waits))
                        continue
                    raise self._gave_up(exc.code, exc.description, operating_waits) from None
                attempt += 1
                if exc.kind is Kind.RATE:
                    self.bucket.mark_full()
                if attempt >= max_tries:
                    raise self._gave_up(exc.code, exc.description, attempt) from None
                delay = self.retry.delay(attempt)
                self._log_retry(exc.code, exc.description, delay, attempt)
                self._sleep(delay)
            except NETWORK_ERRORS as exc:
                attempt += 1
                code = type(exc).__name__
                # A portal that never answered in this run (no DNS, refused) rarely heals in
                # minutes: give up sooner than on a portal that was answering a moment ago.
                limit = max_tries if self._reached else min(3, max_tries)
                if attempt >= limit:
                    raise TapError(
                        f"cannot talk to the portal {self.host}: {code} after {attempt} attempts;"
                        " check the portal address (webhook_url or portal_url) and the network"
                    ) from None
                delay = self.retry.delay(attempt)
                self._log_retry(code, "", delay, attempt)
                self._sleep(delay)

    def _log_retry(self, code: str, description: str, delay: float, attempt: int) -> None:
        with self._count_lock:
            self.counters.retries += 1
        text = f" ({redact(description)[:120]})" if description else ""
        logger.warning(
            "Bitrix24 answered %s%s; retry %d in %.1f s", code, text, attempt, max(delay, 0.0)
        )

    def _gave_up(self, code: str, description: str, attempts: int) -> TapError:
        if code in ("NOT_JSON", "NOT_BITRIX24"):
            return TapError(
                f"the server at {self.host} does not answer like a Bitrix24 portal "
                f"({description}) after {attempts} attempts; check webhook_url or portal_url"
            )
        if code.startswith("HTTP ") or code in NETWORK_CODES:
            return TapError(
                f"the portal {self.host} (or a proxy in front of it) kept failing: {code} "
                f"({redact(description)}) after {attempts} attempts; try again later"
            )
        error = Bitrix24Error(code, redact(description))
        error.args = (f"{error} (gave up after {attempts} attempts)",)
        return error

    # -- reading responses ----------------------------------------------------------------

    @staticmethod
    def json(response: requests.Response) -> dict[str, Any]:
        """The decoded body of a response that passed :meth:`check` (decoded once)."""
        cached = getattr(response, _JSON_ATTR, None)
        if cached is None:
            cached = _decode(response.content)
            setattr(response, _JSON_ATTR, cached)
        return cached

    def check(self, response: requests.Response) -> None:
        """Raise unless ``response`` is a Bitrix24 success; record its operating figures."""
        self._reached = True
        status = response.status_code
        try:
            body = _decode(response.content)
        except ValueError:
            shape = "HTML" if b"<html" in response.content[:512].lower() else "unreadable"
            if status >= 500 or status == 429:
                raise TransientError(f"HTTP {status}", f"{shape} body") from None
            raise TransientError("NOT_JSON", f"HTTP {status} with a {shape} body") from None
        if not isinstance(body, dict):
            raise TransientError("NOT_BITRIX24", f"HTTP {status} with an unexpected JSON body")
        if "error" in body and "result" not in body:
            code = str(body.get("error") or "")
            description = str(body.get("error_description") or "")
            kind = kind_of(code)
            if kind is Kind.FATAL:
                raise Bitrix24Error(code, redact(description))
            raise TransientError(code, description, kind=kind)
        if "result" not in body:
            if status >= 500:
                raise TransientError(f"HTTP {status}", "no result")
            raise TransientError("NOT_BITRIX24", f"HTTP {status} without a result")
        setattr(response, _JSON_ATTR, body)
        request = response.request
        commands = batch_commands(request) if request is not None else []
        if commands:
            result = BatchResult.from_body(body)
            # Sub-calls report a running sum; the last one of each method holds this request's
            # total, and the budget learns the size of one request from it.
            last: dict[str, dict] = {}
            for name, method in commands:
                if isinstance(result.time.get(name), dict):
                    last[method] = result.time[name]
            for method, block in last.items():
                self.operating.observe(method, block)
            # When the first command failed nothing progressed: treat it as the request's error.
            first_command_error(result, commands[0][0])
        elif request is not None:
            self.operating.observe(_path_method(request), body.get("time"))


def first_command_error(result: BatchResult, first: str) -> None:
    """Raise the error of the first command of a chained batch (nothing progressed)."""
    error = result.errors.get(first)
    if not isinstance(error, dict):
        return
    code = str(error.get("error") or "")
    description = str(error.get("error_description") or "")
    kind = kind_of(code)
    if kind is Kind.FATAL:
        raise Bitrix24Error(code, redact(description), hint=describe(code))
    raise TransientError(code, description, kind=kind)

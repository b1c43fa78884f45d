"""The HTTP transport: one place for pacing, retries, token refresh and error mapping.

:class:`Bitrix24Client` is used directly for single calls (``crm.activity.fields``,
``server.time``) and, through :meth:`Bitrix24Client.retrying` and :meth:`Bitrix24Client.check`,
by the SDK streams (their ``request_decorator`` and ``validate_response`` hooks), so every
request of the tap obeys the same leaky bucket, operating budget and retry policy.

The retry schedule is ``backoff``'s (``backoff.expo`` with a jitter), given as :class:`Knobs`, the
values singer-sdk's ``RESTStream`` names ``backoff_max_tries``, ``backoff_wait_generator``,
``backoff_jitter`` and ``backoff_handler`` (the streams return the client's; see
``streams/base.py``). The client drives that schedule itself instead of ``backoff.on_exception``:
backoff sleeps with ``time.sleep``, and the client's waits go through its injectable, speaking
:class:`Waiter`; the Bitrix24-specific reactions (operating budget, token refresh, batch re-sends,
a portal that never answered) sit in the same loop.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import backoff
import msgspec
import requests
from backoff.types import Details
from singer_sdk.exceptions import RetriableAPIError

from tap_bitrix24.client.auth import OAuthAuth, WebhookAuth
from tap_bitrix24.client.batch import BatchCall, BatchResult
from tap_bitrix24.client.errors import Bitrix24Error, Kind, TransientError, describe, kind_of
from tap_bitrix24.client.limits import LeakyBucket, OperatingBudget, WaitStats
from tap_bitrix24.client.redact import redact
from tap_bitrix24.client.waiting import Waiter
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
    """Bounded exponential backoff with jitter (``max_retries``, ``retry_backoff_seconds``)."""

    max_tries: int = 8
    base_seconds: float = 1.0
    max_seconds: float = 60.0
    max_operating_waits: int = 6

    def wait_generator(self) -> Generator[float, Any, None]:
        """``base``, ``2·base``, ``4·base`` ... seconds, capped at ``max_seconds``."""
        return backoff.expo(factor=self.base_seconds, max_value=self.max_seconds)

    @staticmethod
    def jitter(value: float) -> float:
        """±25 %: parallel retries spread out, yet each wait stays near its schedule."""
        return value * (0.75 + random.random() * 0.5)


@dataclass(frozen=True)
class Knobs:
    """One retry loop's backoff knobs, as singer-sdk's ``RESTStream`` names them."""

    max_tries: int
    wait_generator: Callable[[], Generator[float, Any, None]]
    jitter: Callable[[float], float] | None
    on_backoff: Callable[[Details], None]


class _Schedule:
    """The waits of one retry loop: a ``backoff`` wait generator, primed, then jittered."""

    def __init__(self, knobs: Knobs) -> None:
        self._waits = knobs.wait_generator()
        self._waits.send(None)  # backoff's generators yield a dummy first value
        self._jitter = knobs.jitter

    def next(self, error: Exception) -> float:
        value = self._waits.send(error)
        return self._jitter(value) if self._jitter is not None else value


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


def method_of(request: requests.PreparedRequest) -> str:
    """The Bitrix24 method a (non-batch) request calls, from its URL path."""
    return _path_method(request)


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
        clock: Callable[[], float] = time.time,
        wait_log_interval: float = 30.0,
    ) -> None:
        self.rest_base = rest_base
        self.auth = auth
        self.session = session
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self.waits = WaitStats(clock=clock)
        self.waiter = Waiter(sleep=sleep, clock=clock, interval=wait_log_interval)
        self.bucket = LeakyBucket(requests_per_second, burst, sleep=sleep, stats=self.waits)
        self.operating = OperatingBudget(
            limit=operating_limit,
            concurrency=concurrency,
            clock=clock,
            sleep=sleep,
            stats=self.waits,
            waiter=self.waiter,
            first_probe=self.retry.base_seconds,
        )
        self.counters = RequestCounters()
        self._clock = clock
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

    def knobs(self) -> Knobs:
        """The client's own backoff knobs (for calls outside the SDK streams)."""
        return Knobs(
            max_tries=self.retry.max_tries,
            wait_generator=self.retry.wait_generator,
            jitter=self.retry.jitter,
            on_backoff=self.log_backoff,
        )

    def call_batch(self, call: BatchCall, keep: frozenset[str] = frozenset()) -> BatchResult:
        """Run one ``batch`` outside any stream (discovery); ``keep`` as in :meth:`batch`."""

        def post(sub: BatchCall) -> requests.Response:
            request = requests.Request("POST", self.url("batch"), json=sub.body())
            prepared = self.session.prepare_request(request)
            response = self.session.send(self.auth(prepared), timeout=self.timeout)
            self.check(response)
            return response

        return self.batch(call, post, keep=keep)

    def retrying(
        self,
        send: Callable[[], requests.Response],
        methods: Sequence[str],
        tries: int | None = None,
        knobs: Knobs | None = None,
    ) -> requests.Response:
        """Run ``send`` under the limits, retrying what heals and refreshing expired tokens.

        ``send`` performs one attempt and raises :class:`RetriableAPIError` (our
        :class:`TransientError`), a network error or :class:`Bitrix24Error` (never retried).
        ``knobs`` (default: the client's) set the schedule; ``tries`` caps the attempts for a
        request the caller can do without.
        """
        knobs = knobs or self.knobs()
        max_tries = tries or knobs.max_tries
        started = self._clock()

        def backing_off(tries: int, wait: float, exc: Exception) -> None:
            details: Details = {
                "target": send,
                "args": (),
                "kwargs": {},
                "tries": tries,
                "elapsed": self._clock() - started,
                "wait": wait,
                "exception": exc,
            }
            knobs.on_backoff(details)

        waits = _Schedule(knobs)
        probes = _Schedule(knobs)  # operating refusals with no known reset
        attempt = 0
        operating_waits = 0  # refusals the budget could not explain (no reset to wait for)
        refusals = 0
        first_refusal: float | None = None
        expired = 0
        while True:
            for method in methods:
                self.operating.wait(method)
            self.bucket.acquire()
            with self._count_lock:
                self.counters.requests += 1
            try:
                response = send()
                with self._count_lock:
                    self.counters.received += len(response.content)
                return response
            except RetriableAPIError as error:
                exc = _transient(error)
                if exc.kind is Kind.EXPIRED:
                    used = self.auth.last_use()
                    expired += 1
                    # Requests in flight may wear a token out; a token refused on the very
                    # first request after the refresh that produced it never worked.
                    if used.first_after_refresh:
                        raise Bitrix24Error(
                            "expired_token",
                            hint="the portal refused a freshly refreshed access token on its "
                            "first use; check that portal_url and the OAuth app belong together, "
                            "or re-authorise the app",
                        ) from None
                    if expired > knobs.max_tries:
                        raise Bitrix24Error(
                            "expired_token",
                            hint=f"one request met expired access tokens {expired} times, "
                            "each refreshed; re-authorise the app",
                        ) from None
                    if self.auth.refresh(used):
                        with self._count_lock:
                            self.counters.refreshes += 1
                    continue
                if exc.kind is Kind.OPERATING:
                    # The budget waits (at the top of the loop) for a known reset, or up to a
                    # window after a refusal whose reset is unknown; short retries otherwise.
                    refusals += 1
                    now = self._clock()
                    first_refusal = now if first_refusal is None else first_refusal
                    for method in methods:
                        self.operating.blocked(method)
                    wait = max(self.operating.wait_time(m) for m in methods)
                    operating_waits += wait <= 0
                    within = now - first_refusal <= 2 * self.operating.window
                    if operating_waits <= self.retry.max_operating_waits and within:
                        delay = wait if wait > 0 else probes.next(exc)
                        backing_off(refusals, delay, exc)
                        if wait <= 0:
                            self._pause(delay, exc.code, methods)
                        continue
                    raise self._gave_up(exc.code, exc.description, refusals) from None
                attempt += 1
                if exc.kind is Kind.RATE:
                    self.bucket.mark_full()
                if attempt >= max_tries:
                    raise self._gave_up(exc.code, exc.description, attempt) from None
                delay = waits.next(exc)
                backing_off(attempt, delay, exc)
                self._pause(delay, exc.code, methods)
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
                delay = waits.next(exc)
                backing_off(attempt, delay, exc)
                self._pause(delay, code, methods)

    def _pause(self, seconds: float, code: str, methods: Sequence[str]) -> None:
        """Sleep before a retry; a long one says what it waits for."""
        what = f"a retry of {', '.join(methods)} after {code}"
        if kind_of(code) in (Kind.RATE, Kind.OPERATING):  # throttling, for the progress line
            with self.waits.waiting():
                self.waiter.sleep(seconds, what)
        else:
            self.waiter.sleep(seconds, what)

    def log_backoff(self, details: Details) -> None:
        """The one-line retry log (with the Bitrix24 code), backoff's ``on_backoff`` handler."""
        with self._count_lock:
            self.counters.retries += 1
        error = details.get("exception")
        if isinstance(error, TransientError):
            code, description = error.code, error.description
        else:
            code, description = type(error).__name__, ""
        text = f" ({redact(description)[:120]})" if description else ""
        logger.warning(
            "Bitrix24 answered %s%s; retry %d in %.1f s",
            code,
            text,
            details.get("tries", 0),
            max(details.get("wait", 0.0), 0.0),
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
        if request is not None and _path_method(request) != "batch":
            # A batch's own time block says nothing per method: :meth:`batch` reads its commands'.
            self.operating.observe(_path_method(request), body.get("time"))

    # -- batches --------------------------------------------------------------------------

    def batch(
        self,
        call: BatchCall,
        post: Callable[[BatchCall], requests.Response],
        tries: int | None = None,
        knobs: Knobs | None = None,
        keep: frozenset[str] = frozenset(),
    ) -> BatchResult:
        """Run ``call`` (``post`` sends one attempt), judging every command by its error code.

        Transient codes are retried like a failed request: an independent batch re-sends only
        the failed commands; a chained batch is retried when its first command failed (nothing
        progressed), and a later failure just ends the chain. ``NOT_FOUND`` (and the codes in
        ``keep``) stay in the result's ``errors`` for the caller; any other code ends the run.
        """
        outcome = BatchResult()
        pending = [call]

        def send() -> requests.Response:
            response = post(pending[0])
            retry = self._absorb(pending[0], self.json(response), outcome, keep)
            if retry is not None:
                pending[0] = pending[0].only(retry.names)
                raise retry.error
            return response

        self.retrying(send, call.methods(), tries, knobs)
        return outcome

    def _absorb(
        self,
        call: BatchCall,
        body: dict[str, Any],
        outcome: BatchResult,
        keep: frozenset[str] = frozenset(),
    ) -> _Retry | None:
        """Merge one batch answer into ``outcome``; return what to re-send, if anything."""
        result = BatchResult.from_body(body)
        # Sub-calls report a running sum; the last one of each method holds this request's
        # total, and the budget learns the size of one request from it.
        last: dict[str, dict] = {}
        for name in call.names:
            if isinstance(result.time.get(name), dict):
                last[call.method_of(name)] = result.time[name]
        for method, block in last.items():
            self.operating.observe(method, block)
        failed: list[tuple[str, TransientError]] = []
        for position, name in enumerate(call.names):
            error = result.errors.get(name)
            if isinstance(error, dict):
                code = str(error.get("error") or "")
                description = str(error.get("error_description") or "")
                kind = kind_of(code)
                if code == "NOT_FOUND" or code in keep:
                    outcome.errors[name] = error
                    continue
                if kind is Kind.FATAL:
                    raise Bitrix24Error(
                        code, redact(description), hint=f"{describe(code)} ({call.method_of(name)})"
                    )
                if call.chained and position > 0:
                    outcome.errors[name] = error  # the chain ends here; later commands are moot
                    break
                failed.append((name, TransientError(code, description, kind=kind)))
                continue
            for section in ("result", "total", "next", "time"):
                value = getattr(result, section)
                if name in value:
                    getattr(outcome, section)[name] = value[name]
        if not failed:
            return None
        worst = min(failed, key=lambda item: _URGENCY.index(item[1].kind))[1]
        methods = ", ".join(sorted({call.method_of(n) for n, _ in failed}))
        worst.description = f"{len(failed)} of {len(call.names)} batch commands of {methods}" + (
            f": {worst.description}" if worst.description else ""
        )
        # A chain failed at its first command: nothing progressed, so all of it goes again.
        names = call.names if call.chained else [name for name, _ in failed]
        return _Retry(names, worst)


def _transient(error: RetriableAPIError) -> TransientError:
    """Our view of a retriable fault: a :class:`TransientError` as is, another one by status."""
    if isinstance(error, TransientError):
        return error
    status = error.response.status_code if error.response is not None else None
    return TransientError(f"HTTP {status}" if status else type(error).__name__, str(error))


@dataclass
class _Retry:
    """Commands of a batch to send again, and the error that says why."""

    names: list[str]
    error: TransientError


#: When commands of one batch fail differently, the retry reacts to the first kind here.
_URGENCY = [Kind.OPERATING, Kind.EXPIRED, Kind.RATE, Kind.RETRY]

"""Client-side pacing that mirrors the portal's two limits.

* :class:`LeakyBucket` mirrors the request-rate bucket (+1 per HTTP request, drains
  ``rate``/s, refuses above ``burst``), so the tap waits instead of collecting 503s.
* :class:`OperatingBudget` follows the per-method ``operating`` seconds the portal reports in
  every ``time`` block and holds calls back before the portal would answer 429.
Both are thread-safe: parallel walks share one instance of each.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from tap_bitrix24.client.waiting import Waiter, utc_clock_time


@dataclass
class WaitStats:
    """How long the client has waited because of the limits (reported in progress logs).

    ``*_seconds`` add up every thread's waits; :meth:`wall_seconds` is the wall time during
    which at least one thread waited (six workers waiting the same minute count one minute).
    """

    rate_waits: int = 0
    rate_seconds: float = 0.0
    operating_waits: int = 0
    operating_seconds: float = 0.0
    clock: Callable[[], float] = time.monotonic
    _active: int = 0
    _since: float = 0.0
    _wall: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @contextmanager
    def waiting(self) -> Iterator[None]:
        """Mark a wait of the calling thread (for the wall time)."""
        with self._lock:
            if self._active == 0:
                self._since = self.clock()
            self._active += 1
        try:
            yield
        finally:
            with self._lock:
                self._active -= 1
                if self._active == 0:
                    self._wall += self.clock() - self._since

    def wall_seconds(self) -> float:
        """Wall time spent waiting so far (a wait in progress included)."""
        with self._lock:
            running = self.clock() - self._since if self._active else 0.0
            return self._wall + running

    def summary(self) -> tuple[int, float]:
        """Number of throttling waits and their wall time, for the progress line."""
        return self.rate_waits + self.operating_waits, self.wall_seconds()


class LeakyBucket:
    """Client-side copy of the portal's leaky bucket."""

    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        stats: WaitStats | None = None,
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        # A hair under the portal's figures: our clock and the portal's never agree exactly,
        # and a request that arrives a millisecond early is refused with a 503.
        self.rate = float(rate) * 0.98
        self.burst = max(1, int(burst) - 1)
        self._clock = clock
        self._sleep = sleep
        self._level = 0.0
        self._updated = clock()
        self._lock = threading.Lock()
        self.stats = stats or WaitStats()

    def _drain(self, now: float) -> None:
        self._level = max(0.0, self._level - (now - self._updated) * self.rate)
        self._updated = now

    def acquire(self) -> float:
        """Take one slot, sleeping until the bucket has room; return the seconds waited."""
        with self._lock:
            now = self._clock()
            self._drain(now)
            # Reserve the slot now; concurrent callers queue behind it in order.
            wait = max(0.0, (self._level + 1.0 - self.burst) / self.rate)
            self._level += 1.0
            if wait > 0:
                self.stats.rate_waits += 1
                self.stats.rate_seconds += wait
        if wait > 0:
            with self.stats.waiting():
                self._sleep(wait)
        return wait

    def mark_full(self) -> None:
        """The portal answered QUERY_LIMIT_EXCEEDED: its bucket is full, so is ours."""
        with self._lock:
            self._drain(self._clock())
            self._level = max(self._level, float(self.burst))


@dataclass
class _MethodUse:
    operating: float = 0.0
    reset_at: float | None = None  # unix time
    step: float = 0.0  # the largest increase one request caused (a batch of 50 pages: ~1.5 s)
    blocked_at: float | None = None  # first refusal whose reset time we do not know (unix)
    probe: float = 0.0  # seconds until the next try while blocked_at is set


@dataclass
class OperatingBudget:
    """Per-method operating-time budget, fed by the ``time`` blocks of successful calls.

    ``limit`` is the portal's budget per 10 minutes (420 s by default in Bitrix24's code, 480 s
    in its docs). A call is held back when the running sum plus what ``concurrency`` calls of
    the largest size seen so far could add would cross the limit: the portal checks before a
    call, so a call that starts below the limit still completes, and the next one gets 429.

    A refusal (429) carries no ``time`` block: when no reset time is known (a rerun after a run
    that spent the budget), the block can last until the ``window`` frees budget, so calls wait
    up to ``window`` seconds after the first refusal, trying again after ``first_probe``
    seconds, doubling up to ``probe`` (a refused call costs no operating time, and a scripted
    or passing block heals at the first tries).
    """

    limit: float = 420.0
    concurrency: int = 1
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep
    stats: WaitStats = field(default_factory=WaitStats)
    window: float = 600.0
    probe: float = 60.0
    first_probe: float = 1.0
    waiter: Waiter | None = None
    spent: float = 0.0  # operating seconds this run's calls used, all methods
    _methods: dict[str, _MethodUse] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        if self.waiter is None:
            self.waiter = Waiter(sleep=self.sleep, clock=self.clock)

    def observe(self, method: str, time_block: dict | None) -> None:
        """Record the ``operating``/``operating_reset_at`` figures of one successful call."""
        if not isinstance(time_block, dict):
            return
        operating = time_block.get("operating")
        reset_at = time_block.get("operating_reset_at")
        with self._lock:
            use = self._methods.setdefault(method, _MethodUse())
            use.blocked_at = None  # a call went through: the block is over
            same_window = isinstance(reset_at, (int, float)) and use.reset_at == float(reset_at)
            if isinstance(operating, (int, float)):
                operating = float(operating)
                if same_window:
                    # Parallel calls finish out of order: keep the largest running sum.
                    use.step = max(use.step, operating - use.operating)
                    self.spent += max(0.0, operating - use.operating)
                    use.operating = max(use.operating, operating)
                else:
                    use.operating = operating
            if isinstance(reset_at, (int, float)):
                use.reset_at = float(reset_at)

    def blocked(self, method: str) -> None:
        """The portal answered OPERATION_TIME_LIMIT for ``method``: it is spent until reset."""
        with self._lock:
            use = self._methods.setdefault(method, _MethodUse())
            use.operating = max(use.operating, self.limit)
            now = self.clock()
            if use.reset_at is not None and use.reset_at > now:
                return  # the portal told us when: wait for that
            if use.blocked_at is None:
                use.blocked_at, use.probe = now, self.first_probe
            else:
                use.probe = min(self.probe, max(use.probe * 2, self.first_probe))

    def wait_time(self, method: str) -> float:
        """Seconds to hold a call of ``method`` back (0 when the budget has room)."""
        with self._lock:
            return self._wait_time(method)[0]

    def _wait_time(self, method: str) -> tuple[float, str]:
        use = self._methods.get(method)
        if use is None:
            return 0.0, ""
        in_flight = use.step * max(1, self.concurrency)
        if use.operating + in_flight < self.limit:
            return 0.0, ""
        now = self.clock()
        if use.reset_at is not None and use.reset_at > now:
            what = f"the operating-time budget of {method} (reset {utc_clock_time(use.reset_at)})"
            return use.reset_at - now + 0.5, what
        if use.blocked_at is not None and now < use.blocked_at + self.window:
            # Refused without a reset time: the window frees budget at the latest `window`
            # seconds after the refusal; try again now and then until then.
            end = utc_clock_time(use.blocked_at + self.window)
            what = f"the operating-time budget of {method} (reset unknown, by {end} at the latest)"
            return min(use.probe, use.blocked_at + self.window - now), what
        # The window has moved on (or we never learnt when): try again.
        use.operating = 0.0
        use.blocked_at = None
        return 0.0, ""

    def outlook(self) -> tuple[float, float, float]:
        """(operating seconds this run used, limit per window, window) for estimates."""
        with self._lock:
            return self.spent, self.limit, self.window

    def wait(self, method: str) -> float:
        """Sleep until ``method`` has budget again; return the seconds waited."""
        with self._lock:
            delay, what = self._wait_time(method)
            if delay > 0:
                self.stats.operating_waits += 1
                self.stats.operating_seconds += delay
        if delay > 0:
            assert self.waiter is not None
            with self.stats.waiting():
                self.waiter.sleep(delay, what)
            with self._lock:
                use = self._methods.get(method)
                if use is not None and use.reset_at is not None and use.reset_at <= self.clock():
                    use.operating = 0.0
        return delay

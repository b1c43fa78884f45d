"""Progress lines for long syncs: rows, rows/s, requests, throttling waits, what remains.

What remains is estimated from the pace so far and, when it binds, from the operating-time
budget: rows left x operating seconds per row so far, at ``limit`` seconds per ``window``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

logger = logging.getLogger("tap-bitrix24")


class Progress:
    """Logs at most every ``interval`` seconds to stderr (through the SDK's logger)."""

    def __init__(
        self,
        stream: str,
        interval: float,
        *,
        requests: Callable[[], int],
        waits: Callable[[], tuple[int, float]],
        operating: Callable[[], tuple[float, float, float]] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream
        self.interval = interval
        self.rows = 0
        self.expected: int | None = None  # rows expected in total, when known
        self.fraction: float | None = None  # share of the key space already walked
        self._requests = requests
        self._waits = waits
        self._operating = operating  # (operating seconds used, limit, window)
        self._clock = clock
        self._started = clock()
        self._last = self._started

    def add(self, rows: int) -> None:
        """Count rows; log when the interval has passed."""
        self.rows += rows
        now = self._clock()
        if self.interval and now - self._last >= self.interval:
            self._last = now
            self.log(now)

    def log(self, now: float | None = None, *, final: bool = False) -> None:
        """Write one progress line."""
        now = self._clock() if now is None else now
        elapsed = max(now - self._started, 1e-9)
        rate = self.rows / elapsed
        waits, waited = self._waits()
        text = (
            f"{self.stream}: {self.rows} rows in {elapsed:.1f} s ({rate:.0f} rows/s), "
            f"{self._requests()} requests, {waits} throttling waits ({waited:.1f} s)"
        )
        remaining = self._remaining(rate)
        if remaining and not final:
            text += f", {remaining}"
        logger.info(("Finished " if final else "Progress ") + text)

    def _remaining(self, rate: float) -> str:
        if self.expected and rate > 0:
            left: float = max(self.expected - self.rows, 0)
        elif self.fraction and 0 < self.fraction < 1 and self.rows:
            left = self.rows / self.fraction - self.rows
        else:
            return ""
        seconds = left / max(rate, 1e-9)
        text = f"about {left:.0f} rows and {{:.0f}} s remaining"
        budget = self._budget_seconds(left)
        if budget > seconds:
            return text.format(budget) + " (bound by the operating-time budget)"
        return text.format(seconds)

    def _budget_seconds(self, left: float) -> float:
        """Seconds the operating-time budget needs for ``left`` rows (0 when it does not bind)."""
        if self._operating is None or not self.rows:
            return 0.0
        spent, limit, window = self._operating()
        needed = spent / self.rows * left
        if limit <= 0 or needed <= limit:
            return 0.0
        return needed / limit * window

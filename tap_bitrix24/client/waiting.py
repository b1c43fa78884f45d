"""Sleeps that speak: a long wait says what it waits for, how long, and until when (UTC).

A user who sees nothing for nine minutes assumes the tap hangs. Every wait of at least
``LONG_WAIT`` seconds is logged when it starts and again every ``interval`` seconds while it
lasts; threads waiting for the same thing share one announcement.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone

logger = logging.getLogger("tap-bitrix24")

#: Waits shorter than this pass silently (the retry log line already mentions them).
LONG_WAIT = 10.0


def utc_clock_time(moment: float) -> str:
    """``05:12:03 UTC`` for a unix time."""
    return datetime.fromtimestamp(moment, timezone.utc).strftime("%H:%M:%S UTC")


class Waiter:
    """Sleeps for the client, logging long waits at start and every ``interval`` seconds."""

    def __init__(
        self,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        interval: float = 30.0,
    ) -> None:
        self._sleep = sleep
        self._clock = clock
        self.interval = interval
        self._announced: dict[str, float] = {}  # what -> until, for waits being logged
        self._lock = threading.Lock()

    def sleep(self, seconds: float, what: str = "") -> None:
        """Sleep ``seconds``; if long, log ``what`` is awaited (e.g. "the operating-time ...")."""
        if seconds <= 0:
            return
        if seconds < LONG_WAIT or not what:
            self._sleep(seconds)
            return
        until = self._clock() + seconds
        with self._lock:
            known = self._announced.get(what)
            speaks = known is None or until > known + 1.0  # another thread already says it
            if speaks:
                self._announced[what] = until
        if speaks:
            logger.info("Waiting %.0f s, until %s, for %s", seconds, utc_clock_time(until), what)
        left = seconds
        try:
            while left > 0:
                step = min(left, self.interval) if self.interval > 0 else left
                self._sleep(step)
                left -= step
                if speaks and left > 0:
                    logger.info(
                        "Still waiting for %s: %.0f s left, until %s",
                        what,
                        left,
                        utc_clock_time(until),
                    )
        finally:
            if speaks:
                with self._lock:
                    if self._announced.get(what) == until:
                        del self._announced[what]

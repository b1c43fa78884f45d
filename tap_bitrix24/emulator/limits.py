"""Bitrix24's two limits and the server-time model behind the second.

Cost model (modelled server seconds per call; all configurable):

* keyset page (``crm.activity.list`` with ``start < 0``): ``cost_keyset_page`` = 0.030
* offset page (``start >= 0``): ``cost_offset_page`` (0.030) + ``cost_count_per_100k`` (2.08) per
  100,000 matching rows (the COUNT query: 49.9 s at 2.4M rows, as Bitrix24's docs measured)
  + ``cost_skip_per_100k`` (0.2) per 100,000 rows skipped
* a request whose modelled seconds exceed ``request_cutoff`` (60) is answered 504 by the front end
* any other method: ``cost_other`` = 0.005

Leaky bucket: +1 per HTTP request (a batch is one), drains ``bucket_rate / F`` per real second,
a request that would lift it above ``bucket_size`` gets 503 ``QUERY_LIMIT_EXCEEDED``.

Operating time, per (webhook or OAuth app, method): within one HTTP request the costs of a method's
calls are summed and the sum is recorded only when it exceeds ``operating_min_record`` (0.1 s).
Records live in one-minute buckets (60 s x F real) and expire ``operating_window`` (600 s x F real)
after the first call of the request that opened the bucket. A call is refused with 429
``OPERATION_TIME_LIMIT`` when the method's live sum is above ``operating_limit`` (checked before the
call: the call that crosses the limit completes). ``batch`` itself is not accounted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

Key = tuple[str, str]  # (caller entity, method)


class LeakyBucket:
    """Request-rate limiter per client address."""

    def __init__(self) -> None:
        self.levels: dict[str, tuple[float, float]] = {}

    def hit(self, client: str, now: float, rate: float, size: float, factor: float) -> bool:
        """Count one request; False when it must be refused."""
        level, last = self.levels.get(client, (0.0, now))
        level = max(0.0, level - max(0.0, now - last) * rate / factor)
        if level + 1 > size:
            self.levels[client] = (level, now)
            return False
        self.levels[client] = (level + 1, now)
        return True

    def level(self, client: str, now: float, rate: float, factor: float) -> float:
        """Current fill (for stats)."""
        level, last = self.levels.get(client, (0.0, now))
        return max(0.0, level - max(0.0, now - last) * rate / factor)

    def reset(self) -> None:
        """Empty every bucket."""
        self.levels.clear()


@dataclass
class _Bucket:
    number: int
    total: float
    expires: float


@dataclass
class OperatingLimiter:
    """Per (entity, method) sums of recorded server time over a sliding 10-bucket window."""

    buckets: dict[Key, list[_Bucket]] = field(default_factory=dict)

    def _live(self, key: Key, now: float) -> list[_Bucket]:
        items = self.buckets.get(key)
        if not items:
            return []
        live = [b for b in items if b.expires > now]
        if len(live) != len(items):
            self.buckets[key] = live
        return live

    def window_sum(self, key: Key, now: float) -> float:
        """Recorded modelled seconds still inside the window."""
        return sum(b.total for b in self._live(key, now))

    def record(
        self, key: Key, amount: float, now: float, first_start: float, factor: float, window: float
    ) -> None:
        """Add a request's sum for a method (caller has checked the 0.1 s threshold)."""
        number = int(now // (60.0 * factor))
        items = self._live(key, now)
        if items and items[-1].number == number:
            items[-1].total += amount
        else:
            items.append(_Bucket(number, amount, first_start + window * factor))
            self.buckets[key] = items

    def reset_at(
        self, key: Key, now: float, request_start: float, factor: float, window: float
    ) -> int:
        """When the oldest live bucket expires (else a full window from now), as a Unix integer."""
        live = self._live(key, now)
        if live:
            return math.ceil(live[0].expires)
        return math.ceil(request_start + window * factor)

    def reset(self) -> None:
        """Forget everything."""
        self.buckets.clear()

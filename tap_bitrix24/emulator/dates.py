"""Portal time: ISO output with the portal's fixed offset, and strtotime-like filter parsing.

The portal prints every datetime in its own zone (``2024-08-26T16:11:36+03:00``) and reads a
filter value without an offset in that zone too. Datetimes are whole seconds (MySQL DATETIME).
Values are kept as Unix seconds internally.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from typing import Any

_OFFSET = re.compile(r"^(?:Z|UTC|([+-])(\d{1,2}):?(\d{2})?)$", re.IGNORECASE)
_ISO = re.compile(
    r"^\s*(\d{4})-(\d{1,2})-(\d{1,2})"
    r"(?:[T\s]+(\d{1,2}):(\d{2})(?::(\d{2})(?:[.,]\d+)?)?)?"
    r"\s*(Z|UTC|GMT|[+-]\d{1,2}(?::?\d{2})?)?\s*$",
    re.IGNORECASE,
)
_DMY = re.compile(
    r"^\s*(\d{1,2})\.(\d{1,2})\.(\d{4})(?:\s+(\d{1,2}):(\d{2})(?::(\d{2}))?)?"
    r"\s*(Z|UTC|GMT|[+-]\d{1,2}(?::?\d{2})?)?\s*$",
    re.IGNORECASE,
)
_BASIC = re.compile(r"^\s*(\d{4})(\d{2})(\d{2})(?:T(\d{2})(\d{2})(\d{2})?)?\s*$")
_EPOCH = re.compile(r"^\s*@(-?\d+)\s*$")
_RELATIVE = re.compile(
    r"^\s*([+-]?\d+)\s*(sec|second|min|minute|hour|day|week|month|year)s?(\s+ago)?\s*$",
    re.IGNORECASE,
)
_UNIT_SECONDS = {
    "sec": 1,
    "second": 1,
    "min": 60,
    "minute": 60,
    "hour": 3600,
    "day": 86400,
    "week": 604800,
    "month": 2629746,
    "year": 31556952,
}
_EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()


def parse_offset(text: str) -> int:
    """'+03:00' / '-0530' / 'Z' -> seconds east of UTC; ValueError when malformed."""
    match = _OFFSET.match(text.strip())
    if not match:
        raise ValueError(f"bad UTC offset: {text!r}")
    if not match.group(1):
        return 0
    seconds = int(match.group(2)) * 3600 + int(match.group(3) or 0) * 60
    if seconds > 14 * 3600:
        raise ValueError(f"bad UTC offset: {text!r}")
    return -seconds if match.group(1) == "-" else seconds


def _offset_suffix(seconds: int) -> str:
    sign = "-" if seconds < 0 else "+"
    hours, minutes = divmod(abs(seconds) // 60, 60)
    return f"{sign}{hours:02d}:{minutes:02d}"


class PortalClock:
    """Formats and parses datetimes in the portal's zone (a fixed offset, like the server's)."""

    def __init__(self, utc_offset: str = "+03:00") -> None:
        self.offset = parse_offset(utc_offset)
        self.suffix = _offset_suffix(self.offset)
        # Lookup tables keep formatting at a few hundred nanoseconds (a page walk prints a lot).
        self._days: dict[int, str] = {}
        self._days_json: dict[int, bytes] = {}
        self._minutes = [f"T{m // 60:02d}:{m % 60:02d}:" for m in range(1440)]
        self._seconds = [f"{s:02d}{self.suffix}" for s in range(60)]
        self._minutes_json = [m.encode() for m in self._minutes]
        self._seconds_json = [f'{s:02d}{self.suffix}"'.encode() for s in range(60)]

    @staticmethod
    def now() -> float:
        """Real wall-clock time (the portal's clock is the real clock)."""
        return time.time()

    def _day(self, days: int) -> str:
        day = dt.date.fromordinal(days + _EPOCH_ORDINAL).isoformat()
        self._days[days] = day
        self._days_json[days] = f'"{day}'.encode()
        return day

    def fmt(self, ts: int | None) -> str:
        """Unix seconds -> ``YYYY-MM-DDThh:mm:ss+hh:mm``; None (SQL NULL) -> ``""``."""
        if ts is None:
            return ""
        local = ts + self.offset
        days = local // 86400
        secs = local - days * 86400
        day = self._days.get(days) or self._day(days)
        return day + self._minutes[secs // 60] + self._seconds[secs % 60]

    def fmt_json(self, ts: int | None) -> bytes:
        """Like :meth:`fmt`, as a quoted JSON string in bytes (``b'""'`` for NULL)."""
        if ts is None:
            return b'""'
        local = ts + self.offset
        days = local // 86400
        secs = local - days * 86400
        day = self._days_json.get(days)
        if day is None:
            self._day(days)
            day = self._days_json[days]
        return day + self._minutes_json[secs // 60] + self._seconds_json[secs % 60]

    def local_ts(self, year: int, month: int, day: int, h: int = 0, m: int = 0, s: int = 0) -> int:
        """Unix seconds of a wall-clock moment in portal time."""
        ordinal = dt.date(year, month, day).toordinal() - _EPOCH_ORDINAL
        return ordinal * 86400 + h * 3600 + m * 60 + s - self.offset

    def parse(self, value: Any, now: float | None = None) -> int | None:
        """Like PHP ``strtotime`` for the forms clients send; None when it cannot parse.

        With an explicit offset the value is an exact instant; without one it is portal time.
        Fractions of a second are dropped (DATETIME precision).
        """
        if isinstance(value, bool) or value is None or isinstance(value, (list, dict)):
            return None
        text = str(value).strip()
        if not text:
            return None
        current = int(now if now is not None else time.time())
        try:
            return self._parse(text, current)
        except (ValueError, OverflowError):
            return None

    def _parse(self, text: str, current: int) -> int | None:
        match = _ISO.match(text) or _DMY.match(text)
        if match:
            a, b, c, hh, mm, ss, zone = match.groups()
            if match.re is _DMY:
                year, month, day = int(c), int(b), int(a)
            else:
                year, month, day = int(a), int(b), int(c)
            return self._compose(year, month, day, hh, mm, ss, zone)
        match = _BASIC.match(text)
        if match:
            y, mo, d, hh, mm, ss = match.groups()
            return self._compose(int(y), int(mo), int(d), hh, mm, ss, None)
        match = _EPOCH.match(text)
        if match:
            return int(match.group(1))
        lowered = text.lower()
        midnight = self._midnight(current)
        if lowered == "now":
            return current
        if lowered in ("today", "midnight"):
            return midnight
        if lowered == "yesterday":
            return midnight - 86400
        if lowered == "tomorrow":
            return midnight + 86400
        match = _RELATIVE.match(text)
        if match:
            amount = int(match.group(1)) * _UNIT_SECONDS[match.group(2).lower()]
            return current - amount if match.group(3) else current + amount
        return None

    def _midnight(self, current: int) -> int:
        return (current + self.offset) // 86400 * 86400 - self.offset

    def _compose(
        self,
        year: int,
        month: int,
        day: int,
        hh: str | None,
        mm: str | None,
        ss: str | None,
        zone: str | None,
    ) -> int | None:
        hour, minute, second = int(hh or 0), int(mm or 0), int(ss or 0)
        if hour > 24 or minute > 59 or second > 60 or not 1 <= month <= 12 or day < 1:
            return None
        # strtotime rolls over (2024-02-30 -> 2024-03-01); date() would refuse, so add days.
        base = dt.date(year, month, 1).toordinal() - _EPOCH_ORDINAL + day - 1
        seconds = base * 86400 + hour * 3600 + minute * 60 + second
        if zone is None:
            return seconds - self.offset
        zone = zone.upper()
        if zone in ("Z", "UTC", "GMT"):
            return seconds
        return seconds - parse_offset(zone if ":" in zone or len(zone) > 3 else zone + ":00")

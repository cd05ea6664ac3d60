"""Service cycles: natural (calendar) months in UTC or a fixed offset, keyed "2026-11".

An account's first cycle starts on the day it first sent (a partial month); later ones are whole
months. Pure date arithmetic: it never reads a clock or a ledger.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone

_OFFSET = re.compile(r"^([+-])(\d\d):?(\d\d)$")


def parse_timezone(value: str | None) -> timezone:
    """None, "UTC", "Z" -> UTC; "+08:00", "-05:30" (or "+0800") -> that fixed offset.

    Only fixed offsets: a service cycle's months do not move with daylight saving time.
    """
    if value is None or value.strip().upper() in ("", "UTC", "Z", "GMT"):
        return UTC
    match = _OFFSET.match(value.strip())
    if match is None:
        raise ValueError(f"timezone must be UTC or an offset like +08:00, got {value!r}")
    sign, hours, minutes = match.groups()
    if int(hours) > 14 or int(minutes) >= 60:
        raise ValueError(f"timezone offset out of range: {value!r}")
    delta = timedelta(hours=int(hours), minutes=int(minutes))
    return timezone(-delta if sign == "-" else delta)


def format_timezone(tz: timezone) -> str:
    """"+08:00"; UTC is "+00:00"."""
    offset = tz.utcoffset(None)
    total = int(offset.total_seconds() // 60)
    sign = "-" if total < 0 else "+"
    total = abs(total)
    return f"{sign}{total // 60:02d}:{total % 60:02d}"


def local(ts: float, tz: timezone) -> datetime:
    return datetime.fromtimestamp(ts, tz)


def cycle_key(ts: float, tz: timezone = UTC) -> str:
    """The key of the calendar month `ts` (Unix seconds) falls in, in `tz`: "2026-11"."""
    moment = local(ts, tz)
    return f"{moment.year:04d}-{moment.month:02d}"


def parse_cycle_key(key: str) -> tuple[int, int]:
    match = re.fullmatch(r"(\d{4})-(\d{2})", key.strip())
    if match is None or not 1 <= int(match.group(2)) <= 12:
        raise ValueError(f"a cycle is written YYYY-MM (like 2026-11), got {key!r}")
    return int(match.group(1)), int(match.group(2))


def add_months(year: int, month: int, months: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + months
    return index // 12, index % 12 + 1


def month_end(year: int, month: int) -> date:
    """The last day of the month."""
    y, m = add_months(year, month, 1)
    return date(y, m, 1) - timedelta(days=1)


@dataclass(frozen=True, slots=True)
class ServiceCycle:
    """One account's service cycle: [start, end) as aware datetimes in the cycle's timezone."""

    account: str
    key: str  # "2026-11"
    start: datetime  # midnight of the first day (the first send's day in a first, partial cycle)
    end: datetime  # midnight of the first day of the next month (exclusive)

    @property
    def first_day(self) -> date:
        return self.start.date()

    @property
    def last_day(self) -> date:
        return (self.end - timedelta(days=1)).date()

    @property
    def partial(self) -> bool:
        """True for an account's first cycle when it did not start sending on the 1st."""
        return self.start.day != 1

    @property
    def timezone(self) -> timezone:
        return self.start.tzinfo  # type: ignore[return-value]

    def contains(self, ts: float) -> bool:
        return self.start.timestamp() <= ts < self.end.timestamp()


def service_cycle(account: str, ts: float, first_send: float, tz: timezone = UTC) -> ServiceCycle:
    """The cycle of a message sent at `ts` by an account that first sent at `first_send`."""
    if ts < first_send:
        raise ValueError("a message cannot be sent before the account's first send")
    moment = local(ts, tz)
    year, month = moment.year, moment.month
    start = datetime(year, month, 1, tzinfo=tz)
    first = local(first_send, tz)
    if (first.year, first.month) == (year, month):
        start = datetime(first.year, first.month, first.day, tzinfo=tz)
    ny, nm = add_months(year, month, 1)
    return ServiceCycle(account, f"{year:04d}-{month:02d}", start, datetime(ny, nm, 1, tzinfo=tz))

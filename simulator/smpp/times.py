"""SMPP times (SMPP 3.4 section 7.1.1): a schedule_delivery_time or validity_period to a point in time.

Owns: reading the two formats, absolute "YYMMDDhhmmsstnnp" (t tenths of a second, nn the local time's
offset from UTC in quarter hours, p '+' ahead of UTC or '-' behind) and relative "YYMMDDhhmmss000R"
(years, months, days, hours, minutes, seconds after the current SMSC time), and writing an absolute
one. Sans-IO: the caller gives the current time (Unix seconds); nothing here reads a clock.
Not here: the field's shape on the wire (empty or 16 characters: fields.py `smpp_time`, checked by
the codec), what a carrier does with the time (carrier/validity.py).

Choices the spec leaves open: YY is 20YY; a relative time's fields are any two digits (an ESME may
write "000003000000000R" for 72 hours) and add up on the calendar in UTC (months first, the day
clipped to the month's last, then days, hours, minutes and seconds); its "tnn" must be "000".
"""

from __future__ import annotations

import calendar
from datetime import date, datetime, timedelta, timezone
from typing import NamedTuple


class SmppTimeError(ValueError):
    """A value that is not an SMPP time: the field's command_status refuses it (RINVSCHED, RINVEXPIRY)."""


class RelativeTime(NamedTuple):
    years: int
    months: int
    days: int
    hours: int
    minutes: int
    seconds: int

    def after(self, now: float) -> float:
        """The point in time this long after `now` (Unix seconds), on the UTC calendar."""
        seconds = ((self.days * 24 + self.hours) * 60 + self.minutes) * 60 + self.seconds
        if self.years or self.months:  # whole days on the calendar; the time of day stays
            today = datetime.fromtimestamp(now, timezone.utc).date()
            month0 = today.month - 1 + self.months + 12 * self.years
            year, month = today.year + month0 // 12, month0 % 12 + 1
            day = min(today.day, calendar.monthrange(year, month)[1])
            seconds += (date(year, month, day) - today).days * 86_400
        return now + seconds  # exact: no round trip through datetime's microseconds


def _digits(text: str, what: str) -> list[int]:
    """Pairs of decimal digits (only 0-9: str.isdigit also takes '²' and other digits)."""
    if any(not "0" <= c <= "9" for c in text):
        raise SmppTimeError(f"{what}: {text!r} has a character that is not a digit 0-9")
    return [int(text[i : i + 2]) for i in range(0, len(text), 2)]


def parse_absolute(text: str) -> float:
    """Unix seconds of an absolute time "YYMMDDhhmmsstnnp"; raises SmppTimeError."""
    if len(text) != 16 or text[15] not in "+-":
        raise SmppTimeError(f"{text!r} is not an absolute time YYMMDDhhmmsstnn followed by + or -")
    yy, mo, dd, hh, mi, ss = _digits(text[:12], "absolute time")
    tenths, quarters = _tenth(text[12]), _digits(text[13:15], "offset")[0]
    if quarters > 48:
        raise SmppTimeError(f"{text!r}: offset {quarters} quarter hours is more than 48 (12 hours)")
    try:
        local = datetime(2000 + yy, mo, dd, hh, mi, ss, tenths * 100_000, tzinfo=timezone.utc)
    except ValueError as exc:
        raise SmppTimeError(f"{text!r} is not a date and time: {exc}") from None
    offset = timedelta(minutes=15 * quarters)
    return (local - offset if text[15] == "+" else local + offset).timestamp()


def _tenth(c: str) -> int:
    if not "0" <= c <= "9":
        raise SmppTimeError(f"tenths of a second: {c!r} is not a digit 0-9")
    return ord(c) - 48


def parse_relative(text: str) -> RelativeTime:
    """The period of a relative time "YYMMDDhhmmss000R"; raises SmppTimeError."""
    if len(text) != 16 or text[12:] != "000R":
        raise SmppTimeError(f"{text!r} is not a relative time YYMMDDhhmmss000R")
    return RelativeTime(*_digits(text[:12], "relative time"))


def parse_time(text: str, now: float) -> float | None:
    """The point in time (Unix seconds) an SMPP time names, `now` being the SMSC's current time;
    None for an empty field (none given). Raises SmppTimeError for anything else."""
    if not text:
        return None
    if text[-1:] == "R":
        return parse_relative(text).after(now)
    return parse_absolute(text)


def format_absolute(wall: float) -> str:
    """An absolute SMPP time in UTC (offset "00+"), to the tenth of a second."""
    t = datetime.fromtimestamp(wall, timezone.utc)
    return t.strftime("%y%m%d%H%M%S") + f"{t.microsecond // 100_000}00+"

"""Validity: when a message's delivery starts (schedule_delivery_time) and when it expires (validity_period).

Owns: turning a submit's (or replace_sm's) two SMPP times into points on the carrier's clock, the
carrier's default and maximum validity (carrier.default_validity, carrier.max_validity), and which
values are refused (ESME_RINVSCHED, ESME_RINVEXPIRY). Not here: reading the time formats
(smpp/times.py), what an expired message becomes (receipts.py).

Rules: a schedule in the past starts delivery at once; a validity that ends at or before delivery
starts (now, or the scheduled time) is refused ESME_RINVEXPIRY; with no validity the default counts
from the start of delivery; a validity longer than the maximum (counted from the start of delivery)
is clipped to it, as carriers do. data_sm has no such fields: its qos_time_to_live TLV (seconds) is
its validity, 0 refused ESME_RINVEXPIRY.
"""

from __future__ import annotations

from simulator.scenario import duration_seconds
from simulator.smpp.constants import CommandStatus as S
from simulator.smpp.times import SmppTimeError, parse_time


class Validity:
    """The carrier's validity rules; `times()` answers (start, expires, status) on the carrier clock."""

    def __init__(self, default_validity: str = "48h", max_validity: str = "168h") -> None:
        self.default = duration_seconds(default_validity)
        self.maximum = duration_seconds(max_validity)

    def times(self, schedule: str, validity: str, now: float, wall: float) -> tuple[float, float, int]:
        """(start, expires, status): when delivery starts and when the message expires, on the clock
        `now` is read from (`wall` is the same instant in Unix seconds); status 0 or the refusal."""
        if not schedule and not validity:  # the usual submit: no time given
            return now, now + self.default, 0
        try:
            scheduled = _on_clock(schedule, now, wall)
        except SmppTimeError:
            return now, now, S.ESME_RINVSCHED
        start = now if scheduled is None else max(now, scheduled)
        try:
            ends = _on_clock(validity, now, wall)
        except SmppTimeError:
            return start, start, S.ESME_RINVEXPIRY
        return self._clipped(start, ends)

    def time_to_live(self, seconds: int, now: float) -> tuple[float, float, int]:
        """(start, expires, status) of a data_sm with a qos_time_to_live TLV."""
        if seconds <= 0:
            return now, now, S.ESME_RINVEXPIRY
        return self._clipped(now, now + seconds)

    def replaced(self, schedule: str, validity: str, start: float, expires: float, now: float,
                 wall: float) -> tuple[float, float, int]:
        """(start, expires, status) after a replace_sm: an empty field keeps the message's value."""
        try:
            scheduled = _on_clock(schedule, now, wall)
        except SmppTimeError:
            return start, expires, S.ESME_RINVSCHED
        if scheduled is not None:
            start = max(now, scheduled)
        try:
            ends = _on_clock(validity, now, wall)
        except SmppTimeError:
            return start, expires, S.ESME_RINVEXPIRY
        if ends is not None:
            return self._clipped(start, ends)
        if expires <= start:  # a new schedule past the validity the message has
            return start, expires, S.ESME_RINVSCHED
        return start, expires, 0

    def _clipped(self, start: float, expires: float | None) -> tuple[float, float, int]:
        if expires is None:
            return start, start + self.default, 0
        if expires <= start:
            return start, expires, S.ESME_RINVEXPIRY
        return start, min(expires, start + self.maximum), 0


def _on_clock(field: str, now: float, wall: float) -> float | None:
    """An SMPP time field as a point on the carrier's clock (`now` and `wall` are the same instant);
    None when the field is empty. Raises SmppTimeError for a value that is not an SMPP time."""
    at = parse_time(field, wall)
    return None if at is None else now + (at - wall)

"""Compensation: the voucher a cycle's success rate earns under the SLA's tiers, and the claim window.

A tier applies below its `below` rate; the tier with the smallest `below` greater than the rate
wins. The voucher is a share of the cycle's fee, never more than the fee less vouchers already
paid. Money is Decimal, rates compare exactly (Fraction): it never rounds a boundary away.

The claim window opens after the 5th working day of the month after the cycle and closes at the
end of the second month after the cycle's end. Working days are Monday to Friday: there is NO
holiday calendar (a public holiday in those first days would move the real opening later).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction

from simulator.scenario import Tier

from .cycles import add_months, month_end, parse_cycle_key

WORKING_DAYS_BEFORE_CLAIMS = 5


def as_fraction(value: float | Fraction | Decimal) -> Fraction:
    """A rate as an exact fraction; a float is read as the decimal it was written as (0.9 is 9/10)."""
    if isinstance(value, Fraction):
        return value
    if isinstance(value, float):
        return Fraction(repr(value))
    return Fraction(value)


def as_money(value: float | Decimal | str) -> Decimal:
    """A price or amount as Decimal; a float is read as the decimal it was written as (0.045)."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        return Decimal(repr(value))
    return Decimal(value)


def voucher_tier(rate: float | Fraction | None, tiers: list[Tier]) -> Tier | None:
    """The tier that applies to `rate`: the smallest `below` greater than the rate; None if none
    (the rate meets the SLA) or if there is no rate (a cycle without valid sends earns nothing)."""
    if rate is None:
        return None
    exact = as_fraction(rate)
    applicable = [t for t in tiers if exact < as_fraction(t.below)]
    return min(applicable, key=lambda t: as_fraction(t.below)) if applicable else None


@dataclass(frozen=True, slots=True)
class Compensation:
    tier: Tier | None
    share: Decimal  # of the cycle's fee (0 when no tier applies)
    fee: Decimal
    vouchers_paid: Decimal
    voucher: Decimal  # what this cycle's rate earns now, after the cap
    capped: bool  # True when the cap (fee less vouchers paid) cut the voucher down

    @property
    def cap(self) -> Decimal:
        return max(self.fee - self.vouchers_paid, Decimal(0))


def compensation(
    rate: float | Fraction | None,
    fee: Decimal | float,
    tiers: list[Tier],
    vouchers_paid: Decimal | float = 0,
) -> Compensation:
    """The voucher for a cycle: share x fee, capped at the fee less the vouchers already paid."""
    fee = as_money(fee)
    paid = as_money(vouchers_paid)
    tier = voucher_tier(rate, tiers)
    share = as_money(tier.voucher) if tier is not None else Decimal(0)
    due = share * fee
    cap = max(fee - paid, Decimal(0))
    voucher = min(due, cap)
    return Compensation(tier, share, fee, paid, voucher, capped=voucher < due)


@dataclass(frozen=True, slots=True)
class ClaimWindow:
    """Dates are calendar dates in the cycle's timezone; `opens` and `closes` are inclusive."""

    fifth_working_day: date  # of the month after the cycle; claims open the day after it
    opens: date
    closes: date  # the last day of the second month after the cycle's end

    def is_open(self, day: date) -> bool:
        return self.opens <= day <= self.closes


def nth_working_day(year: int, month: int, n: int) -> date:
    """The n-th Monday-to-Friday day of a month (no holiday calendar)."""
    day = date(year, month, 1)
    seen = 0
    while True:
        if day.weekday() < 5:
            seen += 1
            if seen == n:
                return day
        day += timedelta(days=1)


def claim_window(cycle: str) -> ClaimWindow:
    """The claim window of the cycle "YYYY-MM".

    Example: cycle 2026-11 ends on 30 Nov 2026. The 5th working day of December 2026 is Monday
    7 Dec (1-4 Dec are Tue-Fri), so claims open on 8 Dec; two months after the cycle's end is
    the end of January, so they close on 31 Jan 2027.
    """
    year, month = parse_cycle_key(cycle)
    ny, nm = add_months(year, month, 1)
    fifth = nth_working_day(ny, nm, WORKING_DAYS_BEFORE_CLAIMS)
    cy, cm = add_months(year, month, 2)
    return ClaimWindow(fifth, fifth + timedelta(days=1), month_end(cy, cm))

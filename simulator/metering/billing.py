"""Billing: the fee of a set of records, per successfully submitted segment, priced by category.

A record is billed when its submit was accepted (submit_status 0), whatever became of it later;
it pays its segments x the price of its category (sla.prices), or the `default` price, or 0 with
a warning. Money is Decimal. The rounding rule: each category's amount and their sum are exact;
the cycle's fee is that exact sum rounded ONCE, half up, to FEE_QUANTUM (4 decimal places, a
hundredth of a cent), so prices with up to 4 decimals bill exactly. It never reads anything but
its arguments.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import MAX_EMAX, MAX_PREC, MIN_EMIN, ROUND_HALF_UP, Context, Decimal, Inexact

from simulator.ledger.reader import Record

from .compensation import as_money

DEFAULT_PRICE_KEY = "default"
FEE_QUANTUM = Decimal("0.0001")  # a cycle's fee is rounded once, half up, to this
FEE_ROUNDING = ROUND_HALF_UP
# Exact arithmetic for amounts and sums: the default context keeps 28 digits, so summing 11 and
# 2.2E-16 rounded the last digit differently depending on the order of the terms.
_EXACT = Context(prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN, traps=[Inexact])
_ROUND = Context(prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN)


def round_fee(amount: Decimal) -> Decimal:
    """The billing rounding rule: half up to FEE_QUANTUM, applied once to a cycle's exact total."""
    return amount.quantize(FEE_QUANTUM, rounding=FEE_ROUNDING, context=_ROUND)


@dataclass(frozen=True, slots=True)
class CategoryLine:
    category: str
    messages: int  # accepted records of the category
    segments: int
    price: Decimal  # per segment
    priced_by: str  # "category", "default" or "missing" (no price: billed at 0)

    @property
    def amount(self) -> Decimal:
        """Exact (not rounded): the rule rounds only the cycle's fee."""
        return _EXACT.multiply(self.price, self.segments)


@dataclass(frozen=True, slots=True)
class Bill:
    lines: tuple[CategoryLine, ...]
    warnings: tuple[str, ...] = field(default=())

    @property
    def exact_fee(self) -> Decimal:
        """The exact sum of the category amounts, whatever their order."""
        total = Decimal(0)
        for line in self.lines:
            total = _EXACT.add(total, line.amount)
        return total

    @property
    def fee(self) -> Decimal:
        """The cycle's fee: the exact sum rounded once by the rule (round_fee)."""
        return round_fee(self.exact_fee)

    @property
    def segments(self) -> int:
        return sum(line.segments for line in self.lines)

    @property
    def messages(self) -> int:
        return sum(line.messages for line in self.lines)


def price_of(category: str, prices: Mapping[str, float]) -> tuple[Decimal, str]:
    if category in prices:
        return as_money(prices[category]), "category"
    if DEFAULT_PRICE_KEY in prices:
        return as_money(prices[DEFAULT_PRICE_KEY]), "default"
    return Decimal(0), "missing"


def bill(records: Iterable[Record], prices: Mapping[str, float]) -> Bill:
    """The fee of `records`: accepted segments x their category's price, by category."""
    messages: dict[str, int] = {}
    segments: dict[str, int] = {}
    for record in records:
        if record.submit_status != 0:
            continue
        category = record.category or "(none)"
        messages[category] = messages.get(category, 0) + 1
        segments[category] = segments.get(category, 0) + max(record.segments, 0)
    lines = []
    warnings = []
    for category in sorted(messages):
        price, how = price_of(category, prices)
        if how == "missing":
            warnings.append(f"no price for category {category!r} (and no 'default' price): "
                            f"its {segments[category]} segment(s) are billed at 0")
        lines.append(CategoryLine(category, messages[category], segments[category], price, how))
    return Bill(tuple(lines), tuple(warnings))

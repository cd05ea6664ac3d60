"""Billing: the fee of a set of records, per successfully submitted segment, priced by category.

A record is billed when its submit was accepted (submit_status 0), whatever became of it later;
it pays its segments x the price of its category (sla.prices), or the `default` price, or 0 with
a warning. Money is Decimal, exact; it never rounds and never reads anything but its arguments.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from simulator.ledger.reader import Record

from .compensation import as_money

DEFAULT_PRICE_KEY = "default"


@dataclass(frozen=True, slots=True)
class CategoryLine:
    category: str
    messages: int  # accepted records of the category
    segments: int
    price: Decimal  # per segment
    priced_by: str  # "category", "default" or "missing" (no price: billed at 0)

    @property
    def amount(self) -> Decimal:
        return self.price * self.segments


@dataclass(frozen=True, slots=True)
class Bill:
    lines: tuple[CategoryLine, ...]
    warnings: tuple[str, ...] = field(default=())

    @property
    def fee(self) -> Decimal:
        return sum((line.amount for line in self.lines), Decimal(0))

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

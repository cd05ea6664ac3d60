"""The SLA meter: success rate = 1 - definite failures / sends to valid numbers, per account and cycle.

Pure functions over ledger Records. Every message left out of the denominator is counted by class
and reason; pending messages are shown apart and are never counted as a success.

A message is a ledger record: one per submit_sm / data_sm and per destination of a submit_multi
(the parts of a UDH-concatenated long message are records of their own, as the carrier decides
each part on its own). Its SLA class is the one the ledger recorded; the meter never re-derives it.
Records are assigned to the service cycle of their submit time; their state is taken as it was at
the cut-off `as_of` (default: whatever the ledger holds): a final state reached after the cut-off
makes the record pending, and records submitted after the cut-off are not counted at all.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, timezone
from fractions import Fraction

from simulator.faults.outcome import SlaClass
from simulator.ledger.reader import Record

from .cycles import ServiceCycle, service_cycle

DELIVERED = SlaClass.DELIVERED.value
DEFINITE_FAILURE = SlaClass.DEFINITE_FAILURE.value
INVALID_NUMBER = SlaClass.INVALID_NUMBER.value
EXCLUDED = SlaClass.EXCLUDED.value
PENDING = SlaClass.PENDING.value
KNOWN_CLASSES = frozenset(c.value for c in SlaClass)
AFTER_CUT_OFF = "final_after_cut_off"  # the pending reason of a record whose final came after as_of


def counted_class(record: Record, as_of: float | None = None) -> tuple[str, str] | None:
    """(class, reason) of a record as the meter counts it at the cut-off, or None if sent after it."""
    if as_of is not None:
        if record.submit_time > as_of:
            return None
        if record.sla_class != PENDING and record.done_time is not None and record.done_time > as_of:
            return PENDING, AFTER_CUT_OFF
    return record.sla_class, record.reason


@dataclass(slots=True)
class SlaFigures:
    """The meter's figures for a set of records (one account's cycle, or any selection)."""

    outcomes: Counter[tuple[str, str]] = field(default_factory=Counter)  # (class, reason) -> records

    def add(self, sla_class: str, reason: str, count: int = 1) -> None:
        self.outcomes[(sla_class, reason)] += count

    def merge(self, other: SlaFigures) -> None:
        self.outcomes.update(other.outcomes)

    def by_class(self, sla_class: str) -> int:
        return sum(n for (c, _), n in self.outcomes.items() if c == sla_class)

    def reasons(self, sla_class: str) -> dict[str, int]:
        """Records of one class by reason, most frequent first ("" is "no reason given")."""
        counts = Counter({r: n for (c, r), n in self.outcomes.items() if c == sla_class})
        return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))

    @property
    def sends(self) -> int:
        """Every record counted (all classes, pending included)."""
        return sum(self.outcomes.values())

    @property
    def delivered(self) -> int:
        return self.by_class(DELIVERED)

    @property
    def definite_failures(self) -> int:
        return self.by_class(DEFINITE_FAILURE)

    @property
    def pending(self) -> int:
        return self.by_class(PENDING)

    @property
    def valid_sends(self) -> int:
        """The denominator: sends to valid numbers with a final verdict (delivered + definite failures)."""
        return self.delivered + self.definite_failures

    @property
    def left_out(self) -> dict[str, dict[str, int]]:
        """Records out of the denominator, by class then reason: invalid_number, excluded, and any
        class the meter does not know (pending is shown apart, see `pending`)."""
        classes = sorted({c for c, _ in self.outcomes} - {DELIVERED, DEFINITE_FAILURE, PENDING})
        return {c: self.reasons(c) for c in classes}

    @property
    def left_out_total(self) -> int:
        return sum(sum(r.values()) for r in self.left_out.values())

    @property
    def unknown_classes(self) -> list[str]:
        return sorted({c for c, _ in self.outcomes} - KNOWN_CLASSES)

    @property
    def exact_rate(self) -> Fraction | None:
        """1 - definite failures / valid sends, exactly; None when there was no valid send."""
        valid = self.valid_sends
        if valid == 0:
            return None
        return 1 - Fraction(self.definite_failures, valid)

    @property
    def rate(self) -> float | None:
        exact = self.exact_rate
        return None if exact is None else float(exact)


def sla_figures(records: Iterable[Record], as_of: float | None = None) -> SlaFigures:
    """The meter's figures over any records (no grouping by account or cycle)."""
    figures = SlaFigures()
    for record in records:
        counted = counted_class(record, as_of)
        if counted is not None:
            figures.add(*counted)
    return figures


@dataclass(slots=True)
class CycleMeter:
    """One account's service cycle and the figures of the records sent in it."""

    cycle: ServiceCycle
    figures: SlaFigures = field(default_factory=SlaFigures)
    records: list[Record] = field(default_factory=list)  # the cycle's records (for billing, charts)


def first_sends(records: Iterable[Record]) -> dict[str, float]:
    """Each account's first submit time among `records` (every record counts: refused ones too)."""
    first: dict[str, float] = {}
    for record in records:
        seen = first.get(record.account)
        if seen is None or record.submit_time < seen:
            first[record.account] = record.submit_time
    return first


def meter(
    records: Iterable[Record],
    tz: timezone = UTC,
    as_of: float | None = None,
    first_send: dict[str, float] | None = None,
) -> dict[tuple[str, str], CycleMeter]:
    """Figures per (account, cycle key), in account then cycle order.

    `first_send` gives accounts' first send times when `records` are a selection (the first
    cycle must start on the day the account really first sent); by default they come from `records`.
    """
    records = [r for r in records if as_of is None or r.submit_time <= as_of]
    first = first_sends(records)
    if first_send:
        first.update({a: min(t, first.get(a, t)) for a, t in first_send.items()})
    out: dict[tuple[str, str], CycleMeter] = {}
    for record in records:
        counted = counted_class(record, as_of)
        if counted is None:  # pragma: no cover - filtered above
            continue
        cycle = service_cycle(record.account, record.submit_time, first[record.account], tz)
        key = (record.account, cycle.key)
        entry = out.get(key)
        if entry is None:
            entry = out[key] = CycleMeter(cycle)
        entry.figures.add(*counted)
        entry.records.append(record)
    return dict(sorted(out.items()))

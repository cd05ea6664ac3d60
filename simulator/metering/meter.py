"""The SLA meter: success rate = 1 - definite failures / sends to valid numbers, per account and cycle.

Pure functions over ledger Records. Every message left out of the denominator is counted by class
and reason; pending messages are shown apart and are never counted as a success.

A message is a ledger record: one per submit_sm / data_sm and per destination of a submit_multi
(the parts of a UDH-concatenated long message are records of their own, as the carrier decides
each part on its own). Its SLA class is the one the ledger recorded; the meter never re-derives it.
Records are assigned to the service cycle of their submit time; their state is taken as it was at
the cut-off `as_of` (default: whatever the ledger holds): a final state reached after the cut-off
makes the record pending, and records submitted after the cut-off are not counted at all.

The pending policy (`sla.pending_after`, a PendingRule): a message to a valid number still without a
final state `after` seconds past its submit, judged at the rule's time `at`, is a definite failure
with reason NO_FINAL_STATE, and so is one whose final state came later than that (a receipt after
the deadline does not undo the failure, so moving the cut-off forward never lowers the failures).
Only records the precedence (faults/outcome.py PRECEDENCE) would let fail: a pending record whose
message row names a cause (the carrier decided at submit an invalid number or an excluded cause:
its reason is not "") and a final of class invalid_number or excluded are never turned into failures.
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
NO_FINAL_STATE = "no_final_state"  # the definite-failure reason of a message pending past `pending_after`
_CAN_FAIL = frozenset({DELIVERED, DEFINITE_FAILURE})  # final classes of a valid number with no cause above


@dataclass(frozen=True, slots=True)
class PendingRule:
    """`sla.pending_after` applied at a time: `after` seconds (None: pending forever), judged at `at`
    (Unix seconds: the report's cut-off, never later than when the report is made)."""

    after: float | None
    at: float

    def expired(self, submit_time: float) -> bool:
        return self.after is not None and self.at - submit_time >= self.after


def counted_class(record: Record, as_of: float | None = None,
                  rule: PendingRule | None = None) -> tuple[str, str] | None:
    """(class, reason) of a record as the meter counts it at the cut-off, or None if sent after it."""
    sla_class, reason = record.sla_class, record.reason
    if as_of is not None:
        if record.submit_time > as_of:
            return None
        if sla_class != PENDING and record.done_time is not None and record.done_time > as_of:
            if rule is not None and sla_class in _CAN_FAIL and rule.expired(record.submit_time):
                return DEFINITE_FAILURE, NO_FINAL_STATE
            return PENDING, AFTER_CUT_OFF
    if rule is None or rule.after is None:
        return sla_class, reason
    if sla_class == PENDING:
        if not reason and rule.expired(record.submit_time):
            return DEFINITE_FAILURE, NO_FINAL_STATE
    elif sla_class == DELIVERED and record.done_time is not None and record.done_time - record.submit_time > rule.after:
        return DEFINITE_FAILURE, NO_FINAL_STATE  # its receipt came after the deadline
    return sla_class, reason


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


def sla_figures(records: Iterable[Record], as_of: float | None = None,
                rule: PendingRule | None = None) -> SlaFigures:
    """The meter's figures over any records (no grouping by account or cycle)."""
    figures = SlaFigures()
    for record in records:
        counted = counted_class(record, as_of, rule)
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
    rule: PendingRule | None = None,
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
        counted = counted_class(record, as_of, rule)
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

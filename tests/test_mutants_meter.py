"""The meter's cut-off and cycles, compensation's record and billing's lines, at the edges
tests/test_metering.py left open. Written to kill the mutants `make mutants` found surviving in
simulator/metering/meter.py, compensation.py and billing.py (docs/mutation.md). Pure: Records
built by hand, no ledger file."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal, localcontext
from fractions import Fraction

from simulator.ledger.reader import Record
from simulator.metering.billing import CategoryLine, bill, round_fee
from simulator.metering.compensation import Compensation, as_fraction, compensation
from simulator.metering.meter import AFTER_CUT_OFF, SlaFigures, counted_class, meter, sla_figures
from simulator.scenario import Tier

TIERS = [Tier(below=0.95, voucher=0.10), Tier(below=0.90, voucher=0.30)]


def ts(*args: int) -> float:
    return datetime(*args, tzinfo=UTC).timestamp()


def record(sla_class: str, submit_time: float, *, account: str = "acme", reason: str = "",
           done_time: float | None = None, category: str = "notification", segments: int = 1,
           submit_status: int = 0) -> Record:
    final = {"delivered": "DELIVRD", "pending": None}.get(sla_class, "UNDELIV")
    return Record("run", "id", account, "8613800000001", category, segments, submit_time, submit_status, True,
                  final, None if final is None else "000", done_time, sla_class, reason)


# ------------------------------------------------------------------ the cut-off is inclusive
def test_a_message_sent_at_the_cut_off_counts_and_a_final_at_the_cut_off_is_final():
    t = ts(2026, 11, 20, 12)
    on_time = record("delivered", t, done_time=t)
    assert counted_class(on_time, as_of=t) == ("delivered", "")
    assert counted_class(record("delivered", t, done_time=t + 1), as_of=t) == ("pending", AFTER_CUT_OFF)
    assert counted_class(record("delivered", t + 1, done_time=t + 1), as_of=t) is None


def test_the_meter_counts_a_message_sent_at_the_cut_off_and_judges_finals_at_the_cut_off():
    t = ts(2026, 11, 20, 12)
    recs = [record("delivered", t - 10, done_time=t + 60),  # final after the cut-off: pending then
            record("definite_failure", t, reason="provider_failure", done_time=t),
            record("delivered", t + 1, done_time=t + 2)]  # sent after the cut-off: not counted
    (entry,) = meter(recs, as_of=t).values()
    assert entry.figures.outcomes == {("pending", AFTER_CUT_OFF): 1, ("definite_failure", "provider_failure"): 1}
    assert entry.records == recs[:2]


# ------------------------------------------------------------------ cycles and their records
def test_each_cycle_meter_holds_its_cycle_and_its_records():
    nov, dec = record("delivered", ts(2026, 11, 14, 10)), record("definite_failure", ts(2026, 12, 2))
    other = record("delivered", ts(2026, 11, 20), account="beta")
    meters = meter([nov, dec, other])
    assert list(meters) == [("acme", "2026-11"), ("acme", "2026-12"), ("beta", "2026-11")]
    first = meters[("acme", "2026-11")]
    assert (first.cycle.account, first.cycle.key, first.cycle.first_day) == ("acme", "2026-11", date(2026, 11, 14))
    assert first.records == [nov] and meters[("acme", "2026-12")].records == [dec]
    assert meters[("beta", "2026-11")].cycle.account == "beta"


def test_a_selection_starts_the_first_cycle_on_the_accounts_real_first_send():
    """Metering a selection (one run, a cut-off...) must not move an account's first, partial cycle
    to the selection's first message: `first_send` says when the account really started."""
    selection = [record("delivered", ts(2026, 11, 20))]
    (entry,) = meter(selection, first_send={"acme": ts(2026, 11, 5, 9)}).values()
    assert entry.cycle.first_day == date(2026, 11, 5)
    (later,) = meter(selection, first_send={"acme": ts(2026, 11, 25)}).values()  # the selection's own is earlier
    assert later.cycle.first_day == date(2026, 11, 20)


def test_first_sends_of_accounts_outside_the_selection_are_ignored():
    meters = meter([record("delivered", ts(2026, 11, 20))], first_send={"beta": ts(2026, 11, 1)})
    assert list(meters) == [("acme", "2026-11")]
    assert meters[("acme", "2026-11")].cycle.first_day == date(2026, 11, 20)


# ------------------------------------------------------------------ figures
def test_reasons_are_listed_most_frequent_first_then_by_name():
    f = SlaFigures()
    for reason, n in (("b", 2), ("d", 1), ("a", 2), ("c", 5)):
        f.add("excluded", reason, n)
    assert list(f.reasons("excluded").items()) == [("c", 5), ("a", 2), ("b", 2), ("d", 1)]


def test_merged_figures_add_up_outcome_by_outcome():
    a = sla_figures([record("delivered", ts(2026, 11, 20)), record("excluded", ts(2026, 11, 20), reason="x")])
    b = sla_figures([record("delivered", ts(2026, 11, 21)), record("definite_failure", ts(2026, 11, 21))])
    a.merge(b)
    assert a.outcomes == {("delivered", ""): 2, ("excluded", "x"): 1, ("definite_failure", ""): 1}
    assert b.outcomes == {("delivered", ""): 1, ("definite_failure", ""): 1}  # the merged-in side is unchanged


# ------------------------------------------------------------------ compensation
def test_a_rate_given_as_a_decimal_or_an_int_is_exact():
    assert as_fraction(Decimal("0.95")) == Fraction(19, 20)
    assert as_fraction(1) == Fraction(1)


def test_the_compensation_record_carries_tier_share_fee_paid_voucher_and_whether_it_was_capped():
    assert compensation(0.92, Decimal(200), TIERS, vouchers_paid=Decimal(5)) == Compensation(
        TIERS[0], Decimal("0.1"), Decimal(200), Decimal(5), Decimal("20.0"), capped=False)
    assert compensation(0.5, Decimal(100), TIERS, vouchers_paid=Decimal(95)) == Compensation(
        TIERS[1], Decimal("0.3"), Decimal(100), Decimal(95), Decimal(5), capped=True)


def test_without_vouchers_paid_the_whole_fee_is_the_cap():
    comp = compensation(0.5, Decimal(1), TIERS)
    assert (comp.vouchers_paid, comp.cap, comp.voucher, comp.capped) == (0, Decimal(1), Decimal("0.3"), False)


def test_a_voucher_exactly_at_the_cap_is_not_capped():
    comp = compensation(0.5, Decimal(100), TIERS, vouchers_paid=Decimal(70))  # due 30, cap 30
    assert (comp.voucher, comp.cap, comp.capped) == (Decimal(30), Decimal(30), False)


# ------------------------------------------------------------------ billing
def test_the_bill_has_one_line_per_category_with_its_accepted_messages_and_segments():
    t = ts(2026, 11, 20)
    recs = [record("delivered", t, category="verification", segments=2),
            record("definite_failure", t, category="verification", segments=1),
            record("invalid_number", t, category="verification", submit_status=0x0B, segments=5),  # refused
            record("delivered", t, category="", segments=3),
            record("delivered", t, category="promotion", segments=1)]
    billed = bill(recs, {"verification": 0.05, "default": 0.02})
    assert billed.lines == (
        CategoryLine("(none)", 1, 3, Decimal("0.02"), "default"),
        CategoryLine("promotion", 1, 1, Decimal("0.02"), "default"),
        CategoryLine("verification", 2, 3, Decimal("0.05"), "category"),
    )
    assert (billed.messages, billed.segments, billed.fee) == (4, 7, Decimal("0.23"))


def test_a_record_without_segments_bills_none():
    billed = bill([record("delivered", ts(2026, 11, 20), segments=0)], {"default": 1})
    assert billed.lines == (CategoryLine("notification", 1, 0, Decimal(1), "default"),)
    assert billed.fee == 0


def test_the_fee_rounds_the_same_whatever_decimal_context_the_caller_set():
    """A program that embeds the meter may have lowered Decimal's precision for its own work."""
    with localcontext(prec=5):
        assert round_fee(Decimal("123456.78905")) == Decimal("123456.7891")
        billed = bill([record("delivered", ts(2026, 11, 20), segments=123_457)], {"default": 0.0451})
        assert billed.fee == Decimal("5567.9107")

"""The pending policy (issue 12, item 5): `sla.pending_after`. A message to a valid number still
without a final state that long after its submit is a definite failure, reason no_final_state; the
report shows pending messages per cycle and warns when a closed cycle still holds some.

Pure: Records built by hand (no ledger file), figures written out here."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from simulator.ledger.reader import Record
from simulator.metering.meter import PendingRule, counted_class, meter, sla_figures
from simulator.metering.report import build_report
from simulator.metering.text import render_text
from simulator.scenario import Sla

HOUR = 3600.0


def ts(*args: int) -> float:
    return datetime(*args, tzinfo=UTC).timestamp()


T0 = ts(2026, 10, 20, 12)


def record(sla_class: str, submit_time: float, *, reason: str = "", done_time: float | None = None,
           account: str = "acme") -> Record:
    final = {"delivered": "DELIVRD", "pending": None}.get(sla_class, "UNDELIV")
    return Record("run", "id", account, "8613800000001", "notification", 1, submit_time, 0, True,
                  final, None if final is None else "000", done_time, sla_class, reason)


# ------------------------------------------------------------------ the scenario setting
def test_pending_after_defaults_to_72_hours_and_never_keeps_messages_pending():
    assert Sla().pending_after == "72h" and Sla().pending_after_s == 72 * HOUR
    assert Sla(pending_after="never").pending_after_s is None
    assert Sla(pending_after="90m").pending_after_s == 5400
    for bad in ("3d", "forever", "0.5", "31" + "0" * 4 + "h"):
        with pytest.raises(ValidationError):
            Sla(pending_after=bad)


# ------------------------------------------------------------------ the rule, record by record
def test_a_message_pending_past_the_deadline_is_a_definite_failure_if_its_number_is_valid():
    rule = PendingRule(72 * HOUR, T0 + 72 * HOUR)
    assert counted_class(record("pending", T0), rule=rule) == ("definite_failure", "no_final_state")
    assert counted_class(record("pending", T0 + 1), rule=rule) == ("pending", "")  # 1 s short
    # the carrier decided an invalid number or an excluded cause at submit (the message row says so):
    # by the precedence, never a definite failure, however long it stays pending
    assert counted_class(record("pending", T0, reason="invalid_number:powered_off"), rule=rule) == (
        "pending", "invalid_number:powered_off")
    assert counted_class(record("pending", T0, reason="excluded:pre_notified_maintenance"), rule=rule) == (
        "pending", "excluded:pre_notified_maintenance")
    # never: pending for good
    assert counted_class(record("pending", T0), rule=PendingRule(None, T0 + 1e9)) == ("pending", "")


def test_a_receipt_after_the_deadline_does_not_undo_the_failure():
    rule = PendingRule(72 * HOUR, T0 + 100 * HOUR)
    late = record("delivered", T0, done_time=T0 + 80 * HOUR)
    assert counted_class(late, rule=rule) == ("definite_failure", "no_final_state")
    assert counted_class(record("delivered", T0, done_time=T0 + 72 * HOUR), rule=rule) == ("delivered", "")
    # a failure keeps its own reason; an invalid number stays one
    assert counted_class(record("definite_failure", T0, reason="provider_failure", done_time=T0 + 80 * HOUR),
                         rule=rule) == ("definite_failure", "provider_failure")
    assert counted_class(record("invalid_number", T0, reason="powered_off", done_time=T0 + 80 * HOUR),
                         rule=rule) == ("invalid_number", "powered_off")
    # at a cut-off past the deadline and before the late receipt: a failure already
    assert counted_class(late, as_of=T0 + 75 * HOUR, rule=PendingRule(72 * HOUR, T0 + 75 * HOUR)) == (
        "definite_failure", "no_final_state")


def test_ten_messages_three_pending_past_the_deadline():
    """10 sends to valid numbers: 6 delivered, 1 provider failure, 3 never finalised (one of them
    only 10 hours old). At T0 + 80 h with 72h: 3 definite failures of 9 valid sends, 1 pending."""
    records = ([record("delivered", T0, done_time=T0 + 1)] * 6
               + [record("definite_failure", T0, reason="provider_failure", done_time=T0 + 1)]
               + [record("pending", T0)] * 2 + [record("pending", T0 + 70 * HOUR)])
    figures = sla_figures(records, rule=PendingRule(72 * HOUR, T0 + 80 * HOUR))
    assert (figures.definite_failures, figures.valid_sends, figures.pending) == (3, 9, 1)
    assert figures.reasons("definite_failure") == {"no_final_state": 2, "provider_failure": 1}
    assert figures.rate == pytest.approx(1 - 3 / 9)


# ------------------------------------------------------------------ properties
def records_strategy() -> st.SearchStrategy[list[Record]]:
    hours = st.floats(min_value=0, max_value=400, allow_nan=False)
    one = st.builds(
        lambda cls, reason, submit_h, done_after_h: record(
            cls, T0 + submit_h * HOUR, reason=reason,
            done_time=None if cls == "pending" else T0 + (submit_h + done_after_h) * HOUR),
        st.sampled_from(["pending", "delivered", "definite_failure", "invalid_number", "excluded"]),
        st.sampled_from(["", "provider_failure", "invalid_number:powered_off", "excluded:cancelled"]),
        hours, hours)
    return st.lists(one, max_size=40)


@settings(max_examples=300, deadline=None)
@given(records_strategy(), st.floats(0, 900), st.floats(0, 900),
       st.sampled_from([None, 1.0, 24.0, 72.0, 300.0]))
def test_moving_the_cut_off_forward_never_lowers_the_definite_failures(records, a, b, after_h):
    early, late = sorted((T0 + a * HOUR, T0 + b * HOUR))
    after = None if after_h is None else after_h * HOUR
    before = sla_figures(records, early, PendingRule(after, early))
    then = sla_figures(records, late, PendingRule(after, late))
    assert then.definite_failures >= before.definite_failures
    # each record is counted once, in one class: the records sent by the cut-off
    assert before.sends == sum(1 for r in records if r.submit_time <= early)
    assert then.sends == sum(1 for r in records if r.submit_time <= late)


@settings(max_examples=200, deadline=None)
@given(records_strategy(), st.floats(0, 900))
def test_only_valid_numbers_fail_for_want_of_a_final_state(records, a):
    at = T0 + a * HOUR
    for r in records:
        counted = counted_class(r, at, PendingRule(72 * HOUR, at))
        if counted == ("definite_failure", "no_final_state"):
            assert r.sla_class in ("pending", "delivered", "definite_failure") and (
                r.sla_class != "pending" or r.reason == "")
    # 'never' changes nothing against the ledger as it is at the cut-off
    assert sla_figures(records, at, PendingRule(None, at)).outcomes == sla_figures(records, at).outcomes


# ------------------------------------------------------------------ the report
def test_the_report_warns_when_a_closed_cycle_still_holds_pending_messages():
    """October's cycle is closed on 2026-11-05: with `never`, its 2 pending messages are shown
    and warned about; with 72h they are definite failures and nothing is pending any more."""
    records = [record("delivered", T0, done_time=T0 + 1), record("pending", T0), record("pending", T0 + HOUR)]
    now = ts(2026, 11, 5)
    kept = build_report(records, Sla(pending_after="never"), generated_at=now)
    [cycle] = kept["cycles"]
    assert (cycle["pending"], cycle["definite_failures"], cycle["success_rate"]) == (2, 0, 1.0)
    assert any("2026-10" in w and "closed" in w and "2 pending" in w for w in kept["warnings"])
    assert "closed and still holds 2 pending" in render_text(kept)
    assert kept["sla"]["pending_after"] == "never" and kept["sla"]["pending_after_s"] is None
    failed = build_report(records, Sla(), generated_at=now)
    [cycle] = failed["cycles"]
    assert (cycle["pending"], cycle["definite_failures"], cycle["valid_sends"]) == (0, 2, 3)
    assert cycle["definite_failure_reasons"] == {"no_final_state": 2}
    assert not any("closed" in w for w in failed["warnings"])
    # an open cycle with pending messages: no warning
    young = build_report(records, Sla(), generated_at=T0 + 2 * HOUR)
    assert young["cycles"][0]["pending"] == 2 and not any("closed" in w for w in young["warnings"])


def test_a_cut_off_in_the_future_is_judged_at_the_time_of_the_report():
    """The ledger cannot know whether a message pending now gets its final before a cut-off to come."""
    records = [record("pending", T0)]
    report = build_report(records, Sla(), as_of=T0 + 1000 * HOUR, generated_at=T0 + HOUR)
    assert report["cycles"][0]["pending"] == 1
    assert report["cycles"] == build_report(records, Sla(), generated_at=T0 + HOUR)["cycles"]


def test_the_meter_groups_pending_failures_into_the_cycle_of_their_submit():
    records = [record("pending", ts(2026, 10, 31, 23)), record("delivered", ts(2026, 11, 2), done_time=ts(2026, 11, 2))]
    cycles = meter(records, rule=PendingRule(72 * HOUR, ts(2026, 11, 20)))
    assert cycles[("acme", "2026-10")].figures.definite_failures == 1
    assert cycles[("acme", "2026-11")].figures.definite_failures == 0

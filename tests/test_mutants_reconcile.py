"""Reconciliation of the client's tally with the ledger, one mismatch kind at a time, on ledgers
written row by row. Written to kill the mutants `make mutants` found in loadtests/reconcile.py
(docs/mutation.md): before these tests no fast test reached it, and only the end-to-end runs
(minutes) could notice a reconcile that ignored a kind of difference. Pure: a SQLite file with the
ledger's schema, a Tally built by hand."""

from __future__ import annotations

import pytest

from loadtests.reconcile import LINK_FAULTS, TallyReconciliation, reconcile_tally
from loadtests.tally import Tally
from simulator.ledger.reader import LedgerReader

from .ledger_rows import delivery, final, message, write_ledger

THROTTLED = 0x58


def reconciled(tmp_path, t: Tally, messages, finals=(), deliveries=(), faults=frozenset()) -> TallyReconciliation:
    path = write_ledger(tmp_path / "ledger.sqlite", messages, finals, deliveries)
    with LedgerReader(path) as reader:
        return reconcile_tally(t, reader, set(faults))


def acked(*ids: str, **other_statuses: int) -> Tally:
    t = Tally()
    t.submits_accepted(list(ids))
    for status, n in other_statuses.items():
        for _ in range(n):
            t.submit_answered(status, None)
    return t


def receipts(t: Tally, *ids: str) -> Tally:
    for message_id in ids:
        t.receipt(message_id, "DELIVRD")
    return t


def test_a_run_the_client_and_the_ledger_agree_on_is_exact(tmp_path):
    t = receipts(acked("m1", "m2", ESME_RTHROTTLED=1), "m1", "m2")
    rec = reconciled(tmp_path, t,
                     [message("m1"), message("m2"), message(None, status=THROTTLED, sla_class="excluded")],
                     [final("m1"), final("m2")], [delivery("m1"), delivery("m2")])
    assert rec.exact
    assert rec.summary() == {
        "exact": True, "acked_not_in_ledger": 0, "accepted_not_acked": 0, "status_differences": {},
        "receipts_missing": 0, "receipts_unexpected": 0, "receipt_count_differences": 0, "duplicates_seen": 0,
        "duplicates_injected": False, "explained_by_link_faults": False,
        "examples": {"acked_not_in_ledger": [], "accepted_not_acked": [], "receipts_missing": []},
    }


@pytest.mark.parametrize("faults", [set(), {"no_response"}, {"drop_bind", "duplicate_receipt"}])
def test_an_acknowledged_id_missing_from_the_ledger_is_never_exact(tmp_path, faults):
    """The durable-before-acknowledged promise: no fault excuses an ack the ledger does not have."""
    t = acked("m1", *[f"lost{i}" for i in range(7)])
    rec = reconciled(tmp_path, t, [message("m1"), message(None, status=THROTTLED, responded=True)],
                     faults=faults)
    assert rec.acked_not_in_ledger == [f"lost{i}" for i in range(7)]
    assert not rec.exact
    summary = rec.summary()
    assert summary["acked_not_in_ledger"] == 7
    assert summary["examples"]["acked_not_in_ledger"] == [f"lost{i}" for i in range(5)]


def test_an_id_the_ledger_recorded_as_refused_is_not_acknowledged_in_the_ledger(tmp_path):
    """The client saw ESME_ROK for m1; the ledger says the carrier refused it."""
    rec = reconciled(tmp_path, acked("m1", "m2"), [message("m1", status=THROTTLED, sla_class="excluded"),
                                                   message("m2")], faults={"no_response"})
    assert rec.acked_not_in_ledger == ["m1"] and rec.accepted_not_acked == []
    assert not rec.exact


def test_an_accepted_message_the_client_never_heard_of_breaks_exactness(tmp_path):
    unheard = [f"m{i}" for i in range(2, 9)]
    rec = reconciled(tmp_path, acked("m1"), [message("m1")] + [message(i) for i in reversed(unheard)])
    assert rec.accepted_not_acked == unheard
    assert not rec.exact
    assert rec.summary()["examples"]["accepted_not_acked"] == unheard[:5]
    assert rec.summary()["accepted_not_acked"] == 7


@pytest.mark.parametrize("fault", sorted(LINK_FAULTS))
def test_a_link_fault_explains_responses_the_client_never_got(tmp_path, fault):
    rec = reconciled(tmp_path, acked("m1"), [message("m1"), message("m2")], faults={fault})
    assert rec.accepted_not_acked == ["m2"] and rec.explained_by_link_faults
    assert rec.exact


def test_faults_that_do_not_take_the_link_explain_nothing(tmp_path):
    rec = reconciled(tmp_path, acked("m1"), [message("m1"), message("m2")],
                     faults={"provider_failure", "duplicate_receipt", "latency"})
    assert not rec.explained_by_link_faults and not rec.exact
    assert rec.duplicates_injected


def test_submit_counts_per_status_must_agree(tmp_path):
    """The mutation of issue 10: a reconcile that ignores status mismatches. The ledger answered one
    submit with ESME_RTHROTTLED, the client counts two."""
    t = acked("m1", ESME_RTHROTTLED=2)
    rec = reconciled(tmp_path, t, [message("m1"), message(None, status=THROTTLED, sla_class="excluded")])
    assert rec.status_differences == {"ESME_RTHROTTLED": (1, 2)}
    assert not rec.exact
    assert rec.summary()["status_differences"] == {"ESME_RTHROTTLED": {"ledger": 1, "client": 2}}


def test_a_status_only_the_ledger_has_is_a_difference_too(tmp_path):
    rec = reconciled(tmp_path, acked("m1"), [message("m1"), message(None, status=8, sla_class="excluded")])
    assert rec.status_differences == {"ESME_RSYSERR": (1, 0)}
    assert not rec.exact


def test_unanswered_submits_lost_links_and_generic_nacks_are_not_compared_by_status(tmp_path):
    """A submit the carrier left unanswered on purpose is not in the ledger's counts; the client's
    LOST (link died first) and generic_nack answers have no submit status in the ledger to match."""
    t = acked("m1", LOST=3, **{"generic_nack:ESME_RTHROTTLED": 2})
    rec = reconciled(tmp_path, t, [message("m1"), message("m2", responded=False)], faults={"no_response"})
    assert rec.status_differences == {}
    assert rec.accepted_not_acked == ["m2"]


def test_a_receipt_the_ledger_delivered_but_the_client_never_saw_is_missing(tmp_path):
    ids = [f"m{i}" for i in range(1, 9)]
    t = receipts(acked(*ids), "m1")
    rec = reconciled(tmp_path, t, [message(i) for i in ids], [final(i) for i in ids],
                     [delivery(i) for i in reversed(ids)])
    assert rec.receipts_missing == ids[1:]
    assert not rec.exact
    summary = rec.summary()
    assert summary["receipts_missing"] == 7 and summary["examples"]["receipts_missing"] == ids[1:6]


def test_only_acknowledged_final_receipts_are_expected_at_the_client(tmp_path):
    """Intermediate notifications, receipts that expired or overflowed, and MO are not receipts the
    client must have seen."""
    rec = reconciled(tmp_path, acked("m1"), [message("m1")], [final("m1")],
                     [delivery("m1", kind="intermediate", state="ENROUTE"), delivery("m1", result="expired"),
                      delivery("m1", result="overflowed"), delivery(None, kind="mo", state=""),
                      delivery("", kind="receipt")])
    assert rec.receipts_missing == [] and rec.receipt_count_differences == {}
    assert rec.exact


def test_a_receipt_the_ledger_never_delivered_is_unexpected_even_with_link_faults(tmp_path):
    t = receipts(acked("m1", "m2"), "m1", "m2", "stranger")
    rec = reconciled(tmp_path, t, [message("m1"), message("m2")], [final("m1"), final("m2")], [delivery("m1")],
                     faults={"reset_mid_pdu"})
    assert rec.receipts_unexpected == ["m2"]  # "stranger" is no message of this ledger: not judged here
    assert not rec.exact
    assert rec.summary()["receipts_unexpected"] == 1


def test_a_receipt_seen_more_or_fewer_times_than_delivered_is_a_count_difference(tmp_path):
    """One duplicate receipt too few or too many (a mutation of issue 10) shows here."""
    t = receipts(acked("m1", "m2", "m3"), "m1", "m1", "m2", "m3", "m3", "m3")
    rec = reconciled(tmp_path, t, [message("m1"), message("m2"), message("m3")],
                     [final("m1"), final("m2"), final("m3")],
                     [delivery("m1"), delivery("m2"), delivery("m3"), delivery("m3")])
    assert rec.receipt_count_differences == {"m1": (1, 2), "m3": (2, 3)}
    assert rec.duplicates_seen == 1 + 2
    assert not rec.exact
    assert rec.summary()["receipt_count_differences"] == 2 and rec.summary()["duplicates_seen"] == 3


def test_injected_duplicates_delivered_as_often_as_seen_are_exact(tmp_path):
    t = receipts(acked("m1", "m2"), "m1", "m1", "m2")
    rec = reconciled(tmp_path, t, [message("m1"), message("m2")], [final("m1"), final("m2")],
                     [delivery("m1"), delivery("m1"), delivery("m2")], faults={"duplicate_receipt"})
    assert rec.exact and rec.duplicates_seen == 1
    summary = rec.summary()
    assert (summary["duplicates_seen"], summary["duplicates_injected"], summary["explained_by_link_faults"]) == (
        1, True, False)


@pytest.mark.parametrize("field, value", [
    ("status_differences", {"ESME_ROK": (2, 1)}),
    ("receipts_missing", ["m1"]),
    ("receipt_count_differences", {"m1": (1, 2)}),
    ("accepted_not_acked", ["m1"]),
])
def test_each_difference_a_link_fault_can_explain_is_excused_only_by_one(field, value):
    assert not TallyReconciliation(**{field: value}).exact
    assert TallyReconciliation(**{field: value}, explained_by_link_faults=True).exact


@pytest.mark.parametrize("field", ["acked_not_in_ledger", "receipts_unexpected"])
def test_differences_no_fault_explains(field):
    assert not TallyReconciliation(**{field: ["m1"]}, explained_by_link_faults=True).exact
    assert TallyReconciliation().exact

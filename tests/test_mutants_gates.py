"""The gates' records as CI reads them (gates.json, the verdict line), field by field, and check()
end to end on a ledger written row by row. Written to kill the mutants `make mutants` found
surviving in loadtests/gates.py (docs/mutation.md): a gate's unit, operator, evidence flag or
name could change, a branch could return the wrong gate, check() could report wrong facts, and
tests/test_gates.py (which checks the verdicts) would still pass. Pure: no Locust, no sockets."""

from __future__ import annotations

from collections import Counter
from types import SimpleNamespace

import pytest

from loadtests.gates import (
    Gate,
    at_least,
    at_most,
    check,
    client_side_figures,
    expected_rate,
    load_errors_gate,
    min_sends_gate,
    p99_submit_ms,
    rate_gates,
    reconcile_gate,
    sample_gate,
    traffic_gates,
)
from loadtests.reconcile import TallyReconciliation
from loadtests.tally import Tally
from simulator.metering.expectation import analyse_expectation
from simulator.metering.intervals import binomial_interval, sends_for_resolution, sends_to_tell_from
from simulator.metering.meter import SlaFigures
from simulator.scenario import Scenario

from .ledger_rows import delivery, final, message, write_ledger

THROTTLED = 0x58


def figures(delivered: int, failed: int = 0, invalid: int = 0) -> SlaFigures:
    f = SlaFigures()
    f.add("delivered", "", delivered)
    f.add("definite_failure", "provider_failure", failed)
    f.add("invalid_number", "nonexistent", invalid)
    return f


def scenario(faults: list | None = None, **gates) -> Scenario:
    return Scenario.model_validate({"name": "t", "load": {"users": 4, "duration": "10s"}, "faults": faults or [],
                                    "gates": gates})


def tally(submitted: int = 0, **submits: int) -> Tally:
    t = Tally()
    t.count_submitted(submitted)
    for status, n in submits.items():
        t.submits[status] += n
    return t


def record(name: str, passed: bool, measured, limit, unit: str, op: str, detail: str, evidence: bool,
           measured_text: str, limit_text: str) -> dict:
    """A gate's gates.json record, spelled out."""
    return {"name": name, "passed": passed, "measured": measured, "limit": limit, "unit": unit, "op": op,
            "evidence": evidence, "detail": detail, "measured_text": measured_text, "limit_text": limit_text}


# ------------------------------------------------------------------ the record and its texts
def test_a_gate_record_names_every_field_as_gates_json_documents_it():
    assert at_least("min_success_rate", 0.94, 0.95, "ratio").as_dict() == record(
        "min_success_rate", False, 0.94, 0.95, "ratio", ">=", "", False, "94.00 %", ">= 95.00 %")
    assert at_most("max_p99_submit_ms", 12.5, 50, "ms", "from Locust").as_dict() == record(
        "max_p99_submit_ms", True, 12.5, 50, "ms", "<=", "from Locust", False, "12.5 ms", "<= 50 ms")


def test_an_upper_bound_keeps_the_extra_fields_it_is_given():
    gate = at_most("load_errors", 0, 0, "count", evidence=True)
    assert gate.evidence is True and gate.op == "<=" and gate.limit == 0


def test_a_gate_without_a_measurement_shows_n_a_and_says_why_it_failed():
    gate = at_most("max_p99_submit_ms", None, 50, "ms")
    assert (gate.measured_text, gate.limit_text) == ("n/a", "<= 50 ms")
    assert gate.why_failed() == "max_p99_submit_ms: no data"
    assert at_least("min_sends", None, 5, "count", "no tally").why_failed() == "min_sends: no tally"


def test_why_failed_states_the_comparison_that_failed_for_each_operator():
    assert at_least("min_sends", 4, 5, "count").why_failed() == "min_sends 4 < 5"
    assert at_most("max_p99_submit_ms", 250.1, 250, "ms").why_failed() == "max_p99_submit_ms 250.1 ms > 250 ms"
    within = Gate("expect_success_rate", False, 0.9, [0.95, 0.99], "ratio", "within")
    assert within.why_failed() == "expect_success_rate 90.00 % outside [95.00 %, 99.00 %]"
    undecided = Gate("sample_size", False, 100, None, "count", ">=", "no sample decides it")
    assert undecided.why_failed() == "sample_size 100: no sample decides it"


# ------------------------------------------------------------------ evidence gates
def test_a_stated_min_sends_is_an_evidence_count_gate_that_says_where_its_limit_comes_from():
    assert min_sends_gate(tally(4), scenario(min_sends=5), 4, 10).as_dict() == record(
        "min_sends", False, 4, 5, "count", ">=",
        "submits written by the clients; the limit is stated in the scenario's gates", True, "4", ">= 5")


def test_no_user_error_passes_the_load_errors_gate_and_errors_are_listed_most_frequent_first():
    assert load_errors_gate(tally(10)).as_dict() == record(
        "load_errors", True, 0, 0, "count", "<=", "no Locust user raised", True, "0", "<= 0")
    t = tally(10)
    for kind in ("KeyError", "TypeError", "TypeError"):
        t.user_error(kind, f"Traceback ...\n{kind}: boom\n")
    assert load_errors_gate(t).as_dict() == record(
        "load_errors", False, 3, 0, "count", "<=", "TypeError x2, KeyError x1", True, "3", "<= 0")


def test_without_valid_sends_the_sample_gate_fails_and_still_says_how_many_it_needs():
    gate = sample_gate(figures(0, 0, invalid=100), None, 0.98, 0.95)
    need = sends_for_resolution(0.98, 0.03, 0.99)
    assert need == 177
    assert gate.as_dict() == record("sample_size", False, 0, 177, "count", ">=",
                                    "no valid sends: no rate to decide", True, "0", ">= 177")


def test_a_rate_equal_to_its_limit_makes_an_undecidable_sample_gate():
    assert sample_gate(figures(95, 5), 0.95, None, 0.95).as_dict() == record(
        "sample_size", False, 100, None, "count", ">=",
        "the measured rate equals min_success_rate 95.00%: no sample decides it", True, "100", ">= n/a")


def test_an_undecidable_rate_leaves_the_sample_gate_without_a_limit_and_names_both_questions():
    gate = sample_gate(figures(95, 5), 0.95, 0.98, 0.95)
    assert (gate.passed, gate.measured, gate.limit) == (False, 100, None)
    assert gate.detail == ("the measured rate equals min_success_rate 95.00%: no sample decides it; "
                           "177 to check the expected 98.00% to +-3.00 points (its distance to the target 95.00%)")


def test_the_sample_gate_needs_the_larger_of_both_questions_and_names_both():
    gate = sample_gate(figures(127), 0.95, 0.98, 0.95)
    assert gate.as_dict() == record(
        "sample_size", False, 127, 177, "count", ">=",
        "valid sends needed: 127 to tell 100.00% from min_success_rate 95.00%; "
        "177 to check the expected 98.00% to +-3.00 points (its distance to the target 95.00%)",
        True, "127", ">= 177")
    assert sample_gate(figures(177), 0.95, 0.98, 0.95).passed


# ------------------------------------------------------------------ rate gates
def test_min_success_rate_record_counts_the_failures_of_the_valid_sends():
    (gate,) = rate_gates(scenario(min_success_rate=0.95), figures(94, 6, invalid=3))
    assert gate.as_dict() == record("min_success_rate", False, 0.94, 0.95, "ratio", ">=",
                                    "6 definite failures of 100 valid sends", False, "94.00 %", ">= 95.00 %")


def test_an_expectation_with_no_value_for_a_scenario_that_is_not_analytic_fails_and_says_why():
    maintenance = [{"kind": "maintenance", "start": "0s", "duration": "10s"}]
    s = scenario(maintenance, expect_success_rate={})
    (gate,) = rate_gates(s, figures(90, 10))
    why = str(analyse_expectation(s))
    assert why  # the expectation module explains itself
    assert gate.as_dict() == record("expect_success_rate", False, 0.9, None, "ratio", "within",
                                    f"no value given and the scenario is not analytic: {why}", False,
                                    "90.00 %", "within n/a")


def test_an_expectation_without_valid_sends_fails_with_a_degenerate_interval():
    (gate,) = rate_gates(scenario(expect_success_rate={"value": 1.0}), figures(0, 0, invalid=5))
    assert gate.as_dict() == record("expect_success_rate", False, None, [1.0, 1.0], "ratio", "within",
                                    "no valid sends", False, "n/a", "[100.00 %, 100.00 %]")


def test_one_valid_send_is_checked_against_its_interval():
    (gate,) = rate_gates(scenario(expect_success_rate={"value": 1.0}), figures(1))
    assert gate.passed and gate.limit == [0.5, 1.0]  # 1 - 1/(2n) with continuity correction


def test_the_expectation_uses_the_interval_the_scenario_names():
    s = scenario(expect_success_rate={"value": 0.9, "interval": "binomial-95"})
    (gate,) = rate_gates(s, figures(900, 100))
    lo, hi = binomial_interval(0.9, 1000, 0.95)
    assert lo > binomial_interval(0.9, 1000, 0.99)[0]  # narrower than the default 99 %
    assert gate.as_dict() == record("expect_success_rate", True, 0.9, [lo, hi], "ratio", "within",
                                    "expected 90.00% (stated), 95% binomial interval for n=1,000", False,
                                    "90.00 %", f"[{lo * 100:.2f} %, {hi * 100:.2f} %]")


@pytest.mark.parametrize("value, delivered, failed", [(1.0, 50, 0), (0.0, 0, 50)])
def test_the_expectation_interval_is_closed_at_both_ends(value, delivered, failed):
    """A perfect run meets an expectation of 100 % (the rate is the interval's upper end) and a run
    where everything failed meets one of 0 % (its lower end)."""
    (gate,) = rate_gates(scenario(expect_success_rate={"value": value}), figures(delivered, failed))
    assert gate.measured == value and value in gate.limit
    assert gate.passed


def test_an_expectation_without_a_value_is_the_analytic_rate_of_the_scenario():
    s = scenario(expect_success_rate={})
    assert expected_rate(s) == (1.0, "analytic")  # no faults: every send to a valid number delivered
    (gate,) = rate_gates(s, figures(200))
    assert gate.passed and gate.detail == "expected 100.00% (analytic), 99% binomial interval for n=200"


def test_expected_rate_is_stated_analytic_or_absent():
    assert expected_rate(scenario(expect_success_rate={"value": 0.97})) == (0.97, "stated")
    assert expected_rate(scenario(min_success_rate=0.95)) == (None, "")
    failing = scenario([{"kind": "provider_failure", "probability": 0.2}], expect_success_rate={})
    assert expected_rate(failing) == (pytest.approx(0.8), "analytic")


# ------------------------------------------------------------------ traffic gates
def test_p99_record_with_and_without_timings():
    s = scenario(max_p99_submit_ms=50)
    (timed,) = traffic_gates(s, tally(10), 10, 50.0)
    (untimed,) = traffic_gates(s, tally(10), 10, None)
    assert timed.as_dict() == record("max_p99_submit_ms", True, 50.0, 50, "ms", "<=", "", False, "50 ms", "<= 50 ms")
    assert untimed.as_dict() == record("max_p99_submit_ms", False, None, 50, "ms", "<=",
                                       "no submit_sm timings in Locust's stats", False, "n/a", "<= 50 ms")


def test_min_throughput_record_is_submits_per_second_of_submitting():
    (gate,) = traffic_gates(scenario(min_throughput=100), tally(1000), 10, None)
    assert gate.as_dict() == record("min_throughput", True, 100.0, 100, "per_second", ">=",
                                    "1,000 submits in 10 s", False, "100/s", ">= 100/s")


def test_no_submitting_time_means_no_throughput_and_a_failed_gate():
    (gate,) = traffic_gates(scenario(min_throughput=1), tally(0), 0, None)
    assert (gate.passed, gate.measured, gate.detail) == (False, None, "0 submits in 0 s")


def test_an_error_status_never_answered_has_a_ratio_of_zero():
    (gate,) = traffic_gates(scenario(max_error_ratio={"ESME_RSYSERR": 0.01}), tally(100, ESME_ROK=100), 10, None)
    assert gate.as_dict() == record("max_error_ratio[ESME_RSYSERR]", True, 0.0, 0.01, "ratio", "<=",
                                    "0 of 100 answered submits", False, "0.00 %", "<= 1.00 %")


def test_an_error_ratio_is_of_the_answered_submits_only():
    s = scenario(max_error_ratio={"ESME_RTHROTTLED": 0.5})
    (gate,) = traffic_gates(s, tally(100, ESME_ROK=30, ESME_RTHROTTLED=10, LOST=60), 10, None)
    assert gate.as_dict() == record("max_error_ratio[ESME_RTHROTTLED]", True, 0.25, 0.5, "ratio", "<=",
                                    "10 of 40 answered submits", False, "25.00 %", "<= 50.00 %")
    (none,) = traffic_gates(s, tally(60, LOST=60), 10, None)
    assert (none.passed, none.measured, none.detail) == (False, None, "no submit was answered")


# ------------------------------------------------------------------ Locust's stats
LOCUST_HEADER = ("Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,"
                 "Min Response Time,Max Response Time,Average Content Size,Requests/s,Failures/s,"
                 "50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%")


def stats_csv(tmp_path, *rows: tuple[str, str, str]) -> object:
    """Locust's <prefix>_stats.csv with rows (type, name, 99th percentile)."""
    lines = [LOCUST_HEADER]
    for kind, name, p99 in rows:
        lines.append(f"{kind},{name},100,0,3,4,1,30,0,10.0,0.0,3,4,5,5,7,9,11,{p99},25,30,30")
    prefix = tmp_path / "locust"
    (tmp_path / "locust_stats.csv").write_text("\r\n".join(lines) + "\r\n")
    return prefix


def test_p99_is_read_from_the_submit_sm_row_of_locusts_stats(tmp_path):
    prefix = stats_csv(tmp_path, ("SMPP", "bind", "40"), ("SMPP", "submit_sm", "12"), ("", "Aggregated", "39"))
    assert p99_submit_ms(prefix) == 12.0


@pytest.mark.parametrize("p99", ["", "N/A"])
def test_a_submit_sm_row_without_a_99th_percentile_gives_no_timing(tmp_path, p99):
    assert p99_submit_ms(stats_csv(tmp_path, ("SMPP", "submit_sm", p99), ("", "Aggregated", "39"))) is None


def test_no_stats_file_gives_no_timing(tmp_path):
    assert p99_submit_ms(tmp_path / "locust") is None


# ------------------------------------------------------------------ the reconcile gate
def test_an_exact_reconciliation_passes_and_lists_what_it_noticed():
    rec = TallyReconciliation(duplicates_seen=2, duplicates_injected=True)
    assert reconcile_gate(rec).as_dict() == record("reconcile", True, 0, 0, "count", "<=",
                                                   "duplicates_seen=2, duplicates_injected=True", False,
                                                   "0", "<= 0")


def test_every_difference_counts_against_the_reconcile_gate():
    rec = TallyReconciliation(acked_not_in_ledger=["a", "b"], accepted_not_acked=["c"],
                         status_differences={"ESME_RTHROTTLED": (1, 2)}, receipts_missing=["d"],
                         receipts_unexpected=["e"], receipt_count_differences={"f": (1, 2)})
    gate = reconcile_gate(rec)
    assert (gate.passed, gate.measured) == (False, 7)
    assert gate.detail == ("acked_not_in_ledger=2, accepted_not_acked=1, receipts_missing=1, receipts_unexpected=1, "
                           "receipt_count_differences=1; status counts (ledger vs client) "
                           "{'ESME_RTHROTTLED': {'ledger': 1, 'client': 2}}")
    assert gate.why_failed() == "reconcile 7 > 0"


def test_link_faults_excuse_only_the_differences_a_lost_response_explains():
    excused = TallyReconciliation(accepted_not_acked=["c"], status_differences={"ESME_ROK": (3, 2)},
                             receipts_missing=["d"], receipt_count_differences={"f": (1, 2)},
                             explained_by_link_faults=True)
    assert (reconcile_gate(excused).passed, reconcile_gate(excused).measured) == (True, 0)
    not_excused = TallyReconciliation(acked_not_in_ledger=["a"], receipts_unexpected=["e"], accepted_not_acked=["c"],
                                 explained_by_link_faults=True)
    assert (reconcile_gate(not_excused).passed, reconcile_gate(not_excused).measured) == (False, 2)


# ------------------------------------------------------------------ check(): every gate and the facts
def run_files(tmp_path, t: Tally, *, ledger: bool, p99: str | None = None) -> SimpleNamespace:
    t.save(tmp_path / "tally.json")
    if p99 is not None:
        stats_csv(tmp_path, ("SMPP", "submit_sm", p99))
    if ledger:
        write_ledger(
            tmp_path / "ledger.sqlite",
            [message("m1"), message("m2"), message("m3"),
             message(None, status=THROTTLED, sla_class="excluded", reason="throttled")],
            [final("m1"), final("m2", "UNDELIV", sla_class="definite_failure", reason="provider_failure")],
            [delivery("m1"), delivery("m1"), delivery("m2", state="UNDELIV"),
             delivery(None, kind="mo", state="")],
        )
    return SimpleNamespace(tally=tmp_path / "tally.json", ledger=tmp_path / "ledger.sqlite",
                           locust_csv_prefix=tmp_path / "locust")


def test_check_meters_the_ledger_gates_every_promise_and_reports_the_facts(tmp_path):
    t = tally(4)
    t.submits_accepted(["m1", "m2", "m3"])
    t.submit_answered("ESME_RTHROTTLED", None)
    for message_id, stat in (("m1", "DELIVRD"), ("m1", "DELIVRD"), ("m2", "UNDELIV")):
        t.receipt(message_id, stat)
    t.count("rebinds")
    t.count("bind_failures", "ESME_RBINDFAIL")
    s = scenario([{"kind": "duplicate_receipt", "probability": 0.1}], min_sends=4, min_success_rate=0.4,
                 expect_success_rate={"value": 0.5}, max_p99_submit_ms=50, min_throughput=1)
    assert s.sla.target == 0.95  # the sample gate measures the expectation's distance to min_success_rate
    settings = SimpleNamespace(scenario=s, users=4, duration=2.0)
    gates, facts = check(settings, run_files(tmp_path, t, ledger=True, p99="12"))  # type: ignore[arg-type]

    by_name = {g.name: g for g in gates}
    assert list(by_name) == ["min_sends", "sample_size", "load_errors", "min_success_rate", "expect_success_rate",
                             "max_p99_submit_ms", "min_throughput", "reconcile"]
    need = max(sends_to_tell_from(0.5, 0.4, 0.99), sends_for_resolution(0.5, 0.1, 0.99))
    assert need == 176
    assert (by_name["sample_size"].measured, by_name["sample_size"].limit) == (2, 176)
    assert by_name["max_p99_submit_ms"].measured == 12.0
    assert by_name["min_throughput"].measured == 2.0
    assert by_name["reconcile"].passed and by_name["reconcile"].measured == 0
    assert [g.name for g in gates if not g.passed] == ["sample_size"]
    assert facts == {
        "success_rate": 0.5,
        "valid_sends": 2,
        "definite_failures": 1,
        "pending": 1,
        "left_out": {"excluded": {"throttled": 1}},
        "submitted": 4,
        "submits_seen_by_client": {"ESME_ROK": 3, "ESME_RTHROTTLED": 1},
        "submits_per_second": 2.0,
        "p99_submit_ms": 12.0,
        "receipts_seen_by_client": {"DELIVRD": 2, "UNDELIV": 1},
        "duplicate_receipts_seen": 1,
        "rebinds": 1,
        "bind_failures": {"ESME_RBINDFAIL": 1},
        "user_errors": {},
        "first_user_error": None,
        "reconciliation": {
            "exact": True, "acked_not_in_ledger": 0, "accepted_not_acked": 0, "status_differences": {},
            "receipts_missing": 0, "receipts_unexpected": 0, "receipt_count_differences": 0,
            "duplicates_seen": 1, "duplicates_injected": True, "explained_by_link_faults": False,
            "examples": {"acked_not_in_ledger": [], "accepted_not_acked": [], "receipts_missing": []},
        },
        "ledger_records": 4,
        "source": "ledger",
    }


def test_without_min_success_rate_an_expectation_is_checked_to_its_distance_to_the_sla_target(tmp_path):
    t = tally(4)
    t.submits_accepted(["m1", "m2", "m3"])
    s = scenario(expect_success_rate={"value": 0.98}, reconcile="off")
    assert (s.gates.min_success_rate, s.sla.target) == (None, 0.95)
    settings = SimpleNamespace(scenario=s, users=4, duration=2.0)
    gates, _ = check(settings, run_files(tmp_path, t, ledger=True))  # type: ignore[arg-type]
    (sample,) = [g for g in gates if g.name == "sample_size"]
    assert sample.limit == sends_for_resolution(0.98, 0.03, 0.99) == 177


def test_check_sees_a_reconcile_difference_in_the_ledger(tmp_path):
    t = tally(4)
    t.submits_accepted(["m1", "m2", "m3", "m9"])  # m9: acknowledged, never recorded
    settings = SimpleNamespace(scenario=scenario(), users=4, duration=2.0)
    gates, facts = check(settings, run_files(tmp_path, t, ledger=True))  # type: ignore[arg-type]
    (rec,) = [g for g in gates if g.name == "reconcile"]
    assert not rec.passed and facts["reconciliation"]["examples"]["acked_not_in_ledger"] == ["m9"]


def test_reconcile_off_leaves_the_reconcile_gate_out(tmp_path):
    t = tally(4)
    t.submits_accepted(["m1", "m2", "m3"])
    settings = SimpleNamespace(scenario=scenario(reconcile="off"), users=4, duration=2.0)
    gates, _ = check(settings, run_files(tmp_path, t, ledger=True))  # type: ignore[arg-type]
    assert "reconcile" not in [g.name for g in gates]


def test_duplicates_seen_count_every_receipt_after_the_first_of_its_message(tmp_path):
    t = tally(3)
    t.submits_accepted(["m1", "m2", "m3"])
    for message_id, times in (("m1", 2), ("m2", 1), ("m3", 3)):
        for _ in range(times):
            t.receipt(message_id, "DELIVRD")
    settings = SimpleNamespace(scenario=scenario(), users=4, duration=2.0)
    _, facts = check(settings, run_files(tmp_path, t, ledger=False))  # type: ignore[arg-type]
    assert facts["duplicate_receipts_seen"] == 1 + 0 + 2


def test_check_of_an_external_smsc_decides_on_the_client_receipts(tmp_path):
    """No ledger (carrier-sim run --target): the receipts the client saw are the figures, and there is
    nothing to reconcile with even when the scenario asks for it."""
    t = tally(5, ESME_ROK=4, ESME_RTHROTTLED=1)
    for message_id, stat in (("a", "DELIVRD"), ("b", "DELIVRD"), ("c", "DELIVRD"), ("d", "EXPIRED")):
        t.receipt(message_id, stat)
    t.user_error("TypeError", "Traceback ...\nTypeError: boom\n")
    settings = SimpleNamespace(scenario=scenario(min_success_rate=0.5), users=4, duration=0)
    gates, facts = check(settings, run_files(tmp_path, t, ledger=False))  # type: ignore[arg-type]
    assert [g.name for g in gates] == ["min_sends", "sample_size", "load_errors", "min_success_rate"]
    assert facts == {
        "success_rate": 0.75,
        "valid_sends": 4,
        "definite_failures": 1,
        "pending": 0,
        "left_out": {"excluded": {"refused ESME_RTHROTTLED": 1}},
        "submitted": 5,
        "submits_seen_by_client": {"ESME_ROK": 4, "ESME_RTHROTTLED": 1},
        "submits_per_second": None,
        "p99_submit_ms": None,
        "receipts_seen_by_client": {"DELIVRD": 3, "EXPIRED": 1},
        "duplicate_receipts_seen": 0,
        "rebinds": 0,
        "bind_failures": {},
        "user_errors": {"TypeError": 1},
        "first_user_error": "Traceback ...\nTypeError: boom\n",
        "reconciliation": "no ledger (external SMSC)",
        "ledger_records": 0,
        "source": "client receipts (external SMSC: no ledger)",
    }


def test_client_side_figures_count_delivrd_as_success_other_finals_as_failures_and_refusals_apart():
    t = tally(0, ESME_ROK=10, ESME_RTHROTTLED=3)
    for message_id, stat in [(f"d{i}", "DELIVRD") for i in range(8)] + [("u1", "UNDELIV"), ("x1", "EXPIRED")]:
        t.receipt(message_id, stat)
    assert client_side_figures(t).outcomes == Counter({
        ("delivered", "receipt DELIVRD"): 8,
        ("definite_failure", "receipt UNDELIV"): 1,
        ("definite_failure", "receipt EXPIRED"): 1,
        ("excluded", "refused ESME_RTHROTTLED"): 3,
    })


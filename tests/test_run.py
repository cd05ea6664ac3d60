"""`carrier-sim run` end to end, as CI runs it: every ready scenario through real Locust, real
sockets and a real ledger, shortened; each must do the work its load asks for (volume), land in its
analytic expectation (rate and outcome mix), show that its faults fired, write its reports and exit
with the code it promises. A run with two Locust processes whose tally equals the ledger; a user
that raises makes the run exit 4 with the traceback shown."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from loadtests.plan import default_min_sends
from simulator.ledger.reader import LedgerReader
from simulator.metering.expectation import analyse_expectation
from simulator.metering.intervals import binomial_interval
from simulator.metering.meter import sla_figures
from simulator.scenario import load_scenario

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = sorted((ROOT / "scenarios").glob("*.yaml"))
EXPECTED_EXIT = {"sla-breach": 1}  # its 95 % gate fails on purpose
# What each scenario's faults must leave in the ledger, (class, reason): at least this many records
# (short runs; the proportions are checked against the analytic expectation where there is one).
MUST_FIRE: dict[str, dict[tuple[str, str], int]] = {
    "baseline": {("delivered", ""): 1000},
    "invalid-numbers": {("invalid_number", "nonexistent"): 20, ("invalid_number", "powered_off"): 10},
    "blacklist-storm": {("invalid_number", "blacklist_platform"): 20, ("invalid_number", "opt_out"): 10},
    "flaky-network": {("definite_failure", "no_response"): 2, ("definite_failure", "generic_nack"): 2},
    "sla-breach": {("definite_failure", "provider_failure"): 50, ("invalid_number", "nonexistent"): 10},
    "throttled-carrier": {("excluded", "platform_traffic_control"): 100},
    "maintenance-window": {("excluded", "pre_notified_maintenance"): 100},
    "template-review": {("excluded", "unapproved_template"): 20, ("excluded", "unapproved_signature"): 20,
                        ("excluded", "illegal_content"): 20},
}
MIX_CONFIDENCE = 0.999  # several shares per scenario: each within its 99.9 % interval


def carrier_sim_run(scenario: Path, report_dir: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "simulator.cli", "run", str(scenario), "--report-dir", str(report_dir), *args],
        capture_output=True, text=True, timeout=timeout, cwd=report_dir.parent,
    )


def overrides_for(name: str) -> tuple[int | None, float]:
    """(users, seconds of submitting) of the shortened run: maintenance-window needs its windows
    (5-9 s, 12-15 s) inside the submitting time and keeps its own users."""
    return (None, 16.0) if name == "maintenance-window" else (4, 4.0)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_every_ready_scenario_does_its_work_and_lands_in_its_expectation(scenario, tmp_path):
    spec = load_scenario(scenario)
    users, duration = overrides_for(scenario.stem)
    args = ["--duration", f"{duration:g}s"] + (["--users", str(users)] if users else [])
    report = tmp_path / "report"
    result = carrier_sim_run(scenario, report, *args)
    out = result.stdout + result.stderr
    expected_exit = EXPECTED_EXIT.get(scenario.stem, 0)
    assert result.returncode == expected_exit, out[-4000:]

    # the work: at least the volume its load section gives for these users and seconds
    tally = json.loads((report / "tally.json").read_text())
    floor, _ = default_min_sends(spec.load, users or spec.load.users, duration)
    assert tally["submitted"] >= floor, (tally["submitted"], floor)
    assert not tally["user_errors"], tally["first_error"]
    gates = json.loads((report / "gates.json").read_text())
    by_name = {g["name"]: g for g in gates["gates"]}
    assert by_name["min_sends"]["passed"] and by_name["min_sends"]["measured"] == tally["submitted"]
    assert by_name["sample_size"]["passed"], by_name["sample_size"]
    assert by_name["reconcile"]["passed"], gates["facts"]["reconciliation"]

    # the outcome: what its faults must leave, the rate and the mix inside the expectation
    with LedgerReader(report / "ledger.sqlite") as ledger:
        figures = sla_figures(list(ledger.records()))
    outcomes = Counter(figures.outcomes)
    for key, at_least in MUST_FIRE[scenario.stem].items():
        assert outcomes[key] >= at_least, (key, dict(outcomes))
    expectation = analyse_expectation(spec)
    lo, hi = expectation.interval(figures.valid_sends, 0.99)
    assert lo <= figures.rate <= hi, (figures.rate, lo, hi)
    if expectation.valid_share is not None:  # no time-dependent exclusions: the whole mix is known
        total = figures.sends - figures.pending
        for key, share in expectation.shares.items():
            mlo, mhi = binomial_interval(share, total, MIX_CONFIDENCE)
            assert mlo <= outcomes[key] / total <= mhi, (key, outcomes[key] / total, (mlo, mhi))
        assert set(outcomes) - {k for k in outcomes if k[0] == "pending"} <= set(expectation.shares), dict(outcomes)

    # the verdict: its gates, its reports, its last line
    verdicts = {name: g["passed"] for name, g in by_name.items()}
    if scenario.stem == "sla-breach":
        assert [n for n, ok in verdicts.items() if not ok] == ["min_success_rate"]
        sla = json.loads((report / "sla-report.json").read_text())
        (cycle,) = sla["cycles"]
        assert cycle["success_rate"] < 0.90 and cycle["meets_target"] is False
        assert cycle["compensation"]["tier"]["voucher"] == 0.30
        assert result.stdout.strip().splitlines()[-1].startswith("carrier-sim: FAILED 1 of ")
    else:
        assert all(verdicts.values()), gates["gates"]
        assert result.stdout.strip().splitlines()[-1].startswith("carrier-sim: PASSED ")
    assert gates["exit_code"] == expected_exit and gates["interrupted"] is False
    junit = ET.parse(report / "junit.xml").getroot()
    assert junit.tag == "testsuites" and int(junit.get("tests")) == len(verdicts)
    assert int(junit.get("failures")) == sum(not v for v in verdicts.values())
    for name in ("sla-report.html", "sla-report.json", "locust.html", "locust_stats.csv", "ledger.sqlite"):
        assert (report / name).stat().st_size > 0


def test_a_user_that_raises_makes_the_run_exit_4_with_its_traceback(tmp_path):
    """A tenth of the traffic goes to a 25-digit number, which the client cannot encode: those
    tasks raise. The run must not pass on the rest."""
    text = (ROOT / "scenarios" / "baseline.yaml").read_text()
    text = text.replace('    active: {prefix: "8613800", state: active}',
                        '    active: {prefix: "8613800", state: active}\n'
                        '    too_long: {numbers: ["8613800000000000000000001"]}')
    text = text.replace("traffic: {active: 100}", "traffic: {active: 90, too_long: 10}")
    assert "too_long: 10" in text
    scenario = tmp_path / "raising.yaml"
    scenario.write_text(text)
    report = tmp_path / "report"
    result = carrier_sim_run(scenario, report, "--duration", "3s", "--users", "2")
    assert result.returncode == 4, result.stdout[-4000:]
    assert "Traceback (most recent call last)" in result.stdout
    assert "PduEncodeError" in result.stdout
    last = result.stdout.strip().splitlines()[-1]
    assert last.startswith("carrier-sim: FAILED (load generator"), last
    gates = json.loads((report / "gates.json").read_text())
    (errors,) = [g for g in gates["gates"] if g["name"] == "load_errors"]
    assert not errors["passed"] and errors["measured"] > 0
    assert gates["facts"]["user_errors"] == {"PduEncodeError": errors["measured"]}
    assert gates["exit_code"] == 4


def test_two_locust_processes_aggregate_a_tally_that_equals_the_ledger(tmp_path):
    report = tmp_path / "report"
    result = carrier_sim_run(ROOT / "scenarios" / "baseline.yaml", report, "--duration", "4s", "--users", "6",
                             "--processes", "2")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    tally = json.loads((report / "tally.json").read_text())
    with LedgerReader(report / "ledger.sqlite") as ledger:
        accepted = {r.message_id for r in ledger.records() if r.accepted}
        delivered = {d["message_id"] for d in ledger.deliveries() if d["kind"] == "receipt" and d["result"] == "acked"}
    assert len(accepted) > 1000
    assert set(tally["acked"]) == accepted
    assert set(tally["receipt_ids"]) == delivered == accepted
    assert sum(tally["submits"].values()) == len(accepted)


def test_a_bad_scenario_exits_2_with_the_file_and_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nfaults:\n  - {kind: provider_failure, probability: 3}\n")
    result = carrier_sim_run(bad, tmp_path / "report")
    assert result.returncode == 2
    assert f"{bad}:3 faults[0].probability: must be <= 1.0, got 3" in result.stderr


def test_an_unreachable_target_is_a_load_failure_not_a_gate_failure(tmp_path):
    result = carrier_sim_run(ROOT / "scenarios" / "baseline.yaml", tmp_path / "report", "--duration", "2s",
                             "--target", "127.0.0.1:1")
    assert result.returncode == 4, result.stdout[-3000:]

"""`carrier-sim run` end to end, as CI runs it: every ready scenario for a few seconds, its gates,
its reports, and the exit code; a run with two Locust processes whose tally equals the ledger."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from simulator.ledger.reader import LedgerReader

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = sorted((ROOT / "scenarios").glob("*.yaml"))
EXPECTED_EXIT = {"sla-breach": 1}  # its 95 % gate fails on purpose


def carrier_sim_run(scenario: Path, report_dir: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "simulator.cli", "run", str(scenario), "--report-dir", str(report_dir), *args],
        capture_output=True, text=True, timeout=timeout, cwd=report_dir.parent,
    )


def durations_for(name: str) -> list[str]:
    # maintenance-window needs its windows (5-9 s, 12-15 s) inside the submitting time
    return ["--duration", "16s"] if name == "maintenance-window" else ["--duration", "4s", "--users", "4"]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_every_ready_scenario_runs_and_its_gates_decide_the_exit_code(scenario, tmp_path):
    report = tmp_path / "report"
    result = carrier_sim_run(scenario, report, *durations_for(scenario.stem))
    expected = EXPECTED_EXIT.get(scenario.stem, 0)
    assert result.returncode == expected, result.stdout[-4000:] + result.stderr[-4000:]
    gates = json.loads((report / "gates.json").read_text())
    verdicts = {g["name"]: g["passed"] for g in gates["gates"]}
    assert verdicts["reconcile"], gates["facts"]["reconciliation"]
    if scenario.stem == "sla-breach":
        assert verdicts == {"min_success_rate": False, "expect_success_rate": True, "reconcile": True}
        sla = json.loads((report / "sla-report.json").read_text())
        (cycle,) = sla["cycles"]
        assert cycle["success_rate"] < 0.90 and cycle["meets_target"] is False
        assert cycle["compensation"]["tier"]["voucher"] == 0.30
    else:
        assert all(verdicts.values()), gates["gates"]
    junit = ET.parse(report / "junit.xml").getroot()
    assert int(junit.get("tests")) == len(verdicts)
    assert int(junit.get("failures")) == sum(not v for v in verdicts.values())
    for name in ("sla-report.html", "sla-report.json", "locust.html", "locust_stats.csv", "ledger.sqlite"):
        assert (report / name).stat().st_size > 0


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

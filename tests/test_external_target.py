"""`carrier-sim run --target` against an SMSC it did not start (here a `carrier-sim serve` the test
started): no ledger on the run's side, so the gates come from what the client saw (DELIVRD
receipts are successes, other final states failures), reconcile is not checked, and the scenario's
`min_throughput` gate is submits written per second of submitting. Both directions of that gate,
with the numbers in gates.json checked against the tally and against the SMSC's own ledger.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from simulator.ledger.reader import LedgerReader

SCENARIO = """\
name: external
seed: 5
carrier:
  receipt_delay_ms: 20
  accounts:
    - {system_id: qa, password: qa-pass, max_binds: 8}
numbers:
  groups:
    active: {prefix: "8613800", state: active}
load:
  users: 2
  spawn_rate: 100
  duration: 3s
  drain: 2s
  rate_per_user: 50      # 2 users x 50/s: 100 submits a second, 300 in all
  window: 10
  traffic: {active: 100}
  templates: ["【Acme】Your code is {code}"]
gates:
  min_success_rate: 0.95
  min_throughput: THROUGHPUT
  reconcile: exact       # asked for, but there is no ledger on the run's side to reconcile with
"""
DURATION = 3.0
MIN_SENDS = 239  # 80 % of 50/s x 2 users x (3 s less half the 0.02 s ramp): int(0.8 * 50 * 5.98)


class Serve:
    """`carrier-sim serve` in its own process, with its own ledger, on a free loopback port."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir()
        self.scenario = folder / "external.yaml"
        self.scenario.write_text(SCENARIO.replace("THROUGHPUT", "60"))
        self.ledger = folder / "serve.sqlite"
        ready = folder / "serve.ready"
        self.log = (folder / "serve.log").open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "simulator.cli", "serve", "--scenario", str(self.scenario),
             "--listen", "127.0.0.1:0", "--control", "off", "--ledger", str(self.ledger),
             "--run-id", "serve", "--ready-file", str(ready)],
            stdout=self.log, stderr=subprocess.STDOUT, cwd=folder)
        deadline = time.monotonic() + 60
        while not (ready.exists() and ready.read_text().strip()):
            assert self.proc.poll() is None, f"serve exited with {self.proc.returncode}"
            assert time.monotonic() < deadline, "serve did not become ready in 60 s"
            time.sleep(0.05)
        self.address = ready.read_text().split()[0]

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(30)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self.log.close()


@pytest.fixture(scope="module")
def serve(tmp_path_factory) -> Iterator[Serve]:
    smsc = Serve(tmp_path_factory.mktemp("external") / "smsc")
    try:
        yield smsc
    finally:
        assert smsc.stop() == 0


def run_against(serve: Serve, folder: Path, throughput: float) -> tuple[subprocess.CompletedProcess, dict, dict]:
    scenario = folder / "external.yaml"
    scenario.write_text(SCENARIO.replace("THROUGHPUT", f"{throughput:g}"))
    report = folder / "report"
    result = subprocess.run([sys.executable, "-m", "simulator.cli", "run", str(scenario), "--target", serve.address,
                             "--report-dir", str(report)], capture_output=True, text=True, timeout=180, cwd=folder)
    assert (report / "gates.json").exists(), result.stdout[-4000:] + result.stderr[-2000:]
    gates = json.loads((report / "gates.json").read_text())
    tally = json.loads((report / "tally.json").read_text())
    return result, gates, tally


def check_client_side_numbers(serve: Serve, gates: dict, tally: dict, report: Path) -> dict:
    """What every external run must show; returns the gates by name."""
    by_name = {g["name"]: g for g in gates["gates"]}
    assert list(by_name) == ["min_sends", "sample_size", "load_errors", "min_success_rate", "min_throughput"]
    facts = gates["facts"]
    assert facts["source"] == "client receipts (external SMSC: no ledger)"
    assert facts["reconciliation"] == "no ledger (external SMSC)" and facts["ledger_records"] == 0
    assert not (report / "ledger.sqlite").exists() and not (report / "sla-report.json").exists()

    # the volume: as the load asks, and what the SMSC recorded
    assert by_name["min_sends"]["limit"] == MIN_SENDS
    assert by_name["min_sends"]["measured"] == tally["submitted"] >= MIN_SENDS
    acked = set(tally["acked"])
    assert len(acked) == tally["submitted"]  # every submit accepted
    with LedgerReader(serve.ledger) as ledger:  # the SMSC's truth, beside the client's
        recorded = {r.message_id for r in ledger.records() if r.accepted}
    assert acked <= recorded

    # the rate, from the receipts alone: every accepted message got its DELIVRD receipt in the drain
    assert tally["receipts"] == {"DELIVRD": len(acked)}
    assert facts["valid_sends"] == len(acked) and facts["definite_failures"] == 0
    rate = by_name["min_success_rate"]
    assert (rate["measured"], rate["limit"], rate["passed"]) == (1.0, 0.95, True)
    assert by_name["sample_size"]["passed"] and by_name["sample_size"]["measured"] == len(acked)
    assert by_name["load_errors"]["measured"] == 0

    # the throughput: submits written per second of submitting
    throughput = by_name["min_throughput"]
    assert throughput["measured"] == pytest.approx(tally["submitted"] / DURATION)
    assert facts["submits_per_second"] == throughput["measured"]
    assert (throughput["unit"], throughput["op"]) == ("per_second", ">=")
    assert throughput["detail"] == f"{tally['submitted']:,} submits in 3 s"
    return by_name


def test_an_external_run_passes_on_the_clients_receipts_and_its_throughput(serve, tmp_path):
    result, gates, tally = run_against(serve, tmp_path, throughput=60)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    by_name = check_client_side_numbers(serve, gates, tally, tmp_path / "report")
    throughput = by_name["min_throughput"]
    assert throughput["limit"] == 60 and throughput["passed"] and throughput["measured"] >= 60
    assert gates["passed"] is True and gates["exit_code"] == 0
    assert "no ledger (external SMSC" in result.stdout
    assert result.stdout.strip().splitlines()[-1].startswith(
        f"carrier-sim: PASSED 5/5 gates (external, {tally['submitted']:,} sends, 100.00 %)")


def test_an_external_run_below_its_min_throughput_fails_that_gate_alone_with_exit_1(serve, tmp_path):
    result, gates, tally = run_against(serve, tmp_path, throughput=1000)
    assert result.returncode == 1, result.stdout[-4000:] + result.stderr[-2000:]
    by_name = check_client_side_numbers(serve, gates, tally, tmp_path / "report")
    throughput = by_name["min_throughput"]
    assert throughput["limit"] == 1000 and not throughput["passed"] and throughput["measured"] < 1000
    assert [name for name, g in by_name.items() if not g["passed"]] == ["min_throughput"]
    assert gates["passed"] is False and gates["exit_code"] == 1
    measured = f"{throughput['measured']:,.0f}/s"
    assert throughput["measured_text"] == measured and throughput["limit_text"] == ">= 1,000/s"
    assert result.stdout.strip().splitlines()[-1] == (
        f"carrier-sim: FAILED 1 of 5 gates: min_throughput {measured} < 1,000/s")

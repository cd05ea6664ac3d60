"""Gates: what a run must show to pass CI, checked against the ledger, the tally and Locust's stats.

Each gate is a named check with the measured value, the limit and a verdict; the set is written
as JSON and as JUnit XML (one test case per gate) and decides the exit code. Reads only.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from xml.etree import ElementTree as ET

from rich.console import Console
from rich.table import Table

from simulator.ledger.reader import LedgerReader
from simulator.metering.intervals import binomial_interval
from simulator.metering.meter import SlaFigures, sla_figures

from .reconcile import reconcile
from .tally import Tally

if TYPE_CHECKING:
    from .run import RunArtifacts, RunSettings


@dataclass
class Gate:
    name: str
    passed: bool
    measured: str
    limit: str
    detail: str = ""


def p99_submit_ms(csv_prefix: Path) -> float | None:
    """The 99th percentile of submit_sm response times from Locust's stats CSV."""
    path = Path(f"{csv_prefix}_stats.csv")
    if not path.exists():
        return None
    with path.open(newline="") as f:
        for row in csv.DictReader(f):
            if row.get("Name") == "submit_sm" and row.get("99%") not in (None, "", "N/A"):
                return float(row["99%"])
    return None


def check(settings: "RunSettings", artifacts: "RunArtifacts") -> tuple[list[Gate], dict[str, Any]]:
    gates_cfg = settings.scenario.gates
    tally = Tally.load(artifacts.tally)
    rec = None
    if artifacts.ledger.exists():
        with LedgerReader(artifacts.ledger) as ledger:
            records = list(ledger.records())
            rec = reconcile(tally, ledger, {f.kind for f in settings.scenario.faults})
        figures = sla_figures(records)
    else:  # an external SMSC: no ledger, only what the client saw (receipts decide)
        records = []
        figures = client_side_figures(tally)
    rate = figures.rate
    answered = sum(v for k, v in tally.submits.items() if k != "LOST")
    throughput = sum(tally.submits.values()) / settings.duration if settings.duration else 0.0
    p99 = p99_submit_ms(artifacts.locust_csv_prefix)
    gates: list[Gate] = []

    def rate_text(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.4%}"

    if gates_cfg.min_success_rate is not None:
        ok = rate is not None and rate >= gates_cfg.min_success_rate
        gates.append(Gate("min_success_rate", ok, rate_text(rate), f">= {gates_cfg.min_success_rate:.2%}",
                          f"{figures.definite_failures} definite failures of {figures.valid_sends} valid sends"))
    if gates_cfg.expect_success_rate is not None:
        expected = gates_cfg.expect_success_rate.value
        source = "stated"
        if expected is None:
            from simulator.metering.expectation import analyse_expectation

            analysis = analyse_expectation(settings.scenario)
            expected = getattr(analysis, "rate", None)
            source = "analytic"
        confidence = 0.99 if gates_cfg.expect_success_rate.interval == "binomial-99" else 0.95
        n = figures.valid_sends
        if expected is None:
            reasons = "; ".join(getattr(analysis, "reasons", ())) or "not analytic"
            gates.append(Gate("expect_success_rate", False, rate_text(rate), "n/a",
                              f"no value given and the scenario is not analytic: {reasons}"))
        elif n == 0 or rate is None:
            gates.append(Gate("expect_success_rate", False, "n/a", f"{expected:.2%}", "no valid sends"))
        else:
            lo, hi = binomial_interval(expected, n, confidence)
            ok = lo <= rate <= hi
            gates.append(Gate("expect_success_rate", ok, rate_text(rate), f"[{lo:.4%}, {hi:.4%}]",
                              f"expected {expected:.2%} ({source}), {confidence:.0%} binomial interval for n={n}"))
    if gates_cfg.max_p99_submit_ms is not None:
        ok = p99 is not None and p99 <= gates_cfg.max_p99_submit_ms
        gates.append(Gate("max_p99_submit_ms", ok, "n/a" if p99 is None else f"{p99:g} ms",
                          f"<= {gates_cfg.max_p99_submit_ms:g} ms"))
    if gates_cfg.min_throughput is not None:
        ok = throughput >= gates_cfg.min_throughput
        gates.append(Gate("min_throughput", ok, f"{throughput:,.0f}/s", f">= {gates_cfg.min_throughput:,.0f}/s"))
    for status, limit in gates_cfg.max_error_ratio.items():
        ratio = tally.submits.get(status, 0) / answered if answered else 0.0
        gates.append(Gate(f"max_error_ratio[{status}]", ratio <= limit, f"{ratio:.2%}", f"<= {limit:.2%}"))
    if gates_cfg.reconcile == "exact" and rec is not None:
        summary = rec.summary()
        detail = ", ".join(f"{k}={v}" for k, v in summary.items()
                           if k not in ("exact", "examples", "status_differences") and v)
        if rec.status_differences:
            detail += f"; status counts (ledger vs client) {summary['status_differences']}"
        gates.append(Gate("reconcile", rec.exact, "exact" if rec.exact else "differences", "exact", detail))
    facts = {
        "success_rate": rate,
        "valid_sends": figures.valid_sends,
        "definite_failures": figures.definite_failures,
        "pending": figures.pending,
        "left_out": figures.left_out,
        "submits_seen_by_client": dict(tally.submits),
        "submits_per_second": throughput,
        "p99_submit_ms": p99,
        "receipts_seen_by_client": dict(tally.receipts),
        "duplicate_receipts_seen": sum(v - 1 for v in tally.receipt_ids.values() if v > 1),
        "rebinds": tally.rebinds,
        "reconciliation": rec.summary() if rec is not None else "no ledger (external SMSC)",
        "ledger_records": len(records),
        "source": "ledger" if rec is not None else "client receipts (external SMSC: no ledger)",
    }
    return gates, facts


def client_side_figures(tally: Tally) -> SlaFigures:
    """Without a ledger, the best the client can tell: DELIVRD receipts are successes, other final
    states failures; refused submits are left out (the client cannot tell why)."""
    figures = SlaFigures()
    for stat, count in tally.receipts.items():
        figures.add("delivered" if stat == "DELIVRD" else "definite_failure", f"receipt {stat}", count)
    for status, count in tally.submits.items():
        if status != "ESME_ROK":
            figures.add("excluded", f"refused {status}", count)
    return figures


def write_junit(gates: list[Gate], path: Path, suite: str) -> None:
    failures = sum(not g.passed for g in gates)
    root = ET.Element("testsuite", name=f"carrier-sim {suite}", tests=str(len(gates)), failures=str(failures))
    for gate in gates:
        case = ET.SubElement(root, "testcase", classname=f"carrier-sim.{suite}", name=gate.name)
        if not gate.passed:
            failure = ET.SubElement(case, "failure", message=f"{gate.measured} (limit {gate.limit})")
            failure.text = gate.detail
        else:
            ET.SubElement(case, "system-out").text = f"{gate.measured} (limit {gate.limit}) {gate.detail}".strip()
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)


def evaluate_run(settings: "RunSettings", artifacts: "RunArtifacts", console: Console) -> int:
    """Meter the ledger, check the gates, write every report; returns the run's exit code."""
    from simulator.metering.html import render_html
    from simulator.metering.sources import report_from_ledgers
    from simulator.metering.text import render

    from .run import EXIT_GATES_FAILED, EXIT_OK

    out = settings.report_dir
    if artifacts.ledger.exists():
        report = report_from_ledgers([artifacts.ledger], scenario_path=settings.scenario_path)
        (out / "sla-report.json").write_text(json.dumps(report, indent=2, default=str))
        (out / "sla-report.html").write_text(render_html(report))
        render(report, console)
    else:
        console.print("[yellow]external SMSC: no ledger, so no SLA report; gates use the client's receipts[/]")
    gates, facts = check(settings, artifacts)
    (out / "gates.json").write_text(json.dumps({"gates": [asdict(g) for g in gates], "facts": facts}, indent=2,
                                               default=_jsonable))
    write_junit(gates, out / "junit.xml", settings.scenario.name)
    table = Table(title=f"gates: {settings.scenario.name}")
    for column in ("gate", "verdict", "measured", "limit", "detail"):
        table.add_column(column)
    for gate in gates:
        table.add_row(gate.name, "[green]pass[/]" if gate.passed else "[red]FAIL[/]", gate.measured, gate.limit,
                      gate.detail)
    console.print(table)
    console.print(f"client: {sum(facts['submits_seen_by_client'].values()):,} submits "
                  f"({facts['submits_per_second']:,.0f}/s), p99 submit {facts['p99_submit_ms']} ms; "
                  f"reports in {out}")
    return EXIT_OK if all(g.passed for g in gates) else EXIT_GATES_FAILED


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    return str(value)

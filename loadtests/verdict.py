"""The verdict of a run: the exit code, the reports (SLA report, gates.json, junit.xml) and the one
line a human greps for at the end of a CI log.

`carrier-sim: PASSED 5/5 gates (flaky-network, 9,600 sends, 97.96 %)`, or FAILED with the
comparisons that failed, or INTERRUPTED. Every way of ending a run comes through here, so every
ending writes its reports. Never decides a gate itself (loadtests/gates.py does).
"""

from __future__ import annotations

import json
import socket
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from xml.etree import ElementTree as ET

from rich.console import Console
from rich.table import Table

from .gates import Gate, check

if TYPE_CHECKING:
    from .settings import RunArtifacts, RunSettings

GATES_SCHEMA = "carrier-sim/gates/2"

# Exit codes of `carrier-sim run` (the README's table); defined only here: the run imports them
EXIT_OK = 0  # every gate passed
EXIT_GATES_FAILED = 1  # the run did its work and at least one gate failed
EXIT_BAD_INPUT = 2  # bad scenario file or command line
EXIT_SIMULATOR_FAILED = 3  # the simulator did not start (or died)
EXIT_LOAD_FAILED = 4  # the load generator failed: Locust did not run, nothing bound, or a user raised
EXIT_INTERRUPTED = 130  # Ctrl-C or SIGTERM: reports written, marked interrupted


def exit_code(gates: list[Gate], *, interrupted: bool, load_failed: bool) -> int:
    if interrupted:
        return EXIT_INTERRUPTED
    if load_failed or any(g.name == "load_errors" and not g.passed for g in gates):
        return EXIT_LOAD_FAILED
    return EXIT_OK if all(g.passed for g in gates) else EXIT_GATES_FAILED


def verdict_line(name: str, gates: list[Gate], facts: dict[str, Any], *, interrupted: bool,
                 load_failure: str | None, elapsed: float | None = None) -> str:
    passed = sum(g.passed for g in gates)
    failed = [g for g in gates if not g.passed]
    sends = f"{facts.get('submitted', 0):,} sends"
    rate = facts.get("success_rate")
    about = f"{name}, {sends}" + (f", {rate * 100:.2f} %" if rate is not None else "")
    if interrupted:
        after = f" after {elapsed:.0f} s" if elapsed is not None else ""
        return f"carrier-sim: INTERRUPTED{after}: {passed}/{len(gates)} gates passed on partial data ({about})"
    reasons = "; ".join(g.why_failed() for g in failed)
    if load_failure or any(g.name == "load_errors" for g in failed):
        cause = load_failure or "a Locust user raised"
        tail = f"; {len(failed)} of {len(gates)} gates failed: {reasons}" if failed else ""
        return f"carrier-sim: FAILED (load generator: {cause}){tail}"
    if failed:
        return f"carrier-sim: FAILED {len(failed)} of {len(gates)} gates: {reasons}"
    return f"carrier-sim: PASSED {len(gates)}/{len(gates)} gates ({about})"


def write_junit(gates: list[Gate], path: Path, suite: str, *, started: float, elapsed: float,
                interrupted: bool = False) -> None:
    """One test case per gate, in the common JUnit XML shape (a <testsuites> root, one <testsuite>
    with tests/failures/errors/skipped/time/timestamp/hostname; a <failure> per failed gate)."""
    failures = sum(not g.passed for g in gates)
    counts = {"tests": str(len(gates)), "failures": str(failures), "errors": "0", "time": f"{elapsed:.3f}"}
    root = ET.Element("testsuites", name=f"carrier-sim {suite}", **counts)
    stamp = datetime.fromtimestamp(started, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    testsuite = ET.SubElement(root, "testsuite", name=f"carrier-sim {suite}", **counts, skipped="0",
                              timestamp=stamp, hostname=socket.gethostname() or "localhost")
    if interrupted:
        props = ET.SubElement(testsuite, "properties")
        ET.SubElement(props, "property", name="interrupted", value="true")
    for gate in gates:
        case = ET.SubElement(testsuite, "testcase", name=gate.name, classname=f"carrier-sim.{suite}", time="0")
        if not gate.passed:
            failure = ET.SubElement(case, "failure", message=gate.why_failed(), type="gate")
            failure.text = gate.detail
        else:
            ET.SubElement(case, "system-out").text = f"{gate.measured_text} ({gate.limit_text}) {gate.detail}".strip()
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)


def gates_table(name: str, gates: list[Gate]) -> Table:
    table = Table(title=f"gates: {name}")
    for column in ("gate", "verdict", "measured", "limit", "detail"):
        table.add_column(column)
    for gate in gates:
        table.add_row(gate.name, "[green]pass[/]" if gate.passed else "[red]FAIL[/]", gate.measured_text,
                      gate.limit_text, gate.detail)
    return table


def evaluate_run(settings: RunSettings, artifacts: RunArtifacts, console: Console, *, interrupted: bool = False,
                 load_failure: str | None = None, started: float | None = None,
                 submitting_s: float | None = None) -> int:
    """Meter the ledger, check the gates, write every report; returns the run's exit code:
    130 interrupted, 4 the load generator failed (or a user raised), 1 a gate failed, else 0.
    `submitting_s`: how long the users submitted when a signal cut the load short (the rates are
    over that, not over the planned duration). The verdict line is the last thing printed."""
    from simulator.metering.html import render_html
    from simulator.metering.sources import report_from_ledgers
    from simulator.metering.text import render

    now = time.time()
    if started is None:
        started = now - settings.duration - settings.drain
    elapsed = max(0.0, now - started)
    out = settings.report_dir
    out.mkdir(parents=True, exist_ok=True)
    if artifacts.ledger.exists():
        report = report_from_ledgers([artifacts.ledger], scenario_path=settings.scenario_path)
        report["interrupted"] = interrupted
        (out / "sla-report.json").write_text(json.dumps(report, indent=2, default=str))
        (out / "sla-report.html").write_text(render_html(report))
        render(report, console)
    else:
        console.print("[yellow]no ledger (external SMSC or the simulator never started): no SLA report; "
                      "the gates use the client's receipts[/]")
    gates, facts = check(settings, artifacts, submitting_s)
    code = exit_code(gates, interrupted=interrupted, load_failed=load_failure is not None)
    line = verdict_line(settings.scenario.name, gates, facts, interrupted=interrupted, load_failure=load_failure,
                        elapsed=elapsed)
    document = {
        "schema": GATES_SCHEMA,
        "scenario": settings.scenario.name,
        "run_id": settings.run_id,
        "interrupted": interrupted,
        "load_failure": load_failure,
        "passed": code == 0,
        "exit_code": code,
        "verdict": line,
        "started": datetime.fromtimestamp(started, UTC).isoformat(),
        "elapsed_s": round(elapsed, 3),
        "gates": [g.as_dict() for g in gates],
        "facts": facts,
    }
    (out / "gates.json").write_text(json.dumps(document, indent=2, default=str))
    write_junit(gates, out / "junit.xml", settings.scenario.name, started=started, elapsed=elapsed,
                interrupted=interrupted)
    console.print(gates_table(settings.scenario.name, gates))
    if facts["first_user_error"]:
        console.print(f"[red]{sum(facts['user_errors'].values())} exception(s) in Locust users; the first:[/]")
        console.print(facts["first_user_error"].rstrip(), markup=False, highlight=False, soft_wrap=True)
    p99 = facts["p99_submit_ms"]
    console.print(f"client: {facts['submitted']:,} submits ({facts['submits_per_second'] or 0:,.0f}/s), "
                  f"p99 submit {'n/a' if p99 is None else f'{p99:g} ms'}; reports in {out}", highlight=False,
                  soft_wrap=True)
    console.print(line, markup=False, highlight=False, soft_wrap=True,
                  style="bold green" if code == 0 else "bold red")
    return code


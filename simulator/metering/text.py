"""The report for a terminal: rich tables of each account's cycles, what was left out and why,
billing and compensation, and the warnings. Renders a report dict (report.build_report); it never
computes a figure itself. Chooses the console's width: a terminal's own, or, anywhere else (a CI
log, a pipe, a file), wide enough that no table cell is cut or folded.
"""

from __future__ import annotations

import io
from typing import IO, Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from .report import reason_note

# The width of a console that is not a terminal: tables print at their natural width (rich never
# widens a table to the console), so no cell is cut to "…" or folded over lines in a CI log.
NATURAL_WIDTH = 10_000


def report_console(file: IO[str] | None = None, *, terminal: bool | None = None) -> Console:
    """The console a report or a run prints on (stdout by default): on a terminal, the terminal's
    width; anywhere else NATURAL_WIDTH. `terminal` overrides the check (default: file.isatty())."""
    console = Console(file=file)
    if terminal is None:
        isatty = getattr(console.file, "isatty", None)
        terminal = bool(isatty and isatty())
    if not terminal:
        console.width = NATURAL_WIDTH
    return console


def pct(rate: float | None, digits: int = 2) -> str:
    return "n/a" if rate is None else f"{rate * 100:.{digits}f} %"


def render(report: dict[str, Any], console: Console) -> None:
    sla = report["sla"]
    sources = report["sources"]
    console.print(Text("carrier-sim SLA report", style="bold"))
    ledgers = ", ".join(f"{f['path']} ({f['records']} records)" for f in sources.get("ledgers", [])) or "-"
    console.print(f"ledgers: {ledgers}")
    tiers = ", ".join("< " + pct(t["below"], 1) + " -> " + pct(t["voucher"], 0) for t in sla["tiers"])
    console.print(f"terms: {sources.get('terms', '-')}; target {pct(sla['target'], 1)}; tiers {tiers}; "
                  f"cycles in UTC{report['timezone']}")
    selection = report["selection"]
    if any(selection.values()):
        console.print("selection: " + ", ".join(f"{k} {v}" for k, v in selection.items() if v))
    console.print()

    cycles = report["cycles"]
    table = Table(title="Success rate per account and service cycle", title_justify="left")
    for name, justify in (("account", "left"), ("cycle", "left"), ("period", "left"), ("valid sends", "right"),
                          ("definite failures", "right"), ("success rate", "right"), ("target", "center"),
                          ("pending", "right"), ("left out", "right")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for c in cycles:
        met = c["meets_target"]
        verdict = Text("-" if met is None else "met" if met else "MISSED",
                       style="" if met is None else "green" if met else "bold red")
        period = f"{c['start']} .. {c['end']}" + (" (partial)" if c["partial"] else "")
        table.add_row(c["account"], c["cycle"], period, str(c["valid_sends"]), str(c["definite_failures"]),
                      pct(c["success_rate"], 3), verdict, str(c["pending"]), str(c["left_out_total"]))
    console.print(table)

    for c in cycles:
        if not (c["left_out"] or c["definite_failure_reasons"] or c["pending"]):
            continue
        why = Table(title=f"{c['account']} {c['cycle']}: what the denominator leaves out, and the failures",
                    title_justify="left")
        why.add_column("class")
        why.add_column("reason")
        why.add_column("messages", justify="right")
        why.add_column("counts in the rate")
        why.add_column("what it is")
        for reason, n in c["definite_failure_reasons"].items():
            why.add_row("definite_failure", reason or "-", str(n), "yes: a failure",
                        reason_note("definite_failure", reason))
        for cls, entry in c["left_out"].items():
            for reason, n in entry["reasons"].items():
                why.add_row(cls, reason or "-", str(n), "no: left out", reason_note(cls, reason))
        for reason, n in c["pending_reasons"].items():
            why.add_row("pending", reason or "no final state yet", str(n), "no: never a success",
                        reason_note("pending", reason))
        console.print(why)

    money = Table(title="Billing and compensation", title_justify="left")
    for name, justify in (("account", "left"), ("cycle", "left"), ("segments", "right"), ("fee", "right"),
                          ("tier", "left"), ("voucher", "right"), ("claim window", "left")):
        money.add_column(name, justify=justify)  # type: ignore[arg-type]
    for c in cycles:
        comp = c["compensation"]
        tier = comp["tier"]
        tier_text = "-" if tier is None else f"< {pct(tier['below'], 1)}: {pct(tier['voucher'], 0)} of the fee"
        voucher = f"{comp['voucher']} {c['billing']['currency']}" + (" (capped)" if comp["capped"] else "")
        window = comp["claim_window"]
        money.add_row(c["account"], c["cycle"], str(c["billing"]["billable_segments"]),
                      f"{c['billing']['fee']} {c['billing']['currency']}", tier_text, voucher,
                      f"{window['opens']} .. {window['closes']}" if tier is not None else "-")
    console.print(money)

    expectation = report.get("expectation")
    if expectation is not None:
        if expectation["analytic"]:
            console.print(f"expected success rate (analytic): {pct(expectation['rate'], 3)}")
            for check in expectation["cycles"]:
                mark = Text("within" if check["within"] else "OUTSIDE",
                            style="green" if check["within"] else "bold red")
                console.print(Text.assemble(
                    f"  {check['account']} {check['cycle']}: observed {pct(check['observed'], 3)} over "
                    f"{check['valid_sends']} valid sends, {expectation['interval']} interval "
                    f"[{pct(check['low'], 3)}, {pct(check['high'], 3)}]: ", mark))
        else:
            console.print("expected success rate: not analytic: " + "; ".join(expectation["reasons"]))
    latency = report["receipt_latency"]
    if latency["count"]:
        console.print(f"receipt latency (done - submit) over {latency['count']} final states: "
                      f"p50 {latency['p50_ms']:.0f} ms, p90 {latency['p90_ms']:.0f} ms, "
                      f"p99 {latency['p99_ms']:.0f} ms, max {latency['max_ms']:.0f} ms")
    for warning in report["warnings"]:
        console.print(Text(f"warning: {warning}", style="yellow"))


def render_text(report: dict[str, Any], width: int | None = None, color: bool = False) -> str:
    """The report as text. `color` means it goes to a terminal: then the terminal's width (unless
    `width` is given); otherwise (a file, a pipe) NATURAL_WIDTH, so every table keeps its natural width."""
    buffer = io.StringIO()
    if width is None and not color:
        width = NATURAL_WIDTH
    console = Console(file=buffer, width=width, force_terminal=color, color_system="standard" if color else None,
                      highlight=False)
    render(report, console)
    return buffer.getvalue()


def render_reconciliation(result: dict[str, Any], console: Console) -> None:
    """A reconciliation (reconcile.ExportReconciliation.as_dict()) for a terminal: every difference, then
    the rates per ledger and per export."""
    counts = result["difference_counts"]
    head = ("identical" if result["identical"] else
            ", ".join(f"{n} {kind.replace('_', ' ')}" for kind, n in counts.items() if n))
    console.print(Text(f"reconcile: {head}", style="bold green" if result["identical"] else "bold red"))
    console.print(f"ledger records with an id: {result['compared']} (matched {result['matched']}); "
                  f"refused at submit, no id, not compared: {result['refused_in_ledger']}; "
                  f"export rows: {result['export_rows']} ({result['export_rows_without_id']} without message_id)")
    if result["differences"]:
        table = Table(title="Differences", title_justify="left")
        for name in ("kind", "message_id", "destination", "account", "ledger", "export", "ledger class",
                     "changes the rate"):
            table.add_column(name)
        for d in result["differences"]:
            table.add_row(d["kind"], d["message_id"], d["destination"] or "-", d["account"] or "-",
                          d["ledger"] or "-", d["export"] or "-", d["ledger_class"] or "-",
                          "yes" if d["counts_in_rate"] else "no")
        console.print(table)
    rates = Table(title="Success rate per ledger and per export", title_justify="left")
    for name, justify in (("account", "left"), ("cycle", "left"), ("valid sends (ledger / export)", "right"),
                          ("ledger", "right"), ("export", "right"), ("difference", "right")):
        rates.add_column(name, justify=justify)  # type: ignore[arg-type]

    def diff(value: float | None) -> str:
        return "n/a" if value is None else f"{value * 100:+.3f} pp"

    for c in result["cycles"]:
        r = c["success_rate"]
        rates.add_row(c["account"], c["cycle"], f"{c['valid_sends']['ledger']} / {c['valid_sends']['export']}",
                      pct(r["ledger"], 3), pct(r["export"], 3), diff(r["difference"]))
    overall = result["overall"]
    r = overall["success_rate"]
    rates.add_row("all", "(all records)", f"{overall['valid_sends']['ledger']} / {overall['valid_sends']['export']}",
                  pct(r["ledger"], 3), pct(r["export"], 3), diff(r["difference"]))
    console.print(rates)
    for warning in result["warnings"]:
        console.print(Text(f"warning: {warning}", style="yellow"))

"""`carrier-sim report`, `prune` and `reconcile`: the commands that read a ledger file.

Owns: their options (cut-off times, vouchers paid, retention ages, output formats) and exit codes.
Not here: the SLA figures, the report and the reconciliation themselves (simulator/metering), reading
and pruning the ledger (simulator/ledger/reader.py).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from simulator.scenario import ScenarioError

from .common import EXIT_BAD_INPUT, EXIT_DIFFERENCES, EXIT_OK, emit


def _parse_as_of(value: str | None) -> float | None:
    """Unix seconds, or an ISO 8601 time (with a zone; without one it is UTC)."""
    if value is None:
        return None
    from datetime import UTC, datetime

    try:
        return float(value)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter(f"not a time: {value!r} (Unix seconds or ISO 8601)", param_hint="--as-of") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _parse_vouchers(values: tuple[str, ...]) -> dict[tuple[str, str], str]:
    from decimal import Decimal, InvalidOperation

    paid: dict[tuple[str, str], str] = {}
    for value in values:
        where, _, amount = value.rpartition("=")
        account, _, cycle = where.rpartition(":")
        try:
            if not account or not cycle or Decimal(amount) < 0:
                raise InvalidOperation
        except InvalidOperation:
            raise click.BadParameter(f"{value!r}: write ACCOUNT:CYCLE=AMOUNT, like qa:2026-11=12.50",
                                     param_hint="--vouchers-paid") from None
        paid[(account, cycle)] = amount
    return paid


@click.command("report")
@click.argument("ledgers", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--account", help="Only this account (ESME system_id).")
@click.option("--cycle", help="Only this service cycle, YYYY-MM (like 2026-11).")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "html"]), default="text", show_default=True,
              help="text for a terminal, json for machines (schema carrier-sim/report/1), html for people.")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="Write here, not to stdout.")
@click.option("--scenario", "scenario_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Take prices, tiers and target from this scenario (default: the scenario stored in the ledger).")
@click.option("--timezone", "tz", help="Service cycles in UTC (default) or an offset like +08:00 "
                                       "(default: the scenario's sla.timezone).")
@click.option("--as-of", help="Cut-off: messages without a final state by then are pending (Unix s or ISO 8601).")
@click.option("--vouchers-paid", multiple=True, metavar="ACCOUNT:CYCLE=AMOUNT",
              help="Vouchers already paid for a cycle (they lower the cap of its voucher). Repeatable.")
def report_command(ledgers: tuple[Path, ...], account: str | None, cycle: str | None, fmt: str,
                   output: Path | None, scenario_path: Path | None, tz: str | None, as_of: str | None,
                   vouchers_paid: tuple[str, ...]) -> None:
    """SLA report of one or more ledgers (merged): success rate per account and service cycle, what
    was left out and why, billing, compensation and claim windows."""
    from simulator.ledger.reader import LedgerReadError
    from simulator.metering.sources import report_from_ledgers

    try:
        report = report_from_ledgers(ledgers, scenario_path=scenario_path, account=account, cycle=cycle,
                                     timezone=tz, as_of=_parse_as_of(as_of),
                                     vouchers_paid=_parse_vouchers(vouchers_paid))
    except (LedgerReadError, ScenarioError, ValueError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    if fmt == "json":
        import json

        emit(json.dumps(report, indent=2, ensure_ascii=False) + "\n", output)
    elif fmt == "html":
        from simulator.metering.html import render_html

        emit(render_html(report), output)
    else:
        from simulator.metering.text import render_text

        color = output is None and sys.stdout.isatty()
        emit(render_text(report, color=color), output)


_AGE = {"y": 365 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1}


def _age_seconds(text: str) -> float:
    """'3y', '90d', '12h', '30m', '45s' -> seconds."""
    value, unit = text[:-1], text[-1:]
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if unit not in _AGE or number < 0:
        raise click.BadParameter(f"{text!r}: give a number and a unit (y, d, h, m, s), e.g. 3y or 90d")
    return number * _AGE[unit]


@click.command("prune")
@click.argument("ledger", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--older-than", "older_than", default="3y", show_default=True,
              help="Remove records submitted longer ago than this (billing records: keep at least 3y).")
def prune_command(ledger: Path, older_than: str) -> None:
    """Remove a ledger's records past the retention age, and say how many of each."""
    from simulator.ledger.reader import LedgerReadError, prune

    age = _age_seconds(older_than)
    try:
        removed = prune(ledger, age)
    except LedgerReadError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    click.echo(f"{ledger}: removed records older than {older_than}: "
               + ", ".join(f"{n} {table}" for table, n in removed.items()))


@click.command("reconcile")
@click.argument("ledger", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("export", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--account", help="Only this account's records (and export rows, when it has an account column).")
@click.option("--run", "run_id", help="Only this run's records.")
@click.option("--timezone", "tz", help="Service cycles in UTC (default) or an offset like +08:00.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="Write here, not to stdout.")
def reconcile_command(ledger: Path, export: Path, account: str | None, run_id: str | None, tz: str | None,
                      fmt: str, output: Path | None) -> None:
    """Compare a per-message export (CSV with message_id and status columns) with the ledger: every
    difference and its effect on the success rate. Exit 0 when identical, 1 when they differ."""
    from simulator.ledger.reader import LedgerReadError
    from simulator.metering.reconcile import ExportError
    from simulator.metering.sources import reconcile_files

    try:
        result = reconcile_files(ledger, export, account=account, run_id=run_id, timezone=tz)
    except (LedgerReadError, ExportError, ValueError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    if fmt == "json":
        import json

        emit(json.dumps(result, indent=2, ensure_ascii=False) + "\n", output)
    else:
        import io

        from rich.console import Console

        from simulator.metering.text import render_reconciliation

        buffer = io.StringIO()
        color = output is None and sys.stdout.isatty()
        render_reconciliation(result, Console(file=buffer, width=140, force_terminal=color,
                                              color_system="standard" if color else None, highlight=False))
        emit(buffer.getvalue(), output)
    sys.exit(EXIT_OK if result["identical"] else EXIT_DIFFERENCES)



"""Where the metering's inputs come from: ledger files (merged) and the scenario's `sla:` terms.

Reads ledgers through simulator.ledger.reader only, and scenario files through simulator.scenario;
it never writes to a ledger. Several ledgers are merged; a run (run id and node) found in more than
one file is read once, with a warning, so the same file given twice is not counted twice.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from simulator.ledger.reader import LedgerReader, Record
from simulator.scenario import Scenario, Sla, load_scenario


@dataclass
class LedgerSet:
    """The records of one or more ledger files, and what is known of their runs."""

    records: list[Record] = field(default_factory=list)
    files: list[dict[str, Any]] = field(default_factory=list)  # path, runs, records read
    configs: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (run_id, scenario as JSON)
    warnings: list[str] = field(default_factory=list)


def read_ledgers(paths: Iterable[str | Path], account: str | None = None) -> LedgerSet:
    """Merge the records of several ledgers (in submit time order). Raises LedgerReadError."""
    out = LedgerSet()
    seen: dict[tuple[str, str], str] = {}  # (run_id, node_id) -> the file it was read from
    for path in paths:
        with LedgerReader(path) as reader:
            runs = reader.runs()
            skipped = set()
            for run in runs:
                key = (run["run_id"], run["node_id"])
                if key in seen:
                    skipped.add(run["run_id"])
                    out.warnings.append(f"{path}: run {run['run_id']} (node {run['node_id']}) was already read "
                                        f"from {seen[key]}: its records are counted once")
                else:
                    seen[key] = str(path)
                    if run["config"]:
                        out.configs.append((run["run_id"], run["config"]))
            count = 0
            for record in reader.records(account=account):
                if record.run_id in skipped:
                    continue
                out.records.append(record)
                count += 1
            out.files.append({
                "path": str(path),
                "records": count,
                "runs": [{k: run[k] for k in ("run_id", "node_id", "scenario", "seed", "started_at", "ended_at")}
                         for run in runs],
            })
    out.records.sort(key=lambda r: r.submit_time)
    return out


@dataclass
class Terms:
    """The SLA terms a report uses, the scenario they came with (if any) and where from."""

    sla: Sla
    scenario: Scenario | None
    source: str
    warnings: list[str] = field(default_factory=list)


def sla_terms(ledgers: LedgerSet, scenario_path: str | Path | None = None) -> Terms:
    """The scenario file's terms when given; else the scenario stored in the ledgers' runs.config;
    else the defaults (tiers 95 % / 90 %, no prices). Raises ScenarioError for a bad file."""
    if scenario_path is not None:
        scenario = load_scenario(scenario_path)
        return Terms(scenario.sla, scenario, f"scenario file {scenario_path}")
    warnings: list[str] = []
    chosen: Terms | None = None
    distinct_sla: set[str] = set()
    for run_id, config in ledgers.configs:
        sla_data = config.get("sla")
        if sla_data is not None:
            distinct_sla.add(json.dumps(sla_data, sort_keys=True))
        if chosen is not None:
            continue
        try:
            if not {"name", "carrier", "numbers", "faults", "load"} <= set(config):
                raise ValueError("not a whole scenario")  # a partial config: its sla terms only
            scenario = Scenario.model_validate(config)
            chosen = Terms(scenario.sla, scenario, f"the scenario stored with run {run_id}")
        except (ValidationError, ValueError) as exc:
            try:
                sla = Sla.model_validate(sla_data or {})
            except ValidationError as exc:
                warnings.append(f"run {run_id}: its stored sla terms are not valid ({exc.error_count()} errors)")
                continue
            chosen = Terms(sla, None, f"the sla terms stored with run {run_id}")
            if isinstance(exc, ValidationError):
                warnings.append(f"run {run_id}: its stored scenario does not validate any more; "
                                "only its sla terms are used")
    if len(distinct_sla) > 1:
        warnings.append("the runs were stored with different sla terms; the first run's are used "
                        "(give --scenario to choose)")
    if chosen is None:
        chosen = Terms(Sla(), None, "the default sla terms (no scenario given or stored)")
    chosen.warnings.extend(warnings)
    return chosen


def report_from_ledgers(
    paths: Iterable[str | Path],
    *,
    scenario_path: str | Path | None = None,
    account: str | None = None,
    cycle: str | None = None,
    timezone: str | None = None,
    as_of: float | None = None,
    vouchers_paid: dict[tuple[str, str], Any] | None = None,
) -> dict[str, Any]:
    """Read the ledgers and the terms, and build the report (see report.build_report).
    The timezone is `timezone`, else the terms' sla.timezone, else UTC. Raises LedgerReadError,
    ScenarioError, ValueError."""
    from decimal import Decimal

    from .cycles import parse_timezone
    from .report import build_report

    ledgers = read_ledgers(paths)  # every account: cycles start on each account's real first send
    terms = sla_terms(ledgers, scenario_path)
    tz = parse_timezone(timezone if timezone is not None else terms.sla.timezone)
    return build_report(
        ledgers.records,
        terms.sla,
        tz=tz,
        account=account,
        cycle=cycle,
        vouchers_paid={k: Decimal(str(v)) for k, v in (vouchers_paid or {}).items()},
        as_of=as_of,
        scenario=terms.scenario,
        sources={"ledgers": ledgers.files, "terms": terms.source},
        warnings=[*ledgers.warnings, *terms.warnings],
    )


def reconcile_files(
    ledger_path: str | Path,
    export_path: str | Path,
    *,
    account: str | None = None,
    run_id: str | None = None,
    timezone: str | None = None,
) -> dict[str, Any]:
    """Reconcile an export with a ledger (see reconcile.reconcile). Raises LedgerReadError, ExportError."""
    from .cycles import parse_timezone
    from .reconcile import read_export, reconcile_export

    with LedgerReader(ledger_path) as reader:
        records = list(reader.records(account=account, run_id=run_id))
    rows, without_id = read_export(export_path)
    if account is not None:
        rows = [r for r in rows if r.account in (None, account)]
    result = reconcile_export(records, rows, without_id, parse_timezone(timezone)).as_dict()
    result["sources"] = {"ledger": str(ledger_path), "export": str(export_path)}
    return result

"""Reconciliation: a per-message export of the system under test against the ledger, difference by
difference, and what the differences do to the success rate. Reads a CSV and Records; never
changes either, and never guesses a match: a message is matched by its id (and destination).

The export: a CSV file with a header naming at least `message_id` and `status` (any order, any
case; other columns are ignored, except `destination`, which, when present, is matched too, for
submit_multi). A status is a receipt stat word (DELIVRD, UNDELIV, EXPIRED, REJECTD, DELETED,
UNKNOWN, ACCEPTD, ENROUTE, or their long names) or one of delivered / failed / pending.
ACCEPTD counts as failed (read on the subscriber's behalf, not delivered to the handset).

Comparing: ledger records refused at submit have no id and cannot be in an export: they are left
out of the comparison and counted the same in both rates. A stat word is compared as a stat word
(EXPIRED vs UNDELIV is a difference, though not one for the rate); a plain word as delivered /
failed / pending. The rate "per export" is the ledger's rate with each matched message in the
export's state: delivered counts as a success; failed keeps the ledger's class if the ledger knows
the failure (definite, invalid number, excluded) and is a definite failure otherwise; pending is
pending. Messages missing from the export are not counted; extra ones count as the export says
(their number's validity is unknown: a failure is taken as definite), in the overall rate only.
"""

from __future__ import annotations

import csv
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, timezone
from pathlib import Path
from typing import Any

from simulator.ledger.reader import Record
from simulator.scenario import normalize_number
from simulator.smpp.constants import MessageState

from .meter import DEFINITE_FAILURE, DELIVERED, EXCLUDED, INVALID_NUMBER, PENDING, meter, sla_figures

SCHEMA = "carrier-sim/reconcile/1"
PLAIN = {"delivered": "delivered", "failed": "failed", "pending": "pending"}


class ExportError(ValueError):
    """An export that cannot be read; the message names the file and line."""


@dataclass(frozen=True, slots=True)
class ExportRow:
    line: int
    message_id: str
    destination: str | None
    status: str  # as written
    state: str  # delivered / failed / pending
    stat: str | None  # the stat word when the status was one
    account: str | None = None


def parse_status(text: str) -> tuple[str, str | None]:
    """("delivered" | "failed" | "pending", stat word or None) of an export's status."""
    word = text.strip()
    if word.lower() in PLAIN:
        return PLAIN[word.lower()], None
    state = MessageState.from_stat(word)  # ValueError when it is no stat word
    stat = state.stat
    if stat == "DELIVRD":
        return "delivered", stat
    if stat == "ENROUTE":
        return "pending", stat
    return "failed", stat


def read_export(path: str | Path) -> tuple[list[ExportRow], int]:
    """The export's rows with a message id, and how many rows had none."""
    path = Path(path)
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise ExportError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    rows: list[ExportRow] = []
    without_id = 0
    with handle:
        reader = csv.reader(handle)
        try:
            header = next(reader)
        except StopIteration:
            raise ExportError(f"{path}:1: empty file: a header with message_id and status is needed") from None
        except csv.Error as exc:
            raise ExportError(f"{path}:1: not CSV: {exc}") from exc
        names = [h.strip().lower() for h in header]
        missing = [c for c in ("message_id", "status") if c not in names]
        if missing:
            raise ExportError(f"{path}:1: the header lacks {' and '.join(missing)} (found: {', '.join(names) or 'nothing'})")
        i_id, i_status = names.index("message_id"), names.index("status")
        i_dest = names.index("destination") if "destination" in names else None
        i_account = names.index("account") if "account" in names else None
        try:
            for values in reader:
                line = reader.line_num
                if not any(v.strip() for v in values):
                    continue
                if len(values) < len(names):
                    values = values + [""] * (len(names) - len(values))
                message_id = values[i_id].strip()
                if not message_id:
                    without_id += 1
                    continue
                try:
                    state, stat = parse_status(values[i_status])
                except ValueError:
                    raise ExportError(f"{path}:{line}: unknown status {values[i_status]!r} (a receipt stat word such "
                                      "as DELIVRD, UNDELIV, EXPIRED, or delivered / failed / pending)") from None
                destination = values[i_dest].strip() if i_dest is not None else None
                account = values[i_account].strip() or None if i_account is not None else None
                rows.append(ExportRow(line, message_id, destination or None, values[i_status].strip(), state, stat,
                                      account))
        except csv.Error as exc:
            raise ExportError(f"{path}:{reader.line_num}: not CSV: {exc}") from exc
    return rows, without_id


def ledger_state(record: Record) -> tuple[str, str | None]:
    if record.final_state is None:
        return "pending", None
    if record.final_state == "DELIVRD":
        return "delivered", "DELIVRD"
    return "failed", record.final_state


@dataclass(frozen=True, slots=True)
class Difference:
    kind: str  # missing_from_export / extra_in_export / different_state / duplicate_in_export
    message_id: str
    destination: str | None
    account: str | None
    ledger_state: str | None  # stat word, or delivered / failed / pending
    export_state: str | None
    ledger_class: str | None
    counts_in_rate: bool  # whether the difference changes what the meter counts

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "message_id": self.message_id, "destination": self.destination,
                "account": self.account, "ledger": self.ledger_state, "export": self.export_state,
                "ledger_class": self.ledger_class, "counts_in_rate": self.counts_in_rate}


@dataclass
class ExportReconciliation:
    compared: int = 0  # ledger records with an id
    matched: int = 0
    refused_in_ledger: int = 0  # records without an id (refused at submit): not comparable
    export_rows: int = 0
    export_rows_without_id: int = 0
    differences: list[Difference] = field(default_factory=list)
    rates: list[dict[str, Any]] = field(default_factory=list)  # per account and cycle
    overall: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def identical(self) -> bool:
        return not self.differences

    def counts(self) -> dict[str, int]:
        counter = Counter(d.kind for d in self.differences)
        return {k: counter.get(k, 0) for k in ("missing_from_export", "extra_in_export", "different_state",
                                               "duplicate_in_export")}

    def as_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "identical": self.identical,
            "compared": self.compared,
            "matched": self.matched,
            "refused_in_ledger": self.refused_in_ledger,
            "export_rows": self.export_rows,
            "export_rows_without_id": self.export_rows_without_id,
            "difference_counts": self.counts(),
            "differences": [d.as_dict() for d in self.differences],
            "overall": self.overall,
            "cycles": self.rates,
            "warnings": self.warnings,
        }


def _key(message_id: str, destination: str | None, by_destination: bool) -> tuple[str, str | None]:
    if by_destination and destination is not None:
        return message_id, normalize_number(destination)
    return message_id, None


def _as_export_says(record: Record, row: ExportRow) -> Record:
    if row.state == "delivered":
        return replace(record, sla_class=DELIVERED, reason="export")
    if row.state == "pending":
        return replace(record, sla_class=PENDING, reason="export")
    if record.sla_class in (DEFINITE_FAILURE, INVALID_NUMBER, EXCLUDED):
        return record
    return replace(record, sla_class=DEFINITE_FAILURE, reason="export")


def _rate_pair(ledger: float | None, export: float | None) -> dict[str, Any]:
    return {"ledger": ledger, "export": export,
            "difference": None if ledger is None or export is None else export - ledger}


def reconcile_export(records: Iterable[Record], rows: list[ExportRow], rows_without_id: int = 0,
                     tz: timezone = UTC) -> ExportReconciliation:
    records = list(records)
    result = ExportReconciliation(export_rows=len(rows) + rows_without_id, export_rows_without_id=rows_without_id)
    by_destination = any(r.destination is not None for r in rows)
    ledger: dict[tuple[str, str | None], list[Record]] = defaultdict(list)
    for record in records:
        if record.message_id is None:
            result.refused_in_ledger += 1
            continue
        result.compared += 1
        ledger[_key(record.message_id, record.destination, by_destination)].append(record)
    if any(len(v) > 1 for v in ledger.values()):
        result.warnings.append("some message ids stand for several ledger records (submit_multi, or several runs): "
                               + ("an export row is matched by id and destination" if by_destination else
                                  "add a destination column to the export to match them one by one"))
    export: dict[tuple[str, str | None], ExportRow] = {}
    for row in rows:
        key = _key(row.message_id, row.destination, by_destination)
        if key in export:
            first = export[key]
            result.differences.append(Difference(
                "duplicate_in_export", row.message_id, row.destination, row.account, None,
                f"{first.status} (line {first.line}), {row.status} (line {row.line})", None,
                counts_in_rate=first.state != row.state))
            continue
        export[key] = row
    as_export: list[Record] = []  # the ledger's records as the export sees them
    extras: list[Record] = []
    for record in records:
        if record.message_id is None:
            as_export.append(record)
            continue
        row = export.get(_key(record.message_id, record.destination, by_destination))
        if row is None:
            result.differences.append(Difference(
                "missing_from_export", record.message_id, record.destination, record.account,
                ledger_state(record)[1] or ledger_state(record)[0], None, record.sla_class,
                counts_in_rate=record.sla_class in (DELIVERED, DEFINITE_FAILURE)))
            continue
        result.matched += 1
        seen_state, seen_stat = ledger_state(record)
        if row.stat is not None and seen_stat is not None:
            differs = row.stat != seen_stat
        else:
            differs = row.state != seen_state
        changed = _as_export_says(record, row)
        as_export.append(changed)
        if differs:
            result.differences.append(Difference(
                "different_state", record.message_id, record.destination, record.account,
                seen_stat or seen_state, row.stat or row.state, record.sla_class,
                counts_in_rate=changed.sla_class != record.sla_class))
    known = {_key(r.message_id, r.destination, by_destination) for r in records if r.message_id is not None}
    for key, row in export.items():
        if key in known:
            continue
        result.differences.append(Difference(
            "extra_in_export", row.message_id, row.destination, row.account, None, row.stat or row.state, None,
            counts_in_rate=row.state in ("delivered", "failed")))
        cls = {"delivered": DELIVERED, "failed": DEFINITE_FAILURE, "pending": PENDING}[row.state]
        extras.append(Record("export", row.message_id, row.account or "(unknown)", row.destination or "", "",
                             1, 0.0, 0, True, row.stat, None, None, cls, "export_only"))
    ledger_all = sla_figures(records)
    export_all = sla_figures([*as_export, *extras])
    result.overall = {
        "success_rate": _rate_pair(ledger_all.rate, export_all.rate),
        "valid_sends": {"ledger": ledger_all.valid_sends, "export": export_all.valid_sends},
        "definite_failures": {"ledger": ledger_all.definite_failures, "export": export_all.definite_failures},
        "pending": {"ledger": ledger_all.pending, "export": export_all.pending},
        "note": "over all records; the SLA rate is per account and cycle (see cycles)",
    }
    first = {}
    for record in records:
        first[record.account] = min(first.get(record.account, record.submit_time), record.submit_time)
    by_ledger = meter(records, tz)
    by_export = meter(as_export, tz, first_send=first)
    for key in sorted(set(by_ledger) | set(by_export)):
        a = by_ledger.get(key)
        b = by_export.get(key)
        ra = a.figures.rate if a else None
        rb = b.figures.rate if b else None
        result.rates.append({
            "account": key[0], "cycle": key[1], "success_rate": _rate_pair(ra, rb),
            "valid_sends": {"ledger": a.figures.valid_sends if a else 0, "export": b.figures.valid_sends if b else 0},
        })
    return result

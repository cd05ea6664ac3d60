"""Reading a ledger: records as the metering and reports need them, runs, audit, and pruning.

Opens the SQLite file read-mostly (it may build read indexes); never changes a record except
through prune(), which removes records past the retention age and says how many.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import schema


@dataclass(frozen=True, slots=True)
class Record:
    """One message as the ledger knows it (a row of the message_outcomes view)."""

    run_id: str
    message_id: str | None
    account: str
    destination: str
    category: str
    segments: int
    submit_time: float
    submit_status: int
    responded: bool
    final_state: str | None
    error_code: str | None
    done_time: float | None
    sla_class: str  # delivered / definite_failure / invalid_number / excluded / pending
    reason: str

    @property
    def accepted(self) -> bool:
        return self.submit_status == 0


_RECORD_SQL = (
    "SELECT run_id, message_id, account, destination, category, segments, submit_time, submit_status,"
    " responded, final_state, error_code, done_time, sla_class, reason FROM message_outcomes"
)


class LedgerReadError(ValueError):
    """A file that is not a carrier-sim ledger, or cannot be read."""


class LedgerReader:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise LedgerReadError(f"{self.path}: no such ledger file")
        try:
            self.conn = sqlite3.connect(self.path, timeout=30)
            self.conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            schema.ensure_read_indexes(self.conn)
        except sqlite3.DatabaseError as exc:
            raise LedgerReadError(f"{self.path}: not a carrier-sim ledger ({exc})") from exc

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> "LedgerReader":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def records(self, account: str | None = None, run_id: str | None = None) -> Iterator[Record]:
        sql, args = _RECORD_SQL, []
        where = []
        if account is not None:
            where.append("account = ?")
            args.append(account)
        if run_id is not None:
            where.append("run_id = ?")
            args.append(run_id)
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY submit_time"
        for row in self.conn.execute(sql, args):
            yield Record(*row[:8], bool(row[8]), *row[9:])

    def runs(self) -> list[dict[str, Any]]:
        cur = self.conn.execute("SELECT run_id, node_id, scenario, seed, started_at, ended_at, config FROM runs")
        return [
            {"run_id": r[0], "node_id": r[1], "scenario": r[2], "seed": r[3], "started_at": r[4],
             "ended_at": r[5], "config": json.loads(r[6])}
            for r in cur
        ]  # fmt: skip

    def audit(self) -> list[dict[str, Any]]:
        cur = self.conn.execute("SELECT run_id, at, action, actor, details FROM audit ORDER BY at")
        return [{"run_id": r[0], "at": r[1], "action": r[2], "actor": r[3], **json.loads(r[4])} for r in cur]

    def deliveries(self) -> list[dict[str, Any]]:
        cur = self.conn.execute(f"SELECT {', '.join(schema.DELIVERY_COLUMNS)} FROM deliveries ORDER BY at")
        return [dict(zip(schema.DELIVERY_COLUMNS, r)) for r in cur]

    def count(self) -> int:
        return self.conn.execute("SELECT COUNT(*) FROM messages").fetchone()[0]


def prune(path: str | Path, older_than_s: float, now: float | None = None) -> dict[str, int]:
    """Delete records older than `older_than_s` seconds (billing records: keep >= 3 years)."""
    cutoff = (time.time() if now is None else now) - older_than_s
    reader = LedgerReader(path)
    conn = reader.conn
    removed = {}
    with conn:
        removed["finals"] = conn.execute(
            "DELETE FROM finals WHERE rowid IN (SELECT f.rowid FROM finals f JOIN messages m"
            " ON f.run_id = m.run_id AND f.message_id = m.message_id AND f.destination = m.destination"
            " WHERE m.submit_time < ?)", (cutoff,)).rowcount
        removed["messages"] = conn.execute("DELETE FROM messages WHERE submit_time < ?", (cutoff,)).rowcount
        removed["deliveries"] = conn.execute("DELETE FROM deliveries WHERE at < ?", (cutoff,)).rowcount
        removed["audit"] = conn.execute("DELETE FROM audit WHERE at < ?", (cutoff,)).rowcount
    conn.execute("VACUUM")
    reader.close()
    return removed

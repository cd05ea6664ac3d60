"""The ledger's tables and views, in plain SQL that a server database could take as well.

Writes are append-only (one row per submit, one per final state, one per receipt delivery) so the
hot path inserts and never updates; the view joins them for readers. The rows themselves are typed
in records.py, and the column lists below are their fields. No indexes are kept while
writing: readers create what they need (ensure_read_indexes).
"""

from __future__ import annotations

import sqlite3

from .records import AuditRow, DeliveryRow, FinalRow, MessageRow

SCHEMA_VERSION = 1

TABLES = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    node_id TEXT NOT NULL,
    scenario TEXT NOT NULL,
    seed INTEGER NOT NULL,
    started_at REAL NOT NULL,
    ended_at REAL,
    config TEXT NOT NULL               -- the scenario as JSON
);
-- one row per submit_sm / data_sm, and per destination of a submit_multi, refused ones included
CREATE TABLE IF NOT EXISTS messages (
    run_id TEXT NOT NULL,
    message_id TEXT,                   -- NULL when refused at submit
    account TEXT NOT NULL,
    bind_id INTEGER NOT NULL,
    source TEXT NOT NULL,
    destination TEXT NOT NULL,
    category TEXT NOT NULL,            -- verification / notification / promotion
    data_coding INTEGER NOT NULL,
    segments INTEGER NOT NULL,         -- what billing counts
    submit_time REAL NOT NULL,         -- unix seconds
    submit_status INTEGER NOT NULL,    -- command_status answered (0: accepted)
    responded INTEGER NOT NULL,        -- 0: left unanswered on purpose (no_response fault)
    sla_class TEXT NOT NULL,           -- 'pending' for accepted messages until their final row
    reason TEXT NOT NULL,
    decided_by TEXT NOT NULL
);
-- the final state of an accepted message, written before its receipt is sent
CREATE TABLE IF NOT EXISTS finals (
    run_id TEXT NOT NULL,
    message_id TEXT NOT NULL,
    destination TEXT NOT NULL,
    final_state TEXT NOT NULL,         -- DELIVRD, UNDELIV, EXPIRED, DELETED, REJECTD, UNKNOWN
    error_code TEXT NOT NULL,
    done_time REAL NOT NULL,
    sla_class TEXT NOT NULL,
    reason TEXT NOT NULL
);
-- what became of each receipt (and MO) the SMSC had to deliver
CREATE TABLE IF NOT EXISTS deliveries (
    run_id TEXT NOT NULL,
    message_id TEXT,                   -- NULL for MO
    destination TEXT NOT NULL,
    kind TEXT NOT NULL,                -- receipt / intermediate / mo
    state TEXT NOT NULL,               -- the receipt's stat
    result TEXT NOT NULL,              -- acked / expired / overflowed
    attempts INTEGER NOT NULL,
    at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS audit (
    run_id TEXT NOT NULL,
    at REAL NOT NULL,
    action TEXT NOT NULL,              -- bind, unbind, bind.refused, fault.change, mo, ...
    actor TEXT NOT NULL,
    details TEXT NOT NULL              -- JSON
);
CREATE VIEW IF NOT EXISTS message_outcomes AS
SELECT m.run_id, m.message_id, m.account, m.bind_id, m.source, m.destination, m.category,
       m.data_coding, m.segments, m.submit_time, m.submit_status, m.responded, m.decided_by,
       f.final_state, f.error_code, f.done_time,
       COALESCE(f.sla_class, m.sla_class) AS sla_class,
       COALESCE(f.reason, m.reason) AS reason
FROM messages AS m
LEFT JOIN finals AS f
  ON f.run_id = m.run_id AND f.message_id = m.message_id AND f.destination = m.destination;
"""

READ_INDEXES = """
CREATE INDEX IF NOT EXISTS finals_by_message ON finals (run_id, message_id, destination);
CREATE INDEX IF NOT EXISTS messages_by_time ON messages (account, submit_time);
"""

# the tables' insert column lists are the fields of the records (records.py), declared once
MESSAGE_COLUMNS: tuple[str, ...] = MessageRow._fields
FINAL_COLUMNS: tuple[str, ...] = FinalRow._fields
DELIVERY_COLUMNS: tuple[str, ...] = DeliveryRow._fields
AUDIT_COLUMNS: tuple[str, ...] = AuditRow._fields


def insert_sql(table: str, columns: tuple[str, ...]) -> str:
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"


def create(conn: sqlite3.Connection) -> None:
    conn.executescript(TABLES)
    conn.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
    conn.commit()


def ensure_read_indexes(conn: sqlite3.Connection) -> None:
    conn.executescript(READ_INDEXES)
    conn.commit()

"""A ledger file written row by row with the ledger's own schema (simulator/ledger/schema.py), for
pure tests of what reads it (reconcile, the gates): no simulator, no writer process, no sockets.
Each helper returns one typed row (simulator/ledger/records.py), in the schema's column order."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path

from simulator.ledger import schema
from simulator.ledger.records import DeliveryRow, FinalRow, MessageRow

RUN = "run-1"


def message(message_id: str | None, *, status: int = 0, responded: bool = True, sla_class: str = "pending",
            reason: str = "", at: float = 1_790_000_000.0, segments: int = 1, account: str = "qa",
            destination: str = "8613800000001") -> MessageRow:
    """A messages row: accepted (status 0) unless told otherwise."""
    return MessageRow(RUN, message_id, account, 1, "1000", destination, "notification", 0, segments, at, status,
            int(responded), sla_class, reason, "test")


def final(message_id: str, state: str = "DELIVRD", *, sla_class: str = "delivered", reason: str = "",
          at: float = 1_790_000_001.0, destination: str = "8613800000001") -> FinalRow:
    return FinalRow(RUN, message_id, destination, state, "000", at, sla_class, reason)


def delivery(message_id: str | None, *, kind: str = "receipt", result: str = "acked", state: str = "DELIVRD",
             at: float = 1_790_000_002.0, destination: str = "8613800000001") -> DeliveryRow:
    """A deliveries row: a receipt the ESME acknowledged unless told otherwise."""
    return DeliveryRow(RUN, message_id, destination, kind, state, result, 1, at)


def write_ledger(path: Path, messages: Iterable[tuple], finals: Iterable[tuple] = (),
                 deliveries: Iterable[tuple] = ()) -> Path:
    conn = sqlite3.connect(path)
    try:
        schema.create(conn)
        conn.executemany(schema.insert_sql("messages", schema.MESSAGE_COLUMNS), list(messages))
        conn.executemany(schema.insert_sql("finals", schema.FINAL_COLUMNS), list(finals))
        conn.executemany(schema.insert_sql("deliveries", schema.DELIVERY_COLUMNS), list(deliveries))
        conn.commit()
    finally:
        conn.close()
    return path

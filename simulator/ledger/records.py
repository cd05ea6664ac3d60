"""The ledger's records: one typed row per table, and what takes them (a RecordSink).

Owns: MessageRow, FinalRow, DeliveryRow, AuditRow (NamedTuples in their table's column order) and
the RecordSink protocol. The column lists in schema.py are these fields; readers build the
NamedTuples. On the write path a row is a plain tuple in the same order (`Row`): building a
NamedTuple costs ~0.5 us against ~0.04 us for a tuple, three rows per message, and marshal and
orjson take plain tuples only (bench/RESULTS.md, "The redesign", 2026-11-27). Not here: the SQL (schema.py), writing (writer.py), reading
(reader.py), which carrier event makes which row (carrier/recorder.py).
"""

from __future__ import annotations

from typing import Any, NamedTuple, Protocol

Row = tuple[Any, ...]  # a record on the write path: a plain tuple in its NamedTuple's field order


class MessageRow(NamedTuple):
    """One submit_sm / data_sm, or one destination of a submit_multi, refused ones included."""

    run_id: str
    message_id: str | None  # None when refused at submit
    account: str
    bind_id: int
    source: str
    destination: str
    category: str  # verification / notification / promotion
    data_coding: int
    segments: int  # what billing counts
    submit_time: float  # Unix seconds
    submit_status: int  # command_status answered (0: accepted)
    responded: int  # 0: left unanswered on purpose (the no_response fault)
    sla_class: str  # "pending" for accepted messages until their FinalRow
    reason: str
    decided_by: str


class FinalRow(NamedTuple):
    """The final state of an accepted message, written before its receipt is sent."""

    run_id: str
    message_id: str
    destination: str
    final_state: str  # DELIVRD, UNDELIV, EXPIRED, DELETED, REJECTD, UNKNOWN
    error_code: str
    done_time: float  # Unix seconds
    sla_class: str
    reason: str


class DeliveryRow(NamedTuple):
    """What became of one receipt (or MO) the SMSC had to deliver."""

    run_id: str
    message_id: str | None  # None for MO
    destination: str
    kind: str  # receipt / intermediate / mo
    state: str  # the receipt's stat
    result: str  # acked / expired / overflowed / unsendable
    attempts: int
    at: float  # Unix seconds


class AuditRow(NamedTuple):
    """One operation: a bind, an unbind, a refused login, a control change, an MO injection."""

    run_id: str
    at: float  # Unix seconds
    action: str
    actor: str
    details: str  # JSON


class RecordSink(Protocol):
    """Takes every record the carrier makes, as it is made: the ledger writer, the MQTT tap.
    Called on the SMPP hot path: append and return; never block, never raise."""

    def on_message(self, row: Row) -> None: ...  # MessageRow's fields

    def on_final(self, row: Row) -> None: ...  # FinalRow's fields

    def on_delivery(self, row: Row) -> None: ...  # DeliveryRow's fields


__all__ = ["MessageRow", "FinalRow", "DeliveryRow", "AuditRow", "RecordSink", "Row"]

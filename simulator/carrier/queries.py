"""Queries: query_sm, cancel_sm and replace_sm on the messages the carrier still holds.

Owns: finding an account's message by id (or by addresses, for cancel_sm), the answers of these
three operations, a cancelled message's DELETED final state, a replaced message's new schedule and
validity (refused ESME_RINVSCHED / ESME_RINVEXPIRY by validity.py's rules). A scheduled message not
yet due is ENROUTE to query_sm (SMPP 3.4 has no SCHEDULED state; 5.0's is 0). Not here: the store
(messages.py), recording the final state and its receipt (recorder.py, receipts.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from simulator.faults.outcome import prevails
from simulator.smpp.constants import CommandStatus as S
from simulator.smpp.constants import MessageState
from simulator.smpp.times import format_absolute

from .connection import SmscConnection
from .messages import Message, MessageStore
from .receipts import Receipts
from .recorder import Recorder
from .validity import Validity


class Queries:
    """query_sm / cancel_sm / replace_sm for one carrier."""

    def __init__(self, store: MessageStore, recorder: Recorder, receipts: Receipts,
                 clock: Callable[[], float], validity: Validity | None = None) -> None:
        self.store = store
        self.recorder = recorder
        self.receipts = receipts
        self.clock = clock
        self.validity = validity or Validity()

    def _find(self, conn: SmscConnection, pdu: Any) -> tuple[list[Message], int]:
        messages = self.store.get(pdu.message_id)
        account = conn.account.config.system_id if conn.account else None
        messages = [m for m in messages if m.account == account]
        if not messages:
            return [], S.ESME_RINVMSGID
        if pdu.source_addr and all(m.source != pdu.source_addr for m in messages):
            return [], S.ESME_RINVSRCADR
        return messages, 0

    def on_query_sm(self, conn: SmscConnection, pdu: Any) -> None:
        messages, status = self._find(conn, pdu)
        if status:
            conn.send(pdu.response(status=status, message_id=pdu.message_id))
            return
        message = messages[0]
        final_date = ""
        if message.is_final and message.done_wall is not None:
            final_date = format_absolute(message.done_wall)
        error = message.outcome.error_code if message.state is not MessageState.DELIVERED else "0"
        conn.send(
            pdu.response(
                message_id=message.message_id,
                final_date=final_date,
                message_state=int(message.state),
                error_code=int(error) & 0xFF if error.isdigit() else 0,
            )
        )

    def on_cancel_sm(self, conn: SmscConnection, pdu: Any) -> None:
        if pdu.message_id:
            messages, status = self._find(conn, pdu)
            if status:
                conn.send(pdu.response(status=status))
                return
        else:
            account = conn.account.config.system_id if conn.account else None
            messages = [
                m
                for m in self.store.pending()
                if m.account == account and m.source == pdu.source_addr and m.destination == pdu.destination_addr
            ]
            if not messages:
                conn.send(pdu.response(status=S.ESME_RCANCELFAIL))
                return
        pending = [m for m in messages if not m.is_final]
        if not pending:
            conn.send(pdu.response(status=S.ESME_RCANCELFAIL))
            return
        now = self.clock()
        for message in pending:
            message.finish(MessageState.DELETED, now)
        conn.send(pdu.response())
        for message in pending:
            outcome = message.outcome  # a cancel is an excluded cause: it never hides an invalid number
            cls, reason = ("excluded", "cancelled_by_customer") if prevails("excluded", outcome.sla_class) \
                else (outcome.sla_class.value, outcome.reason)
            self.recorder.final(message, cls, reason, self.receipts.send_deleted_receipt)

    def on_replace_sm(self, conn: SmscConnection, pdu: Any) -> None:
        messages, status = self._find(conn, pdu)
        if status:
            conn.send(pdu.response(status=status))
            return
        pending = [m for m in messages if not m.is_final]
        if not pending:
            conn.send(pdu.response(status=S.ESME_RREPLACEFAIL))
            return
        timed = bool(pdu.schedule_delivery_time or pdu.validity_period)
        if timed:
            now, wall, first = self.clock(), time.time(), pending[0]
            start, expires, status = self.validity.replaced(pdu.schedule_delivery_time, pdu.validity_period,
                                                            first.start_at, first.expires_at, now, wall)
            if status:
                conn.send(pdu.response(status=status))
                return
        for message in pending:
            message.body = pdu.short_message
            if pdu.registered_delivery:
                message.registered_delivery = pdu.registered_delivery
            if timed:
                message.start_at, message.expires_at = start, expires
                self.receipts.arm(message)
        conn.send(pdu.response())


"""The carrier's records: every MessageRow, FinalRow and DeliveryRow is built here, once, and handed
to each RecordSink: the observers (the MQTT tap) and the ledger writer, which alone can also call
back once a row is durable (durable before acknowledged).

Owns: building rows from messages, outcomes and deliveries; the one `recording` test (no row is
built when nobody takes it); the log line of a final or delivery the ledger refused. Not here: the
columns (ledger/records.py), what waits for a commit (answers.py, receipts.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from simulator.faults.outcome import Outcome, SlaClass
from simulator.ledger.records import RecordSink, Row
from simulator.ledger.writer import LedgerWriteError, LedgerWriter
from simulator.logsummary import LogSummary
from simulator.smpp.constants import MessageState

from .delivery import PendingDelivery
from .messages import Message

log = logging.getLogger("carrier_sim.smsc")
_STAT = {state: state.stat for state in MessageState}  # plain dict lookups on the hot path
_ENROUTE = MessageState.ENROUTE.stat
# An accepted message's row is "pending" until its final; its reason names a cause decided at submit
# that ranks above a definite failure (an invalid number, an excluded cause) with its class, so the
# metering's pending policy (metering/meter.py) never turns a message that never got its final into a failure
# the precedence forbids: "invalid_number:powered_off", "excluded:<cause>"; "" for a valid number
# with no such cause.
_ABOVE_FAILURE = {SlaClass.INVALID_NUMBER: "invalid_number:", SlaClass.EXCLUDED: "excluded:"}


class Recorder:
    """Builds the carrier's rows and writes each to every sink once."""

    def __init__(self, ledger: LedgerWriter | None) -> None:
        self.ledger = ledger  # when set, a submit is answered only once its record is committed
        self.run_id = ledger.run_id if ledger is not None else ""
        # observers of every record (the MQTT publisher's tap): on_message(row), on_final(row),
        # on_delivery(row), in the order they were made; the ledger is not one of them
        self.observers: list[RecordSink] = []
        self.unrecorded = LogSummary(log, "carrier", "final state or delivery not recorded",
                                     "final states and deliveries not recorded", level=logging.ERROR)

    @property
    def recording(self) -> bool:
        """Whether anyone takes rows (else none is built)."""
        return self.ledger is not None or bool(self.observers)

    # ---------------------------------------------------------------- messages
    def message_row(self, message: Message, outcome: Outcome) -> Row:
        """The row of a submit (accepted when message.message_id is set by now, else refused)."""
        refused = outcome.submit_status != 0
        return (  # MessageRow's fields, a plain tuple (ledger/records.py says why)
            self.run_id, message.message_id or None, message.account, message.bind_id, message.source,
            message.destination, outcome.category or "notification", message.data_coding, message.segments,
            message.submit_wall, int(outcome.submit_status), 1 if outcome.respond else 0,
            outcome.sla_class.value if refused else "pending",
            outcome.reason if refused else (_ABOVE_FAILURE[outcome.sla_class] + outcome.reason
                                            if outcome.sla_class in _ABOVE_FAILURE else ""),
            outcome.decided_by,
        )  # fmt: skip

    def invalid_request_row(self, account: str, bind_id: int, pdu: Any, destination: str, status: int) -> Row:
        """The row of a request that is not a valid message (no destination, two bodies, ...)."""
        return (self.run_id, None, account, bind_id, pdu.source_addr, destination, "", pdu.data_coding, 1,
                          time.time(), int(status), 1, SlaClass.EXCLUDED.value, "invalid_request", "carrier")

    def observe_message(self, row: Row) -> None:
        """Hand a message row to the observers only (there is no ledger)."""
        for observer in self.observers:
            observer.on_message(row)

    def message(self, row: Row, then: Callable[[Any], None] | None = None, arg: Any = None,
                lost: Callable[[Any], None] | None = None) -> None:
        """Hand a message row to the observers, then to the ledger, which runs `then(arg)` once the
        row is durable, or `lost(arg)` if its commit is rolled back. Raises LedgerWriteError when the
        ledger failed, LedgerUnavailable/LedgerBusy (with `lost`) while it fails or is behind (the
        observers have it)."""
        for observer in self.observers:
            observer.on_message(row)
        assert self.ledger is not None, "message() needs a ledger; observe_message() without one"
        self.ledger.add_message(row, then, arg, lost)

    def companions(self, rows: list[Row]) -> None:
        """The rows of a submit_multi's other destinations, recorded before the row its response waits
        for (answers.py): they share its fate, given up with it if their commit is rolled back, and
        not recorded when the ledger refuses it now (it is refused the same way, and answered)."""
        if self.ledger is None:
            for row in rows:
                self.observe_message(row)
            return
        try:
            for row in rows:
                self.message(row, _ignore, None, _ignore)
        except LedgerWriteError:
            pass  # answers.py is refused the last row as well, and answers ESME_RSYSERR/ESME_RMSGQFUL

    # ---------------------------------------------------------------- finals
    def final(self, message: Message, sla_class: str, reason: str, then: Callable[[Message], None] | None) -> None:
        """Record the message's final state; `then(message)` runs once it is durable (at once when no
        ledger takes it; never when the ledger refused it, which is logged)."""
        if not self.recording:
            if then is not None:
                then(message)
            return
        ledger = self.ledger
        state = message.state
        row = (self.run_id, message.message_id, message.destination, _STAT[state],  # FinalRow's fields
                       message.outcome.error_code if state is not MessageState.DELIVERED else "000",
                       message.done_wall, sla_class, reason)  # type: ignore[arg-type]
        for observer in self.observers:
            observer.on_final(row)
        if ledger is None:
            if then is not None:
                then(message)
            return
        try:
            ledger.add_final(row, then, message)
        except LedgerWriteError as exc:
            self.unrecorded.add(str(exc))

    # ---------------------------------------------------------------- deliveries
    def delivery(self, item: PendingDelivery, result: str) -> None:
        """Record what became of a deliver_sm: acked / expired / overflowed / unsendable."""
        if not self.recording:
            return
        message = item.message
        if message is not None:
            state = _ENROUTE if item.kind == PendingDelivery.INTERMEDIATE else message.state.stat
            row = (self.run_id, message.message_id, message.destination, item.kind, state, result,  # DeliveryRow's
                              item.attempts, time.time())
        else:
            row = (self.run_id, None, item.pdu.destination_addr, item.kind, "", result, item.attempts,
                              time.time())
        for observer in self.observers:
            observer.on_delivery(row)
        if self.ledger is not None:
            try:
                self.ledger.add_delivery(row)
            except LedgerWriteError as exc:
                self.unrecorded.add(str(exc))


def _ignore(_: Any) -> None:
    """What a submit_multi's other rows do on their commit or its rollback: their submit's row acts."""

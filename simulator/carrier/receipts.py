"""Receipts: an accepted message's life after its submit_sm_resp, to its final state and receipts.

Owns: the final-state timer of each message (its timeline starts at its scheduled time; past its
validity it ends EXPIRED at its expiry time, see `expired`), the final record before its receipt
(durable before the receipt is queued), receipt deliver_sm (final, intermediate ENROUTE,
duplicates, DELETED), the parking of every deliver_sm about a message until its submit_sm_resp is
written (Message.parked), and what the ESME answers to a deliver_sm. Not here: the deliver_sm
queue and its retries (delivery.py DeliveryRouter), the rows (recorder.py), the response itself
(answers.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from simulator.faults.outcome import Outcome, SlaClass, message_text, prevails
from simulator.logsummary import LogSummary
from simulator.smpp.constants import CommandStatus as S
from simulator.smpp.constants import EsmClass, MessageState, RegisteredDelivery
from simulator.smpp.pdu import DeliverSm, Pdu
from simulator.smpp.receipt import receipt_text_fast, receipt_tlvs_fast

from .accounts import AccountState
from .connection import SmscConnection
from .decider import Decider
from .delivery import PendingDelivery
from .messages import About, Message, each
from .recorder import Recorder
from .stats import CarrierStats
from .supervisor import Supervisor

log = logging.getLogger("carrier_sim.smsc")
_CLASS_VALUE = {c: c.value for c in SlaClass}
_RECEIPT = int(EsmClass.DELIVERY_RECEIPT)
_INTERMEDIATE = int(EsmClass.INTERMEDIATE_NOTIFICATION)
_EARLY = 0.001  # a timer may fire a few float ulps before its due time: not a stale one


class Receipts:
    """Final states and receipts of accepted messages, for every account of one carrier."""

    def __init__(self, accounts: dict[str, AccountState], decider: Decider, recorder: Recorder,
                 stats: CarrierStats, supervisor: Supervisor, clock: Callable[[], float],
                 schedule: Callable[[float, Callable[[Any], None], Any], None], receipt_ttl: float) -> None:
        self.accounts = accounts
        self.decider = decider
        self.recorder = recorder
        self.stats = stats
        self.supervisor = supervisor
        self.clock = clock
        self.schedule = schedule
        self.receipt_ttl = receipt_ttl
        self.dropped = LogSummary(log, "carrier", "receipt or MO dropped", "receipts and MO dropped")

    # ---------------------------------------------------------------- message life
    def start(self, message: Message, now: float) -> None:
        """An accepted message: its ENROUTE notification if asked for, and its final state's timer."""
        if RegisteredDelivery.wants_intermediate(message.registered_delivery):
            self.queue_receipt(message, MessageState.ENROUTE, intermediate=True)
        self.arm(message)

    def arm(self, message: Message) -> None:
        """The final state's timer: the outcome's delay (and hold) from the start of its delivery (its
        scheduled time, else its submit), or its expiry if that comes first. replace_sm re-arms it
        with new times: a timer that fires before the message's time is then a stale one."""
        outcome = message.outcome
        due = message.start_at + outcome.receipt_delay
        if outcome.hold_until:
            due = max(due, self.decider.started_at + outcome.hold_until)
        message.due = due
        self.schedule(due if due <= message.expires_at else message.expires_at, self._finish, message)

    def _finish(self, message: Message) -> None:
        if message.is_final:  # cancelled meanwhile
            return
        now = self.clock()
        due, expires = message.due, message.expires_at
        if now + _EARLY < (due if due <= expires else expires):
            return  # a replace_sm moved its time later: the timer armed then fires it
        if due > expires:
            message.outcome = expired(message.outcome)
        outcome = message.outcome
        state = outcome.final_state
        message.finish(state, now)
        rd = message.registered_delivery
        wanted = rd & 3 and RegisteredDelivery.wants_receipt(rd, state is MessageState.DELIVERED)
        self.recorder.final(message, _CLASS_VALUE[outcome.sla_class], outcome.reason,
                            self.send_final_receipts if wanted else None)

    def send_final_receipts(self, message: Message) -> None:
        """Queue the final receipt (and the copies a duplicate fault asks for); called only when the
        message's registered_delivery wants one, once its final state is durable."""
        outcome = message.outcome
        for _ in range(1 + outcome.duplicate_receipts):
            self.queue_receipt(message, outcome.final_state)

    def send_deleted_receipt(self, message: Message) -> None:
        if RegisteredDelivery.wants_receipt(message.registered_delivery, False):
            self.queue_receipt(message, MessageState.DELETED)

    def queue_receipt(self, message: Message, state: MessageState, intermediate: bool = False) -> None:
        account = self.accounts.get(message.account)
        if account is None:
            return
        done = message.done_wall or time.time()
        err = message.outcome.error_code if state is not MessageState.DELIVERED else "000"
        text = receipt_text_fast(message.message_id, state, err, message.submit_wall, done, _receipt_text(message))
        pdu = DeliverSm(
            source_addr=message.destination,
            destination_addr=message.source,
            esm_class=_INTERMEDIATE if intermediate else _RECEIPT,
            short_message=text.encode("ascii", "replace"),
            tlvs=receipt_tlvs_fast(message.message_id, state, err),
        )
        kind = PendingDelivery.INTERMEDIATE if intermediate else PendingDelivery.RECEIPT
        self.stats.receipts += 1
        item = PendingDelivery(pdu, kind, message, self.clock(), self.receipt_ttl)
        parked = message.parked
        if parked is None:
            account.router.enqueue(item)
        elif parked:
            parked.append(item)  # type: ignore[union-attr]
        else:  # the first to wait for the submit_sm_resp
            message.parked = [item]

    def release(self, about: About, conn: SmscConnection | None) -> None:
        """The response about these messages is written (or never will be): what waited for it goes
        to the receivers now, after the response's bytes (`conn` is flushed first when it waits)."""
        for message in each(about):
            parked, message.parked = message.parked, None
            if parked:
                if conn is not None and conn.transport is not None:
                    conn.flush()
                    conn = None
                account = self.accounts.get(message.account)
                if account is not None:
                    for item in parked:
                        account.router.enqueue(item)

    # ---------------------------------------------------------------- what the ESME answers
    def on_delivery_response(self, conn: SmscConnection, pdu: Pdu) -> None:
        item = conn.deliveries.pop(pdu.sequence, None)
        if item is None or conn.account is None:
            return
        conn.account.router.on_response(item, pdu.status)

    def on_generic_nack(self, conn: SmscConnection, pdu: Pdu) -> None:
        item = conn.deliveries.pop(pdu.sequence, None)
        if item is not None and conn.account is not None:
            conn.account.router.on_response(item, pdu.status or S.ESME_RUNKNOWNERR)

    def delivery_done(self, item: PendingDelivery, how: str) -> None:
        """The router is done with a deliver_sm: acked, expired, overflowed or unsendable."""
        self.recorder.delivery(item, how)
        if how != "acked":  # one line every 10 s at most, however many
            self.dropped.add(f"last: {item.kind} for {item.message.message_id if item.message else 'an MO'} {how}")

    def delivery_failed(self, item: PendingDelivery, exc: Exception) -> None:
        """A deliver_sm could not be sent (encoded): it is dropped, counted "unsendable"."""
        about = item.message.message_id if item.message is not None else "an MO"
        self.supervisor.report(f"sending a {item.kind} deliver_sm", exc, f"for {about}")


def expired(outcome: Outcome) -> Outcome:
    """The outcome of a message whose final state would come after its expiry: EXPIRED (at its
    expiry time), with the error of the failure it was heading for (e.g. 027, absent subscriber),
    else 000. Its SLA class follows outcome.PRECEDENCE: a delivery the provider let run out of
    validity is a definite failure ("expired"); an invalid number or an excluded cause stays so,
    and a definite failure keeps its own reason."""
    sla_class, reason = outcome.sla_class, outcome.reason
    if prevails(SlaClass.DEFINITE_FAILURE, sla_class):
        sla_class, reason = SlaClass.DEFINITE_FAILURE, "expired"
    error = outcome.error_code if outcome.final_state is not MessageState.DELIVERED else "000"
    return replace(outcome, final_state=MessageState.EXPIRED, error_code=error, sla_class=sla_class,
                   reason=reason)


def _receipt_text(message: Message) -> str:
    """The first 20 characters of the message for the receipt's text: field, in printable ASCII."""
    text = message_text(message.body[:254], message.data_coding, message.esm_class)[:20]
    return text if text.isascii() and text.isprintable() else "".join(
        c if c.isascii() and c.isprintable() else "?" for c in text
    )

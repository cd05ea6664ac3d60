"""Answers to submits: a submit_sm_resp (or its fault: a generic_nack, a drop, a cut) goes out once
the submit's record is durable and its response delay is over, and exactly once, whatever breaks.

Owns: a link's window accounting (LinkStats.outstanding: submits taken in charge and not answered
yet, what faults see of the window), the link actions of faults, and the ESME_RSYSERR answer when
writing a response fails. Not here: what the response says (submits.py), the notifications that
wait for it (receipts.py release), the row (recorder.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from simulator.faults.outcome import Outcome
from simulator.ledger.writer import LedgerBusy, LedgerUnavailable, LedgerWriteError
from simulator.logsummary import LogSummary
from simulator.smpp.constants import CommandStatus as S
from simulator.smpp.constants import MessageState
from simulator.smpp.pdu import GenericNack, Pdu
from simulator.smpp.session import BindState

from .connection import SmscConnection
from .messages import About, each
from .recorder import Recorder
from .receipts import Receipts
from .stats import CarrierStats
from .supervisor import Supervisor

log = logging.getLogger("carrier_sim.smsc")
Reply = tuple[SmscConnection, Pdu, Outcome, About]  # what waits for a commit or a response delay


class Answers:
    """Writes each submit's response when it may go out; the only writer of LinkStats.outstanding."""

    def __init__(self, recorder: Recorder, receipts: Receipts, stats: CarrierStats, supervisor: Supervisor,
                 clock: Callable[[], float], schedule: Callable[[float, Callable[[Any], None], Any], None]) -> None:
        self.recorder = recorder
        self.receipts = receipts
        self.stats = stats
        self.supervisor = supervisor
        self.clock = clock
        self.schedule = schedule
        self.unrecorded = LogSummary(log, "carrier", "submit refused with ESME_RSYSERR: cannot record it",
                                     "submits refused with ESME_RSYSERR: cannot record them", level=logging.ERROR)

    def answer(self, conn: SmscConnection, resp: Pdu, outcome: Outcome, row: Any, about: About = None) -> None:
        """Answer a submit once its record (`row`, None when nothing records) is durable: at once when
        there is no ledger. `about`: the message(s) the response gives an id to; their notifications
        wait for it (Receipts.release)."""
        recorder = self.recorder
        if recorder.ledger is None or row is None:
            if row is not None:
                recorder.observe_message(row)
            self.respond(conn, resp, outcome, about)
            conn.answering = resp.sequence  # answered, or it will be (see SmscConnection._handler_failed)
            return
        self._held(conn)  # unanswered until the commit: it counts in the window
        try:
            recorder.message(row, self._when_durable, (conn, resp, outcome, about), self._when_lost)
        except LedgerWriteError as exc:  # fail closed: refused now, nothing about it acknowledged
            self._released(conn)
            status = S.ESME_RMSGQFUL if isinstance(exc, LedgerBusy) else S.ESME_RSYSERR
            if not isinstance(exc, (LedgerUnavailable, LedgerBusy)):  # those the ledger counts itself
                self.unrecorded.add(str(exc))
            self._give_up(about)
            self.respond(conn, type(resp)(sequence=resp.sequence, status=status), outcome, about)
        conn.answering = resp.sequence

    # ---------------------------------------------------------------- the window
    @staticmethod
    def _held(conn: SmscConnection) -> None:
        """A response waits (for a commit or a delay): the submit counts in the link's window."""
        link = conn.link
        if link is not None:
            link.outstanding += 1

    @staticmethod
    def _released(conn: SmscConnection) -> None:
        link = conn.link
        if link is not None:
            link.outstanding -= 1

    # ---------------------------------------------------------------- the way out
    def _when_durable(self, reply: Reply) -> None:
        conn, resp, outcome, about = reply
        self._released(conn)
        if conn.transport is not None and not conn.closing:
            self.respond(conn, resp, outcome, about)
        else:
            self.receipts.release(about, None)

    def _when_lost(self, reply: Reply) -> None:
        """The submit's record was rolled back (the ledger cannot write): ESME_RSYSERR, never an id."""
        conn, resp, outcome, about = reply
        self._released(conn)
        self._give_up(about)
        if conn.transport is not None and not conn.closing:
            self.respond(conn, type(resp)(sequence=resp.sequence, status=S.ESME_RSYSERR), outcome, about)
        else:
            self.receipts.release(about, None)

    def _give_up(self, about: About) -> None:
        """Messages refused after all (their record could not be written): no notification about
        them, no final state timer (Receipts._finish skips a final message)."""
        for message in each(about):
            message.parked = None
            message.registered_delivery = 0
            if not message.is_final:
                message.finish(MessageState.REJECTED, self.clock())

    def respond(self, conn: SmscConnection, resp: Pdu, outcome: Outcome, about: About = None) -> None:
        if not outcome.respond:
            self.stats.unanswered += 1
            self.receipts.release(about, None)  # no response on purpose: its notifications need not wait
            return
        if outcome.response_delay > 0:
            try:
                self.schedule(self.clock() + outcome.response_delay, self._when_late, (conn, resp, outcome, about))
            except (OverflowError, ValueError) as exc:  # a delay that is not a finite number
                self._failed(conn, resp, about, exc)
                return
            self._held(conn)
        else:
            self._write(conn, resp, outcome, about)

    def _when_late(self, reply: Reply) -> None:
        conn, resp, outcome, about = reply
        self._released(conn)
        if not conn.closing and conn.session.state is not BindState.CLOSED:
            self._write(conn, resp, outcome, about)
        else:
            self.receipts.release(about, None)

    def _write(self, conn: SmscConnection, resp: Pdu, outcome: Outcome, about: About = None) -> None:
        action = outcome.link_action
        try:  # free unless it raises (CPython 3.11's zero-cost exceptions)
            if not action:
                conn.send(resp)
            elif action == "nack":
                conn.send(GenericNack(sequence=resp.sequence,
                                      status=outcome.submit_status or resp.status or S.ESME_RSYSERR))
            elif action == "drop":
                conn.send(resp)
                self.stats.dropped_links += 1
                conn.close()
            elif action == "reset_mid_pdu":
                self.stats.dropped_links += 1
                conn.reset_mid_pdu(resp)
            else:  # pragma: no cover - faults only set the actions above
                raise ValueError(f"unknown link action {action!r}")
        except Exception as exc:  # noqa: BLE001 - exactly one answer per request, whatever broke
            self._failed(conn, resp, about, exc)
            return
        if about is not None:
            self.receipts.release(about, conn)

    def _failed(self, conn: SmscConnection, resp: Pdu, about: About, exc: Exception) -> None:
        """A submit's response could not be written (nor scheduled): answer ESME_RSYSERR instead, and
        give up the message(s) it was about: no id was given, so no receipt may follow; their final
        state is recorded as excluded, "simulator_error"."""
        self.supervisor.report("answering a submit", exc, resp.name)
        try:
            conn.send(type(resp)(sequence=resp.sequence, status=S.ESME_RSYSERR))
        except Exception as again:  # noqa: BLE001 - reported; nothing more can be done for it
            self.supervisor.report("answering a submit with ESME_RSYSERR", again, resp.name)
        now = self.clock()
        for message in each(about):
            message.parked = None  # what waited for the response is dropped with it
            message.registered_delivery = 0
            if not message.is_final:
                message.finish(MessageState.REJECTED, now)
                self.recorder.final(message, "excluded", "simulator_error", None)

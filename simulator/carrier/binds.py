"""Binds: who may bind and as what, and what a bind, an unbind or a lost connection changes.

Owns: checking a bind against the account (system_id, password, bind type, max_binds) and asking
the decider's bind faults; the bind and unbind audit entries (refused binds: bind_guard.py, which
also slows and closes bind guessers); a bind's LinkStats;
adding and removing receivers at the account's deliver_sm queue; enquire_link both ways.
Not here: bind states (smpp/session.py), bind timeouts and idle links (housekeeping.py),
the account's state (accounts.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from simulator.faults.outcome import LinkStats
from simulator.smpp.constants import CommandId as C
from simulator.smpp.constants import CommandStatus as S
from simulator.smpp.constants import Tag, status_name
from simulator.smpp.pdu import Pdu
from simulator.smpp.session import BindState

from .accounts import AccountState
from .bind_guard import BindGuard
from .connection import SmscConnection
from .decider import Decider
from .stats import CarrierStats

log = logging.getLogger("carrier_sim.smsc")

BIND_TYPES = {
    C.bind_transmitter: "transmitter",
    C.bind_receiver: "receiver",
    C.bind_transceiver: "transceiver",
}
RECEIVING = ("receiver", "transceiver")  # the bind types a deliver_sm may go to
SC_INTERFACE_VERSION = {Tag.sc_interface_version: b"\x34"}


class Binds:
    """Binds and unbinds at one carrier's accounts."""

    def __init__(self, system_id: str, accounts: dict[str, AccountState], decider: Decider, stats: CarrierStats,
                 clock: Callable[[], float], audit: Callable[..., None], guard: BindGuard | None = None) -> None:
        self.system_id = system_id  # the carrier's, in every bind response
        self.accounts = accounts
        self.decider = decider
        self.stats = stats
        self.clock = clock
        self.audit = audit  # Smsc.audit(action, actor, **details)
        self.guard = guard  # bind protection and the refused-bind audit rows; None: every refusal audited

    def on_bind(self, conn: SmscConnection, pdu: Any) -> None:
        guard = self.guard
        wait, look = guard.delay(conn.peer) if guard is not None else (0.0, True)
        if wait <= 0:
            self._bind(conn, pdu, held=False)
            return
        # the peer's address is slowed (bind_guard.py): this bind is looked at after `wait`, and the
        # connection reads nothing meanwhile (its session is paused on the bind anyway)
        if conn.transport is not None:
            conn.transport.pause_reading()
        asyncio.get_running_loop().call_later(wait, self._bind_held, conn, pdu, look)

    def _bind_held(self, conn: SmscConnection, pdu: Any, look: bool) -> None:
        if conn.closing or conn.transport is None:
            return
        try:
            self._bind(conn, pdu, held=True, look=look)
        except Exception as exc:  # noqa: BLE001 - answered and reported, as a handler's failure is
            conn._handler_failed(pdu, exc)
        if conn.closing or conn.transport is None:
            return
        conn.transport.resume_reading()
        conn.data_received(b"")  # the answer goes out, then what came behind the bind

    def _bind(self, conn: SmscConnection, pdu: Any, held: bool, look: bool = True) -> None:
        bind_type = BIND_TYPES[pdu.command_id]
        account = self.accounts.get(pdu.system_id)
        credentials = False  # refused for who it claims to be, not for what it asks
        if not look:  # its address has too many binds waiting already (bind_guard.py)
            status, credentials = S.ESME_RBINDFAIL, True
        elif account is None:
            status, credentials = S.ESME_RINVSYSID, True
        elif pdu.password != account.config.password:
            status, credentials = S.ESME_RINVPASWD, True
        elif bind_type not in account.config.bind_types:
            status = S.ESME_RBINDFAIL
        elif len(account.binds) >= account.config.max_binds:
            status = S.ESME_RBINDFAIL
        else:
            status = self.decider.decide_bind(pdu.system_id, bind_type, self.clock())
        close = False
        if self.guard is not None:
            answer, close = self.guard.answered(conn, status, held, pdu.system_id, bind_type, credentials)
        else:
            answer = status
            if status != S.ESME_ROK:
                self.audit("bind.refused", conn.peer, system_id=pdu.system_id, bind_type=bind_type,
                           status=status_name(status))
        if status != S.ESME_ROK:
            self.stats.bind_failures += 1
            conn.send(pdu.response(status=answer, system_id=self.system_id))
            if close:
                conn.close_lingering()
            return
        assert account is not None
        conn.send(pdu.response(system_id=self.system_id, tlvs=dict(SC_INTERFACE_VERSION)))
        conn.account = account
        conn.bind_type = bind_type
        conn.link = LinkStats(conn.id, pdu.system_id, bind_type, self.clock())
        account.binds.add(conn)
        self.stats.binds += 1
        self.audit("bind", conn.peer, system_id=pdu.system_id, bind_type=bind_type, bind_id=conn.id)
        log.info("bound %s as %s, conn %d from %s", pdu.system_id, bind_type, conn.id, conn.peer)
        if bind_type in RECEIVING:
            account.router.add_receiver(conn)

    def on_unbind(self, conn: SmscConnection, pdu: Pdu) -> None:
        if conn.account is not None and conn.bind_type in RECEIVING:
            conn.account.router.remove_receiver(conn)  # unacknowledged deliveries go to other binds
        conn.send(pdu.response())  # the session is CLOSED now; the connection closes after the flush

    def on_unbind_resp(self, conn: SmscConnection, pdu: Pdu) -> None:
        if conn.session.state is BindState.CLOSED:  # the answer to our unbind; a stray one ends nothing
            conn.close()

    def on_enquire_link(self, conn: SmscConnection, pdu: Pdu) -> None:
        conn.send(pdu.response())

    def on_enquire_link_resp(self, conn: SmscConnection, pdu: Pdu) -> None:
        if pdu.sequence == conn.enquire_sequence:
            conn.enquire_sent_at = None

    def closed(self, conn: SmscConnection) -> None:
        """The connection is gone: it leaves its account (its unacknowledged deliver_sm go to others)."""
        account = conn.account
        if account is not None:
            account.binds.discard(conn)
            if conn.bind_type in RECEIVING:
                account.router.remove_receiver(conn)
            self.audit("unbind", conn.peer, system_id=account.config.system_id, bind_type=conn.bind_type,
                       bind_id=conn.id, orderly=conn.session.state is BindState.CLOSED)
            log.info("unbound %s (%s) conn %d from %s", account.config.system_id, conn.bind_type, conn.id, conn.peer)
            conn.account = None

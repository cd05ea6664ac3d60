"""One ESME connection: a thin asyncio Protocol around the sans-IO SmppSession.

Owns: the socket, write batching (what is sent while handling received bytes goes out in one write
at their end; anything else on the next loop turn), back-pressure, and the answer of a request whose
handler raised. It frames nothing and validates nothing itself (the session does) and decides
nothing (it hands each PDU to its ConnectionOwner, the Smsc). It must never block the loop, and a
handler that raises must not take the connection down: it is reported and the request answered.
Not here: what the PDUs mean (smsc.py and its collaborators), bind states (smpp/session.py).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import socket
import struct
from collections.abc import Callable
from typing import Protocol

from simulator.smpp.constants import CommandId, CommandStatus
from simulator.smpp.pdu import GenericNack, Pdu
from simulator.smpp.session import BindState, ProtocolViolation, Role, SmppSession

from simulator.faults.outcome import LinkStats

from .accounts import AccountState
from .delivery import PendingDelivery
from .stats import CarrierStats
from .supervisor import Supervisor

log = logging.getLogger("carrier_sim.connection")
_ids = itertools.count(1)


class ConnectionOwner(Protocol):
    """What a connection needs of the SMSC it belongs to (smsc.py Smsc)."""

    clock: Callable[[], float]
    stats: CarrierStats
    supervisor: Supervisor

    def connection_opened(self, conn: "SmscConnection") -> None: ...

    def connection_closed(self, conn: "SmscConnection", exc: Exception | None) -> None: ...

    def dispatch(self, conn: "SmscConnection", pdu: Pdu) -> None: ...


class SmscConnection(asyncio.Protocol):
    """The SMSC's end of one TCP connection."""

    def __init__(self, owner: ConnectionOwner) -> None:
        self.owner = owner
        self.id = next(_ids)
        self.session = SmppSession(Role.SMSC)
        self.transport: asyncio.Transport | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.peer = ""
        self.account: AccountState | None = None
        self.bind_type = ""
        self.link: LinkStats | None = None  # set when bound; what faults see of this bind
        self.deliveries: dict[int, PendingDelivery] = {}  # sequence -> deliver_sm in flight
        now = owner.clock()
        self.opened_at = now
        self.last_received = now
        self.enquire_sent_at: float | None = None
        self.enquire_sequence = 0
        self.closing = False
        self._in_batch = False  # handling received bytes: what is sent goes out at their end
        self._flush_due = False  # a flush is scheduled for the next loop turn
        self.answering = -1  # the sequence of the last submit whose answer the Smsc took charge of
        self.bind_failures = 0  # refused binds for their credentials (bind_guard.py closes at its maximum)

    # ---------------------------------------------------------------- asyncio callbacks
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self._loop = asyncio.get_running_loop()
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        peer = transport.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if peer else "?"
        self.owner.connection_opened(self)

    def data_received(self, data: bytes) -> None:
        if self.closing:
            return  # closing with linger: what still comes is discarded
        self.last_received = self.owner.clock()
        session = self.session
        self._in_batch = True
        try:
            events = session.receive_data(data)
            while events:
                dispatch = self.owner.dispatch
                for event in events:
                    if type(event) is ProtocolViolation:
                        self._on_violation(event)
                    else:
                        try:  # free unless it raises (CPython 3.11's zero-cost exceptions)
                            dispatch(self, event)
                        except Exception as exc:  # noqa: BLE001 - one request must not drop the link
                            self._handler_failed(event, exc)
                # a bind pauses the session until it is answered; go on with what came behind it
                events = session.receive_data(b"") if session.has_unread and not self.closing else []
        finally:
            self._in_batch = False
        self.flush()
        if session.state is BindState.CLOSED:
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closing = True
        self.owner.connection_closed(self, exc)
        self.transport = None

    def pause_writing(self) -> None:
        # the peer is not reading what we send: stop reading what it sends until it catches up
        if self.transport is not None:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.transport is not None and not self.closing:
            self.transport.resume_reading()

    # ---------------------------------------------------------------- sending
    def send(self, pdu: Pdu) -> int:
        """Queue a PDU; written at the end of the received bytes being handled, else on the next loop
        turn (one write for all that is sent meanwhile)."""
        sequence = self.session.send(pdu)
        if not self._in_batch and not self._flush_due and self._loop is not None:
            self._flush_due = True
            self._loop.call_soon(self.flush)
        return sequence

    def send_delivery(self, item: PendingDelivery) -> None:
        item.pdu.sequence = 0  # a retry is a new PDU with a new sequence number
        sequence = self.send(item.pdu)
        self.deliveries[sequence] = item

    def flush(self) -> None:
        self._flush_due = False
        data = self.session.data_to_send()
        if data and self.transport is not None:
            self.transport.write(data)

    def close(self) -> None:
        """Write what is queued, then close."""
        if self.closing:
            return
        self.closing = True
        self.flush()
        if self.transport is not None:
            self.transport.close()

    def close_lingering(self, grace: float = 1.0) -> None:
        """Write what is queued and end our side (FIN), discard what still comes for up to `grace`
        seconds, then close: closing with unread bytes would be a reset that can lose the answers
        just written (e.g. the refusals of a peer that pipelined thousands of binds)."""
        if self.closing:
            return
        self.closing = True
        self.flush()
        transport = self.transport
        if transport is None:
            return
        if not transport.can_write_eof():
            transport.close()
            return
        transport.write_eof()
        if self._loop is not None:
            self._loop.call_later(grace, transport.close)

    def reset_mid_pdu(self, pdu: Pdu) -> None:
        """Write what is queued and half of `pdu`, then reset the connection (a fault)."""
        self.flush()
        wire = pdu.encode()
        transport = self.transport
        if transport is None:
            return
        self.closing = True
        self.transport = None  # nothing more goes out after the cut, and nothing more comes in
        transport.pause_reading()
        transport.write(wire[: max(1, len(wire) // 2)])
        sock = transport.get_extra_info("socket")
        if sock is not None:  # linger 0: the close is a TCP reset, not an orderly FIN
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        asyncio.get_running_loop().call_later(0.05, transport.abort)

    def abort(self) -> None:
        self.closing = True
        if self.transport is not None:
            self.transport.abort()

    # ---------------------------------------------------------------- helpers
    def _handler_failed(self, pdu: Pdu, exc: Exception) -> None:
        """The Smsc's handler of `pdu` raised: report it; a request that is not answered yet gets a
        generic_nack ESME_RSYSERR. (Submits answer through the ledger, later: the Smsc answers those
        itself when they fail; `answering` is the sequence of the last submit it took charge of.)"""
        self.owner.supervisor.report(f"handling {pdu.name}", exc, f"conn {self.id} from {self.peer}")
        if pdu.is_response or pdu.command_id == CommandId.generic_nack or self.answering == pdu.sequence:
            return
        if self.session.answer_queued(pdu):
            return
        try:
            self.session.send(GenericNack(sequence=pdu.sequence, status=CommandStatus.ESME_RSYSERR))
        except Exception as again:  # noqa: BLE001 - reported; the link stays up
            self.owner.supervisor.report("answering with generic_nack", again)

    def _on_violation(self, violation: ProtocolViolation) -> None:
        self.owner.stats.protocol_violations += 1
        name = _command_name(violation.command_id)
        log.info("%s conn %d: refused %s seq %d: %s", self.peer, self.id, name, violation.sequence, violation.detail)

    @property
    def accepting(self) -> bool:
        """Whether a deliver_sm may go out on this bind now (bound as a receiver, not closing)."""
        return not self.closing and self.transport is not None and self.session.can_receive

    def __repr__(self) -> str:
        who = self.account.config.system_id if self.account else "-"
        return f"<SmscConnection {self.id} {self.peer} {who} {self.session.state.value}>"


def _command_name(command_id: int) -> str:
    try:
        return CommandId(command_id).name
    except ValueError:
        return f"0x{command_id:08X}"

"""The SMPP session as a sans-IO state machine (in the manner of h11): bytes in, PDUs out.

It owns framing, the bind state, sequence numbers and validation: a PDU that is not legal in the
current state, unknown or malformed is answered here (generic_nack or the command's own response
with the right command_status) and never reaches the application. No sockets, no clocks, no asyncio.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from .constants import HEADER_SIZE, RESPONSE_BIT, CommandId, CommandStatus
from .errors import PduError, SessionError
from .pdu import HEADER, PDU_CLASSES, GenericNack, Pdu, decode_body

C = CommandId
S = CommandStatus

DEFAULT_MAX_COMMAND_LENGTH = 70_000  # room for a 64 KiB message_payload; anything larger is hostile
MAX_SEQUENCE = 0x7FFFFFFF


class Role(enum.Enum):
    """Which end of the link this session is."""

    SMSC = "smsc"
    ESME = "esme"


class BindState(enum.Enum):
    OPEN = "open"  # connected, not bound
    BOUND_TX = "bound_tx"
    BOUND_RX = "bound_rx"
    BOUND_TRX = "bound_trx"
    UNBINDING = "unbinding"  # an unbind was sent or received; waiting for its response
    CLOSED = "closed"  # unbound or the stream was lost: the I/O layer must close the connection


BIND_STATE_OF = {
    C.bind_transmitter: BindState.BOUND_TX,
    C.bind_receiver: BindState.BOUND_RX,
    C.bind_transceiver: BindState.BOUND_TRX,
}
BINDS = frozenset(BIND_STATE_OF)
BOUND = frozenset({BindState.BOUND_TX, BindState.BOUND_RX, BindState.BOUND_TRX})

# Requests each side may send, by the sender's bind state (SMPP 3.4 table 2-1, with the common
# leniency of enquire_link before a bind).
_ANY = {C.enquire_link, C.generic_nack}
_ESME_SENDS = {
    BindState.OPEN: _ANY | BINDS,
    BindState.BOUND_TX: _ANY
    | {C.submit_sm, C.submit_multi, C.data_sm, C.query_sm, C.cancel_sm, C.replace_sm, C.unbind},
    BindState.BOUND_RX: _ANY | {C.unbind},
    BindState.BOUND_TRX: _ANY
    | {C.submit_sm, C.submit_multi, C.data_sm, C.query_sm, C.cancel_sm, C.replace_sm, C.unbind},
    BindState.UNBINDING: _ANY,
    BindState.CLOSED: set(),
}
_SMSC_SENDS = {
    BindState.OPEN: _ANY | {C.outbind},
    BindState.BOUND_TX: _ANY | {C.unbind},
    BindState.BOUND_RX: _ANY | {C.deliver_sm, C.data_sm, C.alert_notification, C.unbind},
    BindState.BOUND_TRX: _ANY | {C.deliver_sm, C.data_sm, C.alert_notification, C.unbind},
    BindState.UNBINDING: _ANY,
    BindState.CLOSED: set(),
}
SENDS = {Role.ESME: _ESME_SENDS, Role.SMSC: _SMSC_SENDS}
# Requests that are legal in some state for a role: elsewhere the answer is RINVBNDSTS.
_EVER = {role: set().union(*table.values()) for role, table in SENDS.items()}


@dataclass(frozen=True, slots=True)
class ProtocolViolation:
    """Something the peer sent that was refused here; already answered where the spec allows."""

    command_id: int
    sequence: int
    status: int
    detail: str
    fatal: bool = False


class SmppSession:
    """One end of an SMPP link. Feed bytes with receive_data(); collect bytes with data_to_send()."""

    def __init__(self, role: Role, max_command_length: int = DEFAULT_MAX_COMMAND_LENGTH) -> None:
        self.role = role
        self.peer_role = Role.ESME if role is Role.SMSC else Role.SMSC
        self.state = BindState.OPEN
        self.max_command_length = max_command_length
        self._buffer = bytearray()
        self._out: list[bytes] = []
        self._sequence = 0
        self._pending_bind: int | None = None  # ESME: the bind request sent, waiting for its resp
        # SMSC: a bind was handed to the application and not answered yet. Later PDUs wait in the
        # buffer (as h11 pauses after a request) so their legality is judged in the bound state.
        self.paused = False
        self.outstanding: dict[int, int] = {}  # sequence -> command_id of requests we sent
        self.system_id = ""  # who is bound (set when a bind succeeds)
        self.bytes_received = 0
        self.pdus_received = 0

    # ---------------------------------------------------------------------------------------
    # Receiving
    def receive_data(self, data: bytes) -> list[Pdu | ProtocolViolation]:
        """Frame and decode `data` (any chunking); returns the PDUs the application must handle and
        the violations that were answered here. After a fatal violation the state is CLOSED.
        After a bind request it pauses: answer the bind, then call receive_data(b"") to go on."""
        self.bytes_received += len(data)
        if self.state is BindState.CLOSED:
            return []
        if self.paused:
            self._buffer += data
            return []
        if self._buffer:
            self._buffer += data
            data = bytes(self._buffer)
        events: list[Pdu | ProtocolViolation] = []
        pos = 0
        end = len(data)
        unpack = HEADER.unpack_from
        while end - pos >= HEADER_SIZE:
            length, command_id, status, sequence = unpack(data, pos)
            if length < HEADER_SIZE or length > self.max_command_length:
                events.append(self._fatal(command_id, sequence, f"command_length {length} is impossible"))
                self._buffer = bytearray()
                return events
            if end - pos < length:
                break
            event = self._handle_frame(command_id, status, sequence, data, pos + HEADER_SIZE, pos + length)
            pos += length
            if event is not None:
                events.append(event)
            if self.state is BindState.CLOSED or self.paused:
                break
        self._buffer = bytearray(data[pos:]) if pos < end else bytearray()
        return events

    def _handle_frame(
        self, command_id: int, status: int, sequence: int, d: bytes, o: int, e: int
    ) -> Pdu | ProtocolViolation | None:
        self.pdus_received += 1
        is_response = bool(command_id & RESPONSE_BIT)
        if command_id not in PDU_CLASSES:
            return self._nack(command_id, sequence, S.ESME_RINVCMDID, f"unknown command_id 0x{command_id:08X}")
        if not is_response and command_id != C.generic_nack:
            refusal = self._refusal(command_id)
            if refusal is not None:
                return self._answer(command_id, sequence, refusal)
        try:
            pdu = decode_body(command_id, status, sequence, d, o, e)
        except PduError as exc:
            if is_response:
                self.outstanding.pop(sequence, None)
                return ProtocolViolation(command_id, sequence, exc.status, exc.detail)
            return self._answer(command_id, sequence, exc.status, exc.detail)
        if is_response:
            self._on_response(pdu)
        elif command_id in BINDS:
            self.paused = True
        elif command_id == C.unbind:
            self.state = BindState.UNBINDING
        elif command_id == C.outbind and self.role is Role.ESME:
            pass  # the application answers an outbind by binding as a receiver
        return pdu

    def _refusal(self, command_id: int) -> int | None:
        """The command_status refusing an incoming request in this state, or None if it is legal."""
        if command_id in SENDS[self.peer_role][self.state]:
            return None
        if command_id in BINDS and self.state in BOUND:
            return S.ESME_RALYBND
        if command_id in _EVER[self.peer_role]:
            return S.ESME_RINVBNDSTS
        return S.ESME_RINVCMDID  # a request this role never receives (e.g. deliver_sm at an SMSC)

    def _on_response(self, pdu: Pdu) -> None:
        sent = self.outstanding.pop(pdu.sequence, None)
        command_id = pdu.command_id
        if self._pending_bind is not None and command_id == (self._pending_bind | RESPONSE_BIT):
            bind = self._pending_bind
            self._pending_bind = None
            if pdu.status == S.ESME_ROK:
                self.state = BIND_STATE_OF[C(bind)]
        elif command_id == C.unbind_resp and sent == C.unbind:  # a stray unbind_resp ends nothing
            self.state = BindState.CLOSED

    def _answer(self, command_id: int, sequence: int, status: int, detail: str = "") -> ProtocolViolation:
        """Refuse a request with its own response (generic_nack if it has none)."""
        cls = PDU_CLASSES.get(command_id | RESPONSE_BIT)
        detail = detail or f"{C(command_id).name} refused in state {self.state.value}"
        if cls is None or command_id == C.generic_nack:
            return self._nack(command_id, sequence, status, detail)
        self._out.append(cls(sequence=sequence, status=status).encode())
        return ProtocolViolation(command_id, sequence, status, detail)

    def _nack(self, command_id: int, sequence: int, status: int, detail: str) -> ProtocolViolation:
        self._out.append(GenericNack(sequence=sequence, status=status).encode())
        return ProtocolViolation(command_id, sequence, status, detail)

    def _fatal(self, command_id: int, sequence: int, detail: str) -> ProtocolViolation:
        self._out.append(GenericNack(sequence=sequence, status=S.ESME_RINVCMDLEN).encode())
        self.state = BindState.CLOSED
        return ProtocolViolation(command_id, sequence, S.ESME_RINVCMDLEN, detail, fatal=True)

    # ---------------------------------------------------------------------------------------
    # Sending
    def next_sequence(self) -> int:
        self._sequence = self._sequence + 1 if self._sequence < MAX_SEQUENCE else 1
        return self._sequence

    def send(self, pdu: Pdu) -> int:
        """Queue `pdu` for sending; a request gets the next sequence number if it has none.
        Returns the sequence number. Raises SessionError if the state does not allow it."""
        command_id = pdu.command_id
        if pdu.is_response:
            if command_id in _BIND_RESPS and self.role is Role.SMSC:
                self.paused = False
                if pdu.status == S.ESME_ROK:
                    if self.state is not BindState.OPEN:
                        raise SessionError(f"cannot accept a bind in state {self.state.value}")
                    self.state = BIND_STATE_OF[C(command_id & ~RESPONSE_BIT)]
            elif command_id == C.unbind_resp:
                self.state = BindState.CLOSED
        else:
            if command_id not in SENDS[self.role][self.state]:
                raise SessionError(f"{self.role.value} cannot send {command_id.name} in state {self.state.value}")
            if not pdu.sequence:
                pdu.sequence = self.next_sequence()
            if command_id != C.generic_nack:
                self.outstanding[pdu.sequence] = command_id
            if command_id in BINDS:
                self._pending_bind = command_id
            elif command_id == C.unbind:
                self.state = BindState.UNBINDING
        self._out.append(pdu.encode())
        return pdu.sequence

    def answer_queued(self, request: Pdu) -> bool:
        """Whether a response to `request` (its own response or a generic_nack) is queued here and
        not yet taken by data_to_send(). A scan of the queue: for failure paths, not the hot path."""
        answers = ((request.command_id | RESPONSE_BIT).to_bytes(4, "big"), int(C.generic_nack).to_bytes(4, "big"))
        sequence = request.sequence.to_bytes(4, "big")
        return any(frame[4:8] in answers and frame[12:16] == sequence for frame in self._out)

    def data_to_send(self) -> bytes:
        """Everything queued since the last call, as one buffer for one write."""
        if not self._out:
            return b""
        out = b"".join(self._out)
        self._out.clear()
        return out

    @property
    def has_unread(self) -> bool:
        """Received bytes wait to be framed and the session is not paused: receive_data(b"") goes on
        with them (after a bind was answered, the PDUs that came behind it)."""
        return not self.paused and bool(self._buffer)

    @property
    def unread(self) -> bytes:
        """The received octets not framed yet (an unfinished PDU), for a client that takes over the socket."""
        return bytes(self._buffer)

    @property
    def is_bound(self) -> bool:
        return self.state in BOUND

    @property
    def can_receive(self) -> bool:
        """Whether the ESME end of this link accepts deliver_sm (a receiver or transceiver bind)."""
        return self.state in (BindState.BOUND_RX, BindState.BOUND_TRX)

    @property
    def can_transmit(self) -> bool:
        return self.state in (BindState.BOUND_TX, BindState.BOUND_TRX)


_BIND_RESPS = frozenset(C(b | RESPONSE_BIT) for b in BINDS)

"""The ESME end of an SMPP link, sans-IO: what every client of ours does between its socket and its caller.

Owns: the bind request and its refusal, the two windows of requests in flight (windowed submits,
numbered in batches on the hot path, and single requests someone waits for), matching each response
to its request by sequence number, answering the SMSC's enquire_link and unbind, and handing
deliver_sm/data_sm up to be answered with the caller's command_status.
Not here: sockets, clocks, greenlets or tasks (the shells: simulator/esme.py on asyncio,
loadtests/client.py on gevent); framing, validation and bind state (smpp/session.py); encoding a
submit_sm fast (smpp/submit_template.py); reading receipts (smpp/receipt.py).

    shell.data_received(data) -> esme.receive_data(data) -> Incoming -> shell resolves waiters
                                                                     -> shell writes esme.data_to_send()
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Generic, Literal, TypeVar

from .constants import RESPONSE_BIT, CommandId, status_name
from .errors import SessionError
from .pdu import BindReceiver, BindTransceiver, BindTransmitter, Pdu
from .session import ProtocolViolation, Role, SmppSession
from .window import Window

C = CommandId
T = TypeVar("T")  # what a windowed request carries until its response (a send time, a context)
W = TypeVar("W")  # what waits for a single request's response (a Future, an AsyncResult)

BindKind = Literal["transmitter", "receiver", "transceiver"]
BIND_PDUS = {"transmitter": BindTransmitter, "receiver": BindReceiver, "transceiver": BindTransceiver}
INTERFACE_VERSION = 0x34  # SMPP 3.4, sent in every bind
SEQUENCE = struct.Struct(">I")
SEQUENCE_OFFSET = 12  # the sequence_number's offset in every PDU header (SMPP 3.4 3.2)
DELIVERIES = frozenset((int(C.deliver_sm), int(C.data_sm)))


class BindRefused(Exception):
    """The SMSC answered the bind with a non-zero command_status."""

    def __init__(self, status: int) -> None:
        super().__init__(f"bind refused: {status_name(status)}")
        self.status = status


class Incoming(Generic[T, W]):
    """What one receive_data() found, by what the shell must do with it."""

    __slots__ = ("answered", "answers_queued", "deliveries", "replies", "unsolicited", "violations")

    def __init__(self) -> None:
        # windowed requests answered, with what they carried: a response, or a ProtocolViolation
        # when the response was malformed (it still answers its request)
        self.answered: list[tuple[Pdu | ProtocolViolation, T]] = []
        self.replies: list[tuple[Pdu, W]] = []  # responses to single requests, with their waiter
        self.deliveries: list[Pdu] = []  # deliver_sm / data_sm: answer each with answer()
        self.unsolicited: list[Pdu] = []  # responses to nothing in flight (nacks of raw writes, say)
        self.violations: list[ProtocolViolation] = []  # refused here, already answered where the spec allows
        # answers were queued here (an enquire_link_resp, an unbind_resp, a generic_nack): there is
        # data_to_send(), as there is after answer()
        self.answers_queued = False


class EsmeSession(Generic[T, W]):
    """One ESME bind's protocol. request() and send_frames() queue or build bytes; receive_data()
    sorts what came in; data_to_send() is everything to write (frames from send_frames excepted:
    those are returned to the caller, who writes them at once)."""

    def __init__(self, window: int | None = None) -> None:
        self.session = SmppSession(Role.ESME)
        self.window: Window[T] = Window(window)  # windowed requests (submits), by sequence number
        self.waiting: Window[W] = Window()  # single requests (binds, enquire_link, unbind, ...)
        self.answer_enquire_link = True  # False: let the SMSC's enquire_link go unanswered (fault tests)

    # ------------------------------------------------------------------ sending
    @staticmethod
    def bind_pdu(kind: BindKind, system_id: str, password: str) -> Pdu:
        return BIND_PDUS[kind](system_id=system_id, password=password, interface_version=INTERFACE_VERSION)

    @staticmethod
    def check_bind(response: Pdu) -> Pdu:
        """The bind_resp, or BindRefused if its command_status is not ESME_ROK."""
        if response.status:
            raise BindRefused(response.status)
        return response

    def request(self, pdu: Pdu, waiter: W) -> int:
        """Queue a single request; its response comes back in Incoming.replies with `waiter`.
        Returns its sequence number. Raises SessionError if the bind state does not allow it."""
        sequence = self.session.send(pdu)
        self.waiting.open(sequence, waiter)
        return sequence

    def send_frames(self, frames: Sequence[bytes], carried: T) -> bytearray:
        """Encoded requests with sequence number 0 (SubmitTemplate frames, say), numbered here and
        put in the window, each carrying `carried` until its response; returns the octets to write
        now, in one write, before anything else is queued. Raises ValueError if they do not fit
        the window, SessionError if the bind state does not allow submitting."""
        window = self.window
        if len(frames) > window.free:
            raise ValueError(f"{len(frames)} frames do not fit the window ({len(window)} outstanding)")
        session = self.session
        if not session.can_transmit:
            raise SessionError(f"cannot submit in bind state {session.state.value}")
        buffer = bytearray().join(frames)
        pack_into = SEQUENCE.pack_into
        next_sequence = session.next_sequence
        in_flight = window.in_flight
        offset = SEQUENCE_OFFSET
        for frame in frames:
            sequence = next_sequence()
            pack_into(buffer, offset, sequence)
            in_flight[sequence] = carried
            offset += len(frame)
        return buffer

    def answer(self, request: Pdu, status: int) -> None:
        """Queue the response to a deliver_sm/data_sm the shell was handed."""
        self.session.send(request.response(status=status))

    def data_to_send(self) -> bytes:
        return self.session.data_to_send()

    # ------------------------------------------------------------------ receiving
    def receive_data(self, data: bytes) -> Incoming[T, W]:
        """Frame and sort `data`. enquire_link and unbind are answered here (queued for
        data_to_send()); everything else is for the shell, in Incoming."""
        incoming: Incoming[T, W] = Incoming()
        answered = incoming.answered
        windowed = self.window.in_flight
        waiting = self.waiting.in_flight
        session = self.session
        for event in session.receive_data(data):
            if type(event) is ProtocolViolation:
                incoming.violations.append(event)
                incoming.answers_queued = True  # the session may have answered it (generic_nack)
                if event.command_id & RESPONSE_BIT:  # a malformed response still answers its request
                    carried = windowed.pop(event.sequence, None)
                    if carried is not None:
                        answered.append((event, carried))
                continue
            if event.is_response:
                sequence = event.sequence
                carried = windowed.pop(sequence, None)
                if carried is not None:
                    answered.append((event, carried))
                    continue
                waiter = waiting.pop(sequence, None)
                if waiter is not None:
                    incoming.replies.append((event, waiter))
                else:
                    incoming.unsolicited.append(event)
                continue
            command_id = event.command_id
            if command_id in DELIVERIES:
                incoming.deliveries.append(event)
            elif command_id == C.enquire_link:
                if self.answer_enquire_link:
                    session.send(event.response())
                    incoming.answers_queued = True
            elif command_id == C.unbind:
                session.send(event.response())
                incoming.answers_queued = True
        return incoming

    def fail_all(self) -> tuple[list[T], list[W]]:
        """The link is gone: empty both windows; (what the windowed requests carried, the waiters)."""
        return self.window.fail_all(), self.waiting.fail_all()

    # ------------------------------------------------------------------ state
    @property
    def is_bound(self) -> bool:
        return self.session.is_bound

    @property
    def can_transmit(self) -> bool:
        return self.session.can_transmit

    @property
    def outstanding(self) -> int:
        """Windowed requests in flight."""
        return len(self.window)

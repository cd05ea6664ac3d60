"""A gevent-native SMPP client on simulator.smpp's session: one socket, a reader greenlet, a window.

Built for load: submits are pipelined up to the window and written in batches (one sendall for
all the frames that fit), responses are timed at the socket and matched by sequence number,
deliver_sm and enquire_link are answered by the reader. It never imports asyncio or Locust; the
SmppUser turns the answered batches into Locust request events, one per submit.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable, Sequence
from typing import Any

import gevent
from gevent import socket
from gevent.event import AsyncResult, Event
from gevent.lock import Semaphore

from simulator.smpp.constants import RESPONSE_BIT, CommandId, CommandStatus, status_name
from simulator.smpp.pdu import BindReceiver, BindTransceiver, BindTransmitter, EnquireLink, Pdu, Unbind
from simulator.smpp.session import BindState, ProtocolViolation, Role, SmppSession

C = CommandId
BIND_PDUS = {"transmitter": BindTransmitter, "receiver": BindReceiver, "transceiver": BindTransceiver}
SEQUENCE = struct.Struct(">I")  # the sequence_number, at offset 12 of every PDU header
SEQUENCE_OFFSET = 12
DELIVERY_IDS = frozenset((int(C.deliver_sm), int(C.data_sm)))
ANSWERED_BY_READER = frozenset((int(C.enquire_link), int(C.unbind)))
RECV_SIZE = 1 << 18


class LinkDown(Exception):
    """The connection is gone (closed by the peer, reset, or never made)."""


class BindRefused(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(f"bind refused: {status_name(status)}")
        self.status = status


# A windowed request in flight: (perf_counter when its batch was written, the batch's context).
# One tuple per batch, shared by the batch's frames.
Sent = tuple[float, Any]
# on_responses(answered, now): answered = [(response, sent)], response None when the link died
# first, or a ProtocolViolation when the response was malformed; `now` is when it was read.
ResponsesCallback = Callable[[list[tuple[Pdu | ProtocolViolation | None, Sent]], float], None]
DeliverCallback = Callable[[Pdu, float], int]  # (deliver_sm, perf_counter when read) -> command_status


class GeventSmppClient:
    """One bind. connect() then bind(); wait_for_window() then submit_frames()."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        window: int = 10,
        on_responses: ResponsesCallback | None = None,
        on_deliver: DeliverCallback | None = None,
        connect_timeout: float = 5.0,
    ) -> None:
        self.host, self.port = host, port
        self.window_size = window
        self.on_responses = on_responses
        self.on_deliver = on_deliver
        self.connect_timeout = connect_timeout
        self.session = SmppSession(Role.ESME)
        self.sock: socket.socket | None = None
        self._reader: gevent.Greenlet | None = None
        self._write_lock = Semaphore()
        self._pending: dict[int, Sent] = {}  # windowed requests (submits) by sequence number
        self._requests: dict[int, AsyncResult] = {}  # binds, enquire_link, unbind: someone waits
        self._window_open = Event()
        self.closed = False
        self.violations = 0

    # ------------------------------------------------------------------ link
    def connect(self) -> None:
        self.sock = socket.create_connection((self.host, self.port), timeout=self.connect_timeout)
        self.sock.settimeout(None)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._reader = gevent.spawn(self._read_loop)

    def bind(self, system_id: str, password: str, kind: str = "transceiver", timeout: float = 10) -> Pdu:
        resp = self.request(BIND_PDUS[kind](system_id=system_id, password=password, interface_version=0x34), timeout)
        if resp.status:
            raise BindRefused(resp.status)
        return resp

    def request(self, pdu: Pdu, timeout: float = 10) -> Pdu:
        """Send a request and wait for its response (not windowed: binds, enquire_link, unbind)."""
        if self.closed or self.sock is None:
            raise LinkDown("not connected")
        result: AsyncResult = AsyncResult()
        with self._write_lock:
            sequence = self.session.send(pdu)
            self._requests[sequence] = result
            self._sendall(self.session.data_to_send())
        response = result.get(timeout=timeout)
        if response is None:
            raise LinkDown(f"link closed while waiting for {pdu.name}_resp")
        return response

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
        if self._reader is not None and self._reader is not gevent.getcurrent():
            self._reader.kill(block=False)
        self._fail_pending()
        self._window_open.set()  # waiters wake up and find the link closed

    def unbind(self, timeout: float = 3) -> None:
        if self.session.state in (BindState.BOUND_TX, BindState.BOUND_RX, BindState.BOUND_TRX) and not self.closed:
            try:
                self.request(Unbind(), timeout)
            except (LinkDown, gevent.Timeout, OSError):
                pass
        self.close()

    @property
    def is_bound(self) -> bool:
        return not self.closed and self.session.is_bound

    @property
    def outstanding(self) -> int:
        return len(self._pending)

    # ------------------------------------------------------------------ sending
    def wait_for_window(self, timeout: float | None = None) -> int:
        """Block until the window has room; returns the free slots (0 if `timeout` ran out).
        Raises LinkDown if the link is or goes down."""
        while True:
            if self.closed:
                raise LinkDown("link closed")
            free = self.window_size - len(self._pending)
            if free > 0:
                return free
            self._window_open.clear()
            if not self._window_open.wait(timeout):
                return 0

    def submit_frames(self, frames: Sequence[bytes], context: Any = None) -> None:
        """Send encoded requests (sequence number 0) in one write, numbered by the session; each
        response comes to on_responses with (when this batch was written, `context`). The caller
        keeps within the window (wait_for_window); raises LinkDown if the link is down."""
        if self.closed or self.sock is None:
            raise LinkDown("not connected")
        if len(frames) > self.window_size - len(self._pending):
            raise ValueError(f"{len(frames)} frames do not fit the window ({self.outstanding} outstanding)")
        if not self.session.can_transmit:
            raise LinkDown(f"cannot submit in bind state {self.session.state.value}")
        buffer = bytearray().join(frames)
        pack_into = SEQUENCE.pack_into
        next_sequence = self.session.next_sequence
        pending = self._pending
        with self._write_lock:
            if self.closed:  # closed while this greenlet waited for the lock
                raise LinkDown("link closed")
            sent = (time.perf_counter(), context)
            offset = SEQUENCE_OFFSET
            for frame in frames:
                sequence = next_sequence()
                pack_into(buffer, offset, sequence)
                pending[sequence] = sent
                offset += len(frame)
            self._sendall(buffer)

    def submit(self, pdu: Pdu, context: Any = None, timeout: float | None = None) -> bool:
        """Send one windowed request; False if the window stayed full for `timeout` seconds."""
        if not self.wait_for_window(timeout):
            return False
        pdu.sequence = 0
        self.submit_frames([pdu.encode()], context)
        return True

    def _sendall(self, data: bytes | bytearray) -> None:
        """Write under the write lock; a failed write closes the link (in-flight requests are
        reported as lost) and raises LinkDown."""
        try:
            self.sock.sendall(data)  # type: ignore[union-attr]
        except OSError as exc:
            self.close()
            raise LinkDown(str(exc)) from exc

    def _write(self, data: bytes) -> None:
        if not data or self.closed or self.sock is None:
            return
        with self._write_lock:
            try:
                self.sock.sendall(data)
            except OSError:
                self.close()

    # ------------------------------------------------------------------ receiving (reader greenlet)
    def _read_loop(self) -> None:
        sock = self.sock
        assert sock is not None
        recv = sock.recv
        session = self.session
        try:
            while True:
                try:
                    data = recv(RECV_SIZE)
                except OSError:
                    break
                if not data:
                    break
                self._handle(session.receive_data(data))
                if session.state is BindState.CLOSED:
                    break
        finally:
            self.close()

    def _handle(self, events: list[Pdu | ProtocolViolation]) -> None:
        now = time.perf_counter()
        pending = self._pending
        answered: list[tuple[Pdu | ProtocolViolation | None, Sent]] = []
        replies = False
        for event in events:
            if type(event) is ProtocolViolation:
                self.violations += 1
                replies = True  # the session may have queued its answer (generic_nack)
                # a malformed response still answers its request: free the slot, report it
                if event.command_id & RESPONSE_BIT:
                    entry = pending.pop(event.sequence, None)
                    if entry is not None:
                        answered.append((event, entry))
                continue
            if event.is_response:
                entry = pending.pop(event.sequence, None)
                if entry is not None:
                    answered.append((event, entry))
                else:
                    result = self._requests.pop(event.sequence, None)
                    if result is not None:
                        result.set(event)
                continue
            command_id = event.command_id
            if command_id in DELIVERY_IDS:
                status = self.on_deliver(event, now) if self.on_deliver is not None else CommandStatus.ESME_ROK
                self.session.send(event.response(status=status))
                replies = True
            elif command_id in ANSWERED_BY_READER:
                self.session.send(event.response())
                replies = True
        if answered:
            self._window_open.set()
            if self.on_responses is not None:
                self.on_responses(answered, now)
        if replies:
            with self._write_lock:
                data = self.session.data_to_send()
            self._write(data)

    def _fail_pending(self) -> None:
        """The link is gone: every request still waiting gets None (windowed ones timed as "lost")."""
        pending, self._pending = self._pending, {}
        requests, self._requests = self._requests, {}
        for result in requests.values():
            result.set(None)
        if pending and self.on_responses is not None:
            self.on_responses([(None, entry) for entry in pending.values()], time.perf_counter())

    def enquire_link(self, timeout: float = 5) -> Pdu:
        return self.request(EnquireLink(), timeout)

"""A gevent-native SMPP client on simulator.smpp's session: one socket, a reader greenlet, a window.

Built for load: submits are pipelined up to the window, responses are timed at the socket and
matched by sequence number, deliver_sm and enquire_link are answered by the reader. It never
imports asyncio or Locust; the SmppUser wires its callbacks to Locust's request events.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import gevent
from gevent import socket
from gevent.event import AsyncResult
from gevent.lock import BoundedSemaphore, Semaphore

from simulator.smpp.constants import CommandId, CommandStatus, status_name
from simulator.smpp.pdu import BindReceiver, BindTransceiver, BindTransmitter, EnquireLink, Pdu, Unbind
from simulator.smpp.session import BindState, ProtocolViolation, Role, SmppSession

C = CommandId
BIND_PDUS = {"transmitter": BindTransmitter, "receiver": BindReceiver, "transceiver": BindTransceiver}


class LinkDown(Exception):
    """The connection is gone (closed by the peer, reset, or never made)."""


class BindRefused(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(f"bind refused: {status_name(status)}")
        self.status = status


# on_response(pdu_name, response, elapsed_ms, context) — response None when the link died first
ResponseCallback = Callable[[str, Pdu | None, float, Any], None]
DeliverCallback = Callable[[Pdu], int]  # returns the command_status to answer with


class GeventSmppClient:
    """One bind. connect() then bind(); submit() blocks only while the window is full."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        window: int = 10,
        on_response: ResponseCallback | None = None,
        on_deliver: DeliverCallback | None = None,
        connect_timeout: float = 5.0,
    ) -> None:
        self.host, self.port = host, port
        self.window = BoundedSemaphore(window)
        self.window_size = window
        self.on_response = on_response
        self.on_deliver = on_deliver
        self.connect_timeout = connect_timeout
        self.session = SmppSession(Role.ESME)
        self.sock: socket.socket | None = None
        self._reader: gevent.Greenlet | None = None
        self._write_lock = Semaphore()
        self._pending: dict[int, tuple[float, str, Any, AsyncResult | None]] = {}
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
        result: AsyncResult = AsyncResult()
        self._send(pdu, pdu.name, None, result)
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
    def submit(self, pdu: Pdu, context: Any = None, timeout: float | None = None) -> bool:
        """Send a windowed request; the response comes to on_response. False if the window
        stayed full for `timeout` seconds."""
        if not self.window.acquire(timeout=timeout):
            return False
        if self.closed:
            self.window.release()
            raise LinkDown("link closed")
        try:
            self._send(pdu, pdu.name, context, None)
        except BaseException:
            self.window.release()
            raise
        return True

    def _send(self, pdu: Pdu, name: str, context: Any, result: AsyncResult | None) -> None:
        if self.closed or self.sock is None:
            raise LinkDown("not connected")
        with self._write_lock:
            sequence = self.session.send(pdu)
            self._pending[sequence] = (time.perf_counter(), name, context, result)
            data = self.session.data_to_send()
            try:
                self.sock.sendall(data)
            except OSError as exc:
                self._pending.pop(sequence, None)
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
        try:
            while True:
                try:
                    data = sock.recv(262144)
                except OSError:
                    break
                if not data:
                    break
                self._handle(self.session.receive_data(data))
                if self.session.state is BindState.CLOSED:
                    break
        finally:
            self.close()

    def _handle(self, events: list[Pdu | ProtocolViolation]) -> None:
        now = time.perf_counter()
        pending = self._pending
        for event in events:
            if type(event) is ProtocolViolation:
                self.violations += 1
                continue
            if event.is_response:
                entry = pending.pop(event.sequence, None)
                if entry is None:
                    continue
                sent, name, context, result = entry
                if result is not None:
                    result.set(event)
                else:
                    self.window.release()
                    if self.on_response is not None:
                        self.on_response(name, event, (now - sent) * 1000, context)
                continue
            command_id = event.command_id
            if command_id in (C.deliver_sm, C.data_sm):
                status = self.on_deliver(event) if self.on_deliver is not None else CommandStatus.ESME_ROK
                self.session.send(event.response(status=status))
            elif command_id == C.enquire_link:
                self.session.send(event.response())
            elif command_id == C.unbind:
                self.session.send(event.response())
        with self._write_lock:
            data = self.session.data_to_send()
        self._write(data)

    def _fail_pending(self) -> None:
        """The link is gone: every request still waiting gets None (timed as "lost")."""
        pending, self._pending = self._pending, {}
        now = time.perf_counter()
        for sent, name, context, result in pending.values():
            if result is not None:
                result.set(None)
            else:
                self.window.release()
                if self.on_response is not None:
                    self.on_response(name, None, (now - sent) * 1000, context)

    def enquire_link(self, timeout: float = 5) -> Pdu:
        return self.request(EnquireLink(), timeout)

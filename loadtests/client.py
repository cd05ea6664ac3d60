"""A gevent-native SMPP client: the gevent shell of simulator/smpp/esme_session.py, built for load.

Owns: one socket, its reader greenlet and write lock, and the waits (a gevent Event for the window,
an AsyncResult per single request). Submits are pipelined up to the window and written in batches
(one sendall for all the frames that fit); responses are timed at the socket. Not here: binds,
sequence numbers, the window's accounting, matching responses, answering enquire_link and unbind
(all in EsmeSession, shared with the asyncio Esme in simulator/esme.py). It never imports asyncio
or Locust; the SmppUser turns the answered batches into Locust request events, one per submit.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import gevent
from gevent import socket
from gevent.event import AsyncResult, Event
from gevent.lock import Semaphore

from simulator.smpp.constants import CommandStatus
from simulator.smpp.errors import SessionError
from simulator.smpp.esme_session import BindKind, BindRefused, EsmeSession
from simulator.smpp.pdu import EnquireLink, Pdu, Unbind
from simulator.smpp.session import BindState, ProtocolViolation, SmppSession

RECV_SIZE = 1 << 18

__all__ = ["BindRefused", "GeventSmppClient", "LinkDown", "Sent"]


class LinkDown(Exception):
    """The connection is gone (closed by the peer, reset, or never made)."""


class Sent(NamedTuple):
    """What a windowed request carries until its response: one per batch, shared by its frames."""

    at: float  # perf_counter when the batch was written
    context: Any  # the caller's, from submit_frames()


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
        self.protocol: EsmeSession[Sent, AsyncResult] = EsmeSession(window)
        self.sock: socket.socket | None = None
        self._reader: gevent.Greenlet | None = None
        self._write_lock = Semaphore()
        self._window_open = Event()
        self.closed = False
        self.violations = 0

    @property
    def session(self) -> SmppSession:
        return self.protocol.session

    # ------------------------------------------------------------------ link
    def connect(self) -> None:
        self.sock = socket.create_connection((self.host, self.port), timeout=self.connect_timeout)
        self.sock.settimeout(None)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._reader = gevent.spawn(self._read_loop)

    def bind(self, system_id: str, password: str, kind: BindKind = "transceiver", timeout: float = 10) -> Pdu:
        bind = self.protocol.bind_pdu(kind, system_id, password)
        return self.protocol.check_bind(self.request(bind, timeout))

    def request(self, pdu: Pdu, timeout: float = 10) -> Pdu:
        """Send a request and wait for its response (not windowed: binds, enquire_link, unbind)."""
        if self.closed or self.sock is None:
            raise LinkDown("not connected")
        result: AsyncResult = AsyncResult()
        with self._write_lock:
            self.protocol.request(pdu, result)
            self._sendall(self.protocol.data_to_send())
        response = result.get(timeout=timeout)
        if response is None:
            raise LinkDown(f"link closed while waiting for {pdu.name}_resp")
        return response

    def enquire_link(self, timeout: float = 5) -> Pdu:
        return self.request(EnquireLink(), timeout)

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
        if self.protocol.is_bound and not self.closed:
            try:
                self.request(Unbind(), timeout)
            except (LinkDown, gevent.Timeout, OSError):
                pass
        self.close()

    @property
    def is_bound(self) -> bool:
        return not self.closed and self.protocol.is_bound

    @property
    def outstanding(self) -> int:
        return self.protocol.outstanding

    # ------------------------------------------------------------------ sending
    def wait_for_window(self, timeout: float | None = None) -> int:
        """Block until the window has room; returns the free slots (0 if `timeout` ran out).
        Raises LinkDown if the link is or goes down."""
        window = self.protocol.window
        while True:
            if self.closed:
                raise LinkDown("link closed")
            free = window.free
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
        with self._write_lock:
            if self.closed:  # closed while this greenlet waited for the lock
                raise LinkDown("link closed")
            try:
                data = self.protocol.send_frames(frames, Sent(time.perf_counter(), context))
            except SessionError as exc:
                raise LinkDown(str(exc)) from None
            self._sendall(data)

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

    # ------------------------------------------------------------------ receiving (reader greenlet)
    def _read_loop(self) -> None:
        sock = self.sock
        assert sock is not None
        recv = sock.recv
        session = self.protocol.session
        try:
            while True:
                try:
                    data = recv(RECV_SIZE)
                except OSError:
                    break
                if not data:
                    break
                self._handle(data)
                if session.state is BindState.CLOSED:
                    break
        finally:
            self.close()

    def _handle(self, data: bytes) -> None:
        now = time.perf_counter()
        protocol = self.protocol
        incoming = protocol.receive_data(data)
        if incoming.violations:
            self.violations += len(incoming.violations)
        for response, result in incoming.replies:
            result.set(response)
        if incoming.deliveries:
            on_deliver = self.on_deliver
            for pdu in incoming.deliveries:
                protocol.answer(pdu, CommandStatus.ESME_ROK if on_deliver is None else on_deliver(pdu, now))
        answered = incoming.answered
        if answered:
            self._window_open.set()
            if self.on_responses is not None:
                self.on_responses(answered, now)  # type: ignore[arg-type]
        if incoming.answers_queued or incoming.deliveries:
            with self._write_lock:
                out = protocol.data_to_send()
                if out and not self.closed:
                    try:
                        self.sock.sendall(out)  # type: ignore[union-attr]
                    except OSError:
                        self.close()

    def _fail_pending(self) -> None:
        """The link is gone: every request still waiting gets None (windowed ones timed as "lost")."""
        pending, results = self.protocol.fail_all()
        for result in results:
            result.set(None)
        if pending and self.on_responses is not None:
            self.on_responses([(None, sent) for sent in pending], time.perf_counter())

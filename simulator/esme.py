"""A small asyncio ESME (SMPP client), the asyncio shell of smpp/esme_session.py: for tests, bench, CLI.

Owns: the socket (an asyncio.Protocol), a Future per request, the queue of deliver_sm and the
on_deliver callback that chooses their command_status. Not here: binds, sequence numbers,
matching responses, answering enquire_link and unbind (smpp/esme_session.py, shared with the load
harness's gevent client loadtests/client.py), framing and validation (smpp/session.py).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any

from simulator.smpp.constants import CommandStatus
from simulator.smpp.esme_session import BindKind, BindRefused, EsmeSession
from simulator.smpp.pdu import Pdu, SubmitSm, Unbind
from simulator.smpp.session import ProtocolViolation, SmppSession


class EsmeError(Exception):
    """A request the SMSC refused, or a link that went away."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


class Esme(asyncio.Protocol):
    """One bind to an SMSC. Use `await Esme.connect(host, port)`, then `await esme.bind(...)`;
    or `async with await Esme.bound(...) as esme:`, which unbinds and closes at the end."""

    def __init__(self, on_deliver: Callable[[Pdu], int | None] | None = None) -> None:
        # every request is a single request here: a Future each, no window limit
        self.protocol: EsmeSession[None, asyncio.Future[Pdu]] = EsmeSession()
        self.transport: asyncio.Transport | None = None
        # on_deliver(pdu) -> command_status to answer with (None: do not answer, for fault tests)
        self.on_deliver = on_deliver
        self.delivered: asyncio.Queue[Pdu] = asyncio.Queue()
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.violations: list[ProtocolViolation] = []
        self.unsolicited: list[Pdu] = []  # responses to nothing we sent (nacks of raw writes, say)

    @property
    def session(self) -> SmppSession:
        return self.protocol.session

    @property
    def answer_enquire_link(self) -> bool:
        return self.protocol.answer_enquire_link

    @answer_enquire_link.setter
    def answer_enquire_link(self, value: bool) -> None:
        self.protocol.answer_enquire_link = value

    # ------------------------------------------------------------------ connecting
    @classmethod
    async def connect(cls, host: str, port: int, **kwargs: Any) -> "Esme":
        loop = asyncio.get_running_loop()
        _, esme = await loop.create_connection(lambda: cls(**kwargs), host, port)
        return esme

    async def bind(self, system_id: str, password: str, kind: BindKind = "transceiver",
                   timeout: float = 10) -> Pdu:
        resp = await self.request(self.protocol.bind_pdu(kind, system_id, password), timeout=timeout)
        try:
            return self.protocol.check_bind(resp)
        except BindRefused as exc:
            raise EsmeError(str(exc), resp.status) from None

    @classmethod
    async def bound(cls, host: str, port: int, system_id: str, password: str, kind: BindKind = "transceiver",
                    **kwargs: Any) -> "Esme":
        esme = await cls.connect(host, port, **kwargs)
        await esme.bind(system_id, password, kind)
        return esme

    async def __aenter__(self) -> "Esme":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.unbind()

    # ------------------------------------------------------------------ requests
    def send(self, pdu: Pdu) -> asyncio.Future[Pdu]:
        """Send a request; the future resolves to its response (generic_nack included)."""
        if self.transport is None or self.transport.is_closing():
            raise EsmeError("not connected")
        future: asyncio.Future[Pdu] = asyncio.get_running_loop().create_future()
        self.protocol.request(pdu, future)
        # a caller that gave up (timed out) leaves the future behind: its "connection closed" at the
        # end is expected, not an error to log
        future.add_done_callback(_retrieved)
        self.transport.write(self.protocol.data_to_send())
        return future

    async def request(self, pdu: Pdu, timeout: float = 10) -> Pdu:
        return await asyncio.wait_for(self.send(pdu), timeout)

    async def submit(self, destination: str, text: bytes | str = b"hello", timeout: float = 10,
                     **fields: Any) -> Pdu:
        """submit_sm; returns submit_sm_resp whatever its status (check `.status`)."""
        body = text.encode("latin-1") if isinstance(text, str) else text
        fields.setdefault("source_addr", "1000")
        return await self.request(SubmitSm(destination_addr=destination, short_message=body, **fields), timeout)

    def send_submit(self, destination: str, text: bytes = b"hello", **fields: Any) -> asyncio.Future[Pdu]:
        """submit_sm without waiting: the future resolves to submit_sm_resp (for pipelining)."""
        fields.setdefault("source_addr", "1000")
        return self.send(SubmitSm(destination_addr=destination, short_message=text, **fields))

    def write_raw(self, data: bytes) -> None:
        """Bytes straight onto the socket, bypassing the session: for malformed-input tests."""
        assert self.transport is not None
        self.transport.write(data)

    async def unbind(self, timeout: float = 5) -> None:
        if self.protocol.is_bound:
            try:
                await self.request(Unbind(), timeout)
            except (asyncio.TimeoutError, EsmeError):
                pass
        self.close()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    async def wait_closed(self, timeout: float = 5) -> None:
        await asyncio.wait_for(asyncio.shield(self.closed), timeout)

    async def next_delivery(self, timeout: float = 5) -> Pdu:
        return await asyncio.wait_for(self.delivered.get(), timeout)

    @property
    def deliveries(self) -> AsyncIterator[Pdu]:
        """`async for deliver in esme.deliveries`: every deliver_sm/data_sm in arrival order (the
        queue next_delivery() reads); raises EsmeError("link lost") once the link is gone and
        what came before it was taken."""
        return self._deliveries()

    async def _deliveries(self) -> AsyncIterator[Pdu]:
        delivered = self.delivered
        while True:
            if not delivered.empty():
                yield delivered.get_nowait()
                continue
            if self.closed.done():
                raise EsmeError("link lost")
            get = asyncio.ensure_future(delivered.get())
            try:
                await asyncio.wait((get, self.closed), return_when=asyncio.FIRST_COMPLETED)
            finally:
                if not get.done():
                    get.cancel()  # the item it would have taken stays in the queue
            if get.done() and not get.cancelled():
                yield get.result()

    # ------------------------------------------------------------------ asyncio callbacks
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        protocol = self.protocol
        incoming = protocol.receive_data(data)
        self.violations += incoming.violations
        for response, future in incoming.replies:
            if not future.done():
                future.set_result(response)
        self.unsolicited += incoming.unsolicited
        for pdu in incoming.deliveries:
            status = self.on_deliver(pdu) if self.on_deliver else CommandStatus.ESME_ROK
            self.delivered.put_nowait(pdu)
            if status is not None:
                protocol.answer(pdu, status)
        out = protocol.data_to_send()
        if out and self.transport is not None:
            self.transport.write(out)

    def connection_lost(self, exc: Exception | None) -> None:
        _, futures = self.protocol.fail_all()
        for future in futures:
            if not future.done():
                future.set_exception(EsmeError("connection closed"))
        if not self.closed.done():
            self.closed.set_result(None)
        self.transport = None


def _retrieved(future: asyncio.Future[Pdu]) -> None:
    if not future.cancelled():
        future.exception()


__all__ = ["Esme", "EsmeError"]

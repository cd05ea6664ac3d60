"""A small asyncio ESME (SMPP client) on the project's own session: for tests, benchmarks and CLI.

It binds, sends requests and awaits their responses by sequence number, answers enquire_link,
and hands every deliver_sm to a callback or a queue. It is not the load harness's client (that
one is gevent-native); both stand on simulator.smpp, so no protocol code is written twice.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from typing import Any

from simulator.smpp.constants import CommandId, CommandStatus, status_name
from simulator.smpp.pdu import (
    BindReceiver,
    BindTransceiver,
    BindTransmitter,
    Pdu,
    SubmitSm,
    Unbind,
)
from simulator.smpp.session import BindState, ProtocolViolation, Role, SmppSession

C = CommandId
BIND_PDUS = {"transmitter": BindTransmitter, "receiver": BindReceiver, "transceiver": BindTransceiver}


class EsmeError(Exception):
    """A request the SMSC refused, or a link that went away."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


class Esme(asyncio.Protocol):
    """One bind to an SMSC. Use `await Esme.connect(host, port)`, then `await esme.bind(...)`."""

    def __init__(self, on_deliver: Callable[[Pdu], int | None] | None = None) -> None:
        self.session = SmppSession(Role.ESME)
        self.transport: asyncio.Transport | None = None
        self._waiting: dict[int, asyncio.Future[Pdu]] = {}
        # on_deliver(pdu) -> command_status to answer with (None: do not answer, for fault tests)
        self.on_deliver = on_deliver
        self.delivered: asyncio.Queue[Pdu] = asyncio.Queue()
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.violations: list[ProtocolViolation] = []
        self.unsolicited: list[Pdu] = []  # responses to nothing we sent (nacks of raw writes, say)
        self.answer_enquire_link = True

    # ------------------------------------------------------------------ connecting
    @classmethod
    async def connect(cls, host: str, port: int, **kwargs: Any) -> "Esme":
        loop = asyncio.get_running_loop()
        _, esme = await loop.create_connection(lambda: cls(**kwargs), host, port)
        return esme

    async def bind(self, system_id: str, password: str, kind: str = "transceiver", timeout: float = 10) -> Pdu:
        resp = await self.request(BIND_PDUS[kind](system_id=system_id, password=password, interface_version=0x34),
                                  timeout=timeout)
        if resp.status:
            raise EsmeError(f"bind refused: {status_name(resp.status)}", resp.status)
        return resp

    @classmethod
    async def bound(cls, host: str, port: int, system_id: str, password: str, kind: str = "transceiver",
                    **kwargs: Any) -> "Esme":
        esme = await cls.connect(host, port, **kwargs)
        await esme.bind(system_id, password, kind)
        return esme

    # ------------------------------------------------------------------ requests
    def send(self, pdu: Pdu) -> asyncio.Future[Pdu]:
        """Send a request; the future resolves to its response (generic_nack included)."""
        if self.transport is None or self.transport.is_closing():
            raise EsmeError("not connected")
        sequence = self.session.send(pdu)
        future: asyncio.Future[Pdu] = asyncio.get_running_loop().create_future()
        # a caller that gave up (timed out) leaves the future behind: its "connection closed" at the
        # end is expected, not an error to log
        future.add_done_callback(_retrieved)
        self._waiting[sequence] = future
        self.transport.write(self.session.data_to_send())
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
        if self.session.state in (BindState.BOUND_TX, BindState.BOUND_RX, BindState.BOUND_TRX):
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

    # ------------------------------------------------------------------ asyncio callbacks
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        for event in self.session.receive_data(data):
            if isinstance(event, ProtocolViolation):
                self.violations.append(event)
                continue
            if event.is_response:
                future = self._waiting.pop(event.sequence, None)
                if future is None:
                    self.unsolicited.append(event)
                elif not future.done():
                    future.set_result(event)
            elif event.command_id in (C.deliver_sm, C.data_sm):
                status = self.on_deliver(event) if self.on_deliver else CommandStatus.ESME_ROK
                self.delivered.put_nowait(event)
                if status is not None:
                    self.session.send(event.response(status=status))
            elif event.command_id == C.enquire_link:
                if self.answer_enquire_link:
                    self.session.send(event.response())
            elif event.command_id == C.unbind:
                self.session.send(event.response())
        out = self.session.data_to_send()
        if out and self.transport is not None:
            self.transport.write(out)

    def connection_lost(self, exc: Exception | None) -> None:
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(EsmeError("connection closed"))
        self._waiting.clear()
        if not self.closed.done():
            self.closed.set_result(None)
        self.transport = None


def _retrieved(future: asyncio.Future[Pdu]) -> None:
    if not future.cancelled():
        future.exception()


__all__ = ["Esme", "EsmeError"]

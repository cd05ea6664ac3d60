"""Interop: three real SMPP clients from PyPI (smpplib, aiosmpplib, smpp34) against the simulator.

Every byte on the client side is written and read by the third-party library, over real loopback
sockets; our own codec is used only where a library has no receipt parser (smpplib, smpp34).
Each client binds, submits a short GSM, a long GSM and a long UCS2 message (concatenated as that
library does it), gets one DELIVRD receipt per segment carrying the submit_sm_resp id, and unbinds.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Self

import pytest
import smpp34
import smpplib.client
import smpplib.consts
import smpplib.exceptions
import smpplib.gsm
from aiosmpplib import (
    ESME,
    AbstractHook,
    BindMode,
    DeliverSm,
    PhoneNumber,
    SmppCommand,
    SmppCommandStatus,
    SmppError,
    SmppMessage,
    SubmitSm,
    SubmitSmResp,
)
from aiosmpplib.correlator import SimpleCorrelator
from aiosmpplib.state import MESSAGE_STATE, RECEIPTED_MESSAGE_ID

from simulator.carrier.smsc import Smsc
from simulator.smpp.constants import CommandStatus, MessageState
from simulator.smpp.receipt import parse_receipt

from .conftest import carrier
from .waiting import eventually

pytestmark = pytest.mark.interop

HOST = "127.0.0.1"
SOURCE = "Acme"
DEST = "8613800000001"
WAIT = 3.0  # the bound on every wait for the SMSC or a client

# Text in the part of GSM 03.38 that coincides with ASCII, so "GSM, unpacked" is the ASCII octets.
SHORT_GSM = "Your code is 1234"
LONG_GSM = ("Carrier sim long message test, part of a concatenated SMS. 0123456789 " * 6)[:400]
# Cyrillic and CJK, all in the BMP: 2 octets per character in UCS2.
LONG_UCS2 = "Привет, мир! 你好，世界。" * 12
MESSAGES = {"short-gsm": SHORT_GSM, "long-gsm": LONG_GSM, "long-ucs2": LONG_UCS2}
# segments with 8-bit-reference UDH concatenation: 153 GSM characters or 67 UCS2 characters a part
SEGMENTS = {"short-gsm": 1, "long-gsm": 3, "long-ucs2": 4}
RECEIPT_TYPE = 0x04  # esm_class bits 2-5 = 0001: SMSC delivery receipt
MESSAGE_TYPE_MASK = 0x3C

assert len(LONG_GSM) == 400 and all(c.isalnum() and c.isascii() or c in " ,." for c in LONG_GSM)
assert len(LONG_UCS2) == 228 and all(ord(c) <= 0xFFFF for c in LONG_UCS2)


@pytest.fixture
async def smsc(make_smsc) -> Smsc:
    # a deliver_sm_resp later than response_timeout_s gets the receipt sent again: on a slow CI box
    # that would be a duplicate receipt, not an interop failure, so allow plenty of time here
    return await make_smsc(carrier(response_timeout_s=5))


async def all_sessions_closed(smsc: Smsc) -> None:
    """The client unbound and the SMSC has closed every connection and forgotten every bind."""
    await eventually(lambda: smsc.status()["connections"] == 0, WAIT,
                     what="the SMSC to close the connections")
    assert smsc.status()["accounts"]["qa"]["binds"] == 0
    assert smsc.stats.protocol_violations == 0


async def receipts_waiting_for_a_receiver(smsc: Smsc, count: int) -> None:
    """Every receipt is generated and queued at the SMSC, and no receiver is bound yet."""

    def account() -> dict:
        return smsc.status()["accounts"]["qa"]

    await eventually(lambda: account()["backlog"] == count, WAIT, what=f"{count} receipts queued")
    assert account()["receivers"] == 0 and account()["delivery"]["sent"] == 0


@dataclass
class Receipt:
    """One receipt as a client library saw it."""

    id: str  # from the receipt text
    stat: str
    receipted_message_id: str | None  # the TLV, where the library exposes it
    esm_class: int


def assert_one_delivrd_receipt_per_segment(
    receipts: list[Receipt], message_ids: dict[str, list[str]], expected_segments: dict[str, int]
) -> None:
    """message_ids: message name -> the ids of its segments' submit_sm_resp, in submit order."""
    assert {name: len(ids) for name, ids in message_ids.items()} == expected_segments
    all_ids = [i for ids in message_ids.values() for i in ids]
    assert len(set(all_ids)) == len(all_ids), f"message ids are not unique: {all_ids}"
    assert sorted(r.id for r in receipts) == sorted(all_ids)
    for r in receipts:
        assert r.esm_class & MESSAGE_TYPE_MASK == RECEIPT_TYPE, r
        assert r.stat == "DELIVRD", r
        assert r.receipted_message_id == r.id, r


class WireTap:
    """A loopback TCP relay in front of the SMSC that keeps every octet sent either way, for the
    facts a client library does not show its user."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.from_smsc = bytearray()
        self.from_client = bytearray()
        self.server: asyncio.Server | None = None
        self.tasks: set[asyncio.Task] = set()

    async def __aenter__(self) -> Self:
        self.server = await asyncio.start_server(self._relay, HOST, 0)
        return self

    async def __aexit__(self, *exc) -> None:
        assert self.server is not None
        self.server.close()
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.server.wait_closed()

    @property
    def port(self) -> int:
        assert self.server is not None
        return self.server.sockets[0].getsockname()[1]

    async def _relay(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        self.tasks.add(asyncio.current_task())  # type: ignore[arg-type]
        smsc_reader, smsc_writer = await asyncio.open_connection(HOST, self.upstream_port)

        async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, keep: bytearray) -> None:
            while data := await reader.read(65536):
                keep += data
                writer.write(data)
            if writer.can_write_eof():
                with contextlib.suppress(OSError):
                    writer.write_eof()  # pass a half-close on as a half-close

        try:
            await asyncio.gather(
                pipe(client_reader, smsc_writer, self.from_client),
                pipe(smsc_reader, client_writer, self.from_smsc),
            )
        except ConnectionError:
            pass  # a reset ends the relay like a close does; the tests check what was relayed
        finally:
            smsc_writer.close()
            client_writer.close()

    @staticmethod
    def _frames(data: bytes) -> list[bytes]:
        out = []
        while len(data) >= 4:
            (length,) = struct.unpack_from(">I", data)
            out.append(data[:length])
            data = data[length:]
        return out

    def pdus(self) -> list[bytes]:
        """The PDUs the SMSC sent, one bytes object each."""
        return self._frames(bytes(self.from_smsc))

    def client_pdus(self) -> list[bytes]:
        return self._frames(bytes(self.from_client))


# ============================================================================================ smpplib
# Blocking and single-threaded: each session runs in a worker thread (asyncio.to_thread) so the
# SMSC keeps running in the test's loop. Socket timeouts bound every read.


@dataclass
class SmpplibSession:
    client: smpplib.client.Client
    resps: dict[int, str] = field(default_factory=dict)  # submit_sm sequence -> message_id
    receipts: list[Receipt] = field(default_factory=list)
    deliveries: list = field(default_factory=list)

    @classmethod
    @contextlib.contextmanager
    def bound(cls, port: int, kind: str, password: str = "qa-pass"):
        # allow_unknown_opt_params=False: any TLV smpplib does not know is an error, the strict way
        client = smpplib.client.Client(HOST, port, timeout=WAIT, allow_unknown_opt_params=False)
        session = cls(client)
        client.set_message_sent_handler(
            lambda pdu: session.resps.__setitem__(pdu.sequence, pdu.message_id.decode())
        )
        client.set_message_received_handler(session._on_deliver)
        client.connect()
        try:
            getattr(client, f"bind_{kind}")(system_id="qa", password=password)
            yield session
        finally:
            if client.state in (
                smpplib.consts.SMPP_CLIENT_STATE_BOUND_TX,
                smpplib.consts.SMPP_CLIENT_STATE_BOUND_RX,
                smpplib.consts.SMPP_CLIENT_STATE_BOUND_TRX,
            ):
                with contextlib.suppress(Exception):
                    client.unbind()
            client.disconnect()

    def _on_deliver(self, pdu) -> int:
        self.deliveries.append(pdu)
        if pdu.esm_class & MESSAGE_TYPE_MASK == RECEIPT_TYPE:
            # smpplib has no receipt parser: the text is read with ours, the TLVs by smpplib
            parsed = parse_receipt(pdu.short_message)
            tlv = pdu.receipted_message_id
            self.receipts.append(
                Receipt(
                    parsed.message_id,
                    parsed.state.stat,
                    tlv.decode() if tlv is not None else None,
                    pdu.esm_class,
                )
            )
            assert pdu.message_state == MessageState.DELIVERED
        return smpplib.consts.SMPP_ESME_ROK

    def submit(self, text: str) -> list[int]:
        """Submit `text` split as smpplib does it (8-bit UDH); returns the segments' sequences."""
        parts, coding, esm_class = smpplib.gsm.make_parts(text)
        sequences = []
        for part in parts:
            pdu = self.client.send_message(
                source_addr=SOURCE,
                destination_addr=DEST,
                short_message=part,
                data_coding=coding,
                esm_class=esm_class,
                registered_delivery=1,
            )
            sequences.append(pdu.sequence)
        return sequences

    def read_until(self, done: Callable[[], bool]) -> None:
        deadline = time.monotonic() + WAIT
        while not done():
            assert time.monotonic() < deadline, "smpplib: timed out waiting for PDUs"
            self.client.read_once(auto_send_enquire_link=False)

    def unbind(self):
        resp = self.client.unbind()
        assert (resp.command, resp.status) == ("unbind_resp", smpplib.consts.SMPP_ESME_ROK)
        return resp


def smpplib_send_and_receive(port: int, names: list[str]) -> tuple[list[Receipt], dict[str, list[str]]]:
    with SmpplibSession.bound(port, "transceiver") as session:
        sequences = {name: session.submit(MESSAGES[name]) for name in names}
        total = sum(len(s) for s in sequences.values())
        session.read_until(lambda: len(session.resps) == total and len(session.receipts) == total)
        session.unbind()
    ids = {name: [session.resps[s] for s in seqs] for name, seqs in sequences.items()}
    return session.receipts, ids


@pytest.mark.parametrize("name", MESSAGES)
async def test_smpplib_transceiver_gets_a_delivrd_receipt_with_the_submit_id_for_every_segment(smsc, name):
    receipts, ids = await asyncio.to_thread(smpplib_send_and_receive, smsc.port, [name])
    assert_one_delivrd_receipt_per_segment(receipts, ids, {name: SEGMENTS[name]})
    await all_sessions_closed(smsc)


async def test_smpplib_receiver_that_binds_after_a_transmitter_sent_still_gets_every_receipt(smsc):
    def send() -> dict[str, list[str]]:
        with SmpplibSession.bound(smsc.port, "transmitter") as session:
            sequences = {name: session.submit(text) for name, text in MESSAGES.items()}
            total = sum(len(s) for s in sequences.values())
            session.read_until(lambda: len(session.resps) == total)
            session.unbind()
        assert session.deliveries == []  # a transmitter gets no receipts
        return {name: [session.resps[s] for s in seqs] for name, seqs in sequences.items()}

    def receive(total: int) -> list[Receipt]:
        with SmpplibSession.bound(smsc.port, "receiver") as session:
            session.read_until(lambda: len(session.receipts) == total)
            session.unbind()
        return session.receipts

    ids = await asyncio.to_thread(send)
    total = sum(SEGMENTS.values())
    await receipts_waiting_for_a_receiver(smsc, total)
    receipts = await asyncio.to_thread(receive, total)
    assert_one_delivrd_receipt_per_segment(receipts, ids, SEGMENTS)
    await all_sessions_closed(smsc)


async def test_smpplib_bind_with_a_wrong_password_is_refused_with_rinvpaswd(smsc):
    def bind() -> smpplib.exceptions.PDUError:
        with (
            pytest.raises(smpplib.exceptions.PDUError) as refused,
            SmpplibSession.bound(smsc.port, "transceiver", password="wrong"),
        ):
            pass
        return refused.value

    error = await asyncio.to_thread(bind)
    assert error.args[1] == smpplib.consts.SMPP_ESME_RINVPASWD == CommandStatus.ESME_RINVPASWD
    assert smsc.stats.bind_failures == 1 and smsc.stats.binds == 0
    await all_sessions_closed(smsc)


# ========================================================================================= aiosmpplib
# aiosmpplib's ESME hands the application only one "pertinent" submit_sm_resp and one receipt per
# concatenated message (the others reach the hook as raw PDUs with message None). So the hook keeps
# every raw PDU, and each is parsed with aiosmpplib's own classes (SubmitSmResp.from_pdu,
# DeliverSm.from_pdu + parse_receipt).


class RecordingHook(AbstractHook):
    def __init__(self) -> None:
        self.sent: dict[int, SubmitSm] = {}  # sequence -> submit_sm segment
        self.inbound: list[tuple[SmppMessage | None, bytes]] = []
        self.send_errors: list[tuple[SmppMessage, Exception]] = []

    async def sending(self, smpp_message: SmppMessage, pdu: bytes, client_id: str) -> None:
        if isinstance(smpp_message, SubmitSm):
            self.sent[smpp_message.sequence_num] = smpp_message

    async def received(self, smpp_message: SmppMessage | None, pdu: bytes, client_id: str) -> None:
        self.inbound.append((smpp_message, pdu))

    async def send_error(self, smpp_message: SmppMessage, error: Exception, client_id: str) -> None:
        self.send_errors.append((smpp_message, error))

    def pdus(self, command: SmppCommand) -> list[tuple[SmppMessage | None, bytes, object]]:
        out = []
        for message, pdu in self.inbound:
            header = SmppMessage.parse_header(pdu[:16])
            if header.smpp_command == command:
                out.append((message, pdu, header))
        return out

    def message_ids(self) -> dict[str, list[str]]:
        """log_id -> the message ids of its segments' submit_sm_resp, in submit order."""
        by_sequence = {}
        for _, pdu, header in self.pdus(SmppCommand.SUBMIT_SM_RESP):
            assert header.command_status == SmppCommandStatus.ESME_ROK
            by_sequence[header.sequence_num] = SubmitSmResp.from_pdu(pdu, header).message_id
        ids: dict[str, list[str]] = {}
        for sequence in sorted(self.sent):
            ids.setdefault(self.sent[sequence].log_id, []).append(by_sequence[sequence])
        return ids

    def receipts(self, esme: ESME) -> list[Receipt]:
        out = []
        for _, pdu, header in self.pdus(SmppCommand.DELIVER_SM):
            deliver = DeliverSm.from_pdu(pdu, header, esme.default_encoding, esme.custom_codecs)
            assert deliver.is_receipt()
            parsed = deliver.parse_receipt()
            tlvs = {p.tag: p.value for p in deliver.optional_params or []}
            assert tlvs[MESSAGE_STATE] == MessageState.DELIVERED
            out.append(
                Receipt(parsed["id"], parsed["stat"], tlvs.get(RECEIPTED_MESSAGE_ID), deliver.esm_class)
            )
        return out

    def correlated_receipts(self) -> list[str]:
        """log_ids of the receipts aiosmpplib itself correlated to a submit (one per message)."""
        return [m.log_id for m, _, _ in self.pdus(SmppCommand.DELIVER_SM) if m is not None]


@contextlib.asynccontextmanager
async def aiosmpplib_esme(
    smsc: Smsc, mode: BindMode, hook: RecordingHook, **kwargs
) -> AsyncIterator[tuple[ESME, WireTap]]:
    """A started and bound ESME, connected through a WireTap; stopped (unbind) on the way out."""
    async with WireTap(smsc.port) as tap:
        esme = ESME(
            HOST, tap.port, "qa", "qa-pass", bind_mode=mode, hook=hook, log_level="WARNING",
            socket_timeout=WAIT, **kwargs,
        )  # fmt: skip
        task = asyncio.create_task(esme.start())
        try:
            await asyncio.wait_for(esme._bound.wait(), WAIT)  # no public "bound" event; start() sets it
            yield esme, tap
        finally:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(esme.stop(), WAIT)
            if not task.done():
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    await all_sessions_closed(smsc)


def assert_unbind_answered_on_the_wire(tap: WireTap) -> None:
    """The ESME sent unbind and the SMSC answered unbind_resp ESME_ROK (headers read by aiosmpplib).

    aiosmpplib 0.7.4 cannot show this itself: ESME._disconnect() writes unbind and EOF, then drops
    its only StreamWriter reference, and (on the Python 3.11.7 here) StreamWriter.__del__ closes the
    transport, so the socket is gone before the unbind_resp arrives and the hook never sees it.
    """
    sent = [SmppMessage.parse_header(p[:16]) for p in tap.client_pdus()]
    answered = [SmppMessage.parse_header(p[:16]) for p in tap.pdus()]
    unbinds = [h.sequence_num for h in sent if h.smpp_command == SmppCommand.UNBIND]
    resps = [
        (h.sequence_num, h.command_status) for h in answered if h.smpp_command == SmppCommand.UNBIND_RESP
    ]
    assert len(unbinds) == 1 and resps == [(unbinds[0], SmppCommandStatus.ESME_ROK)]
    assert sent[-1].smpp_command == SmppCommand.UNBIND  # nothing after the unbind


async def every_receipt_acknowledged(smsc: Smsc, count: int) -> None:
    """The SMSC got a deliver_sm_resp ESME_ROK for `count` receipts, and no more."""

    def account() -> dict:
        return smsc.status()["accounts"]["qa"]

    await eventually(lambda: account()["delivery"]["acked"] >= count, WAIT,
                     what=f"{count} receipts acknowledged")
    assert account()["delivery"]["acked"] == count


def aiosmpplib_submit(name: str) -> SubmitSm:
    # esm_class UDHI: aiosmpplib splits with UDH (split_sms_udh) and clears the flag for one part.
    # Without UDHI it would split with SAR TLVs, but aiosmpplib 0.7.4 crashes its sender task there
    # (UnboundLocalError on `encoding` in ESME._dequeue_messages), so that path cannot be used.
    return SubmitSm(
        short_message=MESSAGES[name],
        source=PhoneNumber(SOURCE),
        destination=PhoneNumber(DEST),
        esm_class=0x40,
        registered_delivery=1,
        auto_message_payload=False,
        log_id=name,
    )


@pytest.mark.parametrize("name", MESSAGES)
async def test_aiosmpplib_transceiver_gets_a_delivrd_receipt_with_the_submit_id_for_every_segment(smsc, name):
    hook = RecordingHook()
    async with aiosmpplib_esme(smsc, BindMode.TRANSCEIVER, hook) as (esme, tap):
        await esme.broker.enqueue(aiosmpplib_submit(name))
        await every_receipt_acknowledged(smsc, SEGMENTS[name])
    assert hook.send_errors == []
    assert_one_delivrd_receipt_per_segment(hook.receipts(esme), hook.message_ids(), {name: SEGMENTS[name]})
    # aiosmpplib's own correlator matched the receipts to the submit by id (same id, same base)
    assert hook.correlated_receipts() == [name]
    assert_unbind_answered_on_the_wire(tap)


async def test_aiosmpplib_receiver_that_binds_after_a_transmitter_sent_still_gets_every_receipt(smsc):
    total = sum(SEGMENTS.values())
    correlator = SimpleCorrelator("qa")  # shared by both binds, as an application would persist it
    sender = RecordingHook()
    async with aiosmpplib_esme(smsc, BindMode.TRANSMITTER, sender, correlator=correlator) as (esme, tap):
        for name in MESSAGES:
            await esme.broker.enqueue(aiosmpplib_submit(name))
        await eventually(lambda: len(sender.pdus(SmppCommand.SUBMIT_SM_RESP)) == total, WAIT,
                         what="submit_sm_resp")
    assert sender.send_errors == [] and sender.pdus(SmppCommand.DELIVER_SM) == []
    assert_unbind_answered_on_the_wire(tap)
    await receipts_waiting_for_a_receiver(smsc, total)

    receiver = RecordingHook()
    async with aiosmpplib_esme(smsc, BindMode.RECEIVER, receiver, correlator=correlator) as (esme, tap):
        await every_receipt_acknowledged(smsc, total)
    assert_one_delivrd_receipt_per_segment(receiver.receipts(esme), sender.message_ids(), SEGMENTS)
    assert sorted(receiver.correlated_receipts()) == sorted(MESSAGES)
    assert_unbind_answered_on_the_wire(tap)


async def test_aiosmpplib_bind_with_a_wrong_password_is_refused_with_rinvpaswd(smsc):
    esme = ESME(HOST, smsc.port, "qa", "wrong", log_level="WARNING", socket_timeout=WAIT)
    try:
        with pytest.raises(SmppError) as refused:
            await esme.connect()  # the bind step of start(), which would retry forever
    finally:
        if esme._writer is not None:  # no public close for a connection whose bind failed
            esme._writer.close()
    assert refused.value.smpp_command == SmppCommand.BIND_TRANSCEIVER_RESP
    assert refused.value.command_status == SmppCommandStatus.ESME_RINVPASWD == CommandStatus.ESME_RINVPASWD
    assert smsc.stats.bind_failures == 1 and smsc.stats.binds == 0
    await all_sessions_closed(smsc)


# ============================================================================================= smpp34
# smpp34 (Rust core) neither splits long messages nor parses receipt text: the test concatenates
# with 8-bit-reference UDH itself and reads the receipt text with our parser; the receipted_message_id
# and message_state TLVs are read with smpp34's Tlv accessors.


def udh_parts(payload: bytes, single: int, per_part: int, ref: int) -> list[bytes]:
    """`payload` as is if it fits in one SMS (`single` octets), else 8-bit-reference UDH parts."""
    if len(payload) <= single:
        return [payload]
    chunks = [payload[i : i + per_part] for i in range(0, len(payload), per_part)]
    return [bytes((5, 0, 3, ref, len(chunks), n)) + chunk for n, chunk in enumerate(chunks, 1)]


def smpp34_parts(name: str) -> tuple[int, int, list[bytes]]:
    """(data_coding, esm_class, short_messages) of a message, concatenated by hand."""
    text = MESSAGES[name]
    if name == "long-ucs2":
        coding, parts = 0x08, udh_parts(text.encode("utf-16-be"), 140, 134, ref=7)
    else:
        coding, parts = 0x00, udh_parts(text.encode("ascii"), 160, 153, ref=9)
    return coding, 0x40 if len(parts) > 1 else 0, parts


async def smpp34_submit(session: smpp34.Smsc, name: str) -> list[str]:
    coding, esm_class, parts = smpp34_parts(name)
    ids = []
    for part in parts:
        resp = await asyncio.wait_for(
            session.submit_sm(
                DEST, part, source_addr=SOURCE, esm_class=esm_class, data_coding=coding, registered_delivery=1
            ),
            WAIT,
        )
        assert resp.is_success and resp.command_status == 0, resp.command_status
        ids.append(resp.message_id)
    return ids


async def smpp34_receipts(session: smpp34.Smsc, count: int) -> list[Receipt]:
    out = []
    for _ in range(count):
        event = await asyncio.wait_for(session.next(), WAIT)  # smpp34 may hand them over in any order
        assert isinstance(event, smpp34.DeliverSmEvent), event
        tlvs = {t.tag: t for t in event.tlvs}
        assert tlvs[smpp34.TLV_MESSAGE_STATE].as_int() == MessageState.DELIVERED
        parsed = parse_receipt(event.short_message)
        tlv = tlvs[smpp34.TLV_RECEIPTED_MESSAGE_ID].as_string()
        out.append(Receipt(parsed.message_id, parsed.state.stat, tlv, event.esm_class))
    return out


@contextlib.asynccontextmanager
async def smpp34_session(port: int, bind_type: str) -> AsyncIterator[smpp34.Smsc]:
    client = smpp34.Client(
        HOST, port, "qa", "qa-pass", bind_type=bind_type, connect_timeout_ms=int(WAIT * 1000)
    )
    try:
        session = await asyncio.wait_for(client.connect(), WAIT + 1)
        yield session
    finally:
        await asyncio.wait_for(client.stop(), WAIT)


async def smpp34_unbind(session: smpp34.Smsc) -> None:
    await asyncio.wait_for(session.unbind(), WAIT)  # raises SmppError unless unbind_resp came back
    assert isinstance(await asyncio.wait_for(session.next(), WAIT), smpp34.Disconnected)


@pytest.mark.parametrize("name", MESSAGES)
async def test_smpp34_transceiver_gets_a_delivrd_receipt_with_the_submit_id_for_every_segment(smsc, name):
    async with smpp34_session(smsc.port, "TRX") as session:
        ids = {name: await smpp34_submit(session, name)}
        receipts = await smpp34_receipts(session, SEGMENTS[name])
        await smpp34_unbind(session)
    assert_one_delivrd_receipt_per_segment(receipts, ids, {name: SEGMENTS[name]})
    await all_sessions_closed(smsc)


async def test_smpp34_receiver_that_binds_after_a_transmitter_sent_still_gets_every_receipt(smsc):
    async with smpp34_session(smsc.port, "TX") as session:
        ids = {name: await smpp34_submit(session, name) for name in MESSAGES}
        await smpp34_unbind(session)
    total = sum(SEGMENTS.values())
    await receipts_waiting_for_a_receiver(smsc, total)
    async with smpp34_session(smsc.port, "RX") as session:
        receipts = await smpp34_receipts(session, total)
        await smpp34_unbind(session)
    assert_one_delivrd_receipt_per_segment(receipts, ids, SEGMENTS)
    await all_sessions_closed(smsc)


async def test_smpp34_bind_with_a_wrong_password_is_refused_with_rinvpaswd(smsc):
    # smpp34's Client.connect() does not surface a refused bind: the Rust core logs the status and
    # connect() raises SmppError("bind timed out") when connect_timeout_ms has passed. So the
    # refusal is read off the wire, decoded by smpp34's own codec.
    async with WireTap(smsc.port) as tap:
        client = smpp34.Client(HOST, tap.port, "qa", "wrong", bind_type="TRX", connect_timeout_ms=500)
        try:
            with pytest.raises(smpp34.SmppError):
                await asyncio.wait_for(client.connect(), WAIT)
        finally:
            await asyncio.wait_for(client.stop(), WAIT)
        responses = [smpp34.decode(pdu) for pdu in tap.pdus()]
    assert [(r.command_id, r.command_status) for r in responses] == [
        (0x80000009, CommandStatus.ESME_RINVPASWD)
    ]
    assert smsc.stats.bind_failures == 1 and smsc.stats.binds == 0
    await all_sessions_closed(smsc)

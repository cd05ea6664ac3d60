"""The sans-IO session: framing in any chunking, the bind state machine, and answers to bad input."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.smpp.constants import CommandId, CommandStatus
from simulator.smpp.errors import SessionError
from simulator.smpp.pdu import (
    BindTransceiver,
    BindTransmitter,
    BindTransmitterResp,
    DeliverSm,
    EnquireLink,
    GenericNack,
    SubmitSm,
    SubmitSmResp,
    Unbind,
    decode_pdu,
)
from simulator.smpp.session import BindState, ProtocolViolation, Role, SmppSession

S = CommandStatus


def frames(data: bytes) -> list:
    """Split a byte string of whole PDUs into decoded PDUs."""
    out, pos = [], 0
    while pos < len(data):
        (length,) = struct.unpack_from(">I", data, pos)
        out.append(decode_pdu(data[pos : pos + length]))
        pos += length
    return out


def bound_smsc(bind=BindTransceiver) -> SmppSession:
    smsc = SmppSession(Role.SMSC)
    (req,) = smsc.receive_data(bind(sequence=1, system_id="qa", password="pw").encode())
    smsc.send(req.response(system_id="carrier-sim"))
    smsc.data_to_send()
    return smsc


def test_submit_before_bind_is_answered_rinvbndsts_and_the_session_survives():
    smsc = SmppSession(Role.SMSC)
    events = smsc.receive_data(SubmitSm(sequence=7, destination_addr="1").encode())
    assert isinstance(events[0], ProtocolViolation)
    (resp,) = frames(smsc.data_to_send())
    assert isinstance(resp, SubmitSmResp) and resp.status == S.ESME_RINVBNDSTS and resp.sequence == 7
    assert smsc.state is BindState.OPEN
    (bind,) = smsc.receive_data(BindTransmitter(sequence=8, system_id="qa").encode())
    assert isinstance(bind, BindTransmitter)


def test_second_bind_on_a_bound_session_is_ralybnd():
    smsc = bound_smsc()
    smsc.receive_data(BindTransmitter(sequence=2, system_id="qa").encode())
    (resp,) = frames(smsc.data_to_send())
    assert resp.command_id == CommandId.bind_transmitter_resp and resp.status == S.ESME_RALYBND


def test_transmitter_cannot_be_sent_deliver_sm_and_receiver_cannot_submit():
    tx = bound_smsc(BindTransmitter)
    with pytest.raises(SessionError):
        tx.send(DeliverSm(destination_addr="1"))
    from simulator.smpp.pdu import BindReceiver

    rx = bound_smsc(BindReceiver)
    rx.receive_data(SubmitSm(sequence=3).encode())
    (resp,) = frames(rx.data_to_send())
    assert resp.status == S.ESME_RINVBNDSTS


def test_unknown_command_id_gets_generic_nack_rinvcmdid_and_the_next_pdu_still_works():
    smsc = bound_smsc()
    junk = struct.pack(">IIII", 20, 0x00000777, 0, 5) + b"abcd"
    events = smsc.receive_data(junk + SubmitSm(sequence=6, destination_addr="1").encode())
    assert isinstance(events[0], ProtocolViolation) and isinstance(events[1], SubmitSm)
    (nack,) = frames(smsc.data_to_send())
    assert isinstance(nack, GenericNack) and nack.status == S.ESME_RINVCMDID and nack.sequence == 5


def test_deliver_sm_sent_to_an_smsc_is_refused():
    smsc = bound_smsc()
    smsc.receive_data(DeliverSm(sequence=9).encode())
    (resp,) = frames(smsc.data_to_send())
    assert resp.command_id == CommandId.deliver_sm_resp and resp.status != 0


@pytest.mark.parametrize("length", [0, 15, 10_000_000, 0xFFFFFFFF])
def test_impossible_command_length_is_nacked_rinvcmdlen_and_closes_without_buffering(length):
    smsc = bound_smsc()
    events = smsc.receive_data(struct.pack(">IIII", length, 4, 0, 11) + b"x" * 100)
    assert events[0].fatal
    assert smsc.state is BindState.CLOSED
    (nack,) = frames(smsc.data_to_send())
    assert isinstance(nack, GenericNack) and nack.status == S.ESME_RINVCMDLEN
    assert smsc.receive_data(b"y" * 1000) == []
    assert len(smsc._buffer) == 0


def test_a_malformed_submit_is_answered_with_its_field_status():
    smsc = bound_smsc()
    wire = SubmitSm(sequence=12, destination_addr="1" * 20).encode()
    wire = wire.replace(b"1" * 20 + b"\0", b"1" * 21 + b"\0")
    smsc.receive_data(struct.pack(">I", len(wire)) + wire[4:])
    (resp,) = frames(smsc.data_to_send())
    assert resp.status == S.ESME_RINVDSTADR and resp.sequence == 12


def test_esme_and_smsc_sessions_talk_to_each_other():
    esme, smsc = SmppSession(Role.ESME), SmppSession(Role.SMSC)
    esme.send(BindTransceiver(system_id="qa", password="pw"))
    (bind,) = smsc.receive_data(esme.data_to_send())
    smsc.send(bind.response(system_id="sim"))
    esme.receive_data(smsc.data_to_send())
    assert esme.state is smsc.state is BindState.BOUND_TRX
    seq = esme.send(SubmitSm(destination_addr="123", short_message=b"hi"))
    assert seq in esme.outstanding
    (sub,) = smsc.receive_data(esme.data_to_send())
    smsc.send(sub.response(message_id="1"))
    (resp,) = esme.receive_data(smsc.data_to_send())
    assert resp.message_id == "1" and seq not in esme.outstanding
    esme.send(Unbind())
    (unbind,) = smsc.receive_data(esme.data_to_send())
    smsc.send(unbind.response())
    assert smsc.state is BindState.CLOSED
    esme.receive_data(smsc.data_to_send())
    assert esme.state is BindState.CLOSED


def test_failed_bind_leaves_the_esme_open():
    esme = SmppSession(Role.ESME)
    esme.send(BindTransmitter(system_id="qa", password="bad"))
    esme.receive_data(BindTransmitterResp(sequence=1, status=S.ESME_RINVPASWD).encode())
    assert esme.state is BindState.OPEN


def test_sequence_numbers_wrap_before_the_sign_bit():
    esme = SmppSession(Role.ESME)
    esme._sequence = 0x7FFFFFFF
    assert esme.next_sequence() == 1


@st.composite
def traffic(draw):
    pdus = [BindTransceiver(sequence=1, system_id="qa", password="pw")]
    for i in range(draw(st.integers(0, 20))):
        kind = draw(st.sampled_from(["submit", "enquire", "junk"]))
        if kind == "submit":
            pdus.append(SubmitSm(sequence=i + 2, destination_addr=str(i), short_message=draw(st.binary(max_size=60))))
        elif kind == "enquire":
            pdus.append(EnquireLink(sequence=i + 2))
        else:
            pdus.append(struct.pack(">IIII", 16, 0x0000ABCD, 0, i + 2))
    return b"".join(p if isinstance(p, bytes) else p.encode() for p in pdus)


def _feed(data: bytes, cuts: list[int]) -> tuple[list, bytes]:
    smsc = SmppSession(Role.SMSC)
    events, out = [], []
    prev = 0
    for cut in sorted(set(cuts)) + [len(data)]:
        chunk = data[prev:cut]
        while True:
            new = smsc.receive_data(chunk)
            chunk = b""
            for event in new:
                events.append(event)
                if isinstance(event, BindTransceiver):
                    smsc.send(event.response(system_id="sim"))
            if not smsc.paused and not any(isinstance(e, BindTransceiver) for e in new):
                break
        out.append(smsc.data_to_send())
        prev = cut
    return events, b"".join(out)


@given(traffic(), st.lists(st.integers(0, 2000), max_size=30))
@settings(max_examples=200)
def test_any_chunking_yields_the_same_pdus_and_answers(data, cuts):
    whole_events, whole_out = _feed(data, [])
    cuts = [c for c in cuts if c < len(data)]
    chunked_events, chunked_out = _feed(data, cuts)
    assert chunked_events == whole_events
    assert chunked_out == whole_out


def test_pdus_pipelined_behind_a_bind_wait_until_the_bind_is_answered():
    smsc = SmppSession(Role.SMSC)
    data = BindTransmitter(sequence=1, system_id="qa").encode() + SubmitSm(sequence=2).encode()
    (bind,) = smsc.receive_data(data)
    assert smsc.paused
    smsc.send(bind.response(system_id="sim"))
    (submit,) = smsc.receive_data(b"")
    assert isinstance(submit, SubmitSm) and submit.sequence == 2


def test_one_byte_at_a_time_yields_the_same_pdus():
    data = b"".join(
        [BindTransceiver(sequence=1, system_id="qa").encode()]
        + [SubmitSm(sequence=i, destination_addr=str(i)).encode() for i in range(2, 12)]
    )
    events, _ = _feed(data, list(range(1, len(data))))
    assert [e.sequence for e in events] == list(range(1, 12))


@given(st.binary(max_size=2000))
@settings(max_examples=500)
def test_arbitrary_bytes_never_raise_and_buffering_stays_bounded(data):
    smsc = SmppSession(Role.SMSC, max_command_length=1024)
    for i in range(0, len(data), 97):
        for event in smsc.receive_data(data[i : i + 97]):
            assert isinstance(event, (ProtocolViolation,)) or hasattr(event, "command_id")
        assert len(smsc._buffer) < 1024

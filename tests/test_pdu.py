"""The PDU codec: every SMPP 3.4 PDU round-trips, field limits hold, hostile bytes give PduError only."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.smpp.constants import CommandId, CommandStatus, Tag
from simulator.smpp.errors import PduEncodeError, PduError
from simulator.smpp.fields import FIELDS, OMIT_BODY_ON_ERROR
from simulator.smpp.pdu import (
    PDU_CLASSES,
    DistributionList,
    SmeAddress,
    SubmitMulti,
    SubmitSm,
    SubmitSmResp,
    decode_pdu,
)
from simulator.smpp.tlv import FIXED_LENGTH, read_int, read_str, tlv_value

S = CommandStatus
LATIN1_NO_NUL = st.characters(min_codepoint=1, max_codepoint=255)


def cstring(size: int) -> st.SearchStrategy[str]:
    return st.text(LATIN1_NO_NUL, max_size=size - 1)


def field_strategy(field) -> st.SearchStrategy:
    return {
        "B": lambda: st.integers(0, 255),
        "I": lambda: st.integers(0, 2**32 - 1),
        "c": lambda: cstring(field.size),
        "t": lambda: st.one_of(st.just(""), st.text(st.sampled_from("0123456789+-R"), min_size=16, max_size=16)),
        "sm": lambda: st.binary(max_size=254),
        "dests": lambda: st.lists(
            st.one_of(
                st.builds(SmeAddress, st.integers(0, 255), st.integers(0, 255), cstring(21)),
                st.builds(DistributionList, cstring(21)),
            ),
            min_size=1,
            max_size=8,
        ),
        "unsuccess": lambda: st.lists(
            st.builds(SmeAddress, st.integers(0, 255), st.integers(0, 255), cstring(21), st.integers(0, 2**32 - 1)),
            max_size=8,
        ),
    }[field.kind]()


def tlv_strategy() -> st.SearchStrategy[dict[int, bytes]]:
    free_tags = st.integers(0, 0xFFFF).filter(lambda t: t not in FIXED_LENGTH)
    fixed = st.sampled_from(sorted(FIXED_LENGTH)).flatmap(
        lambda t: st.tuples(st.just(t), st.binary(min_size=FIXED_LENGTH[t], max_size=FIXED_LENGTH[t]))
    )
    pair = st.one_of(st.tuples(free_tags, st.binary(max_size=300)), fixed)
    return st.lists(pair, max_size=5).map(dict)


@st.composite
def any_pdu(draw):
    command_id = draw(st.sampled_from(sorted(FIELDS)))
    cls = PDU_CLASSES[command_id]
    status = draw(st.sampled_from([0, 0, S.ESME_RTHROTTLED, 0x4A1])) if cls.is_response else 0
    values = {f.name: draw(field_strategy(f)) for f in FIELDS[command_id]}
    if status and command_id in OMIT_BODY_ON_ERROR:
        values, tlvs = {}, {}
    else:
        tlvs = draw(tlv_strategy())
    return cls(sequence=draw(st.integers(1, 0x7FFFFFFF)), status=status, tlvs=tlvs, **values)


@given(any_pdu())
@settings(max_examples=600)
def test_every_pdu_survives_an_encode_decode_round_trip(pdu):
    assert decode_pdu(pdu.encode()) == pdu


@given(any_pdu())
def test_command_length_in_the_header_is_the_length_of_the_pdu(pdu):
    wire = pdu.encode()
    assert struct.unpack(">I", wire[:4])[0] == len(wire)
    assert struct.unpack(">I", wire[4:8])[0] == pdu.command_id


@given(st.binary(max_size=400))
@settings(max_examples=1000)
def test_arbitrary_bytes_raise_nothing_but_pdu_error(data):
    try:
        pdu = decode_pdu(data)
    except PduError as err:
        assert_refusal(err)
        return
    # decoded: the header read as written, the whole frame used
    length, command_id, status, sequence = struct.unpack(">IIII", data[:16])
    assert (length, pdu.command_id, pdu.status, pdu.sequence) == (len(data), command_id, status, sequence)


def assert_refusal(err: PduError) -> None:
    """A PduError carries an error command_status to answer with, and says what was wrong."""
    assert err.status in set(CommandStatus) and err.status != CommandStatus.ESME_ROK, err.status
    assert err.detail


@given(any_pdu(), st.data())
@settings(max_examples=400)
def test_a_mutated_pdu_decodes_or_raises_pdu_error(pdu, data):
    wire = bytearray(pdu.encode())
    if len(wire) > 16:
        for _ in range(data.draw(st.integers(1, 4))):
            wire[data.draw(st.integers(16, len(wire) - 1))] = data.draw(st.integers(0, 255))
    try:
        decoded = decode_pdu(bytes(wire))
    except PduError as err:
        assert_refusal(err)
        return
    # only the body was changed: the header is the original's, and what was decoded encodes again
    header = (decoded.command_id, decoded.status, decoded.sequence)
    assert header == (pdu.command_id, pdu.status, pdu.sequence)
    assert decode_pdu(decoded.encode()) == decoded


def test_unknown_and_vendor_tlvs_are_written_back_unchanged():
    tlvs = {0x1400: b"\x00\xffvendor", 0x3FFF: b"", Tag.message_payload: b"\x00" * 1000}
    pdu = decode_pdu(SubmitSm(sequence=1, destination_addr="1", tlvs=tlvs).encode())
    assert pdu.tlvs == tlvs
    assert list(pdu.tlvs) == list(tlvs)


def test_a_destination_longer_than_20_digits_is_refused_with_rinvdstadr():
    good = SubmitSm(sequence=1, destination_addr="1" * 20).encode()
    bad = good.replace(b"1" * 20 + b"\0", b"1" * 21 + b"\0")
    bad = struct.pack(">I", len(bad)) + bad[4:]
    with pytest.raises(PduError) as err:
        decode_pdu(bad)
    assert err.value.status == S.ESME_RINVDSTADR


def test_a_too_long_field_cannot_be_encoded():
    with pytest.raises(PduEncodeError):
        SubmitSm(destination_addr="1" * 21).encode()
    with pytest.raises(PduEncodeError):
        SubmitSm(short_message=b"x" * 255).encode()
    with pytest.raises(PduEncodeError):
        SubmitSm(schedule_delivery_time="2611211200").encode()


def test_sm_length_beyond_the_body_is_rinvmsglen():
    wire = bytearray(SubmitSm(sequence=1, short_message=b"abc").encode())
    wire[-4] = 200  # sm_length
    with pytest.raises(PduError) as err:
        decode_pdu(bytes(wire))
    assert err.value.status == S.ESME_RINVMSGLEN


def test_a_bad_time_field_is_rinvsched_or_rinvexpiry():
    sched = SubmitSm(schedule_delivery_time="261121120000000+").encode()
    bad = sched.replace(b"261121120000000+\0", b"2611211200000+\0\0\0")
    with pytest.raises(PduError) as err:
        decode_pdu(bad)
    assert err.value.status == S.ESME_RINVSCHED


def test_error_responses_without_a_body_decode_with_defaults():
    wire = struct.pack(">IIII", 16, CommandId.submit_sm_resp, S.ESME_RTHROTTLED, 9)
    pdu = decode_pdu(wire)
    assert isinstance(pdu, SubmitSmResp)
    assert (pdu.status, pdu.sequence, pdu.message_id) == (S.ESME_RTHROTTLED, 9, "")
    # and we send submit_sm_resp errors without a body, as the spec says
    assert len(SubmitSmResp(sequence=9, status=S.ESME_RTHROTTLED, message_id="x").encode()) == 16


def test_submit_multi_keeps_sme_addresses_and_distribution_lists_in_order():
    dests = [SmeAddress(1, 1, "4477001"), DistributionList("staff"), SmeAddress(0, 0, "4477002")]
    pdu = decode_pdu(SubmitMulti(sequence=3, dest_address=dests, short_message=b"hi").encode())
    assert pdu.dest_address == dests


def test_submit_multi_with_zero_destinations_is_rinvnumdests():
    wire = bytearray(SubmitMulti(sequence=3, dest_address=[SmeAddress(0, 0, "1")]).encode())
    count_at = 16 + 1 + 2 + 1  # header, empty service_type, source ton/npi, empty source_addr
    assert wire[count_at] == 1
    wire[count_at] = 0
    with pytest.raises(PduError) as err:
        decode_pdu(bytes(wire))
    assert err.value.status == S.ESME_RINVNUMDESTS


def test_fixed_length_tlv_with_wrong_length_is_rinvparlen():
    pdu = SubmitSm(sequence=1, tlvs={Tag.sar_msg_ref_num: b"\x01"})
    with pytest.raises(PduError) as err:
        decode_pdu(pdu.encode())
    assert err.value.status == S.ESME_RINVPARLEN


def test_truncated_tlv_stream_is_rinvoptparstream():
    wire = SubmitSm(sequence=1, tlvs={0x1400: b"abcd"}).encode()[:-2]
    wire = struct.pack(">I", len(wire)) + wire[4:]
    with pytest.raises(PduError) as err:
        decode_pdu(wire)
    assert err.value.status == S.ESME_RINVOPTPARSTREAM


def test_typed_tlv_helpers_read_what_they_write():
    tlvs = {
        Tag.receipted_message_id: tlv_value(Tag.receipted_message_id, "ABC123"),
        Tag.message_state: tlv_value(Tag.message_state, 2),
        Tag.sar_msg_ref_num: tlv_value(Tag.sar_msg_ref_num, 0xBEEF),
    }
    assert tlvs[Tag.receipted_message_id] == b"ABC123\0"
    assert read_str(tlvs, Tag.receipted_message_id) == "ABC123"
    assert read_int(tlvs, Tag.message_state) == 2
    assert read_int(tlvs, Tag.sar_msg_ref_num) == 0xBEEF
    assert read_int(tlvs, Tag.sar_total_segments, 1) == 1


def test_response_carries_the_request_sequence():
    req = SubmitSm(sequence=4242)
    resp = req.response(message_id="77")
    assert isinstance(resp, SubmitSmResp) and resp.sequence == 4242 and resp.message_id == "77"

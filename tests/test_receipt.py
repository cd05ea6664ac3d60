"""Delivery receipts (SMPP 3.4 Appendix B): the text we send, the text carriers send, the TLVs."""

from __future__ import annotations

import dataclasses
from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.smpp.constants import MessageState, Tag
from simulator.smpp.receipt import (
    Receipt,
    ReceiptParseError,
    _parse_scanning,
    format_receipt_date,
    is_intermediate,
    is_receipt,
    parse_receipt,
    receipt_from_tlvs,
)

SUBMITTED = datetime(2024, 1, 31, 12, 0)
DONE = datetime(2024, 1, 31, 12, 1)


def delivered(**changes) -> Receipt:
    fields = dict(
        message_id="0a1b2c3d",
        state=MessageState.DELIVERED,
        err="000",
        submit_date=SUBMITTED,
        done_date=DONE,
        text="Your code is 123456",
    )
    fields.update(changes)
    return Receipt(**fields)


# --- the text we send -------------------------------------------------------------------------


def test_text_has_the_appendix_b_layout():
    assert delivered().to_text() == (
        "id:0a1b2c3d sub:001 dlvrd:001 submit date:2401311200 done date:2401311201"
        " stat:DELIVRD err:000 text:Your code is 123456"
    )


def test_counts_are_written_with_three_digits():
    text = delivered(sub=3, dlvrd=2).to_text()
    assert " sub:003 dlvrd:002 " in text


def test_dlvrd_defaults_to_one_only_when_delivered():
    assert delivered().dlvrd == 1
    assert delivered(state=MessageState.UNDELIVERABLE).dlvrd == 0
    assert delivered(state=MessageState.ENROUTE).dlvrd == 0


def test_a_plain_integer_state_becomes_a_message_state():
    assert delivered(state=5).state is MessageState.UNDELIVERABLE


@pytest.mark.parametrize(
    "state, word",
    [
        (MessageState.ENROUTE, "ENROUTE"),
        (MessageState.DELIVERED, "DELIVRD"),
        (MessageState.EXPIRED, "EXPIRED"),
        (MessageState.DELETED, "DELETED"),
        (MessageState.UNDELIVERABLE, "UNDELIV"),
        (MessageState.ACCEPTED, "ACCEPTD"),
        (MessageState.UNKNOWN, "UNKNOWN"),
        (MessageState.REJECTED, "REJECTD"),
    ],
)
def test_each_state_is_written_with_its_seven_letter_stat_word(state, word):
    assert f" stat:{word} " in delivered(state=state).to_text()


def test_only_the_first_twenty_characters_of_the_message_are_sent():
    text = delivered(text="Your verification code is 123456, valid for 5 minutes").to_text()
    assert text.endswith(" text:Your verification co")


def test_receipt_dates_are_yymmddhhmm_without_seconds():
    assert format_receipt_date(datetime(2009, 7, 5, 8, 3, 59)) == "0907050803"
    assert format_receipt_date(datetime(2099, 12, 31, 23, 59)) == "9912312359"


def test_a_missing_date_is_written_as_ten_zeros_and_read_back_as_none():
    receipt = delivered(submit_date=None, done_date=None)
    assert "submit date:0000000000 done date:0000000000 " in receipt.to_text()
    parsed = parse_receipt(receipt.to_text())
    assert parsed.submit_date is None and parsed.done_date is None


# --- round trip -------------------------------------------------------------------------------

receipt_ids = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E, blacklist_characters=":"),
    min_size=1,
    max_size=65,
)
errs = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E, blacklist_characters=":"),
    max_size=6,
)
receipt_dates = st.none() | st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31, 23, 59)
).map(lambda dt: dt.replace(second=0, microsecond=0))
receipts = st.builds(
    Receipt,
    message_id=receipt_ids,
    state=st.sampled_from(MessageState),
    err=errs,
    submit_date=receipt_dates,
    done_date=receipt_dates,
    sub=st.integers(0, 999),
    dlvrd=st.none() | st.integers(0, 999),
    text=st.text(max_size=40),
)


@settings(max_examples=300, deadline=None)
@given(receipts)
def test_any_receipt_reads_back_from_its_text(receipt):
    expected = dataclasses.replace(receipt, text=receipt.text[:20].rstrip("\x00\r\n"))
    assert parse_receipt(receipt.to_text()) == expected
    assert parse_receipt(receipt.to_text().encode("utf-8")) == expected


# --- the text carriers send -------------------------------------------------------------------

REAL_WORLD = {
    "kannel_style": (
        "id:2030618245 sub:001 dlvrd:001 submit date:0807071501 done date:0807071502"
        " stat:DELIVRD err:000 text:Test message",
        dict(message_id="2030618245", state=MessageState.DELIVERED, err="000",
             submit_date=datetime(2008, 7, 7, 15, 1), done_date=datetime(2008, 7, 7, 15, 2),
             sub=1, dlvrd=1, text="Test message"),
    ),
    "capitalised_text_key_and_unpadded_counts": (
        "id:45013311 sub:0 dlvrd:28 submit date:1908121157 done date:1908121158"
        " stat:UNDELIV err:21 Text:*100#",
        dict(message_id="45013311", state=MessageState.UNDELIVERABLE, err="21",
             submit_date=datetime(2019, 8, 12, 11, 57), done_date=datetime(2019, 8, 12, 11, 58),
             sub=0, dlvrd=28, text="*100#"),
    ),
    "missing_sub_and_dlvrd": (
        "id:1526758011 submit date:1701240904 done date:1701240905 stat:DELIVRD err:000 text:hello",
        dict(message_id="1526758011", state=MessageState.DELIVERED, err="000",
             submit_date=datetime(2017, 1, 24, 9, 4), done_date=datetime(2017, 1, 24, 9, 5),
             sub=1, dlvrd=1, text="hello"),
    ),
    "twelve_digit_dates_and_uuid_id": (
        "id:7d093bfa-4d65-4757-b0bb-177fc9d0a038 sub:001 dlvrd:001 submit date:180903120232"
        " done date:180903121447 stat:DELIVRD err:000 text:",
        dict(message_id="7d093bfa-4d65-4757-b0bb-177fc9d0a038", state=MessageState.DELIVERED,
             err="000", submit_date=datetime(2018, 9, 3, 12, 2, 32),
             done_date=datetime(2018, 9, 3, 12, 14, 47), sub=1, dlvrd=1, text=""),
    ),
    "hex_id_and_non_numeric_err": (
        "id:6D8F1A2B sub:001 dlvrd:000 submit date:2403151030 done date:2403151031"
        " stat:REJECTD err:ABC text:Promo 50% off today",
        dict(message_id="6D8F1A2B", state=MessageState.REJECTED, err="ABC",
             submit_date=datetime(2024, 3, 15, 10, 30), done_date=datetime(2024, 3, 15, 10, 31),
             sub=1, dlvrd=0, text="Promo 50% off today"),
    ),
    "trailing_crlf_and_nul": (
        "id:0000029095 sub:001 dlvrd:000 submit date:2111250349 done date:2111260349"
        " stat:EXPIRED err:000 text:\r\n\x00",
        dict(message_id="0000029095", state=MessageState.EXPIRED, err="000",
             submit_date=datetime(2021, 11, 25, 3, 49), done_date=datetime(2021, 11, 26, 3, 49),
             sub=1, dlvrd=0, text=""),
    ),
    "extra_mcc_and_mnc_keys": (
        "id:88412 sub:001 dlvrd:001 submit date:2405010800 done date:2405010801 stat:DELIVRD"
        " err:000 mcc:460 mnc:00 text:Your code is 4321",
        dict(message_id="88412", state=MessageState.DELIVERED, err="000",
             submit_date=datetime(2024, 5, 1, 8, 0), done_date=datetime(2024, 5, 1, 8, 1),
             sub=1, dlvrd=1, text="Your code is 4321"),
    ),
    "upper_case_keys": (
        "ID:abc123 SUB:001 DLVRD:001 SUBMIT DATE:2312312359 DONE DATE:2401010000"
        " STAT:DELIVRD ERR:000 TEXT:Happy new year",
        dict(message_id="abc123", state=MessageState.DELIVERED, err="000",
             submit_date=datetime(2023, 12, 31, 23, 59), done_date=datetime(2024, 1, 1, 0, 0),
             sub=1, dlvrd=1, text="Happy new year"),
    ),
    "four_digit_err_and_gsm_escape_in_text": (
        b"id:117062714244798261 sub:001 dlvrd:001 submit date:1706271624 done date:1706271624"
        b" stat:DELIVRD err:0000 text:H\x1bello world",
        dict(message_id="117062714244798261", state=MessageState.DELIVERED, err="0000",
             submit_date=datetime(2017, 6, 27, 16, 24), done_date=datetime(2017, 6, 27, 16, 24),
             sub=1, dlvrd=1, text="H\x1bello world"),
    ),
    "smpp_absolute_time_dates_and_no_text": (
        "id:rdwjwxns18krxr9936ey96ymcw sub:000 dlvrd:000 submit date:180711070003912+"
        " done date:180711070000012+ stat:UNDELIV err:000",
        dict(message_id="rdwjwxns18krxr9936ey96ymcw", state=MessageState.UNDELIVERABLE, err="000",
             submit_date=datetime(2018, 7, 11, 7, 0, 3), done_date=datetime(2018, 7, 11, 7, 0, 0),
             sub=0, dlvrd=0, text=""),
    ),
    "empty_dates_and_long_state_name": (
        "id:556 sub:001 dlvrd:000 submit date: done date: stat:accepted err:000 text:queued",
        dict(message_id="556", state=MessageState.ACCEPTED, err="000",
             submit_date=None, done_date=None, sub=1, dlvrd=0, text="queued"),
    ),
    "latin1_bytes": (
        b"id:9001 sub:001 dlvrd:001 submit date:2402011200 done date:2402011201 stat:DELIVRD"
        b" err:000 text:Caf\xe9 cr\xe8me",
        dict(message_id="9001", state=MessageState.DELIVERED, err="000",
             submit_date=datetime(2024, 2, 1, 12, 0), done_date=datetime(2024, 2, 1, 12, 1),
             sub=1, dlvrd=1, text="Café crème"),
    ),
    "utf8_bytes": (
        "id:9002 sub:001 dlvrd:001 submit date:2402011200 done date:2402011201 stat:DELIVRD"
        " err:000 text:【Acme】验证码 123456".encode("utf-8"),
        dict(message_id="9002", state=MessageState.DELIVERED, err="000",
             submit_date=datetime(2024, 2, 1, 12, 0), done_date=datetime(2024, 2, 1, 12, 1),
             sub=1, dlvrd=1, text="【Acme】验证码 123456"),
    ),
    "underscored_date_keys_and_tabs": (
        "id:77\tsub:001\tdlvrd:001\tsubmit_date:2402011200\tdone_date:2402011201\tstat:DELIVRD"
        "\terr:000\ttext:tabbed",
        dict(message_id="77", state=MessageState.DELIVERED, err="000",
             submit_date=datetime(2024, 2, 1, 12, 0), done_date=datetime(2024, 2, 1, 12, 1),
             sub=1, dlvrd=1, text="tabbed"),
    ),
}


@pytest.mark.parametrize("raw, expected", REAL_WORLD.values(), ids=REAL_WORLD.keys())
def test_real_world_receipts_are_read(raw, expected):
    assert parse_receipt(raw) == Receipt(**expected)


def test_twelve_digit_dates_are_parsed():
    parsed = parse_receipt(
        "id:1 sub:001 dlvrd:001 submit date:240131120005 done date:240131120159 stat:DELIVRD err:000"
    )
    assert parsed.submit_date == datetime(2024, 1, 31, 12, 0, 5)
    assert parsed.done_date == datetime(2024, 1, 31, 12, 1, 59)


@pytest.mark.parametrize(
    "garbage", ["N/A", "2401311", "24013112000", "2413311200", "2401311260", "-", "２４０１３１１２００"]
)
def test_garbage_dates_become_none(garbage):
    parsed = parse_receipt(f"id:1 submit date:{garbage} done date:{garbage} stat:DELIVRD err:000")
    assert parsed.submit_date is None and parsed.done_date is None


def test_missing_dates_become_none():
    parsed = parse_receipt("id:1 stat:DELIVRD err:000")
    assert parsed.submit_date is None and parsed.done_date is None


def test_non_numeric_err_is_kept_as_text():
    assert parse_receipt("id:1 stat:UNDELIV err:X9F text:").err == "X9F"


def test_a_missing_err_is_empty():
    assert parse_receipt("id:1 stat:UNDELIV").err == ""


def test_missing_sub_and_dlvrd_default_to_one_and_to_whether_delivered():
    assert (parse_receipt("id:1 stat:DELIVRD").sub, parse_receipt("id:1 stat:DELIVRD").dlvrd) == (1, 1)
    assert (parse_receipt("id:1 stat:UNDELIV").sub, parse_receipt("id:1 stat:UNDELIV").dlvrd) == (1, 0)


def test_non_numeric_counts_fall_back_to_the_defaults():
    parsed = parse_receipt("id:1 sub:abc dlvrd:? stat:DELIVRD err:000")
    assert (parsed.sub, parsed.dlvrd) == (1, 1)


def test_text_runs_to_the_end_and_keeps_its_colons():
    parsed = parse_receipt("id:1 stat:DELIVRD err:000 text:Code: 1234 stat:UNDELIV id:2 at 10:30")
    assert parsed.text == "Code: 1234 stat:UNDELIV id:2 at 10:30"
    assert (parsed.message_id, parsed.state) == ("1", MessageState.DELIVERED)


def test_keys_are_case_insensitive():
    parsed = parse_receipt(
        "Id:5 Sub:002 Dlvrd:001 Submit Date:2401311200 Done Date:2401311201 Stat:Delivrd Err:000 Text:x"
    )
    assert parsed == Receipt("5", MessageState.DELIVERED, "000", SUBMITTED, DONE, 2, 1, "x")


def test_keys_may_come_in_any_order_before_text():
    parsed = parse_receipt("stat:UNDELIV err:069 id:ff01 done date:2401311201 text:late")
    assert (parsed.message_id, parsed.state, parsed.err, parsed.done_date, parsed.text) == (
        "ff01", MessageState.UNDELIVERABLE, "069", DONE, "late"
    )


def test_unknown_keys_are_ignored():
    parsed = parse_receipt("id:1 imsi:460001234567890 stat:DELIVRD msc:8613800 err:000 text:x")
    assert (parsed.message_id, parsed.state, parsed.err, parsed.text) == (
        "1", MessageState.DELIVERED, "000", "x"
    )


def test_a_key_inside_a_longer_word_is_not_that_key():
    parsed = parse_receipt("msgid:999 id:1 substat:REJECTD stat:DELIVRD err:000")
    assert (parsed.message_id, parsed.state) == ("1", MessageState.DELIVERED)


def test_the_first_of_two_equal_keys_wins():
    assert parse_receipt("id:1 id:2 stat:DELIVRD stat:UNDELIV").message_id == "1"


def test_error_is_read_as_err():
    assert parse_receipt("id:1 stat:UNDELIV error:034").err == "034"


def test_trailing_nul_and_crlf_are_dropped():
    parsed = parse_receipt(b"id:1 stat:DELIVRD err:000 text:bye\r\n\x00")
    assert parsed.text == "bye"
    assert parse_receipt(b"id:1 stat:DELIVRD err:000\x00").err == "000"


def test_invalid_utf8_bytes_are_read_as_latin1():
    assert parse_receipt(b"id:\xe9 stat:DELIVRD").message_id == "é"


@pytest.mark.parametrize(
    "word, state",
    [("DELIVRD", MessageState.DELIVERED), ("delivrd", MessageState.DELIVERED),
     ("DELIVERED", MessageState.DELIVERED), ("UNDELIVERABLE", MessageState.UNDELIVERABLE),
     ("UNDELIVERED", MessageState.UNDELIVERABLE), ("ENROUTE", MessageState.ENROUTE),
     ("REJECTED", MessageState.REJECTED), ("ACCEPTD", MessageState.ACCEPTED)],
)
def test_stat_words_short_and_long_are_recognised(word, state):
    assert parse_receipt(f"id:1 stat:{word} err:000").state is state


@pytest.mark.parametrize(
    "text",
    [
        "",
        "Hello, see you at 10:30",
        "sub:001 dlvrd:001 stat:DELIVRD err:000 text:no id",
        "id: stat:DELIVRD err:000",
        "msgid:123 stat:DELIVRD err:000",
        "id:123 sub:001 dlvrd:001 err:000 text:no stat",
        "id:123 stat:FAILED err:000",
        "id:123 stat: err:000",
        # an operator that forgot the stat: key
        "id:ce5bc5a9-4f7d-4282-9244-2e1022a9335c sub:000 dlvrd:000 submit date:180903120815"
        " done date:180903120816 DELIVRD err:000 Text:",
        # the stat: is inside the message text, not a key
        "id:123 err:000 text:stat:DELIVRD",
    ],
)
def test_text_without_an_id_or_a_recognisable_stat_is_not_a_receipt(text):
    with pytest.raises(ReceiptParseError):
        parse_receipt(text)


def test_receipt_parse_error_is_a_value_error():
    assert issubclass(ReceiptParseError, ValueError)


FRAGMENTS = [
    "id:", "ID:", "sub:", "dlvrd:", "submit date:", "done date:", "stat:", "err:", "text:", "Text:",
    "DELIVRD", "undeliv", "ENROUTE", "000", "ABC", "2401311200", "240131120059", "180711070003912+",
    "9999999999", "99" * 3000, " ", "\t", "\r\n", "\x00", ",", ";", ":", "x", "é", "\u2028", "\x1c",
]
receipt_like = st.lists(st.sampled_from(FRAGMENTS), max_size=30).map("".join)


@settings(max_examples=400, deadline=None)
@given(st.text() | st.binary() | receipt_like | receipt_like.map(lambda s: s.encode("utf-8")))
def test_parse_receipt_raises_nothing_but_receipt_parse_error(raw):
    try:
        receipt = parse_receipt(raw)
    except ReceiptParseError:
        return
    assert receipt.message_id and isinstance(receipt.state, MessageState)


@settings(max_examples=400, deadline=None)
@given(receipt_like | st.builds(Receipt.to_text, receipts))
def test_the_fast_path_reads_receipts_as_the_general_scanner_does(text):
    text = text.rstrip("\x00\r\n")

    def outcome(parse):
        try:
            return parse(text)
        except ReceiptParseError:
            return ReceiptParseError

    assert outcome(parse_receipt) == outcome(_parse_scanning)


# --- TLVs -------------------------------------------------------------------------------------


def test_tlvs_are_encoded_exactly():
    assert delivered(message_id="abc123").tlvs() == {
        0x001E: b"abc123\x00",
        0x0427: b"\x02",
        0x0423: b"\x03\x00\x00",
    }


@pytest.mark.parametrize("state", list(MessageState))
def test_message_state_tlv_is_one_octet_of_the_state_value(state):
    assert delivered(state=state).tlvs()[Tag.message_state] == bytes([int(state)])


@pytest.mark.parametrize(
    "err, octets",
    [("000", b"\x03\x00\x00"), ("069", b"\x03\x00\x45"), ("1234", b"\x03\x04\xd2"),
     ("65535", b"\x03\xff\xff"), ("65536", b"\x03\x00\x00"), ("ABC", b"\x03\x00\x00"),
     ("", b"\x03\x00\x00"), ("-1", b"\x03\x00\x00"), ("٣", b"\x03\x00\x00")],
)
def test_network_error_code_is_gsm_then_the_decimal_err_in_two_octets(err, octets):
    assert delivered(err=err).tlvs()[Tag.network_error_code] == octets


def test_tlvs_read_back():
    receipt = delivered(message_id="7d093bfa", state=MessageState.UNDELIVERABLE, err="069")
    assert receipt_from_tlvs(receipt.tlvs()) == ("7d093bfa", MessageState.UNDELIVERABLE, 69)


@given(receipt_ids, st.sampled_from(MessageState), st.integers(0, 0xFFFF))
def test_any_id_state_and_numeric_err_read_back_from_the_tlvs(message_id, state, code):
    receipt = delivered(message_id=message_id, state=state, err=f"{code:03d}")
    assert receipt_from_tlvs(receipt.tlvs()) == (message_id, state, code)


def test_a_receipted_message_id_without_its_nul_is_read():
    assert receipt_from_tlvs({0x001E: b"abc123"})[0] == "abc123"


def test_absent_or_unreadable_tlvs_read_as_none():
    assert receipt_from_tlvs({}) == (None, None, None)
    assert receipt_from_tlvs({0x001E: b"\x00", 0x0427: b"\x09", 0x0423: b"\x03\x00"}) == (None, None, None)
    assert receipt_from_tlvs({0x0427: b""}) == (None, None, None)


# --- esm_class --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "esm_class, receipt, intermediate",
    [(0x00, False, False), (0x04, True, False), (0x44, True, False), (0x07, True, False),
     (0x20, False, True), (0x60, False, True), (0x08, False, False), (0x24, False, False),
     (0x40, False, False)],
)
def test_esm_class_message_type_tells_receipts_and_intermediate_notifications(
    esm_class, receipt, intermediate
):
    assert is_receipt(esm_class) is receipt
    assert is_intermediate(esm_class) is intermediate


@given(
    st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=20),
    st.sampled_from(list(MessageState)),
    st.sampled_from(["000", "069", "ABC", "1", ""]),
    st.floats(min_value=1e9, max_value=2e9),
    st.floats(min_value=0, max_value=1e6),
    st.text(max_size=30),
)
def test_the_fast_receipt_path_writes_exactly_what_receipt_writes(message_id, state, err, submit, delay, text):
    from datetime import datetime

    from simulator.smpp.receipt import receipt_text_fast, receipt_tlvs_fast

    done = submit + delay
    slow = Receipt(message_id, state, err, datetime.fromtimestamp(submit), datetime.fromtimestamp(done), text=text)
    assert receipt_text_fast(message_id, state, err, submit, done, text) == slow.to_text()
    assert receipt_tlvs_fast(message_id, state, err) == slow.tlvs()

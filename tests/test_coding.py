"""Specification of simulator.smpp.coding: data codings, segmentation, UDH and reassembly."""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulator.smpp.coding import (
    CodingError,
    ConcatInfo,
    Reassembler,
    Segment,
    alphabet_of,
    choose_coding,
    decode_text,
    encode_text,
    gsm_encodable,
    parse_udh,
    segment_count,
    segment_limits,
    split_message,
)

# Local settings (not a global profile, which would leak into other test modules): keeps the
# file under a few seconds and free of deadline flakes on a loaded CI machine.
fast = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

GSM, IA5, BINARY, LATIN1, BINARY_2, UCS2 = 0, 1, 2, 3, 4, 8

# 3GPP TS 23.038 6.2.1, written out here independently of the module: septet -> character.
GSM_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)
GSM_EXTENSION = {"\f": 0x0A, "^": 0x14, "{": 0x28, "}": 0x29, "\\": 0x2F, "[": 0x3C, "~": 0x3D,
                 "]": 0x3E, "|": 0x40, "€": 0x65}
GSM_CHARS = [ch for ch in GSM_BASIC if ch != "\x1b"] + list(GSM_EXTENSION)

gsm_text = st.text(alphabet=st.sampled_from(GSM_CHARS), max_size=700)
# Texts heavy in two-septet characters, to land escape pairs on segment boundaries.
gsm_text_with_escapes = st.text(alphabet=st.sampled_from(list("a€{") + GSM_CHARS[:5]), max_size=700)
ia5_text = st.text(alphabet=st.characters(max_codepoint=0x7F), max_size=500)
latin1_text = st.text(alphabet=st.characters(max_codepoint=0xFF), max_size=500)
any_text = st.text(
    alphabet=st.characters(exclude_categories=("Cs",)) | st.sampled_from(["😀", "𝄞", "中", "a"]),
    max_size=400,
)
binary_text = st.binary(max_size=500).map(lambda b: b.decode("latin-1"))

TEXT_FOR_CODING = {GSM: gsm_text, IA5: ia5_text, BINARY: binary_text, LATIN1: latin1_text,
                   BINARY_2: binary_text, UCS2: any_text}
CODINGS = sorted(TEXT_FOR_CODING)
CONCATS = ["udh8", "udh16", "sar", "payload"]


@st.composite
def coded_text(draw, codings=CODINGS):
    data_coding = draw(st.sampled_from(codings))
    text = draw(gsm_text_with_escapes if data_coding == GSM and draw(st.booleans())
                else TEXT_FOR_CODING[data_coding])
    return text, data_coding


# --- data codings ---------------------------------------------------------------------------

def test_every_gsm_basic_character_is_its_3gpp_septet_in_one_octet():
    for septet, ch in enumerate(GSM_BASIC):
        if ch != "\x1b":
            assert encode_text(ch, GSM) == bytes([septet]), ch
            assert decode_text(bytes([septet]), GSM) == ch


def test_every_gsm_extension_character_is_an_escape_pair():
    for ch, code in GSM_EXTENSION.items():
        assert encode_text(ch, GSM) == bytes([0x1B, code]), ch
        assert decode_text(bytes([0x1B, code]), GSM) == ch


def test_gsm_encodes_a_mixed_text_unpacked():
    assert encode_text("@Hi €5 {x}", GSM) == b"\x00Hi \x1b\x655 \x1b(x\x1b)"


@fast
@given(gsm_text)
def test_gsm_text_round_trips(text):
    assert decode_text(encode_text(text, GSM), GSM) == text


@fast
@given(ia5_text)
def test_ia5_text_round_trips_as_ascii(text):
    assert encode_text(text, IA5) == text.encode("ascii")
    assert decode_text(encode_text(text, IA5), IA5) == text


@fast
@given(latin1_text)
def test_latin1_text_round_trips_one_octet_per_character(text):
    assert len(encode_text(text, LATIN1)) == len(text)
    assert decode_text(encode_text(text, LATIN1), LATIN1) == text


@fast
@given(st.binary(max_size=300), st.sampled_from([BINARY, BINARY_2]))
def test_binary_codings_are_lossless_for_any_octets(data, data_coding):
    text = decode_text(data, data_coding)
    assert encode_text(text, data_coding) == data


@fast
@given(any_text)
def test_ucs2_text_round_trips_as_utf16be(text):
    data = encode_text(text, UCS2)
    assert data == text.encode("utf-16-be")
    assert decode_text(data, UCS2) == text


def test_ucs2_character_outside_the_bmp_becomes_a_surrogate_pair():
    assert encode_text("😀", UCS2) == b"\xd8\x3d\xde\x00"
    assert decode_text(b"\xd8\x3d\xde\x00", UCS2) == "😀"


def test_gsm_decoding_of_an_unknown_escape_shows_the_basic_table_character():
    assert decode_text(b"A\x1bB", GSM) == "AB"
    assert decode_text(b"\x1b\x00", GSM) == "@"


def test_gsm_decoding_of_escape_escape_or_a_trailing_escape_shows_a_space():
    assert decode_text(b"\x1b\x1bA", GSM) == " A"
    assert decode_text(b"A\x1b", GSM) == "A "
    assert decode_text(b"\x1b\x1b\x1b\x65", GSM) == " €"


def test_gsm_decoding_of_an_octet_above_0x7f_gives_the_replacement_character():
    assert decode_text(b"A\x80\xff", GSM) == "A\ufffd\ufffd"
    assert decode_text(b"\x1b\x65\x80", GSM) == "€\ufffd"


@fast
@given(st.binary(max_size=300))
def test_gsm_decoding_never_fails_and_never_grows(data):
    assert len(decode_text(data, GSM)) <= len(data)


@fast
@given(st.binary(max_size=300).map(lambda b: bytes(x & 0x7F for x in b).replace(b"\x1b", b"")))
def test_gsm_septets_without_escapes_survive_decode_then_encode(data):
    assert encode_text(decode_text(data, GSM), GSM) == data


@pytest.mark.parametrize(
    "text, data_coding",
    [("中", GSM), ("`", GSM), ("tab\there", GSM), ("\x00", GSM), ("ü€", IA5), ("é", IA5),
     ("€", LATIN1), ("\u0100", BINARY), ("\u0100", BINARY_2), ("a\ud800", UCS2)],
)
def test_unencodable_text_raises_coding_error_naming_the_character(text, data_coding):
    with pytest.raises(CodingError) as excinfo:
        encode_text(text, data_coding)
    assert "U+" in str(excinfo.value) and "index" in str(excinfo.value)


def test_unencodable_gsm_text_reports_the_index_in_the_text():
    with pytest.raises(CodingError, match="at index 3"):
        encode_text("€{x中", GSM)


def test_coding_error_is_a_value_error():
    assert issubclass(CodingError, ValueError)


def test_ucs2_of_odd_length_raises_coding_error():
    with pytest.raises(CodingError, match="even"):
        decode_text(b"\x00a\x00", UCS2)


def test_ia5_octet_above_0x7f_raises_coding_error():
    with pytest.raises(CodingError):
        decode_text(b"caf\xe9", IA5)


@fast
@given(st.binary(max_size=200), st.sampled_from(CODINGS + [0xF0, 0xF4, 0xE0, 0xC0]))
def test_decoding_arbitrary_octets_raises_nothing_but_coding_error(data, data_coding):
    try:
        text = decode_text(data, data_coding)
    except CodingError as err:
        assert str(err)  # says what was wrong
        return
    if alphabet_of(data_coding) == GSM:  # unpacked septets; an escape and its octet make one character
        assert isinstance(text, str) and len(text) <= len(data)
    else:  # one to one: what was decoded encodes back to the same octets
        assert encode_text(text, data_coding) == data


@pytest.mark.parametrize("data_coding", [5, 6, 7, 9, 0x0A, 0x10, 0xBF, 256, -1])
def test_unsupported_data_coding_raises_coding_error(data_coding):
    with pytest.raises(CodingError, match="data_coding"):
        encode_text("a", data_coding)
    with pytest.raises(CodingError, match="data_coding"):
        decode_text(b"a", data_coding)


@pytest.mark.parametrize("data_coding, alphabet",
                         [(0xF0, GSM), (0xF3, GSM), (0xF4, BINARY), (0xF7, BINARY),
                          (0xC0, GSM), (0xD8, GSM), (0xE0, UCS2), (4, BINARY)])
def test_gsm_dcs_groups_map_to_their_alphabet(data_coding, alphabet):
    assert alphabet_of(data_coding) == alphabet


def test_choose_coding_picks_gsm_when_every_character_fits_and_ucs2_otherwise():
    assert choose_coding("Your code is 1234 {€}") == GSM
    assert choose_coding("验证码 1234") == UCS2
    assert choose_coding("back`tick") == UCS2
    assert choose_coding("") == GSM


@fast
@given(any_text | gsm_text)
def test_gsm_encodable_agrees_with_encode_text(text):
    try:
        encode_text(text, GSM)
        encodable = True
    except CodingError:
        encodable = False
    assert gsm_encodable(text) is encodable
    assert choose_coding(text) == (GSM if encodable else UCS2)


# --- segment counts -------------------------------------------------------------------------

@pytest.mark.parametrize(
    "text, data_coding, concat, count",
    [
        ("", GSM, "udh8", 1),
        ("a" * 160, GSM, "udh8", 1),
        ("a" * 161, GSM, "udh8", 2),
        ("a" * 153 * 2, GSM, "udh8", 2),
        ("a" * (153 * 2 + 1), GSM, "udh8", 3),
        ("a" * 159 + "€", GSM, "udh8", 2),
        ("€" * 80, GSM, "udh8", 1),
        ("€" * 81, GSM, "udh8", 2),
        ("a" * 140, LATIN1, "udh8", 1),
        ("a" * 141, LATIN1, "udh8", 2),
        ("a" * 134 * 2, IA5, "udh8", 2),
        ("a" * (134 * 2 + 1), BINARY, "udh8", 3),
        ("中" * 70, UCS2, "udh8", 1),
        ("中" * 71, UCS2, "udh8", 2),
        ("中" * 67 * 2, UCS2, "udh8", 2),
        ("中" * (67 * 2 + 1), UCS2, "udh8", 3),
        ("😀" * 35, UCS2, "udh8", 1),
        ("😀" * 35 + "a", UCS2, "udh8", 2),
        ("a" * 152 * 2, GSM, "udh16", 2),
        ("a" * (152 * 2 + 1), GSM, "udh16", 3),
        ("a" * 133 * 2, LATIN1, "udh16", 2),
        ("a" * (133 * 2 + 1), LATIN1, "udh16", 3),
        ("中" * 66 * 2, UCS2, "udh16", 2),
        ("中" * (66 * 2 + 1), UCS2, "udh16", 3),
        ("a" * 160 * 2, GSM, "sar", 2),
        ("a" * (160 * 2 + 1), GSM, "sar", 3),
        ("a" * 140 * 2, LATIN1, "sar", 2),
        ("中" * 70 * 2, UCS2, "sar", 2),
        ("中" * (70 * 2 + 1), UCS2, "sar", 3),
        ("a" * 160, GSM, "payload", 1),
        ("a" * 161, GSM, "payload", 2),
        ("a" * (153 * 2 + 1), GSM, "payload", 3),
    ],
)
def test_segment_count_at_the_boundaries(text, data_coding, concat, count):
    assert segment_count(text, data_coding, concat) == count


@pytest.mark.parametrize(
    "data_coding, concat, limits",
    [(GSM, "udh8", (160, 153)), (GSM, "udh16", (160, 152)), (GSM, "sar", (160, 160)),
     (LATIN1, "udh8", (140, 134)), (LATIN1, "udh16", (140, 133)), (BINARY, "sar", (140, 140)),
     (UCS2, "udh8", (70, 67)), (UCS2, "udh16", (70, 66)), (UCS2, "sar", (70, 70)),
     (GSM, "payload", (160, 153))],
)
def test_segment_limits_per_coding_and_concatenation(data_coding, concat, limits):
    assert segment_limits(data_coding, concat) == limits


def test_gsm_extension_char_costs_two_septets_and_is_never_split():
    text = "a" * 152 + "€" + "a" * 152  # the pair would straddle septets 153 and 154
    segments = split_message(text, GSM)
    assert [len(s.short_message) - 6 for s in segments] == [152, 153, 1]
    assert segments[1].short_message[6:8] == b"\x1b\x65"
    assert segment_count(text, GSM) == 3


def test_ucs2_surrogate_pair_is_never_split():
    text = "a" * 66 + "😀" + "a" * 10  # the pair would straddle code units 67 and 68
    segments = split_message(text, UCS2)
    assert [len(s.short_message) - 6 for s in segments] == [132, 24]
    assert decode_text(segments[1].short_message[6:], UCS2) == "😀" + "a" * 10


@fast
@given(coded_text(), st.sampled_from(["udh8", "udh16", "sar", "payload"]))
def test_payload_is_billed_like_udh8_and_counts_match_the_split(case, concat):
    text, data_coding = case
    count = segment_count(text, data_coding, concat)
    if concat == "payload":
        assert count == segment_count(text, data_coding, "udh8")
    else:
        assert count == len(split_message(text, data_coding, concat))


# --- splitting ------------------------------------------------------------------------------

def _physical_size_ok(segment: Segment, data_coding: int) -> bool:
    """Does the segment fit one 140-octet TP-UD once the SMSC packs it?"""
    udh_len = segment.short_message[0] + 1 if segment.esm_class_udhi else 0
    body = len(segment.short_message) - udh_len
    if data_coding == GSM:
        return math.ceil(udh_len * 8 / 7) + body <= 160
    return udh_len + body <= 140


@fast
@given(coded_text(), st.sampled_from(["udh8", "udh16", "sar"]))
def test_every_split_segment_fits_its_limit(case, concat):
    text, data_coding = case
    segments = split_message(text, data_coding, concat)
    single, per_segment = segment_limits(data_coding, concat)
    unit = 2 if data_coding == UCS2 else 1
    for segment in segments:
        assert _physical_size_ok(segment, data_coding)
        body = segment.short_message[segment.short_message[0] + 1:] if segment.esm_class_udhi \
            else segment.short_message
        assert len(body) <= (single if len(segments) == 1 else per_segment) * unit
        if data_coding == GSM:
            assert not body.endswith(b"\x1b")
            decode_text(body, GSM)  # each part decodes alone: no escape pair is cut
            assert encode_text(decode_text(body, GSM), GSM) == body
        if data_coding == UCS2:
            decode_text(body, UCS2)  # each part is valid UTF-16: no surrogate pair is cut


@fast
@given(coded_text(), st.sampled_from(CONCATS), st.integers(0, 255))
def test_joining_the_segments_and_decoding_gives_the_original_text(case, concat, ref):
    text, data_coding = case
    segments = split_message(text, data_coding, concat, ref=ref)
    total = len(segments)
    parts = []
    for seq, segment in enumerate(segments, 1):
        if concat == "payload" or total == 1:
            assert not segment.esm_class_udhi and segment.sar is None
            parts.append(segment.short_message)
        elif concat == "sar":
            assert not segment.esm_class_udhi and segment.sar == (ref, total, seq)
            parts.append(segment.short_message)
        else:
            assert segment.esm_class_udhi and segment.sar is None
            info, payload = parse_udh(segment.short_message)
            assert info == ConcatInfo(ref, total, seq)
            parts.append(payload)
    assert decode_text(b"".join(parts), data_coding) == text


def test_short_text_gives_one_plain_segment_whatever_the_concatenation():
    for concat in CONCATS:
        assert split_message("hello", GSM, concat, ref=7) == [Segment(b"hello", False, None)]


def test_payload_gives_one_segment_with_the_whole_encoded_text():
    text = "x" * 500 + "€"
    assert split_message(text, GSM, "payload") == [Segment(encode_text(text, GSM), False, None)]


def test_udh8_segments_carry_05_00_03_ref_total_seq():
    segments = split_message("a" * 200, GSM, "udh8", ref=0xAB)
    assert segments[0].short_message[:6] == bytes([5, 0, 3, 0xAB, 2, 1])
    assert segments[1].short_message[:6] == bytes([5, 0, 3, 0xAB, 2, 2])


def test_udh16_segments_carry_06_08_04_refhi_reflo_total_seq():
    segments = split_message("a" * 200, GSM, "udh16", ref=0x1234)
    assert segments[0].short_message[:7] == bytes([6, 8, 4, 0x12, 0x34, 2, 1])
    assert segments[1].short_message[:7] == bytes([6, 8, 4, 0x12, 0x34, 2, 2])


def test_sar_segments_carry_ref_total_seq_and_no_udh():
    segments = split_message("a" * 321, GSM, "sar", ref=0xBEEF)
    assert [s.sar for s in segments] == [(0xBEEF, 3, 1), (0xBEEF, 3, 2), (0xBEEF, 3, 3)]
    assert [len(s.short_message) for s in segments] == [160, 160, 1]


@pytest.mark.parametrize("concat, ref", [("udh8", 256), ("udh8", -1), ("udh16", 0x10000),
                                         ("sar", 0x10000), ("sar", -1)])
def test_reference_out_of_range_raises_coding_error(concat, ref):
    with pytest.raises(CodingError, match="ref"):
        split_message("a" * 400, GSM, concat, ref=ref)


def test_sar_and_udh16_accept_a_16_bit_reference():
    assert split_message("a" * 400, GSM, "sar", ref=0xFFFF)[0].sar[0] == 0xFFFF
    assert split_message("a" * 400, GSM, "udh16", ref=0xFFFF)[0].short_message[3:5] == b"\xff\xff"


def test_more_than_255_segments_raises_coding_error():
    assert len(split_message("a" * 153 * 255, GSM)) == 255
    with pytest.raises(CodingError, match="255"):
        split_message("a" * (153 * 255 + 1), GSM)
    assert segment_count("a" * (153 * 255 + 1), GSM) == 256  # a count, not a check


def test_message_payload_longer_than_65535_octets_raises_coding_error():
    with pytest.raises(CodingError, match="65535"):
        split_message("a" * 0x10000, GSM, "payload")


def test_unknown_concatenation_kind_raises_coding_error():
    with pytest.raises(CodingError, match="concat"):
        split_message("a", GSM, "udh32")
    with pytest.raises(CodingError, match="concat"):
        segment_count("a", GSM, "udh32")


def test_segment_is_frozen():
    segment = Segment(b"x")
    with pytest.raises(AttributeError):
        segment.short_message = b"y"  # type: ignore[misc]


# --- UDH parsing ----------------------------------------------------------------------------

@fast
@given(st.integers(0, 255), st.integers(1, 255), st.data(), st.binary(max_size=150))
def test_udh8_round_trips_through_parse_udh(ref, total, data, payload):
    seq = data.draw(st.integers(1, total))
    info, rest = parse_udh(bytes([5, 0, 3, ref, total, seq]) + payload)
    assert info == ConcatInfo(ref, total, seq) and rest == payload


@fast
@given(st.integers(0, 0xFFFF), st.integers(1, 255), st.data(), st.binary(max_size=150))
def test_udh16_round_trips_through_parse_udh(ref, total, data, payload):
    seq = data.draw(st.integers(1, total))
    info, rest = parse_udh(bytes([6, 8, 4, ref >> 8, ref & 0xFF, total, seq]) + payload)
    assert info == ConcatInfo(ref, total, seq) and rest == payload


def test_parse_udh_skips_other_information_elements():
    # application port addressing (IE 0x05, 4 octets) then concatenation
    udh = bytes([0x0B, 0x05, 0x04, 0x0B, 0x84, 0x23, 0xF0, 0x00, 0x03, 0x42, 0x03, 0x02])
    assert parse_udh(udh + b"body") == (ConcatInfo(0x42, 3, 2), b"body")


def test_parse_udh_without_concatenation_gives_none_and_the_payload():
    assert parse_udh(bytes([0x06, 0x05, 0x04, 0x0B, 0x84, 0x23, 0xF0]) + b"wap") == (None, b"wap")
    assert parse_udh(b"\x00text") == (None, b"text")


def test_parse_udh_takes_the_last_concatenation_element():
    udh = bytes([0x0B, 0x00, 0x03, 0x01, 0x02, 0x01, 0x08, 0x04, 0x01, 0x00, 0x04, 0x03])
    assert parse_udh(udh)[0] == ConcatInfo(0x100, 4, 3)


@pytest.mark.parametrize("total, seq", [(0, 0), (0, 1), (3, 0), (3, 4)])
def test_parse_udh_ignores_a_concatenation_element_with_impossible_numbers(total, seq):
    # 3GPP TS 23.040 9.2.3.24.1: the receiving entity ignores the whole element.
    assert parse_udh(bytes([5, 0, 3, 9, total, seq]) + b"x") == (None, b"x")


@pytest.mark.parametrize(
    "short_message",
    [b"", b"\x05\x00\x03\x01", b"\x03\x00\x03\x01\x02", b"\x01\x00",
     b"\x04\x00\x02\x01\x01", b"\x06\x08\x03\x01\x02\x01\x00", b"\x05\x00\x04\x01\x02\x01"],
    ids=["empty", "udhl-past-end", "ie-past-udh", "ie-header-cut", "concat8-short",
         "concat16-short", "concat8-long"],
)
def test_malformed_udh_raises_coding_error(short_message):
    with pytest.raises(CodingError):
        parse_udh(short_message)


@fast
@given(st.binary(max_size=64))
def test_parsing_arbitrary_octets_raises_nothing_but_coding_error(data):
    try:
        info, payload = parse_udh(data)
    except CodingError:
        return
    assert data.endswith(payload) and len(payload) == len(data) - data[0] - 1
    assert info is None or 1 <= info.seq <= info.total


# --- reassembly -----------------------------------------------------------------------------

def _udh_parts(text: str, data_coding: int, ref: int) -> list[tuple[ConcatInfo, bytes]]:
    out = []
    for segment in split_message(text, data_coding, "udh8", ref=ref):
        info, payload = parse_udh(segment.short_message)
        out.append((info, payload))
    return out


@fast
@given(
    st.text(alphabet=st.sampled_from(GSM_CHARS), min_size=161, max_size=800),
    st.integers(0, 255),
    st.data(),
)
def test_reassembler_joins_shuffled_and_duplicated_parts_exactly_once(text, ref, data):
    parts = _udh_parts(text, GSM, ref)
    duplicates = data.draw(st.lists(st.sampled_from(parts), max_size=6))
    arrivals = data.draw(st.permutations(parts + duplicates))
    reassembler = Reassembler()
    results = []
    for info, payload in arrivals:
        joined = reassembler.add(("src", "dst"), info.ref, info.total, info.seq, payload, now=0.0)
        if joined is not None:
            results.append(joined)
            break  # a copy arriving after completion would start a new partial message
    assert [decode_text(r, GSM) for r in results] == [text]
    assert len(reassembler) == 0


def test_reassembler_counts_duplicates_and_keeps_the_first_copy():
    reassembler = Reassembler()
    assert reassembler.add("k", 1, 2, 1, b"first", now=0) is None
    assert reassembler.add("k", 1, 2, 1, b"other", now=0) is None
    assert reassembler.add("k", 1, 2, 2, b"+two", now=0) == b"first+two"
    assert reassembler.duplicates == 1


def test_reassembler_keeps_senders_and_references_apart():
    reassembler = Reassembler()
    assert reassembler.add(("a", "b"), 7, 2, 1, b"A1", now=0) is None
    assert reassembler.add(("c", "b"), 7, 2, 2, b"C2", now=0) is None
    assert reassembler.add(("a", "b"), 8, 2, 2, b"X2", now=0) is None
    assert len(reassembler) == 3
    assert reassembler.add(("a", "b"), 7, 2, 2, b"A2", now=0) == b"A1A2"
    assert reassembler.add(("c", "b"), 7, 2, 1, b"C1", now=0) == b"C1C2"
    assert len(reassembler) == 1


def test_reassembler_returns_a_single_part_message_at_once():
    reassembler = Reassembler()
    assert reassembler.add("k", 0, 1, 1, b"whole", now=0) == b"whole"
    assert len(reassembler) == 0


def test_reassembler_evicts_the_oldest_partial_message_when_full():
    reassembler = Reassembler(max_pending=2)
    reassembler.add("k", 1, 2, 1, b"1a", now=0)
    reassembler.add("k", 2, 2, 1, b"2a", now=1)
    reassembler.add("k", 3, 2, 1, b"3a", now=2)
    assert reassembler.evicted == 1 and len(reassembler) == 2
    assert reassembler.add("k", 2, 2, 2, b"2b", now=3) == b"2a2b"
    assert reassembler.add("k", 3, 2, 2, b"3b", now=3) == b"3a3b"
    assert reassembler.add("k", 1, 2, 2, b"1b", now=3) is None  # its first part is gone


def test_reassembler_expires_partial_messages_older_than_the_timeout():
    reassembler = Reassembler(timeout=10)
    reassembler.add("k", 1, 2, 1, b"old", now=0)
    reassembler.add("k", 2, 2, 1, b"new", now=5)
    assert reassembler.expire(10) == 0  # exactly the timeout is not older than it
    assert reassembler.expire(10.5) == 1
    assert reassembler.expired == 1 and len(reassembler) == 1
    assert reassembler.add("k", 1, 2, 2, b"late", now=11) is None
    assert reassembler.add("k", 2, 2, 2, b"+ok", now=11) == b"new+ok"


def test_reassembler_add_also_drops_stale_partial_messages():
    reassembler = Reassembler(timeout=10)
    reassembler.add("k", 1, 2, 1, b"old", now=0)
    reassembler.add("k", 2, 2, 1, b"x", now=20)
    assert reassembler.expired == 1 and len(reassembler) == 1


@pytest.mark.parametrize("total, seq", [(0, 1), (256, 1), (3, 0), (3, 4)])
def test_reassembler_rejects_impossible_part_numbers(total, seq):
    with pytest.raises(CodingError):
        Reassembler().add("k", 1, total, seq, b"x", now=0)


part_numbers = st.integers(1, 4).flatmap(lambda total: st.tuples(st.just(total), st.integers(1, total)))


@fast
@given(st.lists(st.tuples(st.integers(0, 20), part_numbers), max_size=80))
def test_reassembler_never_holds_more_than_max_pending(parts):
    reassembler = Reassembler(max_pending=3, timeout=1000)
    for ref, (total, seq) in parts:
        reassembler.add("k", ref, total, seq, b"p", now=0)
        assert len(reassembler) <= 3


def test_count_segments_of_encoded_octets_matches_segment_count_of_the_text():
    from simulator.smpp.coding import count_segments

    # single-part limits 160 septets (an escaped character takes 2), 140 octets, 70 UCS2 characters
    cases = [("a" * 160, 0, 1), ("a" * 161, 0, 2), ("€" * 80, 0, 1), ("€" * 81, 0, 2), ("ж" * 70, 8, 1),
             ("ж" * 71, 8, 2), ("é" * 140, 3, 1), ("é" * 141, 3, 2)]
    for text, dc, segments in cases:
        counted = count_segments(encode_text(text, dc), dc)
        assert counted == segment_count(text, dc) == segments, (text[:3], dc)

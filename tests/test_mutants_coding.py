"""Segment counting (what billing counts) at the edges tests/test_coding.py left open. Written to
kill the mutants `make mutants` found surviving in simulator/smpp/coding.py's counting functions
(docs/mutation.md): surrogate pairs whose high half is U+DBxx, a low surrogate at a segment's
last code unit, malformed octets at the very end of a message_payload, the default concatenation
and the limits' type. Pure."""

from __future__ import annotations

import pytest

from simulator.smpp.coding import CodingError, count_segments, decode_text, segment_count, segment_limits, split_message

GSM, UCS2, LATIN1 = 0, 8, 3


def test_the_default_concatenation_is_udh8():
    assert segment_limits(GSM) == (160, 153)
    assert segment_limits(UCS2) == (70, 67)
    assert segment_count("a" * 161, GSM) == 2


@pytest.mark.parametrize("data_coding", [GSM, UCS2, LATIN1])
@pytest.mark.parametrize("concat", ["udh8", "udh16", "sar", "payload"])
def test_limits_are_whole_characters(data_coding, concat):
    """Characters are counted in ints (they slice and size texts), UCS2's included."""
    assert all(type(limit) is int for limit in segment_limits(data_coding, concat))


def test_an_unknown_concatenation_names_the_ones_there_are():
    with pytest.raises(CodingError) as info:
        segment_count("hi", GSM, "udh7")
    assert str(info.value) == "concat must be one of udh8, udh16, sar, payload, not 'udh7'"


@pytest.mark.parametrize("astral", ["\U00010000", "\U0001F600", "\U000FFFFF", "\U0010FFFD"])
@pytest.mark.parametrize("before", range(63, 69))
def test_no_ucs2_segment_ends_in_half_a_character(astral, before):
    """Whatever code unit the segment boundary falls on (a pair's high half from U+D800 to U+DBFF,
    or its low half from U+DC00 to U+DFFF), every segment decodes on its own."""
    text = "a" * before + astral + "b" * 10
    segments = split_message(text, UCS2)
    parts = [decode_text(s.short_message[6:], UCS2) for s in segments]  # strict: raises on half a pair
    assert "".join(parts) == text
    assert len(segments) == segment_count(text, UCS2) == 2


def test_a_pair_whose_low_half_ends_the_segment_is_not_moved():
    text = "a" * 65 + "\U00010000" + "b" * 10  # code units 66 and 67: the pair fills the segment's end
    assert [len(s.short_message) - 6 for s in split_message(text, UCS2)] == [134, 20]


def test_a_pair_with_a_high_half_of_u_dbff_is_kept_whole():
    text = "a" * 66 + "\U0010FFFD" + "b" * 10  # DBFF DFFD would straddle code units 67 and 68
    assert [len(s.short_message) - 6 for s in split_message(text, UCS2)] == [132, 24]


def test_a_trailing_escape_in_received_gsm_octets_does_not_make_another_segment():
    """count_segments takes octets as a client sent them (a message_payload): a lone escape at the
    very end (decoded as a space, 3GPP TS 23.038) is not a pair to keep together."""
    assert count_segments(b"A" * 305 + b"\x1b", GSM) == 2
    assert count_segments(b"A" * 306, GSM) == 2


def test_an_unpaired_high_surrogate_at_the_end_of_ucs2_octets_does_not_make_another_segment():
    assert count_segments(b"\x00A" * 133 + b"\xd8\x00", UCS2) == 2
    assert count_segments(b"\x00A" * 134, UCS2) == 2

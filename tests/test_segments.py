"""Segments as a carrier counts them: one count (simulator.smpp.coding.count_segments) for
acceptance, the ledger's `segments` column and the bill.

The expected counts are written here from the rules (GSM 03.38 / 3GPP TS 23.040 single-message
and concatenated capacities), never computed by the code under test:

  GSM 03.38 (data_coding 0)   160 septets, 153 per part; an extension character is 2 septets and a
                              part never ends inside one
  IA5 (data_coding 1)         7-bit: the same septets after conversion ({ } [ ] ~ | ^ \\ are 2)
  UCS2 (data_coding 8)        70 UTF-16 code units, 67 per part; a surrogate pair is 2 and is never cut
  8-bit (2, 3, 4, unknown)    140 octets, 134 per part
  a UDH part or a SAR part    1, whatever its length
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulator.carrier.smsc import Smsc
from simulator.esme import Esme
from simulator.ledger.reader import LedgerReader
from simulator.ledger.writer import LedgerWriter
from simulator.metering.billing import bill
from simulator.scenario import Carrier
from simulator.smpp.coding import count_segments
from simulator.smpp.constants import CommandStatus, Tag

from .conftest import carrier

fast = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])

GSM, IA5, BINARY, LATIN1, UCS2 = 0, 1, 2, 3, 8
UDHI = 0x40
UDH8 = bytes.fromhex("050003070201")  # a concatenation UDH: reference 7, part 1 of 2


def ucs2(text: str) -> bytes:
    return text.encode("utf-16-be")


# (octets as a client sends them, data_coding, segments a carrier counts)
TABLE = [
    # GSM 03.38, unpacked: one octet per septet, an extension character is an escape pair
    (b"", GSM, 1),
    (b"a" * 160, GSM, 1),
    (b"a" * 161, GSM, 2),
    (b"a" * 200, GSM, 2),
    (b"a" * 254, GSM, 2),  # the longest short_message
    (b"a" * 306, GSM, 2),
    (b"a" * 307, GSM, 3),
    (b"\x1b\x65" * 80, GSM, 1),  # 80 euro signs: 160 septets
    (b"\x1b\x65" * 81, GSM, 2),
    (b"a" * 159 + b"\x1b\x28", GSM, 2),  # 159 + '{' = 161 septets
    (b"a" * 152 + b"\x1b\x65" + b"a" * 152, GSM, 3),  # the pair cannot straddle 153/154: 152 | 2+151 | 1
    # IA5: a 7-bit alphabet, counted in the GSM septets it is sent as
    (b"a" * 160, IA5, 1),
    (b"a" * 161, IA5, 2),
    (b"{" * 80, IA5, 1),  # '{' is a GSM extension character: 2 septets
    (b"{" * 81, IA5, 2),
    (b"a" * 158 + b"[]", IA5, 2),  # 158 + 4 = 162 septets
    (b"a" * 158 + b"`!", IA5, 1),  # the backtick is not in GSM: one substitute septet
    (b"a" * 254, IA5, 2),
    (b"a" * 152 + b"~" + b"a" * 152, IA5, 3),
    # UCS2: UTF-16 code units
    (ucs2("中" * 70), UCS2, 1),
    (ucs2("中" * 71), UCS2, 2),
    (ucs2("中" * 100), UCS2, 2),  # 200 octets
    (ucs2("中" * 127), UCS2, 2),  # 254 octets
    (ucs2("中" * 134), UCS2, 2),
    (ucs2("中" * 135), UCS2, 3),
    (ucs2("😀" * 35), UCS2, 1),  # 35 surrogate pairs: 70 code units
    (ucs2("😀" * 35 + "a"), UCS2, 2),
    (ucs2("a" * 66 + "😀" + "a" * 67), UCS2, 3),  # the pair cannot straddle 67/68: 66 | 2+65 | 2
    # 8-bit: octets
    (b"\xe9" * 140, LATIN1, 1),
    (b"\xe9" * 141, LATIN1, 2),
    (b"\xe9" * 200, LATIN1, 2),
    (b"\x00" * 140, BINARY, 1),
    (b"\x00" * 268, BINARY, 2),
    (b"\x00" * 269, 4, 3),
    (b"x" * 500, 0x0F, 4),  # a coding the carrier cannot read goes as 8-bit data: 500 / 134
    (b"x" * 141, 0x05, 2),
    # GSM 03.38 DCS groups
    (b"a" * 161, 0xF0, 2),  # message class, GSM alphabet
    (b"a" * 141, 0xF4, 2),  # message class, 8-bit data
    (ucs2("中" * 71), 0xE0, 2),  # message waiting, UCS2
]


@pytest.mark.parametrize("data, data_coding, segments", TABLE)
def test_a_carrier_counts_the_segments_of_the_table(data, data_coding, segments):
    assert count_segments(data, data_coding) == segments


@pytest.mark.parametrize("data, data_coding, segments", TABLE)
def test_a_part_is_one_segment_whatever_its_length(data, data_coding, segments):
    assert count_segments(data, data_coding, part=True) == 1


# --- properties against an oracle written from the rules ------------------------------------

def parts_of(weights: list[int], single: int, per_part: int) -> int:
    """The rule, by hand: one message if everything fits `single`; else parts of at most
    `per_part` units filled greedily, never cutting a character (a weight of 2 stays whole)."""
    if sum(weights) <= single:
        return 1
    parts, used = 1, 0
    for w in weights:
        if used + w > per_part:
            parts, used = parts + 1, 0
        used += w
    return parts


GSM_ONE = "abcXYZ019 @£$¥èéΔ_!?"  # one septet each
GSM_TWO = {"€": b"\x1b\x65", "{": b"\x1b\x28", "}": b"\x1b\x29", "[": b"\x1b\x3c", "]": b"\x1b\x3e",
           "~": b"\x1b\x3d", "|": b"\x1b\x40", "^": b"\x1b\x14", "\\": b"\x1b\x2f"}
GSM_BASIC_OCTET = {"a": b"a", "b": b"b", "c": b"c", "X": b"X", "Y": b"Y", "Z": b"Z", "0": b"0", "1": b"1",
                   "9": b"9", " ": b" ", "@": b"\x00", "£": b"\x01", "$": b"\x02", "¥": b"\x03",
                   "è": b"\x04", "é": b"\x05", "Δ": b"\x10", "_": b"\x11", "!": b"!", "?": b"?"}


@fast
@given(st.lists(st.sampled_from(sorted(GSM_BASIC_OCTET) + sorted(GSM_TWO)), max_size=400))
def test_gsm_counts_septets_with_extension_characters_twice(chars):
    data = b"".join(GSM_BASIC_OCTET.get(c) or GSM_TWO[c] for c in chars)
    weights = [2 if c in GSM_TWO else 1 for c in chars]
    assert count_segments(data, GSM) == parts_of(weights, 160, 153)


IA5_TWO = b"{}[]~|^\\"


@fast
@given(st.binary(max_size=320).map(lambda b: bytes(x & 0x7F for x in b)))
def test_ia5_counts_the_septets_it_is_sent_as(data):
    weights = [2 if x in IA5_TWO else 1 for x in data]
    assert count_segments(data, IA5) == parts_of(weights, 160, 153)


@fast
@given(st.text(st.characters(blacklist_categories=("Cs",)), max_size=200))
def test_ucs2_counts_code_units_and_never_cuts_a_pair(text):
    weights = [2 if ord(c) > 0xFFFF else 1 for c in text]
    assert count_segments(ucs2(text), UCS2) == parts_of(weights, 70, 67)


@fast
@given(st.binary(max_size=700), st.sampled_from([BINARY, LATIN1, 4, 0x05, 0x0F, 0xF4]))
def test_eight_bit_codings_count_octets(data, data_coding):
    assert count_segments(data, data_coding) == parts_of([1] * len(data), 140, 134)


@fast
@given(st.binary(max_size=400), st.sampled_from([GSM, IA5, BINARY, LATIN1, UCS2, 0x0F]))
def test_more_octets_never_make_fewer_segments(data, data_coding):
    assert count_segments(data, data_coding) <= count_segments(data + b"a", data_coding)


# --- the carrier: acceptance, the ledger's column, the bill ---------------------------------

LONG_SENDS = [
    # (what, submit fields, segments)
    ("200 GSM characters", dict(short_message=b"a" * 200), 2),
    ("254 GSM characters", dict(short_message=b"a" * 254), 2),
    ("160 GSM characters", dict(short_message=b"a" * 160), 1),
    ("100 UCS2 characters", dict(short_message=ucs2("中" * 100), data_coding=UCS2), 2),
    ("200 Latin-1 octets", dict(short_message=b"\xe9" * 200, data_coding=LATIN1), 2),
    ("160 IA5 characters", dict(short_message=b"a" * 160, data_coding=IA5), 1),
    ("a 254-octet UDH part", dict(short_message=UDH8 + b"a" * 248, esm_class=UDHI), 1),
    ("a 200-octet SAR part", dict(short_message=b"a" * 200, tlvs={Tag.sar_msg_ref_num: b"\x00\x07",
                                                                   Tag.sar_total_segments: b"\x02",
                                                                   Tag.sar_segment_seqnum: b"\x01"}), 1),
    ("a 500-octet message_payload, data_coding 0x0F",
     dict(short_message=b"", data_coding=0x0F, tlvs={Tag.message_payload: b"x" * 500}), 4),
    ("a 500-character GSM message_payload",
     dict(short_message=b"", tlvs={Tag.message_payload: b"a" * 500}), 4),
]
LONG = {"200 GSM characters", "254 GSM characters", "100 UCS2 characters", "200 Latin-1 octets"}


async def _send_all(smsc: Smsc) -> dict[str, object]:
    esme = await Esme.bound("127.0.0.1", smsc.port, "qa", "qa-pass")
    answers = {}
    for i, (what, fields, _) in enumerate(LONG_SENDS):
        fields = dict(fields)
        answers[what] = await esme.submit(f"86138{i:08d}", fields.pop("short_message"), **fields)
    esme.close()
    return answers


async def test_by_default_a_long_short_message_is_accepted_and_every_segment_is_billed(tmp_path: Path):
    assert Carrier().long_short_message == "accept"
    ledger = LedgerWriter(tmp_path / "ledger.sqlite", run_id="segments")
    smsc = Smsc(carrier(), ledger=ledger, housekeeping_interval=0.05)
    await smsc.start()
    answers = await _send_all(smsc)
    segments = {what: smsc.store.get(answers[what].message_id)[0].segments for what, _, _ in LONG_SENDS}
    await smsc.stop(grace=0.2)
    assert all(a.status == 0 for a in answers.values())
    assert segments == {what: n for what, _, n in LONG_SENDS}
    with LedgerReader(tmp_path / "ledger.sqlite") as reader:
        records = list(reader.records())
    by_id = {r.message_id: r.segments for r in records}
    assert {what: by_id[answers[what].message_id] for what, _, _ in LONG_SENDS} == segments
    billed = bill(records, {"default": 0.01})
    assert billed.segments == 2 + 2 + 1 + 2 + 2 + 1 + 1 + 1 + 4 + 4 == 20
    assert billed.fee == Decimal("0.2000")


async def test_a_carrier_that_rejects_long_short_messages_answers_rinvmsglen(make_smsc):
    smsc = await make_smsc(carrier(long_short_message="reject"))
    answers = await _send_all(smsc)
    refused = {what for what, resp in answers.items() if resp.status}
    assert refused == LONG
    assert all(answers[what].status == CommandStatus.ESME_RINVMSGLEN for what in LONG)


async def test_a_message_payload_over_255_segments_is_rinvmsglen(make_smsc):
    smsc = await make_smsc()
    esme = await Esme.bound("127.0.0.1", smsc.port, "qa", "qa-pass")
    ok = await esme.submit("8613800000001", b"", tlvs={Tag.message_payload: b"a" * (153 * 255)})
    too_long = await esme.submit("8613800000002", b"", tlvs={Tag.message_payload: b"a" * (153 * 255 + 1)})
    esme.close()
    assert ok.status == 0 and smsc.store.get(ok.message_id)[0].segments == 255
    assert too_long.status == CommandStatus.ESME_RINVMSGLEN

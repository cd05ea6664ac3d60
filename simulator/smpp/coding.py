"""SMPP data codings (GSM 03.38, IA5, Latin-1, UCS2, binary) and long-message segmentation.

Sans-IO and pure: text and bytes in, text, bytes and segments out. It must never touch sockets,
asyncio, clocks or global state, nor import above simulator.smpp. The GSM 03.38 tables live in
gsm.py; reading concatenated parts back (parse_udh, Reassembler) in reassembly.py; both are
re-exported here, the one import for whoever encodes, decodes or counts message text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .constants import MAX_SEGMENTS, UDH_CONCAT_8, UDH_CONCAT_16, DataCoding
from .errors import CodingError
from .gsm import GSM_ESCAPE, gsm_decode, gsm_encodable, gsm_encode
from .reassembly import ConcatInfo, Reassembler, parse_udh

__all__ = [
    "CodingError",
    "ConcatInfo",
    "CONCAT_KINDS",
    "MAX_SEGMENTS",
    "MAX_PAYLOAD_OCTETS",
    "Reassembler",
    "Segment",
    "alphabet_of",
    "choose_coding",
    "count_segments",
    "decode_text",
    "encode_text",
    "gsm_encodable",
    "parse_udh",
    "segment_count",
    "segment_limits",
    "split_message",
]


# --------------------------------------------------------------------------------------------
# text -> data_coding
# --------------------------------------------------------------------------------------------

def choose_coding(text: str) -> int:
    """The data_coding a handset would pick: 0 (GSM 03.38) if it fits, otherwise 8 (UCS2)."""
    return int(DataCoding.SMSC_DEFAULT) if gsm_encodable(text) else int(DataCoding.UCS2)


# --------------------------------------------------------------------------------------------
# data_coding -> alphabet
# --------------------------------------------------------------------------------------------

_GSM = int(DataCoding.SMSC_DEFAULT)
_IA5 = int(DataCoding.IA5)
_OCTET = int(DataCoding.OCTET_UNSPECIFIED)
_LATIN1 = int(DataCoding.LATIN1)
_UCS2 = int(DataCoding.UCS2)

_DIRECT_ALPHABETS = {
    _GSM: _GSM,
    _IA5: _IA5,
    _OCTET: _OCTET,
    _LATIN1: _LATIN1,
    int(DataCoding.OCTET_UNSPECIFIED_2): _OCTET,
    _UCS2: _UCS2,
}


def alphabet_of(data_coding: int) -> int:
    """The alphabet (0 GSM, 1 IA5, 2 octets, 3 Latin-1, 8 UCS2) that a data_coding value means.

    Besides 0-4 and 8, the GSM 03.38 DCS groups that SMPP 3.4 passes through are understood:
    0xC0-0xDF (message waiting, GSM alphabet), 0xE0-0xEF (message waiting, UCS2) and 0xF0-0xFF
    (message class: bit 2 set = 8-bit data, else GSM). Anything else raises CodingError.
    """
    alphabet = _DIRECT_ALPHABETS.get(data_coding)
    if alphabet is not None:
        return alphabet
    if 0xC0 <= data_coding <= 0xDF:
        return _GSM
    if 0xE0 <= data_coding <= 0xEF:
        return _UCS2
    if 0xF0 <= data_coding <= 0xFF:
        return _OCTET if data_coding & 0x04 else _GSM
    raise CodingError(f"unsupported data_coding 0x{data_coding:02X}" if isinstance(data_coding, int)
                      else f"data_coding must be an int, not {data_coding!r}")


# --------------------------------------------------------------------------------------------
# encode / decode
# --------------------------------------------------------------------------------------------

def encode_text(text: str, data_coding: int) -> bytes:
    """Text -> short_message octets for data_coding. Raises CodingError if a character does not fit.

    GSM is unpacked (one septet per octet), extension characters as escape pairs; UCS2 is
    UTF-16BE (characters outside the BMP become surrogate pairs); binary codings (2, 4) take
    the text as Latin-1, one character per octet.
    """
    alphabet = alphabet_of(data_coding)
    if alphabet == _GSM:
        return gsm_encode(text)
    codec = _CODECS[alphabet]
    try:
        return text.encode(codec)
    except UnicodeEncodeError as exc:
        ch = text[exc.start]
        raise CodingError(
            f"character {ch!r} (U+{ord(ch):04X}) at index {exc.start} cannot be encoded "
            f"with data_coding 0x{data_coding:02X} ({_CODEC_NAMES[alphabet]})"
        ) from None


def decode_text(data: bytes, data_coding: int) -> str:
    """short_message octets -> text. Raises only CodingError.

    GSM decoding is tolerant, as 3GPP TS 23.038 asks of a receiver: an escape to an undefined
    extension code gives the basic-table character, escape-escape or a trailing escape gives a
    space, and octets with the high bit set (not septets) give U+FFFD. IA5 rejects octets above
    0x7F; UCS2 rejects an odd length and unpaired surrogates; Latin-1 and binary never fail.
    """
    alphabet = alphabet_of(data_coding)
    data = bytes(data)
    if alphabet == _GSM:
        return gsm_decode(data)
    if alphabet == _UCS2 and len(data) % 2:
        raise CodingError(f"UCS2 text must be an even number of octets, got {len(data)}")
    try:
        return data.decode(_CODECS[alphabet])
    except UnicodeDecodeError as exc:
        raise CodingError(
            f"octets {data[exc.start:exc.end].hex()} at offset {exc.start} are not valid "
            f"{_CODEC_NAMES[alphabet]} (data_coding 0x{data_coding:02X}): {exc.reason}"
        ) from None


_CODECS = {_IA5: "ascii", _OCTET: "latin-1", _LATIN1: "latin-1", _UCS2: "utf-16-be"}
_CODEC_NAMES = {_IA5: "IA5/ASCII", _OCTET: "binary (Latin-1 text)", _LATIN1: "Latin-1",
                _UCS2: "UCS2/UTF-16BE"}


# --------------------------------------------------------------------------------------------
# segmentation
# --------------------------------------------------------------------------------------------

CONCAT_KINDS = ("udh8", "udh16", "sar", "payload")
MAX_PAYLOAD_OCTETS = 0xFFFF  # the message_payload TLV length is 16 bits

_UDH_LENGTH = {"udh8": 6, "udh16": 7, "sar": 0, "payload": 0}

# Octets of encoded text per message: (single, per segment) for each concat kind. GSM counts
# septets (= octets, unpacked); a 6-octet UDH takes 7 septets, a 7-octet UDH takes 8 septets.
# UCS2 counts octets too: 70/67/66 characters (UTF-16 code units) = 140/134/132 octets.
_LIMITS = {
    _GSM: {"udh8": 153, "udh16": 152, "sar": 160, "payload": 153, None: 160},
    _OCTET: {"udh8": 134, "udh16": 133, "sar": 140, "payload": 134, None: 140},
    _UCS2: {"udh8": 134, "udh16": 132, "sar": 140, "payload": 134, None: 140},
}
_LIMITS[_LATIN1] = _LIMITS[_OCTET]
_LIMITS[_IA5] = _LIMITS[_GSM]  # IA5 is a 7-bit alphabet: the SMSC sends it as GSM septets

# IA5 (ASCII) characters that GSM 03.38 has only in its extension table: an escape pair, two
# septets, once the SMSC converts IA5 to the GSM alphabet. Any other IA5 octet is one septet (a
# character GSM lacks, such as the backtick, goes out as a one-septet substitute).
_IA5_EXTENSION = re.compile(rb"[\^{}\\\[~\]|]")


def _ia5_septets(data: bytes) -> bytes:
    """IA5 octets as the unpacked GSM septets the SMSC sends: extension characters as escape pairs.

    An ESC control character in the IA5 text becomes a space first, so that every 0x1B in the
    result opens an escape pair (and _chunk_ends can map septet offsets back to octet offsets).
    """
    return _IA5_EXTENSION.sub(b"\x1b\\g<0>", data.replace(b"\x1b", b" "))


def segment_limits(data_coding: int, concat: str = "udh8") -> tuple[int, int]:
    """(single, per segment) in characters of the alphabet: septets, octets or UCS2 code units.

    GSM and IA5 (a 7-bit alphabet, sent as GSM septets) 160/153, octet codings 140/134, UCS2
    70/67 with udh8; 152/133/66 per segment with udh16; for sar the per-segment limit is the
    single one (no UDH in the text). For payload it is the udh8 one: see segment_count.
    """
    _check_concat(concat)
    alphabet = alphabet_of(data_coding)
    limits = _LIMITS[alphabet]
    unit = 2 if alphabet == _UCS2 else 1
    return limits[None] // unit, limits[concat] // unit


def _check_concat(concat: str) -> None:
    if concat not in _UDH_LENGTH:
        raise CodingError(f"concat must be one of {', '.join(CONCAT_KINDS)}, not {concat!r}")


def _chunk_ends(data: bytes, alphabet: int, concat: str) -> list[int]:
    """End offsets of the segments of encoded text; one segment if it fits in a single message.

    A GSM escape pair and a UTF-16 surrogate pair are never split: an encoded GSM text holds
    0x1B only as the first octet of an escape pair (no extension code is 0x1B), and a UTF-16
    high surrogate is always followed by its low one.
    """
    limits = _LIMITS[alphabet]
    size = len(data)
    if size <= limits[None] // 2 or (size <= limits[None] and alphabet != _IA5):
        return [size]
    if alphabet == _IA5:  # cut the septets the SMSC sends, then back to IA5 octet offsets
        septets = _ia5_septets(data)
        ends = _chunk_ends(septets, _GSM, concat)
        return [size] if len(ends) == 1 else [end - septets.count(GSM_ESCAPE, 0, end) for end in ends]
    limit = limits[concat]
    ends = []
    pos = 0
    if alphabet == _GSM:
        while pos < size:
            end = pos + limit
            if end < size and data[end - 1] == GSM_ESCAPE:
                end -= 1
            ends.append(min(end, size))
            pos = end
    elif alphabet == _UCS2:
        while pos < size:
            end = pos + limit
            if end < size and 0xD8 <= data[end - 2] <= 0xDB:
                end -= 2
            ends.append(min(end, size))
            pos = end
    else:
        ends = list(range(limit, size, limit)) + [size]
    return ends


def segment_count(text: str, data_coding: int, concat: str = "udh8") -> int:
    """How many SMS the text takes (what billing counts). Raises CodingError if it cannot be encoded.

    An empty text is one message. For "payload" the whole text travels in one message_payload
    TLV, but the SMSC delivers it to the handset as udh8-concatenated SMS, so the count (and the
    bill) is the udh8 count. The count is not capped at MAX_SEGMENTS: split_message checks that.
    """
    _check_concat(concat)
    alphabet = alphabet_of(data_coding)
    return len(_chunk_ends(encode_text(text, data_coding), alphabet, concat))


def count_segments(data: bytes, data_coding: int, *, part: bool = False) -> int:
    """How many SMS a carrier counts for octets as a client sent them: THE count of the carrier.

    Acceptance (carrier/submits.py: a short_message over one segment is accepted or refused),
    the ledger's `segments` column and billing (metering/billing.py reads that column) all come
    from here. `part` is a short_message that is already one part of a concatenated message (a
    UDH, esm_class 0x40, or the SAR TLVs): 1, whatever its length. Otherwise the octets are
    measured in the alphabet of data_coding and cut as the SMSC would (udh8):

      data_coding                    measured in                     one SMS  per part
      0 (SMSC default = GSM 03.38)   septets, extension chars twice  160      153
      1 (IA5)                        GSM septets after conversion    160      153
      8 (UCS2)                       UTF-16 code units (pairs: 2)    70       67
      2, 3, 4 and any other          octets                          140      134

    GSM 03.38 DCS groups (0xC0-0xFF) follow the alphabet they name. A coding this module cannot
    decode is sent as 8-bit data, so its octets count; this never raises.
    """
    if part or (data_coding == 0 and len(data) <= 160):  # the usual submit: GSM octets are its septets
        return 1
    try:
        alphabet = alphabet_of(data_coding)
    except CodingError:
        alphabet = _OCTET
    return len(_chunk_ends(data, alphabet, "udh8"))


@dataclass(frozen=True, slots=True)
class Segment:
    """One short_message to send: the octets (UDH included when esm_class_udhi) and SAR values."""

    short_message: bytes
    esm_class_udhi: bool = False
    sar: tuple[int, int, int] | None = None  # (sar_msg_ref_num, sar_total_segments, sar_segment_seqnum)


def _udh(concat: str, ref: int, total: int, seq: int) -> bytes:
    if concat == "udh8":
        return bytes((0x05, UDH_CONCAT_8, 0x03, ref, total, seq))
    return bytes((0x06, UDH_CONCAT_16, 0x04, ref >> 8, ref & 0xFF, total, seq))


def split_message(text: str, data_coding: int, concat: str = "udh8", ref: int = 0) -> list[Segment]:
    """Encode text and cut it into the Segments to submit.

    A text that fits one message gives one plain Segment (no UDH, no SAR), whatever concat is.
    udh8/udh16 prefix each part with a concatenation UDH (esm_class_udhi set); sar leaves the
    text bare and fills Segment.sar; payload gives one Segment holding the whole encoded text,
    for the message_payload TLV. ref is 0-255 for udh8 and 0-65535 for udh16 and sar.
    Raises CodingError for unencodable text, a bad ref, or more than MAX_SEGMENTS parts.
    """
    _check_concat(concat)
    if concat != "payload":
        max_ref = 0xFF if concat == "udh8" else 0xFFFF
        if not isinstance(ref, int) or not 0 <= ref <= max_ref:
            raise CodingError(f"ref for {concat} must be an int in 0..{max_ref}, not {ref!r}")
    alphabet = alphabet_of(data_coding)
    data = encode_text(text, data_coding)
    if concat == "payload":
        if len(data) > MAX_PAYLOAD_OCTETS:
            raise CodingError(
                f"encoded text is {len(data)} octets; message_payload holds at most {MAX_PAYLOAD_OCTETS}"
            )
        return [Segment(data)]
    ends = _chunk_ends(data, alphabet, concat)
    total = len(ends)
    if total == 1:
        return [Segment(data)]
    if total > MAX_SEGMENTS:
        raise CodingError(f"text needs {total} segments; concatenation allows at most {MAX_SEGMENTS}")
    segments = []
    start = 0
    for seq, end in enumerate(ends, 1):
        part = data[start:end]
        start = end
        if concat == "sar":
            segments.append(Segment(part, False, (ref, total, seq)))
        else:
            segments.append(Segment(_udh(concat, ref, total, seq) + part, True, None))
    return segments

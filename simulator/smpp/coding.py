"""SMPP data codings (GSM 03.38, IA5, Latin-1, UCS2, binary) and long-message segmentation/reassembly.

Sans-IO and pure: text and bytes in, text, bytes and segments out. It must never touch sockets,
asyncio, clocks or global state (the Reassembler is told the time), nor import above simulator.smpp.
"""

from __future__ import annotations

import codecs
import re
from collections import OrderedDict
from dataclasses import dataclass
from typing import Hashable, NamedTuple

from simulator.smpp.constants import DataCoding

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
    "decode_text",
    "encode_text",
    "gsm_encodable",
    "parse_udh",
    "segment_count",
    "segment_limits",
    "split_message",
]


class CodingError(ValueError):
    """Text that cannot be encoded, bytes that cannot be decoded, or a malformed UDH/segment."""


# --------------------------------------------------------------------------------------------
# GSM 03.38 (3GPP TS 23.038 section 6.2.1) default alphabet and its extension table, unpacked
# (one septet per octet), as SMPP carries it with data_coding 0.
# --------------------------------------------------------------------------------------------

GSM_ESCAPE = 0x1B

_GSM_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ"  # 0x1B is the escape to the extension table, not a character
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)
assert len(_GSM_BASIC) == 128

_GSM_EXTENSION = {
    0x0A: "\f",
    0x14: "^",
    0x28: "{",
    0x29: "}",
    0x2F: "\\",
    0x3C: "[",
    0x3D: "~",
    0x3E: "]",
    0x40: "|",
    0x65: "€",
}

# Encoding runs in C: codecs.charmap_encode with an EncodingMap (built by codecs.charmap_build)
# maps each character to one "intermediate" octet, then bytes.translate and bytes.replace turn
# those into GSM octets. An EncodingMap needs octet 0 to be U+0000, so '@' (septet 0) goes
# through intermediate 0x80 and the extension characters through 0x81-0x8A; intermediate 0x00
# (from U+0000, which GSM lacks) marks an unencodable character.
_EXT_ITEMS = sorted(_GSM_EXTENSION.items())
_INTERMEDIATE_AT = 0x80
_INTERMEDIATE_TABLE = ["\ufffe"] * 256
_INTERMEDIATE_TABLE[0] = "\x00"
for _septet in range(1, 128):
    if _septet != GSM_ESCAPE:
        _INTERMEDIATE_TABLE[_septet] = _GSM_BASIC[_septet]
_INTERMEDIATE_TABLE[_INTERMEDIATE_AT] = _GSM_BASIC[0]
for _i, (_code, _ch) in enumerate(_EXT_ITEMS):
    _INTERMEDIATE_TABLE[_INTERMEDIATE_AT + 1 + _i] = _ch
_GSM_ENCODING_MAP = codecs.charmap_build("".join(_INTERMEDIATE_TABLE))
_AT_TO_SEPTET = bytes.maketrans(bytes((_INTERMEDIATE_AT,)), b"\x00")
_EXT_EXPANSIONS = [
    (bytes((_INTERMEDIATE_AT + 1 + _i,)), bytes((GSM_ESCAPE, _code))) for _i, (_code, _ch) in enumerate(_EXT_ITEMS)
]

# Decoding: a 256-entry charmap. The escape decodes to U+001B (no GSM character does); octets
# with the high bit set are not septets and become U+FFFD. The usual case (only well-formed
# escape pairs, no high octets) splits at the escapes: each known pair becomes a placeholder
# octet 0x80-0x89 that a second table decodes to the extension character, and the escape of
# an unknown pair is dropped (the basic-table character shows). Anything odder (escape-escape,
# a trailing escape, high octets) goes through _GSM_ESCAPE_RE.
_GSM_DECODE_TABLE = _GSM_BASIC + "\ufffd" * 128
_GSM_DECODE_TABLE_EXT = _GSM_BASIC + "".join(ch for _code, ch in _EXT_ITEMS) + "\ufffd" * (128 - len(_EXT_ITEMS))
# The octet after an escape -> its placeholder octet (or itself, for an unknown extension code).
_EXT_PLACEHOLDER = [bytes((_b,)) for _b in range(256)]
for _i, (_code, _ch) in enumerate(_EXT_ITEMS):
    _EXT_PLACEHOLDER[_code] = bytes((0x80 + _i,))
# An escape followed by X (already decoded through the basic table) -> the extension character.
_GSM_EXT_BY_BASE = {_GSM_BASIC[code]: ch for code, ch in _GSM_EXTENSION.items()}
_GSM_ESCAPE_RE = re.compile("\x1b(.?)", re.DOTALL)


def _resolve_escape(match: re.Match[str]) -> str:
    follower = match.group(1)
    ext = _GSM_EXT_BY_BASE.get(follower)
    if ext is not None:
        return ext
    # 3GPP TS 23.038 6.2.1.1: an escape to an undefined extension code displays the basic-table
    # character; escape-escape (reserved for another extension table) displays a space. A lone
    # escape at the end (truncated message) is shown as a space too.
    if follower == "" or follower == "\x1b":
        return " "
    return follower


def _gsm_unencodable(text: str, index: int) -> CodingError:
    ch = text[index]
    return CodingError(
        f"character {ch!r} (U+{ord(ch):04X}) at index {index} is not in the GSM 03.38 "
        "default alphabet or its extension table; use UCS2 (data_coding 8)"
    )


def _gsm_encode(text: str) -> bytes:
    try:
        data = codecs.charmap_encode(text, "strict", _GSM_ENCODING_MAP)[0]
    except UnicodeEncodeError as exc:
        raise _gsm_unencodable(text, exc.start) from None
    if 0 in data:
        raise _gsm_unencodable(text, text.index("\x00"))
    if not data.isascii():
        data = data.translate(_AT_TO_SEPTET)
        if not data.isascii():
            for placeholder, pair in _EXT_EXPANSIONS:
                data = data.replace(placeholder, pair)
    return data


def _gsm_decode(data: bytes) -> str:
    if GSM_ESCAPE not in data:
        return codecs.charmap_decode(data, "strict", _GSM_DECODE_TABLE)[0]
    if data.isascii() and b"\x1b\x1b" not in data and data[-1] != GSM_ESCAPE:
        first, *escaped = data.split(b"\x1b")
        data = first + b"".join([_EXT_PLACEHOLDER[part[0]] + part[1:] for part in escaped])
        return codecs.charmap_decode(data, "strict", _GSM_DECODE_TABLE_EXT)[0]
    text = codecs.charmap_decode(data, "strict", _GSM_DECODE_TABLE)[0]
    return _GSM_ESCAPE_RE.sub(_resolve_escape, text)


def gsm_encodable(text: str) -> bool:
    """True when every character is in the GSM 03.38 default alphabet or its extension table."""
    try:
        data = codecs.charmap_encode(text, "strict", _GSM_ENCODING_MAP)[0]
    except UnicodeEncodeError:
        return False
    return 0 not in data


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
        return _gsm_encode(text)
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
        return _gsm_decode(data)
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
MAX_SEGMENTS = 255  # the total-segments field is one octet in the UDH and in sar_total_segments
MAX_PAYLOAD_OCTETS = 0xFFFF  # the message_payload TLV length is 16 bits

UDH_CONCAT_8 = 0x00
UDH_CONCAT_16 = 0x08
_UDH_LENGTH = {"udh8": 6, "udh16": 7, "sar": 0, "payload": 0}

# Octets of encoded text per message: (single, per segment) for each concat kind. GSM counts
# septets (= octets, unpacked); a 6-octet UDH takes 7 septets, a 7-octet UDH takes 8 septets.
# UCS2 counts octets too: 70/67/66 characters (UTF-16 code units) = 140/134/132 octets.
_LIMITS = {
    _GSM: {"udh8": 153, "udh16": 152, "sar": 160, "payload": 153, None: 160},
    _OCTET: {"udh8": 134, "udh16": 133, "sar": 140, "payload": 134, None: 140},
    _UCS2: {"udh8": 134, "udh16": 132, "sar": 140, "payload": 134, None: 140},
}
_LIMITS[_IA5] = _LIMITS[_LATIN1] = _LIMITS[_OCTET]


def segment_limits(data_coding: int, concat: str = "udh8") -> tuple[int, int]:
    """(single, per segment) in characters of the alphabet: septets, octets or UCS2 code units.

    GSM 160/153, octet codings 140/134, UCS2 70/67 with udh8; 152/133/66 per segment with
    udh16; for sar the per-segment limit is the single one (no UDH in the text). For payload
    it is the udh8 one: see segment_count.
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
    if size <= limits[None]:
        return [size]
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


def count_segments(data: bytes, data_coding: int) -> int:
    """How many SMS already-encoded octets make (e.g. a message_payload): the udh8 count.

    Raises CodingError for a data_coding this module does not know.
    """
    return len(_chunk_ends(data, alphabet_of(data_coding), "udh8"))


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


# --------------------------------------------------------------------------------------------
# receiving side: UDH parsing and reassembly
# --------------------------------------------------------------------------------------------

class ConcatInfo(NamedTuple):
    """Concatenation values of one part: reference, total parts, this part's number (1-based)."""

    ref: int
    total: int
    seq: int


def parse_udh(short_message: bytes) -> tuple[ConcatInfo | None, bytes]:
    """Split a short_message sent with esm_class UDHI (0x40) into (concat info, text after the UDH).

    Concatenation comes from IE 0x00 (8-bit ref) or 0x08 (16-bit ref); other IEs are skipped;
    if several are present the last wins (3GPP TS 23.040 9.2.3.24). A concat IE with total 0,
    seq 0 or seq > total is ignored, as 23.040 9.2.3.24.1 asks. A structurally malformed UDH
    (empty, UDHL past the end, an IE running past the UDH, a concat IE of the wrong length)
    raises CodingError.
    """
    data = bytes(short_message)
    if not data:
        raise CodingError("UDHI is set but short_message is empty: no UDH length octet")
    udhl = data[0]
    end = 1 + udhl
    if end > len(data):
        raise CodingError(f"UDH length {udhl} runs past the end of a {len(data)}-octet short_message")
    concat: ConcatInfo | None = None
    pos = 1
    while pos < end:
        if pos + 2 > end:
            raise CodingError(f"UDH information element header at offset {pos} is cut by the UDH length")
        iei, iedl = data[pos], data[pos + 1]
        value_start = pos + 2
        pos = value_start + iedl
        if pos > end:
            raise CodingError(
                f"UDH information element 0x{iei:02X} of length {iedl} runs past the UDH (length {udhl})"
            )
        if iei == UDH_CONCAT_8 or iei == UDH_CONCAT_16:
            want = 3 if iei == UDH_CONCAT_8 else 4
            if iedl != want:
                raise CodingError(f"concatenation IE 0x{iei:02X} must have length {want}, not {iedl}")
            value = data[value_start:pos]
            if iei == UDH_CONCAT_8:
                ref, total, seq = value
            else:
                ref, total, seq = (value[0] << 8) | value[1], value[2], value[3]
            concat = ConcatInfo(ref, total, seq) if total and 1 <= seq <= total else None
    return concat, data[end:]


class Reassembler:
    """Joins the parts of concatenated messages as they arrive, in any order, with duplicates.

    Memory is bounded: at most max_pending partial messages (the oldest is evicted to make room)
    and a partial message older than timeout seconds (since its first part) is dropped by
    expire(now), which add() also runs. `evicted`, `expired` and `duplicates` count what was
    lost or ignored. The clock is the caller's: pass `now` in seconds.
    """

    def __init__(self, max_pending: int = 10_000, timeout: float = 300.0) -> None:
        if max_pending < 1:
            raise ValueError("max_pending must be at least 1")
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        self.max_pending = max_pending
        self.timeout = timeout
        self.evicted = 0
        self.expired = 0
        self.duplicates = 0
        # (key, ref, total) -> (first-part time, {seq: payload}); insertion order = age order.
        self._pending: OrderedDict[tuple, tuple[float, dict[int, bytes]]] = OrderedDict()

    def __len__(self) -> int:
        """Partial messages waiting for more parts."""
        return len(self._pending)

    def add(self, key: Hashable, ref: int, total: int, seq: int, payload: bytes, now: float) -> bytes | None:
        """Store one part; return the joined payload when this part completes its message, else None.

        key tells senders apart (e.g. (source_addr, destination_addr)). A part whose seq is
        already held is a duplicate: ignored (the first copy wins). Raises CodingError if
        total is not 1..255 or seq not 1..total.
        """
        if not 1 <= total <= MAX_SEGMENTS:
            raise CodingError(f"total segments must be 1..{MAX_SEGMENTS}, not {total}")
        if not 1 <= seq <= total:
            raise CodingError(f"segment number must be 1..{total}, not {seq}")
        self.expire(now)
        if total == 1:
            return bytes(payload)
        ident = (key, ref, total)
        entry = self._pending.get(ident)
        if entry is None:
            while len(self._pending) >= self.max_pending:
                self._pending.popitem(last=False)
                self.evicted += 1
            entry = (now, {})
            self._pending[ident] = entry
        parts = entry[1]
        if seq in parts:
            self.duplicates += 1
            return None
        parts[seq] = bytes(payload)
        if len(parts) < total:
            return None
        del self._pending[ident]
        return b"".join(parts[i] for i in range(1, total + 1))

    def expire(self, now: float) -> int:
        """Drop partial messages whose first part came more than timeout seconds before now."""
        deadline = now - self.timeout
        dropped = 0
        pending = self._pending
        while pending:
            ident, (first_seen, _) = next(iter(pending.items()))
            if first_seen >= deadline:
                break
            del pending[ident]
            dropped += 1
        self.expired += dropped
        return dropped

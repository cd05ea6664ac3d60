"""The GSM 03.38 default alphabet and its extension table, as SMPP carries it with data_coding 0.

Owns: the alphabet's tables (3GPP TS 23.038 section 6.2.1) and their encoder and decoder, unpacked
(one septet per octet). Not here: choosing a data_coding, other alphabets and segmentation
(coding.py). Pure: no I/O, no state after import.
"""

from __future__ import annotations

import codecs
import re

from .errors import CodingError

__all__ = ["GSM_ESCAPE", "gsm_decode", "gsm_encodable", "gsm_encode"]


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


def gsm_encode(text: str) -> bytes:
    """Text -> GSM 03.38 octets, one septet per octet; raises CodingError for a character outside it."""
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


def gsm_decode(data: bytes) -> str:
    """GSM 03.38 octets -> text; never raises (unknown escapes and high octets decode as 23.038 says)."""
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

"""SMPP 3.4 delivery receipts (Appendix B): the `id:... stat:... err:...` text and its three TLVs.

Sans-IO and pure: it never does I/O nor imports beyond the stdlib and simulator.smpp.constants,
and parse_receipt never raises anything but ReceiptParseError, whatever a carrier sends.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from simulator.smpp.constants import MESSAGE_TYPE_MASK, EsmClass, MessageState, Tag

__all__ = [
    "NETWORK_TYPE_GSM",
    "NO_DATE",
    "TEXT_LENGTH",
    "Receipt",
    "ReceiptParseError",
    "format_receipt_date",
    "is_intermediate",
    "is_receipt",
    "parse_receipt",
    "receipt_from_tlvs",
    "receipt_id_and_stat",
]

NETWORK_TYPE_GSM = 3
"""network_error_code's first octet (5.3.2.31): 1 ANSI-136, 2 IS-95, 3 GSM, 4 reserved."""

TEXT_LENGTH = 20
"""Appendix B: a receipt's `text:` carries the first 20 characters of the original message."""

NO_DATE = "0000000000"
"""How a missing date is written: keeps the field 10 characters wide; parses back to None."""


class ReceiptParseError(ValueError):
    """The text is not a delivery receipt: it has no `id:` or no recognisable `stat:`."""


def format_receipt_date(dt: datetime | None) -> str:
    """YYMMDDhhmm of `dt` as written (no time-zone conversion); None gives NO_DATE.

    strftime-free on purpose: this runs for every receipt the simulator sends.
    """
    if dt is None:
        return NO_DATE
    return f"{dt.year % 100:02d}{dt.month:02d}{dt.day:02d}{dt.hour:02d}{dt.minute:02d}"


@dataclass(frozen=True, slots=True)
class Receipt:
    """One delivery receipt, as sent in a deliver_sm (esm_class 0x04) or data_sm.

    `err` is text because carriers put anything there ("000", "0000", "ABC"). Dates are naive:
    the SMSC's wall clock, as the receipt text carries no offset. `dlvrd` left as None becomes
    1 for DELIVERED and 0 otherwise. `text` is the start of the original message; to_text()
    sends its first 20 characters.
    """

    message_id: str
    state: MessageState
    err: str
    submit_date: datetime | None
    done_date: datetime | None
    sub: int = 1
    dlvrd: int | None = None  # always an int after __init__
    text: str = ""

    def __post_init__(self) -> None:
        state = self.state
        if type(state) is not MessageState:
            state = MessageState(state)
            object.__setattr__(self, "state", state)
        if self.dlvrd is None:
            object.__setattr__(self, "dlvrd", 1 if state is MessageState.DELIVERED else 0)

    def to_text(self) -> str:
        """The Appendix B short_message text, e.g.

        `id:ab12 sub:001 dlvrd:001 submit date:2401311200 done date:2401311201 stat:DELIVRD err:000
        text:Hello` (on one line)
        """
        return (
            f"id:{self.message_id} sub:{self.sub:03d} dlvrd:{self.dlvrd:03d}"
            f" submit date:{format_receipt_date(self.submit_date)}"
            f" done date:{format_receipt_date(self.done_date)}"
            f" stat:{_STAT_OF[self.state]} err:{self.err} text:{self.text[:TEXT_LENGTH]}"
        )

    def tlvs(self) -> dict[int, bytes]:
        """The receipt's optional parameters, keyed by Tag, values encoded as on the wire:

        - receipted_message_id (0x001E): C-octet string, the id in UTF-8 then one NUL
          (ids are ASCII in practice; SMPP 3.4 allows at most 65 octets, NUL included).
        - message_state (0x0427): 1 octet, the MessageState value (DELIVERED -> 0x02).
        - network_error_code (0x0423): 3 octets: the network type (3 = GSM), then the error code
          as 2 octets big-endian. The code is `err` read as a decimal number ("069" -> 0x0045);
          an `err` that is not decimal digits, or does not fit in 2 octets, is sent as 0.
        """
        return {
            Tag.receipted_message_id: self.message_id.encode("utf-8", "replace") + b"\x00",
            Tag.message_state: _STATE_OCTET[self.state],
            Tag.network_error_code: _network_error_code(self.err),
        }


def _network_error_code(err: str) -> bytes:
    code = int(err) if err.isascii() and err.isdigit() and len(err) <= 5 else 0
    if code > 0xFFFF:
        code = 0
    return bytes((NETWORK_TYPE_GSM, code >> 8, code & 0xFF))


_STAT_OF = {state: state.stat for state in MessageState}
_STATE_OCTET = {state: bytes((state,)) for state in MessageState}

# `stat:` words accepted, upper-cased: the Appendix B words, the long names of section 5.2.28
# (DELIVERED, UNDELIVERABLE, ...) and a spelling seen in the wild.
_STATE_OF_WORD: dict[str, MessageState] = {}
for _state in MessageState:
    _STATE_OF_WORD[_state.stat] = _state
    _STATE_OF_WORD[_state.name] = _state
_STATE_OF_WORD["UNDELIVERED"] = MessageState.UNDELIVERABLE
del _state

# The fast path: Appendix B as nearly everyone sends it (keys in any case, sub/dlvrd optional),
# one anchored match. Values with blanks, "," or ";" and any other shape go to the scanner below,
# which gives the same answer for whatever the fast path accepts.
_USUAL = re.compile(
    r"id:([^\s,;\x00]*)[ \t]+(?:sub:([^\s,;\x00]*)[ \t]+)?(?:dlvrd:([^\s,;\x00]*)[ \t]+)?"
    r"submit date:([^\s,;\x00]*)[ \t]+done date:([^\s,;\x00]*)[ \t]+"
    r"stat:([^\s,;\x00]*)[ \t]+err:([^\s,;\x00]*)(?:[ \t]+text:(.*))?",
    re.IGNORECASE | re.DOTALL,
)

# The scanner: a known key starts the string or follows whitespace, "," or ";" (so "msgid:" is
# not "id:"), in any case, "submit date" also as "submit_date"/"submitdate", optional blanks
# before the colon. A key's value runs to the next known key and its first word is taken, so
# unknown keys ("mcc:460") are skipped. The first `text:` runs to the end.
_KEY = re.compile(
    r"(?<![^\s,;])(?:"
    r"(?P<id>id)|(?P<sub>sub)|(?P<dlvrd>dlvrd)|(?P<submit>submit[ _]?date)|(?P<done>done[ _]?date)"
    r"|(?P<stat>stat)|(?P<err>err(?:or)?)|(?P<text>text)"
    r")[ \t]*:",
    re.IGNORECASE,
)
# The SMPP absolute time YYMMDDhhmmsstnn(+|-) that some carriers put in receipts: its first 12 digits.
_ABSOLUTE_TIME = re.compile(r"(\d{12})\d{3}[+-]", re.ASCII)
_TRAILER = "\x00\r\n"


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _first_word(value: str) -> str:
    words = value.split(None, 1)
    return words[0].strip("\x00") if words else ""


def _count(word: str | None, default: int) -> int:
    if not word:
        return default
    try:
        return int(word)
    except ValueError:
        return default


def _date(word: str | None) -> datetime | None:
    """YYMMDDhhmm, YYMMDDhhmmss or YYMMDDhhmmsstnn(+|-) as a naive datetime; anything else None."""
    if not word:
        return None
    n = len(word)
    if not ((n == 10 or n == 12) and word.isascii() and word.isdigit()):
        m = _ABSOLUTE_TIME.fullmatch(word)
        if m is None:
            return None
        word = m.group(1)
    try:
        return datetime(
            2000 + int(word[0:2]), int(word[2:4]), int(word[4:6]), int(word[6:8]), int(word[8:10]),
            int(word[10:12] or 0),
        )
    except ValueError:
        return None


def _receipt(
    message_id: str, stat: str, err: str, submit: str | None, done: str | None,
    sub: str | None, dlvrd: str | None, body: str, text: str,
) -> Receipt:
    if not message_id:
        raise ReceiptParseError(f"no id: in receipt {text[:80]!r}")
    state = _STATE_OF_WORD.get(stat.upper()) if stat else None
    if state is None:
        raise ReceiptParseError(f"no recognisable stat: in receipt {text[:80]!r}")
    return Receipt(
        message_id,
        state,
        err,
        _date(submit),
        _date(done),
        _count(sub, 1),
        _count(dlvrd, 1 if state is MessageState.DELIVERED else 0),
        body,
    )


def parse_receipt(text: str | bytes) -> Receipt:
    """Read a receipt's short_message text, as tolerantly as real carriers require.

    Keys in any case (`ID:`, `Text:`), in any order before `text:`, unknown keys ignored; `sub:`
    and `dlvrd:` optional (1, and 1 if delivered else 0); dates of 10 or 12 digits (or the
    16-character SMPP absolute time), a missing or garbage date giving None; `err` kept as
    written (missing: ""); `text:` runs to the end and may contain colons; trailing NULs and
    CR/LF are dropped. Bytes are read as UTF-8 when valid, else Latin-1. Raises
    ReceiptParseError, and nothing else, when there is no `id:` or no recognisable `stat:`.
    """
    if not isinstance(text, str):
        text = _decode(bytes(text))
    text = text.rstrip(_TRAILER)
    m = _USUAL.fullmatch(text)
    if m is not None:
        message_id, sub, dlvrd, submit, done, stat, err, body = m.groups()
        return _receipt(message_id, stat, err, submit, done, sub, dlvrd, body or "", text)
    return _parse_scanning(text)


def _parse_scanning(text: str) -> Receipt:
    """parse_receipt's general path, for text already decoded and stripped of its trailer."""
    found: dict[str, str] = {}
    body = ""
    key = None
    start = 0
    for m in _KEY.finditer(text):
        if key is not None and key not in found:
            found[key] = text[start : m.start()]
        key = m.lastgroup
        start = m.end()
        if key == "text":
            body = text[start:]
            key = None
            break
    if key is not None and key not in found:
        found[key] = text[start:]
    get = found.get
    return _receipt(
        _first_word(get("id", "")),
        _first_word(get("stat", "")),
        _first_word(get("err", "")),
        _first_word(get("submit", "")),
        _first_word(get("done", "")),
        _first_word(get("sub", "")),
        _first_word(get("dlvrd", "")),
        body,
        text,
    )


def receipt_from_tlvs(tlvs: dict[int, bytes]) -> tuple[str | None, MessageState | None, int | None]:
    """(receipted_message_id, message_state, network error code) read from a receipt's TLVs.

    Each is None when its TLV is absent or unreadable. The id stops at the first NUL, and a
    missing NUL is accepted; the error code is octets 2-3 of network_error_code, big-endian.
    """
    message_id: str | None = None
    raw = tlvs.get(Tag.receipted_message_id)
    if raw:
        raw = bytes(raw)
        nul = raw.find(b"\x00")
        if nul >= 0:
            raw = raw[:nul]
        message_id = _decode(raw) or None

    state: MessageState | None = None
    raw = tlvs.get(Tag.message_state)
    if raw:
        try:
            state = MessageState(raw[0])
        except ValueError:
            state = None

    error: int | None = None
    raw = tlvs.get(Tag.network_error_code)
    if raw is not None and len(raw) >= 3:
        error = (raw[1] << 8) | raw[2]

    return message_id, state, error


class _ShortMessagePdu(Protocol):
    short_message: bytes
    tlvs: Mapping[int, bytes]


# The reading side's fast path: Appendix B exactly as carrier-sim (and most carriers) write it, with
# Appendix B stat words only. For such a text parse_receipt gives this id and stat too, without
# building dates and a Receipt (the load harness reads tens of thousands a second).
_PLAIN = re.compile(
    rb"id:([0-9A-Za-z_.\-]+) sub:[0-9]+ dlvrd:[0-9]+ submit date:[0-9]+ done date:[0-9]+ "
    rb"stat:(DELIVRD|EXPIRED|DELETED|UNDELIV|ACCEPTD|UNKNOWN|REJECTD|ENROUTE) err:"
)
UNPARSEABLE = "UNPARSEABLE"
"""The stat receipt_id_and_stat gives a receipt whose text is not a receipt."""


def receipt_id_and_stat(pdu: _ShortMessagePdu) -> tuple[str, str]:
    """(message id, Appendix B stat word) of a receipt's deliver_sm/data_sm, what parse_receipt
    reads; (receipted_message_id TLV or "?", UNPARSEABLE) when its text is not a receipt."""
    m = _PLAIN.match(pdu.short_message)
    if m is not None:
        return m.group(1).decode("ascii"), m.group(2).decode("ascii")
    try:
        receipt = parse_receipt(pdu.short_message)
        return receipt.message_id, receipt.state.stat
    except ReceiptParseError:
        return receipt_from_tlvs(pdu.tlvs)[0] or "?", UNPARSEABLE


def is_receipt(esm_class: int) -> bool:
    """True when esm_class's message type (bits 2-5) is 0001: an SMSC delivery receipt."""
    return esm_class & MESSAGE_TYPE_MASK == EsmClass.DELIVERY_RECEIPT


def is_intermediate(esm_class: int) -> bool:
    """True when esm_class's message type (bits 2-5) is 1000: an intermediate delivery notification."""
    return esm_class & MESSAGE_TYPE_MASK == EsmClass.INTERMEDIATE_NOTIFICATION


# --------------------------------------------------------------------------------------------
# The sending side's fast path: the same text and TLVs as Receipt.to_text()/tlvs(), from epoch
# seconds, without building datetimes or a Receipt (an SMSC sends tens of thousands a second).
class _MinuteCache:
    """YYMMDDhhmm of epoch seconds in local time, computed once per minute."""

    __slots__ = ("minute", "text")

    def __init__(self) -> None:
        self.minute = -1
        self.text = NO_DATE

    def __call__(self, ts: float) -> str:
        minute = int(ts // 60)
        if minute != self.minute:
            self.minute = minute
            self.text = format_receipt_date(datetime.fromtimestamp(minute * 60))
        return self.text


_submit_dates = _MinuteCache()
_done_dates = _MinuteCache()
_NETWORK_ERRORS: dict[str, bytes] = {}


def receipt_text_fast(message_id: str, state: MessageState, err: str, submit_ts: float, done_ts: float,
                      text: str) -> str:
    """Receipt(message_id, state, err, fromtimestamp(submit_ts), fromtimestamp(done_ts), text=text).to_text()"""
    dlvrd = "001" if state is MessageState.DELIVERED else "000"
    return (
        f"id:{message_id} sub:001 dlvrd:{dlvrd} submit date:{_submit_dates(submit_ts)}"
        f" done date:{_done_dates(done_ts)} stat:{_STAT_OF[state]} err:{err} text:{text[:TEXT_LENGTH]}"
    )


def receipt_tlvs_fast(message_id: str, state: MessageState, err: str) -> dict[int, bytes]:
    """The same dict as Receipt.tlvs(), with the network error code of each `err` cached."""
    nec = _NETWORK_ERRORS.get(err)
    if nec is None:
        nec = _NETWORK_ERRORS[err] = _network_error_code(err)
    return {
        Tag.receipted_message_id: message_id.encode("utf-8", "replace") + b"\x00",
        Tag.message_state: _STATE_OCTET[state],
        Tag.network_error_code: nec,
    }

"""Concatenated short messages coming in: the UDH's concatenation element read back, and reassembly.

Owns: ConcatInfo, parse_udh and the Reassembler (which holds parts until a message is whole, and is
told the time). Not here: splitting text into parts (coding.py). Sans-IO: no sockets, no clocks.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Hashable, NamedTuple

from .constants import MAX_SEGMENTS, UDH_CONCAT_8, UDH_CONCAT_16
from .errors import CodingError

__all__ = ["ConcatInfo", "Reassembler", "parse_udh"]


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

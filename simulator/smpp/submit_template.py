"""The precompiled submit_sm: encoded once by SubmitSm.encode(), then only destination and text patched in.

Owns: the octets of a submit_sm around its destination_addr and short_message, for the load
harness's hot path (a frame costs two joins instead of a field-by-field encode). Every template
checks itself against SubmitSm.encode() when it is built. Not here: sequence numbers (patched by
smpp/esme_session.py when the frames are written), what to send (loadtests/traffic.py).
"""

from __future__ import annotations

from typing import Any

from .constants import HEADER_SIZE, CommandId
from .errors import PduEncodeError
from .pdu import HEADER, SubmitSm

MAX_DESTINATION_OCTETS = 20  # destination_addr is a C-octet string of at most 21 octets, NUL included
MAX_SHORT_MESSAGE_OCTETS = 254  # sm_length is one octet; 255 is reserved (SMPP 3.4 5.2.21)
_CHECK_DESTINATION = "8613800000000"
_CHECK_TEXT = b"template check"


class SubmitTemplate:
    """submit_sm for one source, esm_class, data_coding and registered_delivery (and any other
    fixed field of SubmitSm); frame() gives SubmitSm(..., destination_addr, short_message).encode()
    with sequence number 0."""

    __slots__ = ("fixed_length", "head", "mid")

    def __init__(self, source_addr: str, **fields: Any) -> None:
        frame = SubmitSm(sequence=0, source_addr=source_addr, destination_addr="", short_message=b"",
                         **fields).encode()
        # SMPP 3.4 4.4.1: service_type NUL, source ton and npi, source_addr NUL, dest ton and npi,
        # then destination_addr NUL ... sm_length short_message (empty here) and no TLVs
        service_type = fields.get("service_type", "")
        source = source_addr.encode("latin-1")
        cut = HEADER_SIZE + len(service_type.encode("latin-1")) + 1 + 2 + len(source) + 1 + 2
        if frame[cut] != 0 or frame[-1] != 0 or "tlvs" in fields:
            raise ValueError("this submit_sm does not have the layout SubmitTemplate patches")
        self.head = frame[HEADER_SIZE:cut]  # service_type .. dest_addr_npi
        self.mid = frame[cut + 1 : -1]  # esm_class .. sm_default_msg_id
        self.fixed_length = HEADER_SIZE + len(self.head) + 1 + len(self.mid) + 1
        expected = SubmitSm(sequence=0, source_addr=source_addr, destination_addr=_CHECK_DESTINATION,
                            short_message=_CHECK_TEXT, **fields).encode()
        if self.frame(_CHECK_DESTINATION.encode("latin-1"), _CHECK_TEXT) != expected:
            raise AssertionError("SubmitTemplate.frame() would not give SubmitSm.encode()'s octets")

    def frame(self, destination: bytes, short_message: bytes) -> bytes:
        """The encoded submit_sm to `destination` (Latin-1 octets, no NUL) with `short_message`."""
        size = len(short_message)
        if len(destination) > MAX_DESTINATION_OCTETS or 0 in destination or size > MAX_SHORT_MESSAGE_OCTETS:
            self._refuse(destination, size)
        return b"".join((
            _pack(self.fixed_length + len(destination) + size, _SUBMIT_SM, 0, 0),
            self.head, destination, b"\0", self.mid, _LENGTH_OCTET[size], short_message,
        ))  # fmt: skip

    @staticmethod
    def _refuse(destination: bytes, size: int) -> None:
        if len(destination) > MAX_DESTINATION_OCTETS or 0 in destination:
            shown = destination.decode("latin-1")
            raise PduEncodeError(f"submit_sm.destination_addr: {shown!r} breaks its limit")
        raise PduEncodeError(f"submit_sm.short_message: {size} octets, at most {MAX_SHORT_MESSAGE_OCTETS}")


_SUBMIT_SM = int(CommandId.submit_sm)
_pack = HEADER.pack
_LENGTH_OCTET = [bytes((n,)) for n in range(256)]  # sm_length, as one octet

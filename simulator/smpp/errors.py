"""The codec's documented errors. Decoding untrusted bytes raises PduError and nothing else.

PduError carries the command_status to answer with; PduEncodeError is local code breaking a field
limit; SessionError is local code sending what the bind state does not allow; CodingError is text
or short_message octets that a data coding, a UDH or a segment list cannot take (coding.py, gsm.py).
"""

from __future__ import annotations


class SmppError(Exception):
    """Base of every error this package raises on purpose."""


class PduError(SmppError):
    """A PDU that cannot be accepted; `status` is the command_status to answer with."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = int(status)
        self.detail = detail


class PduEncodeError(SmppError, ValueError):
    """A PDU built by local code breaks a field limit; a programming or configuration error."""


class CodingError(ValueError):
    """Text that cannot be encoded, bytes that cannot be decoded, or a malformed UDH/segment."""


class SessionError(SmppError):
    """Local code tried to send something the bind state does not allow."""

"""The codec's documented errors. Decoding untrusted bytes raises PduError and nothing else.

PduError carries the command_status to answer with; FramingError means the byte stream cannot be
resynchronised (hostile or broken command_length) and the connection must be closed after the nack.
"""

from __future__ import annotations

from .constants import CommandStatus


class SmppError(Exception):
    """Base of every error this package raises on purpose."""


class PduError(SmppError):
    """A PDU that cannot be accepted; `status` is the command_status to answer with."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = int(status)
        self.detail = detail


class FramingError(PduError):
    """command_length is impossible (below 16 or above the session's maximum): the stream is lost."""

    def __init__(self, detail: str) -> None:
        super().__init__(CommandStatus.ESME_RINVCMDLEN, detail)


class PduEncodeError(SmppError, ValueError):
    """A PDU built by local code breaks a field limit; a programming or configuration error."""


class SessionError(SmppError):
    """Local code tried to send something the bind state does not allow."""

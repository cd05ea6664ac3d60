"""A mobile-originated message: the request to inject one, checked once where it enters (HTTP, MQTT,
Python), and the deliver_sm parts that carry it.

Every value must fit the deliver_sm that carries the MO to the receivers: addresses of at most
MAX_ADDRESS printable ASCII characters, a data_coding octet, a bounded text. A bad request raises
MoError naming the field; it never reaches a delivery queue, which serves every client of the account.
Not here: queueing the parts and the audit entry (smsc.py Smsc.inject_mo).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from simulator.smpp.coding import CodingError, alphabet_of, choose_coding, split_message
from simulator.smpp.constants import EsmClass
from simulator.smpp.errors import PduEncodeError
from simulator.smpp.pdu import DeliverSm

# source_addr / destination_addr of a deliver_sm: C-Octet Strings of 21 octets with the NUL
# (SMPP 3.4, 4.6.1); also the most digits of a GSM address (3GPP TS 23.040 9.1.2.5)
MAX_ADDRESS = 20
MAX_MO_TEXT = 1_600  # characters: ten GSM 7-bit parts, about a handset's longest concatenated message
FIELDS = ("account", "source", "destination", "text", "data_coding")
MAX_ACCOUNT = 64


class MoError(ValueError):
    """An MO request that cannot be carried out; `field` names the value at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


@dataclass(frozen=True)
class MoRequest:
    account: str
    source: str
    destination: str
    text: str
    data_coding: int | None = None


def check_address(field: str, value: Any) -> str:
    if not isinstance(value, str):
        raise MoError(field, f"must be a string, not {type(value).__name__}")
    if not value:
        raise MoError(field, "must not be empty")
    if len(value) > MAX_ADDRESS:
        raise MoError(field, f"has {len(value)} characters; a deliver_sm address holds at most {MAX_ADDRESS}")
    if not (value.isascii() and value.isprintable()):
        raise MoError(field, "must be printable ASCII (digits, +, or an alphanumeric sender)")
    return value


def check_data_coding(value: Any) -> int | None:
    if value is None:
        return None
    if type(value) is not int:  # bool is an int subclass: refused too
        raise MoError("data_coding", f"must be an integer 0-255, not {value!r}")
    if not 0 <= value <= 255:
        raise MoError("data_coding", f"must be an integer 0-255, not {value}")
    return value


def check_text(value: Any) -> str:
    if not isinstance(value, str):
        raise MoError("text", f"must be a string, not {type(value).__name__}")
    if len(value) > MAX_MO_TEXT:
        raise MoError("text", f"has {len(value)} characters; an MO holds at most {MAX_MO_TEXT}")
    return value


def check_mo(source: Any, destination: Any, text: Any, data_coding: Any) -> None:
    """Raise MoError for the first value that a deliver_sm cannot carry."""
    check_address("source", source)
    check_address("destination", destination)
    check_text(text)
    check_data_coding(data_coding)


def mo_request(body: Mapping[str, Any]) -> MoRequest:
    """The MoRequest a JSON object asks for (HTTP POST /mo, MQTT control/mo). Raises MoError."""
    unknown = sorted(set(body) - set(FIELDS))
    if unknown:
        raise MoError(unknown[0], f"unknown field (known: {', '.join(FIELDS)})")
    account = body.get("account")
    if not isinstance(account, str) or not account:
        raise MoError("account", "needs a non-empty string")
    if len(account) > MAX_ACCOUNT:
        raise MoError("account", f"has {len(account)} characters; at most {MAX_ACCOUNT}")
    for field in ("source", "destination", "text"):
        if field not in body:
            raise MoError(field, "is missing")
    check_mo(body["source"], body["destination"], body["text"], body.get("data_coding"))
    return MoRequest(account, body["source"], body["destination"], body["text"], body.get("data_coding"))


def mo_parts(source: str, destination: str, text: str, data_coding: int | None, ref: int) -> list[DeliverSm]:
    """The deliver_sm that carry an MO: one, or the parts of a long text with 8-bit concatenation
    UDH (reference `ref`). Raises MoError for a value a deliver_sm could not carry."""
    check_mo(source, destination, text, data_coding)
    coding = choose_coding(text) if data_coding is None else data_coding
    try:
        alphabet_of(coding)
    except CodingError as exc:
        raise MoError("data_coding", str(exc)) from None
    try:
        parts = split_message(text, coding, "udh8", ref=ref)
    except CodingError as exc:
        raise MoError("text", str(exc)) from None
    pdus = []
    for part in parts:
        pdu = DeliverSm(
            source_addr=source,
            destination_addr=destination,
            esm_class=EsmClass.UDHI if part.esm_class_udhi else 0,
            data_coding=coding,
            short_message=part.short_message,
        )
        try:
            pdu.encode()  # what cannot be sent is refused here, not in the account's queue
        except PduEncodeError as exc:
            raise MoError("text", str(exc)) from None
        pdus.append(pdu)
    return pdus


__all__ = ["MAX_ADDRESS", "MAX_MO_TEXT", "MoError", "MoRequest", "check_mo", "mo_parts", "mo_request"]

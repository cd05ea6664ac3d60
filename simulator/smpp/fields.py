"""The body of every SMPP 3.4 PDU as a table: its mandatory fields in order (section 4 of the spec).

Owns: FIELDS (command_id -> fields, each with its kind, size limit and the command_status that
refuses it) and OMIT_BODY_ON_ERROR. Data only: no encoding or decoding here; pdu.py compiles its
encoders and decoders from these tables at import.
"""

from __future__ import annotations

from .constants import CommandId, CommandStatus

S = CommandStatus


# --------------------------------------------------------------------------------------------
# Field kinds
class Field:
    """One mandatory field: its name, kind and (for strings) the size limit and the error status."""

    __slots__ = ("name", "kind", "size", "status")

    def __init__(self, name: str, kind: str, size: int = 0, status: int = S.ESME_RINVCMDLEN) -> None:
        self.name, self.kind, self.size, self.status = name, kind, size, int(status)


def int1(name: str) -> Field:
    return Field(name, "B", 1)


def cstr(name: str, size: int, status: int = S.ESME_RINVCMDLEN) -> Field:
    """A C-octet string of at most `size` octets including its NUL (the spec's "Var. max size")."""
    return Field(name, "c", size, status)


def smpp_time(name: str, status: int) -> Field:
    """An absolute or relative time: a C-octet string that is empty or exactly 16 characters."""
    return Field(name, "t", 17, status)


def short_message() -> Field:
    """sm_length (1 octet, 0-254) followed by that many octets of short_message."""
    return Field("short_message", "sm", 254, S.ESME_RINVMSGLEN)


# --------------------------------------------------------------------------------------------
# The spec's field tables
_SOURCE = [int1("source_addr_ton"), int1("source_addr_npi"), cstr("source_addr", 21, S.ESME_RINVSRCADR)]
_DEST = [int1("dest_addr_ton"), int1("dest_addr_npi"), cstr("destination_addr", 21, S.ESME_RINVDSTADR)]
_SUBMIT_TAIL = [
    int1("esm_class"),
    int1("protocol_id"),
    int1("priority_flag"),
    smpp_time("schedule_delivery_time", S.ESME_RINVSCHED),
    smpp_time("validity_period", S.ESME_RINVEXPIRY),
    int1("registered_delivery"),
    int1("replace_if_present_flag"),
    int1("data_coding"),
    int1("sm_default_msg_id"),
    short_message(),
]
_SERVICE_TYPE = cstr("service_type", 6, S.ESME_RINVSERTYP)
_BIND = [
    cstr("system_id", 16, S.ESME_RINVSYSID),
    cstr("password", 9, S.ESME_RINVPASWD),
    cstr("system_type", 13, S.ESME_RINVSYSTYP),
    int1("interface_version"),
    int1("addr_ton"),
    int1("addr_npi"),
    cstr("address_range", 41),
]
_MESSAGE_ID = cstr("message_id", 65, S.ESME_RINVMSGID)

FIELDS: dict[CommandId, list[Field]] = {
    CommandId.generic_nack: [],
    CommandId.bind_receiver: _BIND,
    CommandId.bind_transmitter: _BIND,
    CommandId.bind_transceiver: _BIND,
    CommandId.bind_receiver_resp: [cstr("system_id", 16, S.ESME_RINVSYSID)],
    CommandId.bind_transmitter_resp: [cstr("system_id", 16, S.ESME_RINVSYSID)],
    CommandId.bind_transceiver_resp: [cstr("system_id", 16, S.ESME_RINVSYSID)],
    CommandId.outbind: [cstr("system_id", 16, S.ESME_RINVSYSID), cstr("password", 9, S.ESME_RINVPASWD)],
    CommandId.unbind: [],
    CommandId.unbind_resp: [],
    CommandId.enquire_link: [],
    CommandId.enquire_link_resp: [],
    CommandId.submit_sm: [_SERVICE_TYPE, *_SOURCE, *_DEST, *_SUBMIT_TAIL],
    CommandId.submit_sm_resp: [_MESSAGE_ID],
    CommandId.submit_multi: [_SERVICE_TYPE, *_SOURCE, Field("dest_address", "dests"), *_SUBMIT_TAIL],
    CommandId.submit_multi_resp: [_MESSAGE_ID, Field("unsuccess_sme", "unsuccess")],
    CommandId.deliver_sm: [_SERVICE_TYPE, *_SOURCE, *_DEST, *_SUBMIT_TAIL],
    CommandId.deliver_sm_resp: [_MESSAGE_ID],
    CommandId.data_sm: [
        _SERVICE_TYPE,
        int1("source_addr_ton"),
        int1("source_addr_npi"),
        cstr("source_addr", 65, S.ESME_RINVSRCADR),
        int1("dest_addr_ton"),
        int1("dest_addr_npi"),
        cstr("destination_addr", 65, S.ESME_RINVDSTADR),
        int1("esm_class"),
        int1("registered_delivery"),
        int1("data_coding"),
    ],
    CommandId.data_sm_resp: [_MESSAGE_ID],
    CommandId.query_sm: [_MESSAGE_ID, *_SOURCE],
    CommandId.query_sm_resp: [
        _MESSAGE_ID,
        smpp_time("final_date", S.ESME_RINVCMDLEN),
        int1("message_state"),
        int1("error_code"),
    ],
    CommandId.cancel_sm: [_SERVICE_TYPE, _MESSAGE_ID, *_SOURCE, *_DEST],
    CommandId.cancel_sm_resp: [],
    CommandId.replace_sm: [
        _MESSAGE_ID,
        *_SOURCE,
        smpp_time("schedule_delivery_time", S.ESME_RINVSCHED),
        smpp_time("validity_period", S.ESME_RINVEXPIRY),
        int1("registered_delivery"),
        int1("sm_default_msg_id"),
        short_message(),
    ],
    CommandId.replace_sm_resp: [],
    CommandId.alert_notification: [
        int1("source_addr_ton"),
        int1("source_addr_npi"),
        cstr("source_addr", 65, S.ESME_RINVSRCADR),
        int1("esme_addr_ton"),
        int1("esme_addr_npi"),
        cstr("esme_addr", 65),
    ],
}

# Responses whose body the spec says is not returned when command_status is not ESME_ROK.
OMIT_BODY_ON_ERROR = {CommandId.submit_sm_resp, CommandId.data_sm_resp}


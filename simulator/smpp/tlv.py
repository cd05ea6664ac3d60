"""Optional parameters (TLVs): the value type of every SMPP 3.4 tag, and typed reads and writes.

PDUs keep TLVs as raw bytes keyed by tag, so unknown and vendor tags survive a decode/encode round
trip unchanged. This module only interprets known tags; it never drops or rewrites raw values.
"""

from __future__ import annotations

import struct

from .constants import CommandStatus, Tag
from .errors import PduError

# Value kinds: an int of N octets, a C-octet string (NUL-terminated), or opaque octets.
INT1, INT2, INT4, CSTRING, OCTETS = "int1", "int2", "int4", "cstring", "octets"

TLV_KIND: dict[int, str] = {
    Tag.dest_addr_subunit: INT1,
    Tag.dest_network_type: INT1,
    Tag.dest_bearer_type: INT1,
    Tag.dest_telematics_id: INT2,
    Tag.source_addr_subunit: INT1,
    Tag.source_network_type: INT1,
    Tag.source_bearer_type: INT1,
    Tag.source_telematics_id: INT1,
    Tag.qos_time_to_live: INT4,
    Tag.payload_type: INT1,
    Tag.additional_status_info_text: CSTRING,
    Tag.receipted_message_id: CSTRING,
    Tag.ms_msg_wait_facilities: INT1,
    Tag.privacy_indicator: INT1,
    Tag.source_subaddress: OCTETS,
    Tag.dest_subaddress: OCTETS,
    Tag.user_message_reference: INT2,
    Tag.user_response_code: INT1,
    Tag.source_port: INT2,
    Tag.destination_port: INT2,
    Tag.sar_msg_ref_num: INT2,
    Tag.language_indicator: INT1,
    Tag.sar_total_segments: INT1,
    Tag.sar_segment_seqnum: INT1,
    Tag.sc_interface_version: INT1,
    Tag.callback_num_pres_ind: INT1,
    Tag.callback_num_atag: OCTETS,
    Tag.number_of_messages: INT1,
    Tag.callback_num: OCTETS,
    Tag.dpf_result: INT1,
    Tag.set_dpf: INT1,
    Tag.ms_availability_status: INT1,
    Tag.network_error_code: OCTETS,  # 3 octets: network type, then a 2-octet error code
    Tag.message_payload: OCTETS,
    Tag.delivery_failure_reason: INT1,
    Tag.more_messages_to_send: INT1,
    Tag.message_state: INT1,
    Tag.ussd_service_op: OCTETS,
    Tag.display_time: INT1,
    Tag.sms_signal: INT2,
    Tag.ms_validity: INT1,
    Tag.alert_on_message_delivery: OCTETS,  # zero length in 3.4
    Tag.its_reply_type: INT1,
    Tag.its_session_info: OCTETS,
}

_INT_SIZE = {INT1: 1, INT2: 2, INT4: 4}
# Tags whose length is fixed by the spec: a different length is ESME_RINVPARLEN.
FIXED_LENGTH: dict[int, int] = {tag: _INT_SIZE[kind] for tag, kind in TLV_KIND.items() if kind in _INT_SIZE}
FIXED_LENGTH[Tag.network_error_code] = 3
FIXED_LENGTH[Tag.its_session_info] = 2

_TLV_HEADER = struct.Struct(">HH")


def decode_tlvs(data: bytes, off: int, end: int) -> dict[int, bytes]:
    """Parse the optional part of a PDU body into {tag: raw value}; raises PduError on a bad stream."""
    tlvs: dict[int, bytes] = {}
    unpack = _TLV_HEADER.unpack_from
    while off < end:
        if end - off < 4:
            raise PduError(CommandStatus.ESME_RINVOPTPARSTREAM, "truncated optional parameter header")
        tag, length = unpack(data, off)
        off += 4
        if off + length > end:
            raise PduError(
                CommandStatus.ESME_RINVOPTPARSTREAM,
                f"optional parameter 0x{tag:04X} says {length} octets but {end - off} remain",
            )
        fixed = FIXED_LENGTH.get(tag)
        if fixed is not None and length != fixed:
            raise PduError(
                CommandStatus.ESME_RINVPARLEN,
                f"optional parameter {_tag_name(tag)} must be {fixed} octets, got {length}",
            )
        tlvs[tag] = data[off : off + length]
        off += length
    return tlvs


def encode_tlvs(tlvs: dict[int, bytes]) -> bytes:
    """The wire form of {tag: raw value}, in insertion order."""
    pack = _TLV_HEADER.pack
    out: list[bytes] = []
    for tag, value in tlvs.items():
        out.append(pack(tag, len(value)))
        out.append(value)
    return b"".join(out)


def _tag_name(tag: int) -> str:
    try:
        return Tag(tag).name
    except ValueError:
        return f"0x{tag:04X}"


def tlv_value(tag: int, value: int | str | bytes) -> bytes:
    """Encode a typed value for a known tag (int, str for C-octet strings, bytes for octets)."""
    kind = TLV_KIND.get(tag, OCTETS)
    if kind in _INT_SIZE:
        return int(value).to_bytes(_INT_SIZE[kind], "big")  # type: ignore[arg-type]
    if kind == CSTRING:
        if isinstance(value, str):
            value = value.encode("latin-1")
        return bytes(value) + b"\0"  # type: ignore[arg-type]
    if isinstance(value, str):
        return value.encode("latin-1")
    return bytes(value)  # type: ignore[arg-type]


def read_int(tlvs: dict[int, bytes], tag: int, default: int | None = None) -> int | None:
    raw = tlvs.get(tag)
    return int.from_bytes(raw, "big") if raw else default


def read_str(tlvs: dict[int, bytes], tag: int, default: str | None = None) -> str | None:
    """A C-octet string TLV as text; tolerant of a missing NUL terminator."""
    raw = tlvs.get(tag)
    if raw is None:
        return default
    nul = raw.find(b"\0")
    return (raw if nul < 0 else raw[:nul]).decode("latin-1")

"""SMPP 3.4 numbers by name: command ids, command_status codes, TLV tags, message states, flags.

Pure data. Nothing here does I/O or imports anything outside the standard library.
"""

from __future__ import annotations

from enum import IntEnum, IntFlag

HEADER_SIZE = 16
RESPONSE_BIT = 0x80000000


class CommandId(IntEnum):
    generic_nack = 0x80000000
    bind_receiver = 0x00000001
    bind_receiver_resp = 0x80000001
    bind_transmitter = 0x00000002
    bind_transmitter_resp = 0x80000002
    query_sm = 0x00000003
    query_sm_resp = 0x80000003
    submit_sm = 0x00000004
    submit_sm_resp = 0x80000004
    deliver_sm = 0x00000005
    deliver_sm_resp = 0x80000005
    unbind = 0x00000006
    unbind_resp = 0x80000006
    replace_sm = 0x00000007
    replace_sm_resp = 0x80000007
    cancel_sm = 0x00000008
    cancel_sm_resp = 0x80000008
    bind_transceiver = 0x00000009
    bind_transceiver_resp = 0x80000009
    outbind = 0x0000000B
    enquire_link = 0x00000015
    enquire_link_resp = 0x80000015
    submit_multi = 0x00000021
    submit_multi_resp = 0x80000021
    alert_notification = 0x00000102
    data_sm = 0x00000103
    data_sm_resp = 0x80000103


class CommandStatus(IntEnum):
    """command_status values of SMPP 3.4 (section 5.1.3). Vendor codes 0x400-0x4FF are not members."""

    ESME_ROK = 0x00
    ESME_RINVMSGLEN = 0x01
    ESME_RINVCMDLEN = 0x02
    ESME_RINVCMDID = 0x03
    ESME_RINVBNDSTS = 0x04
    ESME_RALYBND = 0x05
    ESME_RINVPRTFLG = 0x06
    ESME_RINVREGDLVFLG = 0x07
    ESME_RSYSERR = 0x08
    ESME_RINVSRCADR = 0x0A
    ESME_RINVDSTADR = 0x0B
    ESME_RINVMSGID = 0x0C
    ESME_RBINDFAIL = 0x0D
    ESME_RINVPASWD = 0x0E
    ESME_RINVSYSID = 0x0F
    ESME_RCANCELFAIL = 0x11
    ESME_RREPLACEFAIL = 0x13
    ESME_RMSGQFUL = 0x14
    ESME_RINVSERTYP = 0x15
    ESME_RINVNUMDESTS = 0x33
    ESME_RINVDLNAME = 0x34
    ESME_RINVDESTFLAG = 0x40
    ESME_RINVSUBREP = 0x42
    ESME_RINVESMCLASS = 0x43
    ESME_RCNTSUBDL = 0x44
    ESME_RSUBMITFAIL = 0x45
    ESME_RINVSRCTON = 0x48
    ESME_RINVSRCNPI = 0x49
    ESME_RINVDSTTON = 0x50
    ESME_RINVDSTNPI = 0x51
    ESME_RINVSYSTYP = 0x53
    ESME_RINVREPFLAG = 0x54
    ESME_RINVNUMMSGS = 0x55
    ESME_RTHROTTLED = 0x58
    ESME_RINVSCHED = 0x61
    ESME_RINVEXPIRY = 0x62
    ESME_RINVDFTMSGID = 0x63
    ESME_RX_T_APPN = 0x64
    ESME_RX_P_APPN = 0x65
    ESME_RX_R_APPN = 0x66
    ESME_RQUERYFAIL = 0x67
    ESME_RINVOPTPARSTREAM = 0xC0
    ESME_ROPTPARNOTALLWD = 0xC1
    ESME_RINVPARLEN = 0xC2
    ESME_RMISSINGOPTPARAM = 0xC3
    ESME_RINVOPTPARAMVAL = 0xC4
    ESME_RDELIVERYFAILURE = 0xFE
    ESME_RUNKNOWNERR = 0xFF


VENDOR_STATUS_RANGE = range(0x400, 0x500)


def status_name(status: int) -> str:
    """A readable name for any command_status, vendor and reserved codes included."""
    try:
        return CommandStatus(status).name
    except ValueError:
        if status in VENDOR_STATUS_RANGE:
            return f"VENDOR_0x{status:03X}"
        return f"STATUS_0x{status:08X}"


class Tag(IntEnum):
    """Optional parameter (TLV) tags of SMPP 3.4 (section 5.3.2)."""

    dest_addr_subunit = 0x0005
    dest_network_type = 0x0006
    dest_bearer_type = 0x0007
    dest_telematics_id = 0x0008
    source_addr_subunit = 0x000D
    source_network_type = 0x000E
    source_bearer_type = 0x000F
    source_telematics_id = 0x0010
    qos_time_to_live = 0x0017
    payload_type = 0x0019
    additional_status_info_text = 0x001D
    receipted_message_id = 0x001E
    ms_msg_wait_facilities = 0x0030
    privacy_indicator = 0x0201
    source_subaddress = 0x0202
    dest_subaddress = 0x0203
    user_message_reference = 0x0204
    user_response_code = 0x0205
    source_port = 0x020A
    destination_port = 0x020B
    sar_msg_ref_num = 0x020C
    language_indicator = 0x020D
    sar_total_segments = 0x020E
    sar_segment_seqnum = 0x020F
    sc_interface_version = 0x0210
    callback_num_pres_ind = 0x0302
    callback_num_atag = 0x0303
    number_of_messages = 0x0304
    callback_num = 0x0381
    dpf_result = 0x0420
    set_dpf = 0x0421
    ms_availability_status = 0x0422
    network_error_code = 0x0423
    message_payload = 0x0424
    delivery_failure_reason = 0x0425
    more_messages_to_send = 0x0426
    message_state = 0x0427
    ussd_service_op = 0x0501
    display_time = 0x1201
    sms_signal = 0x1203
    ms_validity = 0x1204
    alert_on_message_delivery = 0x130C
    its_reply_type = 0x1380
    its_session_info = 0x1383


class MessageState(IntEnum):
    """message_state values (section 5.2.28) and their receipt `stat:` words (Appendix B)."""

    ENROUTE = 1
    DELIVERED = 2
    EXPIRED = 3
    DELETED = 4
    UNDELIVERABLE = 5
    ACCEPTED = 6
    UNKNOWN = 7
    REJECTED = 8

    @property
    def stat(self) -> str:
        return _STAT_WORDS[self]

    @property
    def is_final(self) -> bool:
        return self is not MessageState.ENROUTE

    @classmethod
    def from_stat(cls, word: str) -> "MessageState":
        """The state named by a receipt's `stat:` word; accepts the long names too."""
        word = word.strip().upper()
        for state, stat in _STAT_WORDS.items():
            if word == stat or word == state.name:
                return state
        raise ValueError(f"unknown receipt stat {word!r}")


_STAT_WORDS = {
    MessageState.ENROUTE: "ENROUTE",
    MessageState.DELIVERED: "DELIVRD",
    MessageState.EXPIRED: "EXPIRED",
    MessageState.DELETED: "DELETED",
    MessageState.UNDELIVERABLE: "UNDELIV",
    MessageState.ACCEPTED: "ACCEPTD",
    MessageState.UNKNOWN: "UNKNOWN",
    MessageState.REJECTED: "REJECTD",
}


class EsmClass(IntFlag):
    """Bits of esm_class that the simulator reads or sets."""

    DEFAULT = 0x00
    DATAGRAM_MODE = 0x01
    FORWARD_MODE = 0x02
    STORE_AND_FORWARD = 0x03
    DELIVERY_RECEIPT = 0x04  # message type bits 2-5 = 0001: SMSC delivery receipt
    INTERMEDIATE_NOTIFICATION = 0x20  # message type bits 2-5 = 1000
    UDHI = 0x40
    REPLY_PATH = 0x80


MESSAGE_TYPE_MASK = 0x3C


class RegisteredDelivery:
    """registered_delivery bits: 0-1 the SMSC receipt, 4 the intermediate notification."""

    NONE = 0
    FINAL = 1
    FAILURE_ONLY = 2
    RECEIPT_MASK = 0x03
    INTERMEDIATE = 0x10

    @staticmethod
    def wants_receipt(flags: int, success: bool) -> bool:
        kind = flags & RegisteredDelivery.RECEIPT_MASK
        return kind == RegisteredDelivery.FINAL or (kind == RegisteredDelivery.FAILURE_ONLY and not success)

    @staticmethod
    def wants_intermediate(flags: int) -> bool:
        return bool(flags & RegisteredDelivery.INTERMEDIATE)


class DataCoding(IntEnum):
    """data_coding values that the simulator understands (section 5.2.19)."""

    SMSC_DEFAULT = 0x00  # taken as GSM 03.38 default alphabet, unpacked
    IA5 = 0x01  # ASCII
    OCTET_UNSPECIFIED = 0x02
    LATIN1 = 0x03
    OCTET_UNSPECIFIED_2 = 0x04
    JIS = 0x05
    CYRILLIC = 0x06
    LATIN_HEBREW = 0x07
    UCS2 = 0x08


# Concatenated short messages (3GPP TS 23.040 9.2.3.24.1 and .8): the UDH information elements
# and the largest number of parts (the total-segments field is one octet in the UDH and in
# the sar_total_segments TLV).
UDH_CONCAT_8 = 0x00
UDH_CONCAT_16 = 0x08
MAX_SEGMENTS = 255

"""What the harness reads from a receipt: its message id and stat word, fast for Appendix B text.

Pure (no Locust, no gevent): the simulator's tests import it without patching their process.
"""

from __future__ import annotations

import re

from simulator.smpp.pdu import Pdu
from simulator.smpp.receipt import ReceiptParseError, parse_receipt
from simulator.smpp.tlv import read_str

# Appendix B exactly as carrier-sim (and most carriers) write it, Appendix B stat words only: for
# such a text parse_receipt gives this id and stat too, without building dates and a Receipt.
# Anything else goes to parse_receipt.
_PLAIN_RECEIPT = re.compile(
    rb"id:([0-9A-Za-z_.\-]+) sub:[0-9]+ dlvrd:[0-9]+ submit date:[0-9]+ done date:[0-9]+ "
    rb"stat:(DELIVRD|EXPIRED|DELETED|UNDELIV|ACCEPTD|UNKNOWN|REJECTD|ENROUTE) err:"
)


def receipt_id_and_stat(pdu: Pdu) -> tuple[str, str]:
    """(message id, stat word) of a receipt; ("<receipted_message_id TLV or ?>", "UNPARSEABLE")
    when its text is not a receipt."""
    m = _PLAIN_RECEIPT.match(pdu.short_message)
    if m is not None:
        return m.group(1).decode("ascii"), m.group(2).decode("ascii")
    try:
        receipt = parse_receipt(pdu.short_message)
        return receipt.message_id, receipt.state.stat
    except ReceiptParseError:
        return read_str(pdu.tlvs, 0x001E) or "?", "UNPARSEABLE"

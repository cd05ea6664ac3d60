"""What the carrier must do with one submitted message: the Outcome, and the Submission it is for.

An Outcome is decided once, when the message arrives, so a seeded run is repeatable; the carrier
only carries it out. Every outcome names its SLA class so the metering never has to guess.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import NamedTuple

from simulator.smpp.coding import CodingError, decode_text, parse_udh
from simulator.smpp.constants import EsmClass, MessageState


_UDHI = int(EsmClass.UDHI)  # a plain int: IntFlag arithmetic costs a microsecond per message


def message_text(body: bytes, data_coding: int, esm_class: int = 0) -> str:
    """Best-effort text of a message body: the UDH dropped, undecodable octets replaced."""
    if esm_class & _UDHI:
        try:
            body = parse_udh(body)[1]
        except CodingError:
            pass
    try:
        return decode_text(body, data_coding)
    except CodingError:
        return body.decode("latin-1")


class SlaClass(str, enum.Enum):
    """How a message counts in the SLA success rate (see DESIGN.md, "The SLA semantics")."""

    DELIVERED = "delivered"
    DEFINITE_FAILURE = "definite_failure"
    INVALID_NUMBER = "invalid_number"
    EXCLUDED = "excluded"
    PENDING = "pending"


# The one precedence of SLA classes (README, "SLA classes: one precedence"). The destination's
# validity ranks first: a number the number plan or a blacklist makes invalid is an invalid number
# whatever else happened to the message (FaultPipeline applies it last, Fault.classify and the
# expectation's walk never let anything replace it). Then excluded causes, then definite failures.
# A verdict replaces an outcome's class only when it ranks higher, or when the outcome is still
# `delivered`: among verdicts of one rank, the earlier stands.
PRECEDENCE: dict[str, int] = {"delivered": 0, "definite_failure": 1, "excluded": 2, "invalid_number": 3}
PRECEDENCE.update({SlaClass(name): rank for name, rank in list(PRECEDENCE.items())})  # a member hashes apart


def prevails(new: str, current: str) -> bool:
    """Whether a verdict of class `new` replaces an outcome's class `current` (plain strings or
    SlaClass members): the rule above, for the pipeline and the expectation alike."""
    return current == "delivered" or PRECEDENCE[new] > PRECEDENCE[current]


class Verdict(NamedTuple):
    """How an outcome a fault decided counts in the SLA: its class and the reason it is recorded with."""

    sla_class: SlaClass
    reason: str


class LinkStats:
    """What faults may know of the bind a message came on: its age, traffic and backlog."""

    __slots__ = ("bind_id", "account", "bind_type", "opened_at", "pdus", "outstanding")

    def __init__(self, bind_id: int, account: str, bind_type: str, opened_at: float) -> None:
        self.bind_id = bind_id
        self.account = account
        self.bind_type = bind_type
        self.opened_at = opened_at  # monotonic clock
        self.pdus = 0  # PDUs received on this bind
        self.outstanding = 0  # submits received and not answered yet


class Submission:
    """The facts about a message that decisions may use (one per submit_sm, or per destination)."""

    __slots__ = (
        "account", "bind_id", "source", "destination", "data_coding", "esm_class", "body",
        "segments", "registered_delivery", "index", "link", "sar",
    )

    def __init__(
        self,
        account: str,
        bind_id: int,
        source: str,
        destination: str,
        data_coding: int,
        esm_class: int,
        body: bytes,
        segments: int,
        registered_delivery: int,
        index: int,
        link: LinkStats | None = None,
        sar: tuple[int, int, int] | None = None,
    ) -> None:
        self.account = account
        self.bind_id = bind_id
        self.source = source
        self.destination = destination
        self.data_coding = data_coding
        self.esm_class = esm_class
        self.body = body  # short_message (UDH included) or message_payload
        self.segments = segments  # 1 per UDH part; n for a long message_payload
        self.registered_delivery = registered_delivery
        self.index = index  # the n-th submission of the run (0-based): the seed's stream position
        self.link = link
        self.sar = sar  # (ref, total, seq) of a part sent with the SAR TLVs, else None

    @property
    def text(self) -> str:
        """The message text, UDH removed, decoded best-effort (for template and content rules)."""
        return message_text(self.body, self.data_coding, self.esm_class)


@dataclass(slots=True)
class Outcome:
    """What happens to a message. submit_status != 0 means it is refused at submit."""

    submit_status: int = 0
    respond: bool = True  # False: the "no response" fault, the submit is never answered
    response_delay: float = 0.0
    final_state: MessageState = MessageState.DELIVERED
    error_code: str = "000"  # the receipt's err: field (and network_error_code when numeric)
    receipt_delay: float = 0.1
    sla_class: SlaClass = SlaClass.DELIVERED
    reason: str = ""  # why: the invalid-number reason, the excluded cause, the fault's name
    decided_by: str = ""  # the fault (or section) that settled the outcome
    category: str = ""  # verification / notification / promotion, from the matched template
    link_action: str = ""  # "", "nack" (generic_nack instead of the resp), "drop", "reset_mid_pdu"
    duplicate_receipts: int = 0  # extra copies of the final receipt to send (duplicate fault)
    hold_until: float = 0.0  # scenario time (s) before which no final state is reached (maintenance)

    @property
    def settled(self) -> bool:
        """True once something refused the message or gave it a failed final state."""
        return self.submit_status != 0 or self.final_state is not MessageState.DELIVERED

    @property
    def response_taken(self) -> bool:
        """True once a link fault decided what becomes of the submit_sm_resp (none, a nack, a drop)."""
        return not self.respond or bool(self.link_action)

    def refuse(self, status: int) -> None:
        self.submit_status = status

    def fail(self, state: MessageState, error_code: str) -> None:
        self.final_state = state
        self.error_code = error_code


class DeliverEverything:
    """The default decider: every message is accepted and delivered after a short fixed delay."""

    def __init__(self, receipt_delay: float = 0.1) -> None:
        self.receipt_delay = receipt_delay

    def decide(self, submission: Submission, now: float) -> Outcome:
        return Outcome(receipt_delay=self.receipt_delay)

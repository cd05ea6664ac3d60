"""Submits: a submit_sm, data_sm or submit_multi in, the decider's Outcome, an accepted Message.

Owns: message ids and the Message of each submit (the Submission the decider sees, kept as the
stored message when accepted), refusing what is not a valid message (a bad schedule_delivery_time or
validity_period too: the rules are validity.py's), the submit counters. Not here: when and how the
response goes out (answers.py), the final state and receipts (receipts.py), the rows (recorder.py),
fault draws (the Decider: faults/pipeline.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from simulator.faults.outcome import Outcome, SlaClass
from simulator.smpp.coding import count_segments
from simulator.smpp.constants import MAX_SEGMENTS, EsmClass, Tag
from simulator.smpp.constants import CommandStatus as S
from simulator.smpp.pdu import SmeAddress
from simulator.smpp.tlv import read_int

from .answers import Answers
from .connection import SmscConnection
from .decider import Decider
from .messages import Message, MessageIdAllocator, MessageStore
from .mo import MAX_ADDRESS  # the longest address a deliver_sm (a receipt) carries
from .receipts import Receipts
from .recorder import Recorder
from .stats import CarrierStats
from .supervisor import Supervisor
from .validity import Validity

_IMMEDIATE = Outcome(response_delay=0.0)
_UDHI = int(EsmClass.UDHI)


class Submits:
    """The submit path of one carrier, from a decoded PDU to the answer taken in charge."""

    def __init__(self, decider: Decider, store: MessageStore, new_message_id: MessageIdAllocator,
                 recorder: Recorder, answers: Answers, receipts: Receipts, stats: CarrierStats,
                 supervisor: Supervisor, clock: Callable[[], float],
                 long_short_message: str = "accept", validity: Validity | None = None) -> None:
        self.decider = decider
        self.store = store
        self.new_message_id = new_message_id
        self.recorder = recorder
        self.answers = answers
        self.receipts = receipts
        self.stats = stats
        self.supervisor = supervisor
        self.clock = clock
        self.accept_long = long_short_message == "accept"  # else a short_message over one segment: RINVMSGLEN
        self.submissions = 0  # the index of the next submission: the seed's stream position
        self.validity = validity or Validity()

    def on_submit_sm(self, conn: SmscConnection, pdu: Any) -> None:
        self._submit_one(conn, pdu, pdu.destination_addr)

    def on_data_sm(self, conn: SmscConnection, pdu: Any) -> None:
        # data_sm's addresses may have 64 octets (for networks other than GSM), submit_sm's 20 (the
        # codec checks those). A mobile carrier cannot route a longer one to or from a handset, and
        # the receipt (a deliver_sm) could not carry it: refused here, whatever registered_delivery.
        source, destination = pdu.source_addr, pdu.destination_addr
        if len(source) > MAX_ADDRESS or len(destination) > MAX_ADDRESS:
            self.stats.submits += 1
            self._refuse(conn, pdu, S.ESME_RINVSRCADR if len(source) > MAX_ADDRESS else S.ESME_RINVDSTADR,
                         destination)
            return
        self._submit_one(conn, pdu, destination, True)

    def _submit_one(self, conn: SmscConnection, pdu: Any, destination: str, data_sm: bool = False) -> None:
        account = conn.account
        self.stats.submits += 1
        if not destination:
            self._refuse(conn, pdu, S.ESME_RINVDSTADR, destination)
            return
        body, segments, status = _body(pdu, self.accept_long)
        if status:
            self._refuse(conn, pdu, status, destination)
            return
        now = self.clock()
        wall = time.time()
        start, expires, status = self._times(pdu, now, wall, data_sm)
        if status:
            self._refuse(conn, pdu, status, destination)
            return
        index = self.submissions
        self.submissions = index + 1
        assert account is not None
        link = conn.link
        message = Message(account.config.system_id, conn.id, pdu.source_addr, destination, pdu.data_coding,
                          pdu.esm_class, body, segments, pdu.registered_delivery, index, link, _sar(pdu.tlvs),
                          now, wall)  # fmt: skip
        message.start_at, message.expires_at = start, expires
        if link is not None:
            link.pdus = conn.session.pdus_received
        try:  # free unless it raises (CPython 3.11's zero-cost exceptions)
            outcome = self.decider.decide(message, now)
        except Exception as exc:  # noqa: BLE001 - a broken fault must not leave the submit unanswered
            outcome = self._decider_failed(exc)
        message.outcome = outcome
        recorder = self.recorder
        if outcome.submit_status:
            self.stats.refused += 1
            self.answers.answer(conn, pdu.response(status=outcome.submit_status), outcome,
                                recorder.message_row(message, outcome) if recorder.recording else None)
            return
        message_id = message.message_id = self.new_message_id()
        self.store.add(message)
        self.stats.accepted += 1
        self.answers.answer(conn, pdu.response(message_id=message_id), outcome,
                            recorder.message_row(message, outcome) if recorder.recording else None, message)
        self.receipts.start(message, now)

    def on_submit_multi(self, conn: SmscConnection, pdu: Any) -> None:
        account = conn.account
        assert account is not None
        body, segments, status = _body(pdu, self.accept_long)
        if status:
            self._refuse(conn, pdu, status)
            return
        now = self.clock()
        wall = time.time()
        start, expires, status = self._times(pdu, now, wall)
        if status:
            self._refuse(conn, pdu, status)
            return
        message_id = self.new_message_id()
        unsuccess: list[SmeAddress] = []
        accepted: list[Message] = []
        rows = []
        recorder = self.recorder
        slowest = 0.0
        respond, link_action, link_status = True, "", 0  # link faults of any destination act on the one response
        if conn.link is not None:
            conn.link.pdus = conn.session.pdus_received
        for dest in pdu.dest_address:
            self.stats.submits += 1
            if not isinstance(dest, SmeAddress):
                # distribution lists are not provisioned on this SMSC
                unsuccess.append(SmeAddress(0, 0, dest.name[:20], S.ESME_RINVDLNAME))
                continue
            if not dest.addr:
                unsuccess.append(SmeAddress(dest.ton, dest.npi, dest.addr, S.ESME_RINVDSTADR))
                continue
            index = self.submissions
            self.submissions = index + 1
            message = Message(account.config.system_id, conn.id, pdu.source_addr, dest.addr, pdu.data_coding,
                              pdu.esm_class, body, segments, pdu.registered_delivery, index, conn.link, None,
                              now, wall)  # fmt: skip
            message.start_at, message.expires_at = start, expires
            try:
                outcome = self.decider.decide(message, now)
            except Exception as exc:  # noqa: BLE001 - a broken fault must not leave the submit unanswered
                outcome = self._decider_failed(exc)
            message.outcome = outcome
            slowest = max(slowest, outcome.response_delay)
            respond = respond and outcome.respond
            if outcome.link_action and not link_action:
                link_action, link_status = outcome.link_action, outcome.submit_status
            if outcome.submit_status:
                self.stats.refused += 1
                unsuccess.append(SmeAddress(dest.ton, dest.npi, dest.addr, outcome.submit_status))
            else:
                self.stats.accepted += 1
                message.message_id = message_id
                accepted.append(message)
            rows.append(recorder.message_row(message, outcome))
        timing = Outcome(submit_status=link_status, response_delay=slowest, respond=respond, link_action=link_action)
        # every destination's row before the response; the last one's is the one the response waits for
        recorder.companions(rows[:-1])
        last = rows[-1] if rows else None
        if not accepted:
            resp = pdu.response(status=S.ESME_RSUBMITFAIL, message_id="", unsuccess_sme=unsuccess)
            self.answers.answer(conn, resp, timing, last)
            return
        for message in accepted:
            self.store.add(message)
        self.answers.answer(conn, pdu.response(message_id=message_id, unsuccess_sme=unsuccess), timing, last, accepted)
        for message in accepted:
            self.receipts.start(message, now)

    def _times(self, pdu: Any, now: float, wall: float, data_sm: bool = False) -> tuple[float, float, int]:
        """(start, expires, status) of a submit: validity.py's rules on its schedule_delivery_time and
        validity_period, or on a data_sm's qos_time_to_live."""
        if not data_sm:
            return self.validity.times(pdu.schedule_delivery_time, pdu.validity_period, now, wall)
        ttl = pdu.tlvs.get(Tag.qos_time_to_live) if pdu.tlvs else None
        if ttl is None:
            return self.validity.times("", "", now, wall)
        return self.validity.time_to_live(int.from_bytes(ttl, "big"), now)

    def _refuse(self, conn: SmscConnection, pdu: Any, status: int, destination: str = "") -> None:
        """Refuse a request that is not a valid message (no destination, two bodies, ...)."""
        self.stats.refused += 1
        row = None
        if self.recorder.recording and conn.account is not None:
            row = self.recorder.invalid_request_row(conn.account.config.system_id, conn.id, pdu, destination, status)
        self.answers.answer(conn, pdu.response(status=status), _IMMEDIATE, row)

    def _decider_failed(self, exc: Exception) -> Outcome:
        """The decider raised on a submit: it is refused with ESME_RSYSERR, recorded as excluded
        (a simulator bug is not the modelled carrier failing, so it must not move the metered rate)."""
        self.supervisor.report("decider", exc)
        return Outcome(submit_status=S.ESME_RSYSERR, sla_class=SlaClass.EXCLUDED, reason="simulator_error",
                       decided_by="carrier")


def _body(pdu: Any, accept_long: bool = True) -> tuple[bytes, int, int]:
    """(body, segments, status): the message octets and how many SMS they make (count_segments,
    the one count: the ledger's `segments` column and the bill come from it).

    A short_message that is a part (UDH or SAR TLVs) is 1. One without UDH that needs more than
    one segment is accepted and counted whole when `accept_long` (carrier.long_short_message:
    accept), else refused ESME_RINVMSGLEN. A message_payload counts its segments; more than a
    concatenated message can have (MAX_SEGMENTS) is refused ESME_RINVMSGLEN.
    """
    tlvs = pdu.tlvs
    payload = tlvs.get(Tag.message_payload) if tlvs else None
    short = getattr(pdu, "short_message", b"")
    if payload is None:
        part = bool(pdu.esm_class & _UDHI) or (bool(tlvs) and Tag.sar_total_segments in tlvs)
        segments = count_segments(short, pdu.data_coding, part=part)
        if segments > 1 and not accept_long:
            return short, segments, S.ESME_RINVMSGLEN
        return short, segments, 0
    if short:
        return b"", 0, S.ESME_RINVMSGLEN  # both message_payload and short_message: spec 5.3.2.32
    segments = count_segments(payload, pdu.data_coding)
    if segments > MAX_SEGMENTS:
        return payload, segments, S.ESME_RINVMSGLEN
    return payload, segments, 0


def _sar(tlvs: dict[int, bytes]) -> tuple[int, int, int] | None:
    """(ref, total, seq) of a part sent with the SAR TLVs, else None."""
    if not tlvs or Tag.sar_total_segments not in tlvs:
        return None
    total = read_int(tlvs, Tag.sar_total_segments, 1)
    seq = read_int(tlvs, Tag.sar_segment_seqnum, 1)
    return read_int(tlvs, Tag.sar_msg_ref_num, 0), total, seq  # type: ignore[return-value]

"""The SMSC: accounts and binds, submit handling, the message store, receipts, MO, housekeeping.

It asks a decider (simulator.faults) what happens to each message and carries the Outcome out;
the protocol is the session's job and delivery the router's. Blocking calls never run on the loop,
and nothing that fails in the background stops it: the supervisor hears it (`health()`).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from simulator.faults.outcome import DeliverEverything, LinkStats, Outcome, SlaClass, Submission, message_text
from simulator.scenario import Account, Carrier, Scenario
from simulator.smpp.coding import CodingError, alphabet_of, choose_coding, count_segments, split_message
from simulator.smpp.constants import (
    status_name,
    CommandId,
    CommandStatus,
    EsmClass,
    MessageState,
    RegisteredDelivery,
    Tag,
)
from simulator.smpp.errors import PduEncodeError
from simulator.smpp.pdu import DeliverSm, EnquireLink, GenericNack, Pdu, SmeAddress, Unbind
from simulator.smpp.receipt import receipt_text_fast, receipt_tlvs_fast
from simulator.smpp.session import BindState
from simulator.smpp.tlv import read_int

from simulator.ledger.writer import LedgerWriteError, LedgerWriter

from .connection import SmscConnection
from .delivery import DeliveryRouter, PendingDelivery
from .messages import Message, MessageIdAllocator, MessageStore
from .mo import MAX_ADDRESS, MoError, check_mo  # MAX_ADDRESS: the longest address a deliver_sm carries
from .scheduler import Scheduler
from .supervisor import Supervisor

log = logging.getLogger("carrier_sim.smsc")
C = CommandId
S = CommandStatus

BIND_TYPES = {
    C.bind_transmitter: "transmitter",
    C.bind_receiver: "receiver",
    C.bind_transceiver: "transceiver",
}
SC_INTERFACE_VERSION = {Tag.sc_interface_version: b"\x34"}


_IMMEDIATE = Outcome(response_delay=0.0)
About = Message | list[Message] | None  # the message(s) a submit response gives an id to
_STAT = {state: state.stat for state in MessageState}  # plain dict lookups on the hot path
_CLASS_VALUE = {c: c.value for c in SlaClass}
_RECEIPT = int(EsmClass.DELIVERY_RECEIPT)
_INTERMEDIATE = int(EsmClass.INTERMEDIATE_NOTIFICATION)


class Decider(Protocol):
    """What the SMSC asks about each message. FaultPipeline also answers binds and links."""

    def decide(self, submission: Submission, now: float) -> Outcome: ...


@dataclass
class AccountState:
    """An account's live state: its configuration, its binds and its delivery queue."""

    config: Account
    router: DeliveryRouter
    binds: set[SmscConnection] = field(default_factory=set)


@dataclass
class CarrierStats:
    connections: int = 0
    binds: int = 0
    bind_failures: int = 0
    submits: int = 0  # submit_sm / data_sm / submit_multi destinations received while bound
    accepted: int = 0
    refused: int = 0
    unanswered: int = 0  # submits left unanswered on purpose (the "no response" fault)
    receipts: int = 0  # receipts generated (queued for delivery)
    mo: int = 0
    protocol_violations: int = 0
    dead_peers: int = 0
    dropped_links: int = 0  # connections dropped or reset on purpose by a fault

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


class Smsc:
    """The fake carrier's SMSC. `await start()`, then ESMEs connect; `await stop()` to end."""

    def __init__(
        self,
        config: Carrier | None = None,
        decider: Decider | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        housekeeping_interval: float = 0.5,
        message_ids: MessageIdAllocator | None = None,
        ledger: LedgerWriter | None = None,
    ) -> None:
        self.config = config or Carrier()
        self.decider: Decider = decider or DeliverEverything(self.config.receipt_delay_ms / 1000)
        self.clock = clock
        self.housekeeping_interval = housekeeping_interval
        self.new_message_id = message_ids or MessageIdAllocator()
        self.ledger = ledger  # when set, a submit is answered only once its record is committed
        self.run_id = ledger.run_id if ledger is not None else ""
        # observers of every record (the MQTT publisher): on_message(row), on_final(row),
        # on_delivery(row) with the ledger's row tuples (simulator.ledger.schema *_COLUMNS)
        self.observers: list[Any] = []
        self.supervisor = Supervisor("carrier")
        self.scheduler = Scheduler(self._fire, clock=clock, on_error=self._timer_failed)
        self.store = MessageStore(self.config.message_store_size)
        self.stats = CarrierStats()
        self.accounts: dict[str, AccountState] = {
            acct.system_id: AccountState(acct, self._new_router(acct.system_id)) for acct in self.config.accounts
        }
        self.connections: set[SmscConnection] = set()
        self.scenario: Scenario | None = None
        self.audit_log: deque[dict[str, Any]] = deque(maxlen=10_000)
        self.audit_listeners: list[Callable[[dict[str, Any]], None]] = []
        if ledger is not None:
            ledger.spawn = self.supervisor.spawn  # its commit-acknowledgement reader is supervised
            ledger.on_callback_error = self._commit_callback_failed
            self.supervisor.checks.append(self._ledger_health)
            self.audit_listeners.append(
                lambda e: ledger.add_audit(e["at"], e["action"], e["actor"],
                                           {k: v for k, v in e.items() if k not in ("at", "action", "actor")}))
        listeners = getattr(self.decider, "listeners", None)
        if listeners is not None:
            listeners.append(lambda event: self.audit("fault." + event["action"], event["actor"],
                                                      fault=event["fault"], changes=event["changes"]))
        self._dirty: list[SmscConnection] = []
        self._flush_scheduled = False
        self._server: asyncio.Server | None = None
        self._housekeeping: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._submissions = 0
        self._dispatch: dict[int, Callable[[SmscConnection, Any], None]] = {
            C.submit_sm: self._on_submit_sm,
            C.data_sm: self._on_data_sm,
            C.submit_multi: self._on_submit_multi,
            C.deliver_sm_resp: self._on_delivery_response,
            C.data_sm_resp: self._on_delivery_response,
            C.generic_nack: self._on_generic_nack,
            C.enquire_link: self._on_enquire_link,
            C.enquire_link_resp: self._on_enquire_link_resp,
            C.bind_transmitter: self._on_bind,
            C.bind_receiver: self._on_bind,
            C.bind_transceiver: self._on_bind,
            C.unbind: self._on_unbind,
            C.unbind_resp: self._on_unbind_resp,
            C.query_sm: self._on_query_sm,
            C.cancel_sm: self._on_cancel_sm,
            C.replace_sm: self._on_replace_sm,
        }

    @classmethod
    def from_scenario(cls, scenario: Scenario, **kwargs: Any) -> "Smsc":
        """An SMSC that plays a scenario: its carrier section, with its faults deciding outcomes."""
        from simulator.faults.pipeline import FaultPipeline

        clock = kwargs.get("clock", time.monotonic)
        smsc = cls(scenario.carrier, FaultPipeline(scenario, clock=clock), **kwargs)
        smsc.scenario = scenario
        return smsc

    def _new_router(self, system_id: str) -> DeliveryRouter:
        cfg = self.config
        return DeliveryRouter(
            system_id,
            window=cfg.deliver_window,
            ttl=cfg.receipt_ttl_s,
            max_queued=cfg.max_queued_per_account,
            retry_delay=cfg.retry_delay_s,
            clock=self.clock,
            schedule=self._schedule_call,
            on_done=self._delivery_done,
            on_error=self._delivery_failed,
        )

    # ================================================================ lifecycle
    async def start(self, host: str | None = None, port: int | None = None) -> None:
        loop = asyncio.get_running_loop()
        self._loop = loop
        if self.ledger is not None:
            await self.ledger.start()
        self._server = await loop.create_server(
            lambda: SmscConnection(self),
            host if host is not None else self.config.host,
            port if port is not None else self.config.port,
            reuse_address=True,
            backlog=1024,
        )
        self.scheduler.start(loop)
        starter = getattr(self.decider, "start", None)
        if starter is not None:
            starter(self.clock())
        self._housekeeping = self.supervisor.spawn("housekeeping", self._housekeep)
        log.info("SMSC listening on %s", ", ".join(self.addresses))

    @property
    def addresses(self) -> list[str]:
        if self._server is None:
            return []
        return [f"{s.getsockname()[0]}:{s.getsockname()[1]}" for s in self._server.sockets]

    @property
    def port(self) -> int:
        assert self._server is not None, "not started"
        return self._server.sockets[0].getsockname()[1]

    async def stop(self, grace: float = 1.0) -> None:
        """Stop listening, unbind every bound ESME, wait up to `grace` for unbind_resp, then close."""
        if self._server is not None:
            self._server.close()
        for conn in list(self.connections):
            if conn.session.is_bound and not conn.closing:
                try:
                    conn.send(Unbind())
                except Exception:  # noqa: BLE001 - state changed under us; closing anyway
                    pass
                conn.flush()
        deadline = self.clock() + grace
        while self.connections and self.clock() < deadline:
            await asyncio.sleep(0.02)
        for conn in list(self.connections):
            conn.abort()
        if self._housekeeping is not None:
            self._housekeeping.cancel()
            try:
                await self._housekeeping
            except asyncio.CancelledError:
                pass
        self.scheduler.stop()
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
        if self.ledger is not None:
            await self.ledger.close()
        await self.supervisor.stop()

    # ================================================================ connections
    def connection_opened(self, conn: SmscConnection) -> None:
        self.connections.add(conn)
        self.stats.connections += 1

    def connection_closed(self, conn: SmscConnection, exc: Exception | None) -> None:
        self.connections.discard(conn)
        account = conn.account
        if account is not None:
            account.binds.discard(conn)
            if conn.bind_type in ("receiver", "transceiver"):
                account.router.remove_receiver(conn)
            self.audit("unbind", conn.peer, system_id=account.config.system_id, bind_type=conn.bind_type,
                       bind_id=conn.id, orderly=conn.session.state is BindState.CLOSED)
            log.info("unbound %s (%s) conn %d from %s", account.config.system_id, conn.bind_type, conn.id, conn.peer)
            conn.account = None

    def mark_dirty(self, conn: SmscConnection) -> None:
        self._dirty.append(conn)
        if not self._flush_scheduled and self._loop is not None:
            self._flush_scheduled = True
            self._loop.call_soon(self._flush_dirty)

    def _flush_dirty(self) -> None:
        self._flush_scheduled = False
        dirty, self._dirty = self._dirty, []
        for conn in dirty:
            conn.flush()

    def dispatch(self, conn: SmscConnection, pdu: Pdu) -> None:
        handler = self._dispatch.get(pdu.command_id)
        if handler is not None:
            handler(conn, pdu)
        else:
            log.debug("conn %d: ignoring %s", conn.id, pdu.name)

    # ================================================================ binds
    def _on_bind(self, conn: SmscConnection, pdu: Any) -> None:
        bind_type = BIND_TYPES[pdu.command_id]
        account = self.accounts.get(pdu.system_id)
        if account is None:
            status = S.ESME_RINVSYSID
        elif pdu.password != account.config.password:
            status = S.ESME_RINVPASWD
        elif bind_type not in account.config.bind_types:
            status = S.ESME_RBINDFAIL
        elif len(account.binds) >= account.config.max_binds:
            status = S.ESME_RBINDFAIL
        else:
            decide_bind = getattr(self.decider, "decide_bind", None)
            status = decide_bind(pdu.system_id, bind_type, self.clock()) if decide_bind else S.ESME_ROK
        if status != S.ESME_ROK:
            self.stats.bind_failures += 1
            self.audit("bind.refused", conn.peer, system_id=pdu.system_id, bind_type=bind_type,
                       status=status_name(status))
            log.info("bind %s as %s from %s refused: %s", pdu.system_id, bind_type, conn.peer, status_name(status))
            conn.send(pdu.response(status=status, system_id=self.config.system_id))
            return
        assert account is not None
        conn.send(pdu.response(system_id=self.config.system_id, tlvs=dict(SC_INTERFACE_VERSION)))
        conn.account = account
        conn.bind_type = bind_type
        conn.link = LinkStats(conn.id, pdu.system_id, bind_type, self.clock())
        account.binds.add(conn)
        self.stats.binds += 1
        self.audit("bind", conn.peer, system_id=pdu.system_id, bind_type=bind_type, bind_id=conn.id)
        log.info("bound %s as %s, conn %d from %s", pdu.system_id, bind_type, conn.id, conn.peer)
        if bind_type in ("receiver", "transceiver"):
            account.router.add_receiver(conn)

    def _on_unbind(self, conn: SmscConnection, pdu: Pdu) -> None:
        if conn.account is not None and conn.bind_type in ("receiver", "transceiver"):
            conn.account.router.remove_receiver(conn)  # unacknowledged deliveries go to other binds
        conn.send(pdu.response())  # the session is CLOSED now; the connection closes after the flush

    def _on_unbind_resp(self, conn: SmscConnection, pdu: Pdu) -> None:
        conn.close()

    def _on_enquire_link(self, conn: SmscConnection, pdu: Pdu) -> None:
        conn.send(pdu.response())

    def _on_enquire_link_resp(self, conn: SmscConnection, pdu: Pdu) -> None:
        if pdu.sequence == conn.enquire_sequence:
            conn.enquire_sent_at = None

    def _on_generic_nack(self, conn: SmscConnection, pdu: Pdu) -> None:
        item = conn.deliveries.pop(pdu.sequence, None)
        if item is not None and conn.account is not None:
            conn.account.router.on_response(item, pdu.status or S.ESME_RUNKNOWNERR)

    # ================================================================ submits
    def _on_submit_sm(self, conn: SmscConnection, pdu: Any) -> None:
        self._submit_one(conn, pdu, pdu.destination_addr)

    def _on_data_sm(self, conn: SmscConnection, pdu: Any) -> None:
        # data_sm's addresses may have 64 octets (for networks other than GSM), submit_sm's 20 (the
        # codec checks those). A mobile carrier cannot route a longer one to or from a handset, and
        # the receipt (a deliver_sm) could not carry it: refused here, whatever registered_delivery.
        source, destination = pdu.source_addr, pdu.destination_addr
        if len(source) > MAX_ADDRESS or len(destination) > MAX_ADDRESS:
            self.stats.submits += 1
            self._refuse(conn, pdu, S.ESME_RINVSRCADR if len(source) > MAX_ADDRESS else S.ESME_RINVDSTADR,
                         destination)
            return
        self._submit_one(conn, pdu, destination)

    def _body(self, pdu: Any) -> tuple[bytes, int, int]:
        """(body, segments, status): the message octets and how many SMS they make."""
        tlvs = pdu.tlvs
        payload = tlvs.get(Tag.message_payload) if tlvs else None
        short = getattr(pdu, "short_message", b"")
        if payload is None:
            return short, 1, 0
        if short:
            return b"", 0, S.ESME_RINVMSGLEN  # both message_payload and short_message: spec 5.3.2.32
        try:
            return payload, count_segments(payload, pdu.data_coding), 0
        except CodingError:
            return payload, 1, 0

    def _submit_one(self, conn: SmscConnection, pdu: Any, destination: str) -> None:
        account = conn.account
        self.stats.submits += 1
        if not destination:
            self._refuse(conn, pdu, S.ESME_RINVDSTADR, destination)
            return
        body, segments, status = self._body(pdu)
        if status:
            self._refuse(conn, pdu, status, destination)
            return
        now = self.clock()
        index = self._submissions
        self._submissions = index + 1
        assert account is not None
        submission = Submission(
            account.config.system_id,
            conn.id,
            pdu.source_addr,
            destination,
            pdu.data_coding,
            pdu.esm_class,
            body,
            segments,
            pdu.registered_delivery,
            index,
            conn.link,
            _sar(pdu.tlvs),
        )
        link = conn.link
        if link is not None:
            link.pdus = conn.session.pdus_received
        try:  # free unless it raises (CPython 3.11's zero-cost exceptions)
            outcome = self.decider.decide(submission, now)
        except Exception as exc:  # noqa: BLE001 - a broken fault must not leave the submit unanswered
            outcome = self._decider_failed(exc)
        if outcome.submit_status:
            self.stats.refused += 1
            recording = self.ledger is not None or self.observers
            self._answer(conn, pdu.response(status=outcome.submit_status), outcome,
                         self._row(submission, None, outcome, time.time()) if recording else None)
            return
        message_id = self.new_message_id()
        message = Message(
            message_id,
            submission.account,
            conn.id,
            submission.source,
            destination,
            submission.data_coding,
            submission.esm_class,
            submission.registered_delivery,
            body,
            segments,
            outcome,
            now,
        )
        self.store.add(message)
        self.stats.accepted += 1
        recording = self.ledger is not None or self.observers
        self._answer(conn, pdu.response(message_id=message_id), outcome,
                     self._row(submission, message_id, outcome, message.submit_wall) if recording else None, message)
        self._start_delivery(message, now)

    def _on_submit_multi(self, conn: SmscConnection, pdu: Any) -> None:
        account = conn.account
        assert account is not None
        body, segments, status = self._body(pdu)
        if status:
            self._refuse(conn, pdu, status)
            return
        now = self.clock()
        message_id = self.new_message_id()
        unsuccess: list[SmeAddress] = []
        accepted: list[Message] = []
        rows: list[tuple[Any, ...]] = []
        slowest = 0.0
        respond, link_action, link_status = True, "", 0  # link faults of any destination act on the one response
        wall = time.time()
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
            index = self._submissions
            self._submissions = index + 1
            submission = Submission(
                account.config.system_id, conn.id, pdu.source_addr, dest.addr, pdu.data_coding,
                pdu.esm_class, body, segments, pdu.registered_delivery, index, conn.link,
            )  # fmt: skip
            try:
                outcome = self.decider.decide(submission, now)
            except Exception as exc:  # noqa: BLE001 - a broken fault must not leave the submit unanswered
                outcome = self._decider_failed(exc)
            slowest = max(slowest, outcome.response_delay)
            respond = respond and outcome.respond
            if outcome.link_action and not link_action:
                link_action, link_status = outcome.link_action, outcome.submit_status
            if outcome.submit_status:
                self.stats.refused += 1
                unsuccess.append(SmeAddress(dest.ton, dest.npi, dest.addr, outcome.submit_status))
                rows.append(self._row(submission, None, outcome, wall))
                continue
            self.stats.accepted += 1
            rows.append(self._row(submission, message_id, outcome, wall))
            accepted.append(
                Message(message_id, submission.account, conn.id, pdu.source_addr, dest.addr, pdu.data_coding,
                        pdu.esm_class, pdu.registered_delivery, body, segments, outcome, now)
            )  # fmt: skip
        timing = Outcome(submit_status=link_status, response_delay=slowest, respond=respond, link_action=link_action)
        for row in rows[:-1]:
            for observer in self.observers:
                observer.on_message(row)
            if self.ledger is not None:
                self.ledger.add_message(row)
        last = rows[-1] if rows else None
        if not accepted:
            resp = pdu.response(status=S.ESME_RSUBMITFAIL, message_id="", unsuccess_sme=unsuccess)
            self._answer(conn, resp, timing, last)
            return
        for message in accepted:
            self.store.add(message)
        self._answer(conn, pdu.response(message_id=message_id, unsuccess_sme=unsuccess), timing, last, accepted)
        for message in accepted:
            self._start_delivery(message, now)

    def _refuse(self, conn: SmscConnection, pdu: Any, status: int, destination: str = "") -> None:
        """Refuse a request that is not a valid message (no destination, two bodies, ...)."""
        self.stats.refused += 1
        row = None
        if (self.ledger is not None or self.observers) and conn.account is not None:
            row = (self.run_id, None, conn.account.config.system_id, conn.id, pdu.source_addr,
                   destination, "", pdu.data_coding, 1, time.time(), int(status), 1, "excluded", "invalid_request",
                   "carrier")  # fmt: skip
        self._answer(conn, pdu.response(status=status), _IMMEDIATE, row)

    def _row(self, sub: Submission, message_id: str | None, outcome: Outcome, wall: float) -> tuple[Any, ...]:
        """The ledger row of a submission (see simulator.ledger.schema.MESSAGE_COLUMNS)."""
        refused = outcome.submit_status != 0
        return (
            self.run_id,
            message_id, sub.account, sub.bind_id, sub.source, sub.destination,
            outcome.category or "notification", sub.data_coding, sub.segments, wall, int(outcome.submit_status),
            1 if outcome.respond else 0,
            outcome.sla_class.value if refused else "pending",
            outcome.reason if refused else "",
            outcome.decided_by,
        )  # fmt: skip

    def _answer(self, conn: SmscConnection, resp: Pdu, outcome: Outcome, row: tuple[Any, ...] | None,
                about: About = None) -> None:
        """Answer a submit once its record is durable (at once when there is no ledger). `about`:
        the message(s) the response gives an id to; their notifications wait for it (_settled)."""
        if row is not None:
            for observer in self.observers:
                observer.on_message(row)
        ledger = self.ledger
        if ledger is None or row is None:
            self._respond(conn, resp, outcome, about)
            conn.answering = resp.sequence  # answered, or it will be (see SmscConnection._handler_failed)
            return
        if conn.link is not None:
            conn.link.outstanding += 1  # unanswered until the commit: it counts in the window
        try:
            ledger.add_message(row, self._respond_when_durable, (conn, resp, outcome, about))
        except LedgerWriteError as exc:
            log.error("cannot record a submit: %s; answering ESME_RSYSERR", exc)
            if conn.link is not None:
                conn.link.outstanding -= 1
            self._respond(conn, type(resp)(sequence=resp.sequence, status=S.ESME_RSYSERR), outcome, about)
        conn.answering = resp.sequence

    def _respond_when_durable(self, args: tuple[SmscConnection, Pdu, Outcome, About]) -> None:
        conn, resp, outcome, about = args
        if conn.link is not None:
            conn.link.outstanding -= 1
        if conn.transport is not None and not conn.closing:
            self._respond(conn, resp, outcome, about)
        else:
            self._settled(about, None)

    def _respond(self, conn: SmscConnection, resp: Pdu, outcome: Outcome, about: About = None) -> None:
        if not outcome.respond:
            self.stats.unanswered += 1
            self._settled(about, None)  # no response on purpose: its notifications need not wait
            return
        if outcome.response_delay > 0:
            try:
                self._schedule_call(self.clock() + outcome.response_delay, self._send_late,
                                    (conn, resp, outcome, about))
            except (OverflowError, ValueError) as exc:  # a delay that is not a finite number
                self._response_failed(conn, resp, about, exc)
                return
            if conn.link is not None:
                conn.link.outstanding += 1
        else:
            self._deliver_response(conn, resp, outcome, about)

    def _send_late(self, late: tuple[SmscConnection, Pdu, Outcome, About]) -> None:
        conn, resp, outcome, about = late
        if conn.link is not None:
            conn.link.outstanding -= 1
        if not conn.closing and conn.session.state is not BindState.CLOSED:
            self._deliver_response(conn, resp, outcome, about)
        else:
            self._settled(about, None)

    def _deliver_response(self, conn: SmscConnection, resp: Pdu, outcome: Outcome, about: About = None) -> None:
        action = outcome.link_action
        try:  # free unless it raises (CPython 3.11's zero-cost exceptions)
            if not action:
                conn.send(resp)
            elif action == "nack":
                conn.send(GenericNack(sequence=resp.sequence,
                                      status=outcome.submit_status or resp.status or S.ESME_RSYSERR))
            elif action == "drop":
                conn.send(resp)
                self.stats.dropped_links += 1
                conn.close()
            elif action == "reset_mid_pdu":
                self.stats.dropped_links += 1
                conn.reset_mid_pdu(resp)
            else:  # pragma: no cover - faults only set the actions above
                raise ValueError(f"unknown link action {action!r}")
        except Exception as exc:  # noqa: BLE001 - exactly one answer per request, whatever broke
            self._response_failed(conn, resp, about, exc)
            return
        if about is not None:
            self._settled(about, conn)

    def _settled(self, about: About, conn: SmscConnection | None) -> None:
        """The response about these messages is written (or never will be): what waited for it goes
        to the receivers now, after the response's bytes (`conn` is flushed first when it waits)."""
        for message in _each(about):
            parked, message.parked = message.parked, None
            if parked:
                if conn is not None and conn.transport is not None:
                    conn.flush()
                    conn = None
                for item in parked:
                    self._enqueue_delivery(message, item)

    # ================================================================ message life
    def _start_delivery(self, message: Message, now: float) -> None:
        if RegisteredDelivery.wants_intermediate(message.registered_delivery):
            self._queue_receipt(message, MessageState.ENROUTE, intermediate=True)
        outcome = message.outcome
        due = now + outcome.receipt_delay
        if outcome.hold_until:
            due = max(due, self.scenario_start + outcome.hold_until)
        self._schedule_call(due, self._finish, message)

    @property
    def scenario_start(self) -> float:
        return getattr(self.decider, "started_at", 0.0)

    def _finish(self, message: Message) -> None:
        if message.is_final:  # cancelled meanwhile
            return
        outcome = message.outcome
        state = outcome.final_state
        message.finish(state, self.clock())
        rd = message.registered_delivery
        wanted = rd & 3 and RegisteredDelivery.wants_receipt(rd, state is MessageState.DELIVERED)
        self._record_final(message, _CLASS_VALUE[outcome.sla_class], outcome.reason,
                           self._send_final_receipts if wanted else None)

    def _record_final(self, message: Message, sla_class: str, reason: str,
                      then: Callable[[Message], None] | None) -> None:
        """Record the final state; receipts go out only after it is durable."""
        ledger = self.ledger
        if ledger is None and not self.observers:
            if then is not None:
                then(message)
            return
        state = message.state
        row = (self.run_id, message.message_id, message.destination, _STAT[state],
               message.outcome.error_code if state is not MessageState.DELIVERED else "000",
               message.done_wall, sla_class, reason)  # fmt: skip
        for observer in self.observers:
            observer.on_final(row)
        if ledger is None:
            if then is not None:
                then(message)
            return
        try:
            ledger.add_final(row, then, message)
        except LedgerWriteError as exc:
            log.error("cannot record a final state: %s", exc)

    def _send_final_receipts(self, message: Message) -> None:
        """Queue the final receipt (and the copies a duplicate fault asks for); called only when the
        message's registered_delivery wants one."""
        outcome = message.outcome
        for _ in range(1 + outcome.duplicate_receipts):
            self._queue_receipt(message, outcome.final_state)

    def _queue_receipt(self, message: Message, state: MessageState, intermediate: bool = False) -> None:
        account = self.accounts.get(message.account)
        if account is None:
            return
        done = message.done_wall or time.time()
        err = message.outcome.error_code if state is not MessageState.DELIVERED else "000"
        text = receipt_text_fast(message.message_id, state, err, message.submit_wall, done, _receipt_text(message))
        pdu = DeliverSm(
            source_addr=message.destination,
            destination_addr=message.source,
            esm_class=_INTERMEDIATE if intermediate else _RECEIPT,
            short_message=text.encode("ascii", "replace"),
            tlvs=receipt_tlvs_fast(message.message_id, state, err),
        )
        kind = PendingDelivery.INTERMEDIATE if intermediate else PendingDelivery.RECEIPT
        self.stats.receipts += 1
        item = PendingDelivery(pdu, kind, message, self.clock(), self.config.receipt_ttl_s)
        parked = message.parked
        if parked is None:
            account.router.enqueue(item)
        elif parked:
            parked.append(item)  # type: ignore[union-attr]
        else:  # the first to wait for the submit_sm_resp
            message.parked = [item]

    def _enqueue_delivery(self, message: Message, item: PendingDelivery) -> None:
        account = self.accounts.get(message.account)
        if account is not None:
            account.router.enqueue(item)

    def _on_delivery_response(self, conn: SmscConnection, pdu: Pdu) -> None:
        item = conn.deliveries.pop(pdu.sequence, None)
        if item is None or conn.account is None:
            return
        conn.account.router.on_response(item, pdu.status)

    def _delivery_done(self, item: PendingDelivery, how: str) -> None:
        message = item.message
        if self.ledger is not None or self.observers:
            state = message.state.stat if message is not None else ""
            if item.kind == PendingDelivery.INTERMEDIATE:
                state = MessageState.ENROUTE.stat
            row = (self.run_id, message.message_id if message else None,
                   message.destination if message else item.pdu.destination_addr,
                   item.kind, state, how, item.attempts, time.time())  # fmt: skip
            for observer in self.observers:
                observer.on_delivery(row)
            if self.ledger is not None:
                try:
                    self.ledger.add_delivery(row)
                except LedgerWriteError as exc:
                    log.error("cannot record a delivery: %s", exc)
        if how != "acked":
            log.warning("%s for %s %s: %s", item.kind, item.message.message_id if item.message else "MO", how, item.pdu)

    # ================================================================ query / cancel / replace
    def _find(self, conn: SmscConnection, pdu: Any) -> tuple[list[Message], int]:
        messages = self.store.get(pdu.message_id)
        account = conn.account.config.system_id if conn.account else None
        messages = [m for m in messages if m.account == account]
        if not messages:
            return [], S.ESME_RINVMSGID
        if pdu.source_addr and all(m.source != pdu.source_addr for m in messages):
            return [], S.ESME_RINVSRCADR
        return messages, 0

    def _on_query_sm(self, conn: SmscConnection, pdu: Any) -> None:
        messages, status = self._find(conn, pdu)
        if status:
            conn.send(pdu.response(status=status, message_id=pdu.message_id))
            return
        message = messages[0]
        final_date = ""
        if message.is_final and message.done_wall is not None:
            final_date = _smpp_time(message.done_wall)
        error = message.outcome.error_code if message.state is not MessageState.DELIVERED else "0"
        conn.send(
            pdu.response(
                message_id=message.message_id,
                final_date=final_date,
                message_state=int(message.state),
                error_code=int(error) & 0xFF if error.isdigit() else 0,
            )
        )

    def _on_cancel_sm(self, conn: SmscConnection, pdu: Any) -> None:
        if pdu.message_id:
            messages, status = self._find(conn, pdu)
            if status:
                conn.send(pdu.response(status=status))
                return
        else:
            account = conn.account.config.system_id if conn.account else None
            messages = [
                m
                for m in self.store.pending()
                if m.account == account and m.source == pdu.source_addr and m.destination == pdu.destination_addr
            ]
            if not messages:
                conn.send(pdu.response(status=S.ESME_RCANCELFAIL))
                return
        pending = [m for m in messages if not m.is_final]
        if not pending:
            conn.send(pdu.response(status=S.ESME_RCANCELFAIL))
            return
        now = self.clock()
        for message in pending:
            message.finish(MessageState.DELETED, now)
        conn.send(pdu.response())
        for message in pending:
            self._record_final(message, "excluded", "cancelled_by_customer", self._send_deleted_receipt)

    def _send_deleted_receipt(self, message: Message) -> None:
        if RegisteredDelivery.wants_receipt(message.registered_delivery, False):
            self._queue_receipt(message, MessageState.DELETED)

    def _on_replace_sm(self, conn: SmscConnection, pdu: Any) -> None:
        messages, status = self._find(conn, pdu)
        if status:
            conn.send(pdu.response(status=status))
            return
        pending = [m for m in messages if not m.is_final]
        if not pending:
            conn.send(pdu.response(status=S.ESME_RREPLACEFAIL))
            return
        for message in pending:
            message.short_message = pdu.short_message
            if pdu.registered_delivery:
                message.registered_delivery = pdu.registered_delivery
        conn.send(pdu.response())

    # ================================================================ MO
    def inject_mo(
        self,
        system_id: str,
        source: str,
        destination: str,
        text: str,
        data_coding: int | None = None,
        actor: str = "python",
    ) -> int:
        """Queue a mobile-originated message for the account's receivers; returns the parts queued.
        Long texts are split with 8-bit concatenation UDH. Raises KeyError for an unknown account and
        MoError (a ValueError naming the field) for a value its deliver_sm could not carry: nothing
        is queued then."""
        account = self.accounts[system_id]
        check_mo(source, destination, text, data_coding)
        coding = choose_coding(text) if data_coding is None else data_coding
        try:
            alphabet_of(coding)
        except CodingError as exc:
            raise MoError("data_coding", str(exc)) from None
        try:
            parts = split_message(text, coding, "udh8", ref=self.stats.mo & 0xFF)
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
        now = self.clock()
        for pdu in pdus:
            account.router.enqueue(PendingDelivery(pdu, PendingDelivery.MO, None, now, self.config.receipt_ttl_s))
        self.stats.mo += 1
        self.audit("mo", actor, system_id=system_id, source=source, destination=destination, parts=len(parts))
        return len(parts)

    # ================================================================ timers
    def _schedule_call(self, due: float, fn: Callable[[Any], None], arg: Any) -> None:
        self.scheduler.at(due, (fn, arg))

    @staticmethod
    def _fire(item: tuple[Callable[[Any], None], Any]) -> None:
        item[0](item[1])

    async def _housekeep(self) -> None:
        """Bind timeouts, enquire_link to idle peers, dead peers, unanswered deliver_sm."""
        cfg = self.config
        last_full_collection = self.clock()
        while True:
            await asyncio.sleep(self.housekeeping_interval)
            now = self.clock()
            # Millions of stored messages make the cyclic GC's full passes pause the loop for
            # hundreds of ms (measured: bench/RESULTS.md). They are freed by reference counting, so
            # move them out of the collector's sight; a full pass runs only every few minutes.
            if now - last_full_collection > 300:
                gc.unfreeze()
                gc.collect()
                last_full_collection = now
            gc.freeze()
            link_checks = getattr(self.decider, "wants_link_checks", False)
            for conn in list(self.connections):
                if conn.closing:
                    continue
                if not conn.session.is_bound:
                    if conn.session.state is BindState.OPEN and now - conn.opened_at > cfg.bind_timeout_s:
                        log.info("conn %d from %s did not bind in %.0fs: closing", conn.id, conn.peer, cfg.bind_timeout_s)
                        conn.close()
                    continue
                if conn.enquire_sent_at is not None:
                    if now - conn.enquire_sent_at > cfg.response_timeout_s:
                        self.stats.dead_peers += 1
                        log.warning("conn %d from %s stopped answering: dropping it", conn.id, conn.peer)
                        conn.abort()
                        continue
                elif now - conn.last_received > cfg.enquire_link_interval_s:
                    conn.enquire_sent_at = now
                    conn.enquire_sequence = conn.send(EnquireLink())
                if link_checks and conn.link is not None and self.decider.decide_link(conn.link, now) == "drop":  # type: ignore[attr-defined]
                    self.stats.dropped_links += 1
                    log.info("fault: dropping conn %d from %s", conn.id, conn.peer)
                    conn.abort()
                    continue
                if conn.deliveries and conn.account is not None:
                    late = [s for s, item in conn.deliveries.items() if now - item.sent_at > cfg.response_timeout_s]
                    for sequence in late:
                        conn.account.router.on_timeout(conn.deliveries.pop(sequence))
                    if late:
                        conn.account.router.pump()

    # ================================================================ failures in the background
    def _decider_failed(self, exc: Exception) -> Outcome:
        """The decider raised on a submit: it is refused with ESME_RSYSERR, recorded as excluded
        (a simulator bug is not the modelled carrier failing, so it must not move the metered rate)."""
        self.supervisor.report("decider", exc)
        return Outcome(submit_status=S.ESME_RSYSERR, sla_class=SlaClass.EXCLUDED, reason="simulator_error",
                       decided_by="carrier")

    def _response_failed(self, conn: SmscConnection, resp: Pdu, about: About, exc: Exception) -> None:
        """A submit's response could not be written (nor scheduled): answer ESME_RSYSERR instead, and
        give up the message(s) it was about: no id was given, so no receipt may follow; their final
        state is recorded as excluded, "simulator_error"."""
        self.supervisor.report("answering a submit", exc, resp.name)
        try:
            conn.send(type(resp)(sequence=resp.sequence, status=S.ESME_RSYSERR))
        except Exception as again:  # noqa: BLE001 - reported; nothing more can be done for it
            self.supervisor.report("answering a submit with ESME_RSYSERR", again, resp.name)
        now = self.clock()
        for message in _each(about):
            message.parked = None  # what waited for the response is dropped with it
            message.registered_delivery = 0
            if not message.is_final:
                message.finish(MessageState.REJECTED, now)
                self._record_final(message, "excluded", "simulator_error", None)

    def _commit_callback_failed(self, callback: Callable[[Any], None], arg: Any, exc: Exception) -> None:
        """A callback run on a ledger commit acknowledgement raised; the ack reader goes on."""
        self.supervisor.report(f"ledger commit callback {getattr(callback, '__name__', callback)}", exc)

    def _timer_failed(self, item: Any, exc: Exception) -> None:
        fn = item[0] if isinstance(item, tuple) and item else item
        self.supervisor.report(f"timer {getattr(fn, '__name__', fn)}", exc)

    def _delivery_failed(self, item: PendingDelivery, exc: Exception) -> None:
        """A deliver_sm could not be sent (encoded): it is dropped, counted "unsendable"."""
        about = item.message.message_id if item.message is not None else "an MO"
        self.supervisor.report(f"sending a {item.kind} deliver_sm", exc, f"for {about}")

    def _ledger_health(self) -> list[str]:
        failed = self.ledger.failed if self.ledger is not None else None
        return [f"ledger: {failed}"] if failed else []

    def health(self) -> dict[str, Any]:
        """{"status": "ok"} or {"status": "degraded", "reasons": [...]}: what /health answers."""
        return self.supervisor.health()

    # ================================================================ control and audit
    def audit(self, action: str, actor: str, **details: Any) -> None:
        """Record an operation (bind, unbind, failed login, control change) in the audit trail."""
        entry = {"at": time.time(), "action": action, "actor": actor, **details}
        self.audit_log.append(entry)
        for listener in self.audit_listeners:
            try:
                listener(entry)
            except Exception as exc:  # noqa: BLE001 - a failed record must not undo the operation
                self.supervisor.report("recording an audit entry", exc, action)

    def _pipeline(self) -> Any:
        if not hasattr(self.decider, "change"):
            from simulator.faults.pipeline import FaultChangeError

            raise FaultChangeError("this simulator runs without a scenario: there are no faults to change")
        return self.decider

    def faults(self) -> list[dict[str, Any]]:
        describe = getattr(self.decider, "describe", None)
        return describe() if describe is not None else []

    def change_fault(self, name: str, changes: dict[str, Any], actor: str = "python") -> dict[str, Any]:
        """Switch, re-tune or add a fault while running (binds are kept). Raises FaultChangeError."""
        return self._pipeline().change(name, changes, actor)

    def remove_fault(self, name: str, actor: str = "python") -> None:
        self._pipeline().remove(name, actor)

    def scenario_dump(self) -> dict[str, Any]:
        if self.scenario is None:
            return {"carrier": self.config.model_dump(mode="json")}
        return self.scenario.model_dump(mode="json")

    # ================================================================ status
    def status(self) -> dict[str, Any]:
        health = self.supervisor.details()
        return {
            "health": health.pop("status"),
            "supervisor": health,
            "listen": self.addresses,
            "connections": len(self.connections),
            "stats": self.stats.as_dict(),
            "accounts": {
                name: {
                    "binds": len(a.binds),
                    "receivers": len(a.router.receivers),
                    "backlog": a.router.backlog,
                    "delivery": a.router.stats.as_dict(),
                }
                for name, a in self.accounts.items()
            },
            "messages_in_store": len(self.store),
        }


def _each(about: About) -> tuple[Message, ...] | list[Message]:
    """The messages a submit response is about (one for submit_sm/data_sm, several for submit_multi)."""
    if about is None:
        return ()
    return (about,) if type(about) is Message else about


def _sar(tlvs: dict[int, bytes]) -> tuple[int, int, int] | None:
    """(ref, total, seq) of a part sent with the SAR TLVs, else None."""
    if not tlvs or Tag.sar_total_segments not in tlvs:
        return None
    total = read_int(tlvs, Tag.sar_total_segments, 1)
    seq = read_int(tlvs, Tag.sar_segment_seqnum, 1)
    return read_int(tlvs, Tag.sar_msg_ref_num, 0), total, seq  # type: ignore[return-value]


def _receipt_text(message: Message) -> str:
    """The first 20 characters of the message for the receipt's text: field, in printable ASCII."""
    body = message.short_message
    text = message_text(body[:254], message.data_coding, message.esm_class)[:20]
    return text if text.isascii() and text.isprintable() else "".join(
        c if c.isascii() and c.isprintable() else "?" for c in text
    )


def _smpp_time(wall: float) -> str:
    """An absolute SMPP time (YYMMDDhhmmss t nn p) in UTC: '000' offset and '+'."""
    t = time.gmtime(wall)
    tenths = int((wall % 1) * 10)
    return f"{t.tm_year % 100:02d}{t.tm_mon:02d}{t.tm_mday:02d}{t.tm_hour:02d}{t.tm_min:02d}{t.tm_sec:02d}{tenths}00+"


__all__ = ["Smsc", "AccountState", "CarrierStats"]

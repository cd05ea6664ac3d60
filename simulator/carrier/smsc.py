"""The SMSC: one carrier, wired from small collaborators; it owns its lifecycle, status and audit.

Owns: starting and stopping (listener, ledger, timers, housekeeping), the connections, the table
from command_id to handler, the audit trail, /status and /health, live fault changes (passed on to
the decider), MO injection into an account's queue, and the failures of background work (its
Supervisor). Everything else is a collaborator's:
  binds.py        who may bind; bind/unbind/enquire_link      accounts.py  an account's live state
  submits.py      submit_sm/data_sm/submit_multi -> Message   answers.py   the submit_sm_resp, the window
  receipts.py     final states, receipts, parked deliver_sm   queries.py   query_sm/cancel_sm/replace_sm
  recorder.py     the rows, to every RecordSink               housekeeping.py  timeouts, idle links, GC
  connection.py   one socket (sessions, write batching)       decider.py   what the SMSC asks the faults
Blocking calls never run on the loop, and nothing that fails in the background stops it: the
supervisor hears it (`health()`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from simulator.ledger.records import RecordSink
from simulator.ledger.writer import LedgerWriter
from simulator.scenario import Carrier, Scenario
from simulator.smpp.constants import CommandId as C
from simulator.smpp.pdu import Pdu, Unbind

from .accounts import AccountState
from .answers import Answers
from .bind_guard import BindGuard
from .binds import Binds
from .connection import SmscConnection
from .decider import Decider, NoFaults
from .delivery import DeliveryRouter, PendingDelivery
from .housekeeping import Housekeeping
from .limits import Admission, TooManyFaults, connection_cap, open_files_limit
from .messages import MessageIdAllocator, MessageStore
from .mo import mo_parts
from .queries import Queries
from .receipts import Receipts
from .recorder import Recorder
from .scheduler import Scheduler
from .stats import CarrierStats
from .submits import Submits
from .supervisor import Supervisor
from .validity import Validity

log = logging.getLogger("carrier_sim.smsc")
Handler = Callable[[SmscConnection, Any], None]


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
        self.config = cfg = config or Carrier()
        self.decider: Decider = decider or NoFaults(cfg.receipt_delay_ms / 1000)
        self.clock = clock
        self.supervisor = Supervisor("carrier")
        self.scheduler = Scheduler(_fire, clock=clock, on_error=self._timer_failed)
        self.store = MessageStore(cfg.message_store_size)
        self.stats = CarrierStats()
        self.connections: set[SmscConnection] = set()
        self.admission = Admission(connection_cap(cfg.max_connections, open_files_limit()[0]), clock)
        self.scenario: Scenario | None = None
        self.audit_log: deque[dict[str, Any]] = deque(maxlen=10_000)
        self.audit_listeners: list[Callable[[dict[str, Any]], None]] = []
        self.recorder = Recorder(ledger)
        self.accounts: dict[str, AccountState] = {}
        self.receipts = Receipts(self.accounts, self.decider, self.recorder, self.stats, self.supervisor, clock,
                                 self.schedule, cfg.receipt_ttl_s)
        for acct in cfg.accounts:
            self.accounts[acct.system_id] = AccountState(acct, self._new_router(acct.system_id))
        self.answers = Answers(self.recorder, self.receipts, self.stats, self.supervisor, clock, self.schedule)
        validity = Validity(cfg.default_validity, cfg.max_validity)
        self.submits = Submits(self.decider, self.store, message_ids or MessageIdAllocator(), self.recorder,
                               self.answers, self.receipts, self.stats, self.supervisor, clock,
                               cfg.long_short_message, validity)
        self.queries = Queries(self.store, self.recorder, self.receipts, clock, validity)
        self.bind_guard = BindGuard(cfg.bind_protection, cfg.uniform_bind_errors, self.stats, clock, self.audit)
        self.binds = Binds(cfg.system_id, self.accounts, self.decider, self.stats, clock, self.audit,
                           self.bind_guard)
        self.housekeeping = Housekeeping(cfg, self.connections, self.decider, self.stats, clock, housekeeping_interval)
        self.housekeeping.ticks.append(self.bind_guard.tick)
        self.handlers: dict[int, Handler] = {
            C.submit_sm: self.submits.on_submit_sm,
            C.data_sm: self.submits.on_data_sm,
            C.submit_multi: self.submits.on_submit_multi,
            C.deliver_sm_resp: self.receipts.on_delivery_response,
            C.data_sm_resp: self.receipts.on_delivery_response,
            C.generic_nack: self.receipts.on_generic_nack,
            C.enquire_link: self.binds.on_enquire_link,
            C.enquire_link_resp: self.binds.on_enquire_link_resp,
            C.bind_transmitter: self.binds.on_bind,
            C.bind_receiver: self.binds.on_bind,
            C.bind_transceiver: self.binds.on_bind,
            C.unbind: self.binds.on_unbind,
            C.unbind_resp: self.binds.on_unbind_resp,
            C.query_sm: self.queries.on_query_sm,
            C.cancel_sm: self.queries.on_cancel_sm,
            C.replace_sm: self.queries.on_replace_sm,
        }
        if ledger is not None:
            ledger.spawn = self.supervisor.spawn  # its commit-acknowledgement reader is supervised
            ledger.on_callback_error = self._commit_callback_failed
            self.supervisor.checks.append(self._ledger_health)
            self.audit_listeners.append(
                lambda e: ledger.add_audit(e["at"], e["action"], e["actor"],
                                           {k: v for k, v in e.items() if k not in ("at", "action", "actor")}))
        self.decider.listeners.append(lambda event: self.audit("fault." + event["action"], event["actor"],
                                                               fault=event["fault"], changes=event["changes"]))
        self._server: asyncio.Server | None = None
        self._housekeeping: asyncio.Task[None] | None = None

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
            schedule=self.schedule,
            on_done=self.receipts.delivery_done,
            on_error=self.receipts.delivery_failed,
        )

    # ---------------------------------------------------------------- what the records go to
    @property
    def ledger(self) -> LedgerWriter | None:
        return self.recorder.ledger

    @property
    def run_id(self) -> str:
        return self.recorder.run_id

    @property
    def observers(self) -> list[RecordSink]:
        """RecordSinks told of every row as it is made (the MQTT publisher's tap); append to add one."""
        return self.recorder.observers

    # ---------------------------------------------------------------- lifecycle
    async def start(self, host: str | None = None, port: int | None = None) -> None:
        loop = asyncio.get_running_loop()
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
        self.decider.start(self.clock())
        self._housekeeping = self.supervisor.spawn("housekeeping", self.housekeeping.run)
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
        self.admission.refused.close()  # what was counted and not yet logged or audited
        self.bind_guard.tick(self.clock(), force=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
        if self.ledger is not None:
            await self.ledger.close()
        for summary in (self.receipts.dropped, self.answers.unrecorded, self.recorder.unrecorded):
            summary.close()  # the summed-up lines still pending
        await self.supervisor.stop()

    # ---------------------------------------------------------------- connections (ConnectionOwner)
    def connection_opened(self, conn: SmscConnection) -> None:
        if not self.admission.admit(len(self.connections), conn.peer):
            self.stats.connections_refused += 1
            conn.close()  # at once: a refused connection holds no file descriptor (limits.py says why)
            return
        self.connections.add(conn)
        self.stats.connections += 1

    def connection_closed(self, conn: SmscConnection, exc: Exception | None) -> None:
        self.connections.discard(conn)
        self.binds.closed(conn)

    def dispatch(self, conn: SmscConnection, pdu: Pdu) -> None:
        handler = self.handlers.get(pdu.command_id)
        if handler is not None:
            handler(conn, pdu)
        else:
            log.debug("conn %d: ignoring %s", conn.id, pdu.name)

    # ---------------------------------------------------------------- timers
    def schedule(self, due: float, fn: Callable[[Any], None], arg: Any) -> None:
        """Call fn(arg) at `due` (the carrier's clock; within a tick of the scheduler). Raises
        OverflowError or ValueError for a due time that is not a finite number."""
        self.scheduler.at(due, (fn, arg))

    @property
    def scenario_start(self) -> float:
        return self.decider.started_at

    # ---------------------------------------------------------------- MO
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
        parts = mo_parts(source, destination, text, data_coding, ref=self.stats.mo & 0xFF)
        now = self.clock()
        for pdu in parts:
            account.router.enqueue(PendingDelivery(pdu, PendingDelivery.MO, None, now, self.config.receipt_ttl_s))
        self.stats.mo += 1
        self.audit("mo", actor, system_id=system_id, source=source, destination=destination, parts=len(parts))
        return len(parts)

    # ---------------------------------------------------------------- failures in the background
    def _commit_callback_failed(self, callback: Callable[[Any], None], arg: Any, exc: Exception) -> None:
        """A callback run on a ledger commit acknowledgement raised; the ack reader goes on."""
        self.supervisor.report(f"ledger commit callback {getattr(callback, '__name__', callback)}", exc)

    def _timer_failed(self, item: Any, exc: Exception) -> None:
        fn = item[0] if isinstance(item, tuple) and item else item
        self.supervisor.report(f"timer {getattr(fn, '__name__', fn)}", exc)

    def _ledger_health(self) -> list[str]:
        ledger = self.ledger
        if ledger is None:
            return []
        if ledger.failed:
            return [f"ledger: {ledger.failed}"]
        if ledger.failing:  # until a probe commits again: submits are refused meanwhile
            return [f"ledger: writes failing for {ledger.outage_summary()}: {ledger.failing}"]
        return []

    def health(self) -> dict[str, Any]:
        """{"status": "ok"} or {"status": "degraded", "reasons": [...]}: what /health answers."""
        return self.supervisor.health()

    # ---------------------------------------------------------------- control and audit
    def audit(self, action: str, actor: str, **details: Any) -> None:
        """Record an operation (bind, unbind, failed login, control change) in the audit trail."""
        entry = {"at": time.time(), "action": action, "actor": actor, **details}
        self.audit_log.append(entry)
        for listener in self.audit_listeners:
            try:
                listener(entry)
            except Exception as exc:  # noqa: BLE001 - a failed record must not undo the operation
                self.supervisor.report("recording an audit entry", exc, action)

    def faults(self) -> list[dict[str, Any]]:
        return self.decider.describe()

    def change_fault(self, name: str, changes: dict[str, Any], actor: str = "python") -> dict[str, Any]:
        """Switch, re-tune or add a fault while running (binds are kept). Raises FaultChangeError, or
        TooManyFaults for a new one past `carrier.max_faults` (each fault costs every submit a step)."""
        faults = [f["name"] for f in self.decider.describe() if f.get("kind") != "section"]
        if name not in faults and len(faults) >= self.config.max_faults:
            raise TooManyFaults(f"{len(faults)} faults already, the most carrier.max_faults allows: "
                                f"remove one (DELETE /faults/NAME) before adding {name!r}")
        return self.decider.change(name, changes, actor)

    def remove_fault(self, name: str, actor: str = "python") -> None:
        self.decider.remove(name, actor)

    def scenario_dump(self) -> dict[str, Any]:
        if self.scenario is None:
            return {"carrier": self.config.model_dump(mode="json")}
        return self.scenario.model_dump(mode="json")

    # ---------------------------------------------------------------- status
    def status(self) -> dict[str, Any]:
        health = self.supervisor.details()
        return {
            "health": health.pop("status"),
            "supervisor": health,
            "listen": self.addresses,
            "connections": len(self.connections),
            "max_connections": self.admission.cap,
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


def _fire(item: tuple[Callable[[Any], None], Any]) -> None:
    item[0](item[1])


__all__ = ["Smsc", "AccountState", "CarrierStats"]

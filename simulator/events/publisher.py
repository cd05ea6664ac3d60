"""One simulator node's MQTT side, wired: the tap on the Smsc, the outbox, the broker link and the
MQTT control shell, with their tasks run by a Supervisor.

Owns: the lifecycle (start, and stop that flushes briefly and says "offline"), the drain tick that
moves the tap's rows into the outbox and makes the metering and status snapshots every
metering_interval, the publisher's status (`mqtt` in /status and on the status topic), and the
outage summary line. It attaches to the Smsc through the observer and audit hooks and adds its
supervisor's reasons to the carrier's health checks: a failed task is logged once with its traceback
and restarted, and /health says degraded. The SMPP path merely appends to a bounded tap (tap.py); no
broker failure ever reaches the SMSC: what cannot be published is counted, logged and shown in the
status. Not here: batching and the buffer bound (outbox.py), the connection (link.py), control
requests (control/mqtt.py), payload formats (schema.py).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from typing import Any

from simulator.carrier.supervisor import Supervisor
from simulator.control.core import ControlCore
from simulator.control.mqtt import MqttControl

from . import schema, topics
from .figures import NodeFigures, figures_snapshot
from .link import BrokerLink
from .outbox import KINDS, Outbox
from .settings import MqttSettings
from .tap import RecordTap

log = logging.getLogger("carrier_sim.events")

SUMMARY_EVERY_S = 10.0  # while the broker is away, a log line at most this often


class EventPublisher:
    """Attach to an Smsc, then `await start()`; `await stop()` flushes (briefly) and says goodbye."""

    def __init__(self, smsc: Any, settings: MqttSettings, node_id: str, *, clock=time.time) -> None:
        self.smsc = smsc
        self.settings = settings
        self.node = topics.check_node_id(node_id)
        self.clock = clock
        token = secrets.token_hex(3)
        self.client_id = settings.client_id or f"carrier-sim-{node_id}-{token}"
        self.tap = RecordTap(settings.buffer)
        accounts = list(getattr(smsc, "accounts", {}))
        self.figures = NodeFigures(accounts[0] if len(accounts) == 1 else None)
        prefix = settings.prefix
        self.topics = {kind: topics.topic(prefix, node_id, kind) for kind in
                       (topics.OUTCOMES, topics.RECEIPTS, topics.METERING, topics.STATUS, topics.AUDIT)}
        self.outbox = Outbox(self.node, f"{node_id}-{token}", self.topics,
                             max(1, min(settings.batch_records, settings.buffer)), settings.buffer)
        self.control = MqttControl(ControlCore(smsc, [self.status_section]), prefix, self.node)
        self.supervisor = Supervisor("mqtt")
        self.link = BrokerLink(settings, self.client_id, self.topics, self.outbox, self.control, clock=clock,
                               will=lambda: self._status("offline", reason="connection lost (last will)"),
                               online=lambda: self._status("online"), waiting=self._waiting_and_unpublished,
                               report=self.supervisor.report)
        self.started_at: float | None = None
        self._last_sends: tuple[float, dict[str, int]] | None = None
        self._last_summary = 0.0
        self._running = False
        self._attached = False

    @property
    def connected(self) -> bool:
        return self.link.connected

    @property
    def last_error(self) -> str | None:
        return self.link.last_error

    @property
    def published(self) -> dict[str, int]:
        """Records published per kind (outcomes, receipts, audit)."""
        return self.outbox.published

    # ================================================================ lifecycle
    def attach(self) -> None:
        """Start observing the SMSC's records and audit entries (cheap appends only), and report this
        publisher's troubles in the carrier's health."""
        if not self._attached:
            self.smsc.observers.append(self.tap)
            self.smsc.audit_listeners.append(self.tap.on_audit)
            self.smsc.supervisor.checks.append(self.supervisor.reasons)
            self._attached = True

    def detach(self) -> None:
        if self._attached:
            self.smsc.observers.remove(self.tap)
            self.smsc.audit_listeners.remove(self.tap.on_audit)
            self.smsc.supervisor.checks.remove(self.supervisor.reasons)
            self._attached = False

    async def start(self) -> None:
        self.attach()
        self.started_at = self.clock()
        self.supervisor.spawn("drain", self._drain_loop)
        self.supervisor.spawn("connection", self.link.run)
        self._running = True
        log.info("MQTT: publishing node %s to %s (client id %s)", self.node, self.settings.url, self.client_id)

    async def stop(self, timeout: float = 5.0) -> None:
        """Publish what is left and an "offline" status (for up to `timeout` s), then disconnect."""
        if not self._running:
            return
        drain, connection = self.supervisor.tasks["drain"], self.supervisor.tasks["connection"]
        drain.cancel()
        await asyncio.gather(drain, return_exceptions=True)
        self.detach()
        self._drain()
        self.link.wake()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.connected and (self.outbox or self.outbox.sending) and loop.time() < deadline:
            await asyncio.sleep(0.02)
        self.link.post_metering(self._metering(self.clock()))
        self.link.post_status(self._status("offline", reason="stopped"))  # with the final counters
        self.link.close()
        if self.connected:
            try:
                await asyncio.wait_for(asyncio.shield(connection), max(0.1, deadline - loop.time()))
            except TimeoutError:
                pass
        await self.supervisor.stop()
        left = self.outbox.drop_all()
        if left:
            log.warning("MQTT: stopped with %d records not published (the ledger has them)", left)
        self._running = False

    # ================================================================ status
    def waiting_records(self) -> int:
        return self.outbox.waiting_records() + self.tap.waiting

    def _waiting_and_unpublished(self) -> tuple[int, int]:
        status = self.status()
        return status["waiting"]["total"], status["unpublished"]["total"]

    def status(self) -> dict[str, Any]:
        """The publisher's state, for the status topic, the HTTP /status and the logs."""
        dropped = self.tap.dropped
        unpublished = self.outbox.unpublished
        unpublished = {
            "outcomes": unpublished["outcomes"] + dropped["messages"] + dropped["finals"],
            "receipts": unpublished["receipts"] + dropped["deliveries"],
            "audit": unpublished["audit"] + dropped["audit"],
        }
        waiting = self.outbox.waiting()
        waiting["outcomes"] += len(self.tap.messages) + len(self.tap.finals)
        waiting["receipts"] += len(self.tap.deliveries)
        waiting["audit"] += len(self.tap.audit)
        link = self.link
        return {
            "broker": self.settings.url,
            "client_id": self.client_id,
            "connected": link.connected,
            "connected_since": link.connected_since,
            "disconnected_since": link.disconnected_since,
            "connects": link.connects,
            "disconnections": link.disconnections,
            "last_error": link.last_error,
            "published": dict(self.outbox.published),
            "unpublished": {**unpublished, "total": sum(unpublished.values())},
            "waiting": {**waiting, "total": sum(waiting.values())},
            "batches_published": self.outbox.batches_published,
            "buffer": self.settings.buffer,
            "control_requests": self.control.requests,
        }

    def status_section(self) -> dict[str, Any]:
        """{"mqtt": status()}: what the HTTP control API and the status reply add to the SMSC's status."""
        return {"mqtt": self.status()}

    def _status(self, state: str, **details: Any) -> bytes:
        smsc = self.smsc.status()
        scenario = getattr(self.smsc, "scenario", None)
        return schema.status_payload(
            self.node, self.smsc.run_id, self.clock(), state, started_at=self.started_at,
            scenario=getattr(scenario, "name", None), sla=self._sla, listen=smsc.get("listen"),
            connections=smsc.get("connections"), stats=smsc.get("stats"), mqtt=self.status(), **details,
        )  # fmt: skip

    @property
    def _sla(self) -> dict[str, Any] | None:
        scenario = getattr(self.smsc, "scenario", None)
        return None if scenario is None else scenario.sla.model_dump(mode="json")

    # ================================================================ the drain tick (off the SMPP path)
    async def _drain_loop(self) -> None:
        """Every batch_interval: the tap's rows into the outbox; every metering_interval the snapshots.
        An exception ends the loop: the supervisor logs it once and restarts it."""
        interval = self.settings.batch_interval
        next_snapshot = self.clock() + self.settings.metering_interval
        while True:
            await asyncio.sleep(interval)
            self._drain()
            now = self.clock()
            if now >= next_snapshot:
                next_snapshot = max(next_snapshot + self.settings.metering_interval, now)
                self.link.post_metering(self._metering(now))
                self.link.post_status(self._status("online"))
                self._log_outage(now)
            self.link.wake()

    def _drain(self) -> None:
        """Move the tap's rows into encoded batches, oldest first."""
        tap = self.tap
        messages = tap.take(tap.messages)
        finals = tap.take(tap.finals)
        deliveries = tap.take(tap.deliveries)
        entries = tap.take(tap.audit)
        try:
            self.figures.add_messages(messages)  # before the finals: a final settles a message seen before it
            self.figures.add_finals(finals)
            self.outbox.add(self.smsc.run_id, self.clock(), messages, finals, deliveries, entries)
        except Exception:
            unpublished = self.outbox.unpublished  # taken from the tap, never to be published: counted
            unpublished["outcomes"] += len(messages) + len(finals)
            unpublished["receipts"] += len(deliveries)
            unpublished["audit"] += len(entries)
            raise

    def _metering(self, now: float) -> bytes:
        accounts = {}
        sends_now: dict[str, int] = {}
        for account, figures in sorted(self.figures.accounts.items()):
            snap = figures_snapshot(figures)
            sends_now[account] = snap["sends"]
            if self._last_sends is not None and now > self._last_sends[0]:
                before = self._last_sends[1].get(account, 0)
                snap["sends_per_s"] = (snap["sends"] - before) / (now - self._last_sends[0])
            else:
                snap["sends_per_s"] = None
            accounts[account] = snap
        self._last_sends = (now, sends_now)
        return schema.metering_payload(self.node, self.smsc.run_id, now, self.settings.metering_interval, accounts)

    def _log_outage(self, now: float) -> None:
        link = self.link
        if link.connected or link.disconnected_since is None:
            return
        if now - self._last_summary < SUMMARY_EVERY_S:
            return
        self._last_summary = now
        waiting, unpublished = self._waiting_and_unpublished()
        log.warning("MQTT: broker %s unreachable for %.0f s (%s); the simulator keeps serving; %d records waiting, "
                    "%d not published (the ledger has them)", self.settings.url, now - link.disconnected_since,
                    link.last_error, waiting, unpublished)


__all__ = ["KINDS", "EventPublisher"]

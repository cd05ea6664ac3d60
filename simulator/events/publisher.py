"""One simulator node's MQTT side: it publishes outcomes, receipts and audit in batches, a metering
snapshot and its status every second, and carries out control requests, over one broker connection
that it keeps up with backoff.

It attaches to the Smsc through the observer and audit hooks only. The SMPP path merely appends to
a bounded tap (tap.py); encoding and publishing run in this module's own tasks, and no broker
failure ever reaches the SMSC: what cannot be published is counted, logged and shown in the status.
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import control, schema, topics
from .figures import NodeFigures, figures_snapshot
from .settings import MqttSettings
from .tap import RecordTap

log = logging.getLogger("carrier_sim.events")

KINDS = ("outcomes", "receipts", "audit")
INFLIGHT = 16  # batches published at once (each waits for its PUBACK with QoS 1): a busy loop answers slowly
SUMMARY_EVERY_S = 10.0  # while the broker is away, a log line at most this often


@dataclass(slots=True)
class Outgoing:
    """One encoded batch waiting for the broker."""

    kind: str  # outcomes / receipts / audit
    topic: str
    payload: bytes
    records: int


class EventPublisher:
    """Attach to an Smsc, then `await start()`; `await stop()` flushes (briefly) and says goodbye."""

    def __init__(self, smsc: Any, settings: MqttSettings, node_id: str, *, clock=time.time) -> None:
        self.smsc = smsc
        self.settings = settings
        self.node = topics.check_node_id(node_id)
        self.clock = clock
        token = secrets.token_hex(3)
        self.client_id = settings.client_id or f"carrier-sim-{node_id}-{token}"
        self.stream = f"{node_id}-{token}"  # with `seq`, names each batch uniquely (consumers drop repeats)
        self.tap = RecordTap(settings.buffer)
        accounts = list(getattr(smsc, "accounts", {}))
        self.figures = NodeFigures(accounts[0] if len(accounts) == 1 else None)
        self.batch_records = max(1, min(settings.batch_records, settings.buffer))
        prefix = settings.prefix
        self.topics = {kind: topics.topic(prefix, node_id, kind) for kind in
                       (topics.OUTCOMES, topics.RECEIPTS, topics.METERING, topics.STATUS, topics.AUDIT)}
        self.reply_topic = topics.reply_topic(prefix, node_id)
        self.outbox: deque[Outgoing] = deque()
        self._outbox_records = 0
        self._sending: list[Outgoing] = []
        self._status_payload: bytes | None = None
        self._metering_payload: bytes | None = None
        self._seq = {kind: 0 for kind in KINDS}
        self.published = {kind: 0 for kind in KINDS}
        self.unpublished = {kind: 0 for kind in KINDS}  # dropped from a full buffer: never to be published
        self.batches_published = 0
        self.control_requests = 0
        self.connected = False
        self.connects = 0
        self.disconnections = 0
        self.connected_since: float | None = None
        self.disconnected_since: float | None = None
        self.last_error: str | None = None
        self.started_at: float | None = None
        self._last_sends: tuple[float, dict[str, int]] | None = None
        self._last_summary = 0.0
        self._wake = asyncio.Event()
        self._closing = False
        self._tasks: list[asyncio.Task[None]] = []
        self._attached = False

    # ================================================================ lifecycle
    def attach(self) -> None:
        """Start observing the SMSC's records and audit entries (cheap appends only)."""
        if not self._attached:
            self.smsc.observers.append(self.tap)
            self.smsc.audit_listeners.append(self.tap.on_audit)
            self._attached = True

    def detach(self) -> None:
        if self._attached:
            self.smsc.observers.remove(self.tap)
            self.smsc.audit_listeners.remove(self.tap.on_audit)
            self._attached = False

    async def start(self) -> None:
        self.attach()
        self.started_at = self.clock()
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._drain_loop(), name="mqtt-drain"),
                       loop.create_task(self._connection_loop(), name="mqtt-connection")]
        log.info("MQTT: publishing node %s to %s (client id %s)", self.node, self.settings.url, self.client_id)

    async def stop(self, timeout: float = 5.0) -> None:
        """Publish what is left and an "offline" status (for up to `timeout` s), then disconnect."""
        if not self._tasks:
            return
        drain, connection = self._tasks
        drain.cancel()
        await asyncio.gather(drain, return_exceptions=True)
        self.detach()
        self._drain()
        self._wake.set()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.connected and (self.outbox or self._sending) and loop.time() < deadline:
            await asyncio.sleep(0.02)
        self._metering_payload = self._metering(self.clock())
        self._status_payload = self._status("offline", reason="stopped")  # with the final counters
        self._closing = True
        self._wake.set()
        if self.connected:
            try:
                await asyncio.wait_for(asyncio.shield(connection), max(0.1, deadline - loop.time()))
            except TimeoutError:
                pass
        connection.cancel()
        await asyncio.gather(connection, return_exceptions=True)
        left = self.waiting_records()
        if left:
            for item in [*self._sending, *self.outbox]:
                self.unpublished[item.kind] += item.records
            self.outbox.clear()
            self._sending = []
            self._outbox_records = 0
            log.warning("MQTT: stopped with %d records not published (the ledger has them)", left)
        self._tasks = []

    # ================================================================ status
    def waiting_records(self) -> int:
        return self._outbox_records + sum(i.records for i in self._sending) + self.tap.waiting

    def status(self) -> dict[str, Any]:
        """The publisher's state, for the status topic, the HTTP /status and the logs."""
        dropped = self.tap.dropped
        unpublished = {
            "outcomes": self.unpublished["outcomes"] + dropped["messages"] + dropped["finals"],
            "receipts": self.unpublished["receipts"] + dropped["deliveries"],
            "audit": self.unpublished["audit"] + dropped["audit"],
        }
        waiting = {kind: 0 for kind in KINDS}
        for item in [*self._sending, *self.outbox]:
            waiting[item.kind] += item.records
        waiting["outcomes"] += len(self.tap.messages) + len(self.tap.finals)
        waiting["receipts"] += len(self.tap.deliveries)
        waiting["audit"] += len(self.tap.audit)
        return {
            "broker": self.settings.url,
            "client_id": self.client_id,
            "connected": self.connected,
            "connected_since": self.connected_since,
            "disconnected_since": self.disconnected_since,
            "connects": self.connects,
            "disconnections": self.disconnections,
            "last_error": self.last_error,
            "published": dict(self.published),
            "unpublished": {**unpublished, "total": sum(unpublished.values())},
            "waiting": {**waiting, "total": sum(waiting.values())},
            "batches_published": self.batches_published,
            "buffer": self.settings.buffer,
            "control_requests": self.control_requests,
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

    # ================================================================ batching (off the SMPP path)
    async def _drain_loop(self) -> None:
        interval = self.settings.batch_interval
        next_snapshot = self.clock() + self.settings.metering_interval
        while True:
            await asyncio.sleep(interval)
            try:
                self._drain()
                now = self.clock()
                if now >= next_snapshot:
                    next_snapshot = max(next_snapshot + self.settings.metering_interval, now)
                    self._metering_payload = self._metering(now)
                    self._status_payload = self._status("online")
                    self._log_outage(now)
                self._wake.set()
            except Exception:
                log.exception("MQTT: cannot prepare events")

    def _drain(self) -> None:
        """Move the tap's rows into encoded batches (at most batch_records each), oldest first."""
        tap = self.tap
        messages = tap.take(tap.messages)
        finals = tap.take(tap.finals)
        deliveries = tap.take(tap.deliveries)
        entries = tap.take(tap.audit)
        self.figures.add_messages(messages)  # before the finals: a final settles a message seen before it
        self.figures.add_finals(finals)
        run_id = self.smsc.run_id
        size = self.batch_records
        m = f = 0
        while m < len(messages) or f < len(finals):
            chunk_m = messages[m:m + size]
            chunk_f = finals[f:f + size - len(chunk_m)]
            m += len(chunk_m)
            f += len(chunk_f)
            seq = self._next_seq("outcomes")
            payload = _encode(schema.outcomes_payload, self.node, self.stream, seq, run_id, self.clock(),
                              chunk_m, chunk_f)
            self._enqueue(Outgoing("outcomes", self.topics[topics.OUTCOMES], payload, len(chunk_m) + len(chunk_f)))
        for i in range(0, len(deliveries), size):
            chunk = deliveries[i:i + size]
            payload = _encode(schema.receipts_payload, self.node, self.stream, self._next_seq("receipts"), run_id,
                              self.clock(), chunk)
            self._enqueue(Outgoing("receipts", self.topics[topics.RECEIPTS], payload, len(chunk)))
        if entries:
            payload = schema.audit_payload(self.node, self.stream, self._next_seq("audit"), run_id, self.clock(),
                                           entries)
            self._enqueue(Outgoing("audit", self.topics[topics.AUDIT], payload, len(entries)))

    def _next_seq(self, kind: str) -> int:
        self._seq[kind] += 1
        return self._seq[kind]

    def _enqueue(self, item: Outgoing) -> None:
        self.outbox.append(item)
        self._outbox_records += item.records
        while self._outbox_records > self.settings.buffer and len(self.outbox) > 1:
            old = self.outbox.popleft()
            self._outbox_records -= old.records
            self.unpublished[old.kind] += old.records

    def _requeue(self, items: list[Outgoing]) -> None:
        for item in reversed(items):
            self.outbox.appendleft(item)
            self._outbox_records += item.records
        while self._outbox_records > self.settings.buffer and len(self.outbox) > 1:
            old = self.outbox.popleft()
            self._outbox_records -= old.records
            self.unpublished[old.kind] += old.records

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
        if self.connected or self.disconnected_since is None:
            return
        if now - self._last_summary < SUMMARY_EVERY_S:
            return
        self._last_summary = now
        status = self.status()
        log.warning("MQTT: broker %s unreachable for %.0f s (%s); the simulator keeps serving; %d records waiting, "
                    "%d not published (the ledger has them)", self.settings.url, now - self.disconnected_since,
                    self.last_error, status["waiting"]["total"], status["unpublished"]["total"])

    # ================================================================ the connection
    async def _connection_loop(self) -> None:
        import aiomqtt

        settings = self.settings
        delay = settings.backoff_min
        while not self._closing:
            error: BaseException | None = None
            try:
                will = aiomqtt.Will(self.topics[topics.STATUS],
                                    self._status("offline", reason="connection lost (last will)"), qos=1, retain=True)
                client = aiomqtt.Client(**settings.client_kwargs(), identifier=self.client_id,
                                        protocol=aiomqtt.ProtocolVersion.V5, will=will, timeout=10,
                                        max_inflight_messages=INFLIGHT + 8)
                client.pending_calls_threshold = 4 * INFLIGHT
                async with client:
                    self._on_connected()
                    delay = settings.backoff_min
                    await self._serve(client)
                if self._closing:
                    return
                error = aiomqtt.MqttError("the connection ended")
            except asyncio.CancelledError:
                self._on_disconnected(None, quiet=True)
                raise
            except Exception as exc:  # noqa: BLE001 - MqttError, OSError, TLS errors: all mean "try again later"
                error = exc
            self._on_disconnected(error)
            if self._closing:
                return
            wait = delay * random.uniform(0.8, 1.2)
            log.info("MQTT: reconnecting to %s in %.1f s", settings.url, wait)
            await asyncio.sleep(wait)
            delay = min(delay * 2, settings.backoff_max)

    def _on_connected(self) -> None:
        now = self.clock()
        outage = None if self.disconnected_since is None else now - self.disconnected_since
        self.connected = True
        self.connects += 1
        self.connected_since = now
        self.disconnected_since = None
        self._status_payload = self._status("online")
        self._wake.set()
        if outage is None:
            log.info("MQTT: connected to %s", self.settings.url)
        else:
            status = self.status()
            log.warning("MQTT: reconnected to %s after %.1f s; %d records waiting are being published, %d could "
                        "not be (buffer full; the ledger has them)", self.settings.url, outage,
                        status["waiting"]["total"], status["unpublished"]["total"])

    def _on_disconnected(self, error: BaseException | None, quiet: bool = False) -> None:
        was = self.connected
        self.connected = False
        if error is not None:
            self.last_error = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
        if was:
            self.disconnections += 1
            self.disconnected_since = self.clock()
            if not quiet:
                log.warning("MQTT: lost the broker %s (%s); the simulator keeps serving and buffers up to %d "
                            "records", self.settings.url, self.last_error, self.settings.buffer)
        elif self.disconnected_since is None:
            self.disconnected_since = self.clock()
            if not quiet:
                log.warning("MQTT: cannot reach the broker %s (%s); the simulator keeps serving and retries",
                            self.settings.url, self.last_error)

    async def _serve(self, client: Any) -> None:
        """Run the sender and the control reader until one of them ends (a lost connection, or closing)."""
        from paho.mqtt.subscribeoptions import SubscribeOptions

        for topic_filter in topics.control_filters(self.settings.prefix, self.node):
            await client.subscribe(topic_filter, options=SubscribeOptions(qos=1, noLocal=True))
        sender = asyncio.create_task(self._sender(client))
        reader = asyncio.create_task(self._reader(client))
        try:
            done, _ = await asyncio.wait({sender, reader}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sender, reader):
                task.cancel()
            await asyncio.gather(sender, reader, return_exceptions=True)
        for task in done:
            exc = task.exception()
            if exc is not None:
                raise exc

    async def _sender(self, client: Any) -> None:
        qos = self.settings.qos
        while True:
            if self._status_payload is None and self._metering_payload is None and not self.outbox:
                if self._closing:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            if self._status_payload is not None:
                payload, self._status_payload = self._status_payload, None
                await client.publish(self.topics[topics.STATUS], payload, qos=1, retain=True)
            if self._metering_payload is not None:
                payload, self._metering_payload = self._metering_payload, None
                await client.publish(self.topics[topics.METERING], payload, qos=0)
            if not self.outbox:
                continue
            items = [self.outbox.popleft() for _ in range(min(INFLIGHT, len(self.outbox)))]
            self._outbox_records -= sum(i.records for i in items)
            self._sending = items
            tasks = [asyncio.ensure_future(client.publish(i.topic, i.payload, qos=qos)) for i in items]
            try:
                await asyncio.wait(tasks)
            finally:
                failed: list[Outgoing] = []
                error: BaseException | None = None
                for item, task in zip(items, tasks):
                    if not task.done():
                        task.cancel()
                        failed.append(item)
                    elif task.cancelled() or task.exception() is not None:
                        error = error or (None if task.cancelled() else task.exception())
                        failed.append(item)
                    else:
                        self.published[item.kind] += item.records
                        self.batches_published += 1
                self._sending = []
                if failed:
                    self._requeue(failed)
            if error is not None:
                raise error

    async def _reader(self, client: Any) -> None:
        async for message in client.messages:
            try:
                await self._on_control(client, message)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("MQTT: cannot answer a control request on %s", message.topic)

    async def _on_control(self, client: Any, message: Any) -> None:
        name = str(message.topic)
        request = topics.parse_control(self.settings.prefix, name)
        if request is None or request.target not in (self.node, topics.ALL_NODES):
            return
        if message.retain:
            log.warning("MQTT: ignoring a retained control request on %s (it would replay on every connect)", name)
            return
        props = message.properties
        response_topic = getattr(props, "ResponseTopic", None) if props is not None else None
        correlation = getattr(props, "CorrelationData", None) if props is not None else None
        users = dict(getattr(props, "UserProperty", None) or []) if props is not None else {}
        who = users.get("actor") or users.get("client_id") or users.get("client-id") or response_topic or "anonymous"
        self.control_requests += 1
        reply = control.handle(self.smsc, request, message.payload or b"", f"mqtt:{who}", self.status_section)
        log.info("MQTT: control %s by %s: %s", name, who, "ok" if reply["ok"] else reply["error"])
        properties = None
        if correlation is not None:
            from paho.mqtt.packettypes import PacketTypes
            from paho.mqtt.properties import Properties

            properties = Properties(PacketTypes.PUBLISH)
            properties.CorrelationData = correlation
        await client.publish(response_topic or self.reply_topic, schema.reply_payload(self.node, name, **reply),
                             qos=1, properties=properties)


def _encode(build: Callable[..., bytes], *args: Any) -> bytes:
    """Encode a batch; rows that the fast encoder refuses (odd strings) go through the tolerant one."""
    try:
        return build(*args)
    except (TypeError, ValueError):
        return build(*args, encode=schema.dumps_any)

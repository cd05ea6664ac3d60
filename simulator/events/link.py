"""The broker link: one MQTT 5 connection kept up with backoff, a sender for the outbox and a reader
for control requests.

Owns: connecting (client id, last will), the connection's state and counters (connected, connects,
disconnections, since when, last error) and their log lines, the latest status and metering payloads
waiting to go out, publishing outbox batches (INFLIGHT at once, QoS from the settings). A broker
failure (MqttError, OSError) ends the connection, is logged as a warning and retried after a backoff.
Any other exception is a bug: it ends run(), and the supervisor that runs it logs it once with its
traceback and restarts it (a bug while answering one control request is reported the same way, and
the reader goes on). Not here: what goes into the outbox (outbox.py), what a control request does
(control/mqtt.py), the snapshots themselves (publisher.py).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from typing import Any

from . import topics
from .outbox import Outbox, Outgoing
from .settings import MqttSettings

log = logging.getLogger("carrier_sim.events")

INFLIGHT = 16  # batches published at once (each waits for its PUBACK with QoS 1): a busy loop answers slowly


class BrokerLink:
    """`run()` until closed; `post_status()`/`post_metering()`/`wake()` from the publisher."""

    def __init__(self, settings: MqttSettings, client_id: str, topics_by_kind: dict[str, str], outbox: Outbox,
                 control: Any, *, will: Callable[[], bytes], online: Callable[[], bytes],
                 waiting: Callable[[], tuple[int, int]], report: Callable[[str, BaseException], None],
                 clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.client_id = client_id
        self.topics = topics_by_kind
        self.outbox = outbox
        self.control = control  # control/mqtt.py MqttControl: filters() and on_message(client, message)
        self._will = will  # the status payload for the last will
        self._online = online  # the status payload to publish on connecting
        self._waiting = waiting  # (records waiting, records unpublished), for the log lines
        self._report = report  # a bug in answering one request: logged once, degraded, the reader goes on
        self.clock = clock
        self.connected = False
        self.connects = 0
        self.disconnections = 0
        self.connected_since: float | None = None
        self.disconnected_since: float | None = None
        self.last_error: str | None = None
        self.closing = False
        self._status_payload: bytes | None = None
        self._metering_payload: bytes | None = None
        self._wake = asyncio.Event()

    # ------------------------------------------------------------------ from the publisher
    def post_status(self, payload: bytes) -> None:
        self._status_payload = payload

    def post_metering(self, payload: bytes) -> None:
        self._metering_payload = payload

    def wake(self) -> None:
        self._wake.set()

    def close(self) -> None:
        """Send what is posted, then end the connection and run()."""
        self.closing = True
        self._wake.set()

    # ------------------------------------------------------------------ the connection
    async def run(self) -> None:
        import aiomqtt

        settings = self.settings
        delay = settings.backoff_min
        while not self.closing:
            error: BaseException | None = None
            try:
                will = aiomqtt.Will(self.topics[topics.STATUS], self._will(), qos=1, retain=True)
                client = aiomqtt.Client(**settings.client_kwargs(), identifier=self.client_id,
                                        protocol=aiomqtt.ProtocolVersion.V5, will=will, timeout=10,
                                        max_inflight_messages=INFLIGHT + 8)
                client.pending_calls_threshold = 4 * INFLIGHT
                async with client:
                    self._on_connected()
                    delay = settings.backoff_min
                    await self._serve(client)
                if self.closing:
                    return
                error = aiomqtt.MqttError("the connection ended")
            except asyncio.CancelledError:
                self._on_disconnected(None, quiet=True)
                raise
            except (aiomqtt.MqttError, OSError) as exc:  # the broker, the network, TLS: try again later
                error = exc
            except Exception as exc:
                self._on_disconnected(exc, quiet=True)
                raise  # a bug, not the broker: the supervisor logs it with its traceback and restarts run()
            self._on_disconnected(error)
            if self.closing:
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
        self._status_payload = self._online()
        self._wake.set()
        if outage is None:
            log.info("MQTT: connected to %s", self.settings.url)
        else:
            waiting, unpublished = self._waiting()
            log.warning("MQTT: reconnected to %s after %.1f s; %d records waiting are being published, %d could "
                        "not be (buffer full; the ledger has them)", self.settings.url, outage, waiting, unpublished)

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

        for topic_filter in self.control.filters():
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
        outbox = self.outbox
        while True:
            if self._status_payload is None and self._metering_payload is None and not outbox:
                if self.closing:
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
            if not outbox:
                continue
            items = outbox.take(INFLIGHT)
            tasks = [asyncio.ensure_future(client.publish(i.topic, i.payload, qos=qos)) for i in items]
            try:
                await asyncio.wait(tasks)
            finally:
                published: list[Outgoing] = []
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
                        published.append(item)
                outbox.done(published, failed)
            if error is not None:
                raise error

    async def _reader(self, client: Any) -> None:
        import aiomqtt

        async for message in client.messages:
            try:
                await self.control.on_message(client, message)
            except asyncio.CancelledError:
                raise
            except aiomqtt.MqttError as exc:  # the reply could not be published: the sender sees the same
                log.warning("MQTT: cannot answer the control request on %s: %s", message.topic, exc)
            except Exception as exc:  # noqa: BLE001 - one bad request must not end the connection
                self._report("MQTT control request", exc)


__all__ = ["INFLIGHT", "BrokerLink"]

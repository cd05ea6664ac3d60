"""Subscribing to every node's outcomes and status, feeding a LiveMeter, until told to stop.

The meter's side of the broker: it reconnects with backoff and resumes its MQTT 5 session (the
broker keeps QoS 1 batches for it meanwhile). It never publishes and never touches a ledger.
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets

from . import topics
from .live_meter import LiveMeter
from .settings import MqttSettings

log = logging.getLogger("carrier_sim.events")
SESSION_EXPIRY_S = 300  # how long the broker keeps our session (and queues batches) while we are away


async def follow(settings: MqttSettings, meter: LiveMeter, stop: asyncio.Event,
                 ready: asyncio.Event | None = None) -> None:
    """Feed `meter` from the broker until `stop` is set. `ready` is set once subscribed."""
    import aiomqtt
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    client_id = settings.client_id or f"carrier-sim-meter-{secrets.token_hex(3)}"
    outcomes_suffix = "/" + topics.OUTCOMES
    status_suffix = "/" + topics.STATUS
    delay = settings.backoff_min
    first = True
    while not stop.is_set():
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = SESSION_EXPIRY_S
        client = aiomqtt.Client(**settings.client_kwargs(), identifier=client_id,
                                protocol=aiomqtt.ProtocolVersion.V5, clean_start=first, properties=properties)
        try:
            async with client:
                if first:
                    for kind in (topics.OUTCOMES, topics.STATUS):
                        await client.subscribe(topics.every_node(settings.prefix, kind), qos=1)
                first = False
                delay = settings.backoff_min
                log.info("meter: subscribed to %s", settings.url)
                if ready is not None:
                    ready.set()

                async def read(client: aiomqtt.Client) -> None:
                    async for message in client.messages:
                        name = str(message.topic)
                        payload = message.payload if isinstance(message.payload, bytes) else bytes(message.payload or b"")
                        if name.endswith(outcomes_suffix):
                            meter.add_outcomes(payload)
                        elif name.endswith(status_suffix):
                            meter.add_status(payload)

                reader = asyncio.create_task(read(client))
                stopper = asyncio.create_task(stop.wait())
                try:
                    await asyncio.wait({reader, stopper}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for task in (reader, stopper):
                        task.cancel()
                    await asyncio.gather(reader, stopper, return_exceptions=True)
                if reader.done() and not reader.cancelled() and reader.exception() is not None:
                    raise reader.exception()  # type: ignore[misc]
        except aiomqtt.MqttError as exc:
            if stop.is_set():
                return
            wait = delay * random.uniform(0.8, 1.2)
            log.warning("meter: broker %s: %s; reconnecting in %.1f s", settings.url, exc, wait)
            try:
                await asyncio.wait_for(stop.wait(), wait)
            except TimeoutError:
                pass
            delay = min(delay * 2, settings.backoff_max)

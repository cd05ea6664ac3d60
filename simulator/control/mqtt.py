"""The MQTT control shell: a request on `{prefix}/{node|all}/control/PATH` in, a control-reply out.

Owns: which core.OPERATIONS entry a topic and payload ask for (PATH is the operation's HTTP path;
for faults/NAME an empty payload or {"remove": true} asks for the removal, any other object for the
change), the `request_id` envelope, the actor `mqtt:<who>` (MQTT 5 user property `actor` or
`client_id`, else the response topic, else anonymous), and the reply (`ok` plus the body, or
`ok: false` with the error). Not here: what an operation does, checks or answers (control/core.py),
the broker connection (events/link.py). A request never raises into the connection loop.
"""

from __future__ import annotations

import logging
from typing import Any

from simulator.events import schema, topics
from simulator.events.topics import ControlTopic

from .core import OPERATIONS, Call, ControlCore, ControlError, Operation, parse_body

log = logging.getLogger("carrier_sim.events")

_BY_COMMAND: dict[tuple[str, bool], dict[str, Operation]] = {}
for _op in OPERATIONS:
    _head, _, _rest = _op.path.partition("/")
    _BY_COMMAND.setdefault((_head, bool(_rest)), {})[_op.method] = _op
_KNOWN = ", ".join(op.path.replace("{name}", "NAME") for op in OPERATIONS if op.method != "DELETE")


def operation(request: ControlTopic, body: dict[str, Any] | None) -> Operation:
    """The operation a topic and its payload ask for. Raises ControlError(400)."""
    ops = _BY_COMMAND.get((request.command, bool(request.argument)))
    if ops is None:
        raise ControlError(400, f"unknown control command {request.command!r} (known: {_KNOWN})")
    if "DELETE" in ops:
        if body is None or body == {"remove": True}:
            return ops["DELETE"]
        if "remove" in body:
            raise ControlError(400, '"remove" goes alone: {"remove": true}')
        return ops["PUT"]
    return next(iter(ops.values()))


def handle(core: ControlCore, request: ControlTopic, payload: bytes, actor: str) -> dict[str, Any]:
    """Carry out one request; returns {"ok": true, ...} or {"ok": false, "error": "..."[, "field": ...]}."""
    request_id = None
    try:
        body = parse_body(payload)
        if body is not None:
            request_id = body.pop("request_id", None)
        op = operation(request, body)
        _, answer = core.call(op, Call(actor, request.argument, body))
        reply = {"ok": True, **(answer if op.reply_key is None else {op.reply_key: answer})}
    except ControlError as exc:
        reply = {"ok": False, **exc.body()}
    if request_id is not None:
        reply["request_id"] = request_id
    return reply


class MqttControl:
    """Answers the control requests that reach one node's broker connection."""

    def __init__(self, core: ControlCore, prefix: str, node: str) -> None:
        self.core = core
        self.prefix = prefix
        self.node = node
        self.reply_topic = topics.reply_topic(prefix, node)
        self.requests = 0

    def filters(self) -> list[str]:
        return topics.control_filters(self.prefix, self.node)

    async def on_message(self, client: Any, message: Any) -> None:
        """Answer `message` if it is a control request for this node (publishing the reply on `client`)."""
        name = str(message.topic)
        request = topics.parse_control(self.prefix, name)
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
        self.requests += 1
        reply = handle(self.core, request, message.payload or b"", f"mqtt:{who}")
        log.info("MQTT: control %s by %s: %s", name, who, "ok" if reply["ok"] else reply["error"])
        properties = None
        if correlation is not None:
            from paho.mqtt.packettypes import PacketTypes
            from paho.mqtt.properties import Properties

            properties = Properties(PacketTypes.PUBLISH)
            properties.CorrelationData = correlation
        await client.publish(response_topic or self.reply_topic, schema.reply_payload(self.node, name, **reply),
                             qos=1, properties=properties)


__all__ = ["MqttControl", "handle", "operation"]

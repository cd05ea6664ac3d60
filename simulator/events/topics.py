"""Topic names: `{prefix}/{node}/outcomes|receipts|metering|status|audit` and the control tree
`{prefix}/{node|all}/control/...`. Pure string functions: no I/O, no MQTT client.
"""

from __future__ import annotations

from dataclasses import dataclass

from .settings import SettingsError, check_topic_part

OUTCOMES = "outcomes"
RECEIPTS = "receipts"
METERING = "metering"
STATUS = "status"
AUDIT = "audit"
CONTROL = "control"
REPLY = "reply"
ALL_NODES = "all"  # control requests for every node; no node may be called this


def check_node_id(node_id: str) -> str:
    check_topic_part(node_id, "node id")
    if node_id == ALL_NODES:
        raise SettingsError(f"node id {ALL_NODES!r} is reserved: control requests to it go to every node")
    return node_id


def topic(prefix: str, node: str, kind: str) -> str:
    return f"{prefix}/{node}/{kind}"


def every_node(prefix: str, kind: str) -> str:
    """The subscription filter for one kind of event from every node."""
    return f"{prefix}/+/{kind}"


def control_filters(prefix: str, node: str) -> list[str]:
    return [f"{prefix}/{node}/{CONTROL}/#", f"{prefix}/{ALL_NODES}/{CONTROL}/#"]


def reply_topic(prefix: str, node: str) -> str:
    return f"{prefix}/{node}/{CONTROL}/{REPLY}"


@dataclass(frozen=True)
class ControlTopic:
    """A parsed control topic: target node (or "all"), command ("faults", "mo", "status") and the rest."""

    target: str
    command: str
    argument: str  # the fault name for faults/NAME, "" otherwise



def parse_control(prefix: str, name: str) -> ControlTopic | None:
    """None for topics that are not control requests (replies included)."""
    head = prefix + "/"
    if not name.startswith(head):
        return None
    levels = name[len(head):].split("/")
    if len(levels) < 3 or levels[1] != CONTROL or levels[2] == REPLY:
        return None
    return ControlTopic(levels[0], levels[2], "/".join(levels[3:]))

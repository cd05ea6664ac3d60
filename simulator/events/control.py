"""Control requests that arrive over MQTT: the HTTP control API's operations, as topic + JSON payload.

`faults/NAME` (JSON changes; an empty payload or {"remove": true} removes the fault), `mo`,
`status`. It calls the Smsc's own API (which validates and audits every change) and returns the
reply; it never touches the broker and never lets a bad request raise into the connection loop.
Payloads are parsed and MO requests checked exactly as the HTTP control API does (same functions).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from simulator.carrier.control import check_fault_changes, loads_strict
from simulator.carrier.mo import MoError, mo_request
from simulator.faults.pipeline import FaultChangeError

from .topics import ControlTopic



class ControlError(ValueError):
    """A request that cannot be carried out; its message goes back in the reply."""


def parse_payload(payload: bytes) -> dict[str, Any] | None:
    """The request's JSON object; None for an empty payload."""
    if not payload or not payload.strip():
        return None
    try:
        body = loads_strict(payload)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ControlError(f"payload is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise ControlError("payload must be a JSON object")
    return body


def handle(smsc: Any, request: ControlTopic, payload: bytes, actor: str,
           extra_status: Callable[[], dict[str, Any]] | None = None) -> dict[str, Any]:
    """Carry out one request; returns {"ok": true, ...} or {"ok": false, "error": "..."}."""
    request_id = None
    try:
        body = parse_payload(payload)
        if body is not None:
            request_id = body.pop("request_id", None)
        result = _dispatch(smsc, request, body, actor, extra_status)
        reply = {"ok": True, **result}
    except ControlError as exc:
        reply = {"ok": False, "error": str(exc)}
    except FaultChangeError as exc:
        reply = {"ok": False, "error": str(exc)}
    except MoError as exc:
        reply = {"ok": False, "error": str(exc), "field": exc.field}
    except Exception as exc:  # noqa: BLE001 - a control request must never take the connection down
        supervisor = getattr(smsc, "supervisor", None)
        if supervisor is not None:  # a bug: logged once with its traceback, and the carrier is degraded
            supervisor.report(f"MQTT control {request.command}", exc)
        reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    if request_id is not None:
        reply["request_id"] = request_id
    return reply


def _dispatch(smsc: Any, request: ControlTopic, body: dict[str, Any] | None, actor: str,
              extra_status: Callable[[], dict[str, Any]] | None) -> dict[str, Any]:
    command = request.command
    if command == "status":
        status = smsc.status()
        status["faults"] = smsc.faults()
        if extra_status is not None:
            status.update(extra_status())
        return {"status": status}
    if command == "faults":
        name = request.argument
        if not name:
            return {"faults": smsc.faults()}
        if "/" in name:
            raise ControlError(f"bad fault name {name!r}")
        if body is None or body == {"remove": True}:
            smsc.remove_fault(name, actor)
            return {"removed": name}
        if "remove" in body:
            raise ControlError('"remove" goes alone: {"remove": true}')
        check_fault_changes(body)
        return {"fault": smsc.change_fault(name, body, actor)}
    if command == "mo":
        if body is None:
            raise ControlError("mo needs a JSON object: account, source, destination, text")
        mo = mo_request(body)  # raises MoError naming the field
        try:
            parts = smsc.inject_mo(mo.account, mo.source, mo.destination, mo.text, mo.data_coding, actor=actor)
        except KeyError:
            raise ControlError(f"no account {mo.account!r}") from None
        return {"queued_parts": parts}
    raise ControlError(f"unknown control command {command!r} (known: faults/NAME, mo, status)")

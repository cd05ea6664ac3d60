"""The control core: every operation on a running carrier, checked and answered once for every transport.

Owns: OPERATIONS (each operation once: its HTTP method and path, which is also its MQTT topic),
strict JSON request bodies (no NaN, Infinity or float overflow), the checks a fault change must pass
before the pipeline sees it, the answer to every request as (HTTP-like code, JSON body) or one
ControlError with its code, and the report of a bug to the carrier's supervisor (logged once,
/health degraded). Not here: sockets, headers and topics (control/http.py, control/mqtt.py), the MO
value rules (carrier/mo.py), fault parameters (faults/pipeline.py), the audit record itself (the
Smsc writes it, with the actor the transport names).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from simulator.carrier.mo import MoError, mo_request
from simulator.carrier.limits import TooManyFaults
from simulator.faults.pipeline import FaultChangeError

if TYPE_CHECKING:
    from simulator.carrier.supervisor import Supervisor

Reply = tuple[int, Any]  # (HTTP-like status code, JSON-able body)
StatusSection = Callable[[], dict[str, Any]]  # a section added to the status, e.g. {"mqtt": {...}}


class ControlError(Exception):
    """A request that is not carried out. `code` as HTTP says it: 400 a bad request, 404 nothing of
    that name, 409 a limit reached (carrier.max_faults), 500 a bug (already reported). `field` names the bad value of an MO request."""

    def __init__(self, code: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field

    def body(self) -> dict[str, Any]:
        return {"error": self.message} if self.field is None else {"error": self.message, "field": self.field}


class ControlledCarrier(Protocol):
    """What the core asks of the carrier (the Smsc): its Python control API."""

    supervisor: Supervisor
    audit_log: Iterable[dict[str, Any]]

    def status(self) -> dict[str, Any]: ...
    def health(self) -> dict[str, Any]: ...
    def faults(self) -> list[dict[str, Any]]: ...
    def change_fault(self, name: str, changes: dict[str, Any], actor: str = ...) -> dict[str, Any]: ...
    def remove_fault(self, name: str, actor: str = ...) -> None: ...
    def scenario_dump(self) -> dict[str, Any]: ...
    def inject_mo(self, system_id: str, source: str, destination: str, text: str,
                  data_coding: int | None = ..., actor: str = ...) -> int: ...


# ------------------------------------------------------------------------------------ request bodies
def _non_finite(constant: str) -> Any:
    raise ValueError(f"{constant} is not a number JSON allows (only finite numbers are)")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is too large for a number here (only finite numbers are allowed)")
    return value


def loads_strict(text: str | bytes) -> Any:
    """json.loads without NaN, Infinity, -Infinity or a float that overflows to infinity (1e400):
    Python's json takes them, and no value the carrier uses may be one. Raises ValueError."""
    return json.loads(text, parse_constant=_non_finite, parse_float=_finite_float)


def parse_body(raw: bytes) -> dict[str, Any] | None:
    """A request's JSON object (HTTP body, MQTT payload); None when it is empty. Raises ControlError(400)."""
    if not raw or not raw.strip():
        return None
    try:
        body = loads_strict(raw)
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError is a ValueError
        raise ControlError(400, f"the request is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise ControlError(400, "the request must be a JSON object")
    return body


def check_fault_changes(changes: dict[str, Any] | None) -> dict[str, Any]:
    """What the fault pipeline takes for granted of a change: something to change, and `enabled` a
    boolean. Raises ControlError(400)."""
    if not changes:
        raise ControlError(400, "give the changes, e.g. {\"enabled\": false}, or a new fault with its kind")
    if "enabled" in changes and not isinstance(changes["enabled"], bool):
        raise ControlError(400, f"enabled: must be true or false, not {changes['enabled']!r}")
    return changes


MAX_ACTOR = 128  # characters: who asked, as the audit trail keeps it


def check_actor(actor: str) -> str:
    """The actor a transport names (X-Actor header, MQTT user property) goes into the audit trail of
    every change: at most MAX_ACTOR printable characters, refused before anything runs."""
    if len(actor) > MAX_ACTOR or not actor.isprintable():
        raise ControlError(400, f"actor: at most {MAX_ACTOR} printable characters", field="actor")
    return actor


def check_fault_name(name: str) -> str:
    if not name or "/" in name:
        raise ControlError(400, f"bad fault name {name!r}")
    return name


# ------------------------------------------------------------------------------------ the operations
@dataclass(frozen=True, slots=True)
class Call:
    """One request, whatever carried it: who asks (for the audit), the {name} in the path, the body."""

    actor: str
    name: str = ""
    body: dict[str, Any] | None = None


class ControlCore:
    """The operations on one carrier. Each returns (code, body) or raises ControlError."""

    def __init__(self, smsc: ControlledCarrier, extra_status: Iterable[StatusSection] = ()) -> None:
        self.smsc = smsc
        self.extra_status = list(extra_status)  # e.g. the MQTT publisher's status_section

    def call(self, op: Operation, call: Call) -> Reply:
        """Carry out `op`. A bug (any other exception) is reported to the carrier's supervisor, once
        with its traceback, and answered ControlError(500): a request never takes its transport down."""
        check_actor(call.actor)
        try:
            return op.run(self, call)
        except ControlError:
            raise
        except Exception as exc:  # noqa: BLE001 - exactly one answer per request
            self.smsc.supervisor.report(f"control {op.label}", exc)
            raise ControlError(500, f"{type(exc).__name__}: {exc}") from exc

    def status(self, call: Call) -> Reply:
        status = self.smsc.status()
        status["faults"] = self.smsc.faults()
        for section in self.extra_status:
            status.update(section())
        return 200, status

    def health(self, call: Call) -> Reply:
        """200 {"status": "ok"}, or 503 {"status": "degraded", "reasons": [...]}: for a load balancer
        or a CI step to see that the carrier survived something it should not have met."""
        health = self.smsc.health()
        return (200 if health["status"] == "ok" else 503), health

    def scenario(self, call: Call) -> Reply:
        return 200, {"scenario": self.smsc.scenario_dump(), "faults": self.smsc.faults()}

    def faults(self, call: Call) -> Reply:
        return 200, self.smsc.faults()

    def change_fault(self, call: Call) -> Reply:
        name = check_fault_name(call.name)
        changes = check_fault_changes(call.body)
        try:
            return 200, self.smsc.change_fault(name, changes, call.actor)
        except FaultChangeError as exc:
            raise ControlError(400, str(exc)) from None
        except TooManyFaults as exc:
            raise ControlError(409, str(exc)) from None

    def remove_fault(self, call: Call) -> Reply:
        name = check_fault_name(call.name)
        try:
            self.smsc.remove_fault(name, call.actor)
        except FaultChangeError as exc:
            raise ControlError(404, str(exc)) from None
        return 200, {"removed": name}

    def inject_mo(self, call: Call) -> Reply:
        if call.body is None:
            raise ControlError(400, "mo needs a JSON object: account, source, destination, text")
        try:
            mo = mo_request(call.body)
            parts = self.smsc.inject_mo(mo.account, mo.source, mo.destination, mo.text, mo.data_coding,
                                        actor=call.actor)
        except MoError as exc:
            raise ControlError(400, str(exc), field=exc.field) from None
        except KeyError:
            raise ControlError(404, f"no account {mo.account!r}") from None
        return 202, {"queued_parts": parts}

    def audit(self, call: Call) -> Reply:
        return 200, list(self.smsc.audit_log)


@dataclass(frozen=True, slots=True)
class Operation:
    """One operation: HTTP `method /path`, MQTT topic `.../control/path` (with {name} as the fault
    name). `reply_key` names the field of the MQTT reply that carries the body (None: the body's
    own fields go into the reply)."""

    method: str
    path: str
    run: Callable[[ControlCore, Call], Reply]
    reply_key: str | None

    @property
    def label(self) -> str:
        return f"{self.method} /{self.path}"

    @property
    def takes_body(self) -> bool:
        return self.method in ("PUT", "POST")


OPERATIONS: tuple[Operation, ...] = (
    Operation("GET", "status", ControlCore.status, "status"),
    Operation("GET", "health", ControlCore.health, "health"),
    Operation("GET", "scenario", ControlCore.scenario, None),
    Operation("GET", "faults", ControlCore.faults, "faults"),
    Operation("PUT", "faults/{name}", ControlCore.change_fault, "fault"),
    Operation("DELETE", "faults/{name}", ControlCore.remove_fault, None),
    Operation("POST", "mo", ControlCore.inject_mo, None),
    Operation("GET", "audit", ControlCore.audit, "audit"),
)


__all__ = ["OPERATIONS", "Call", "ControlCore", "ControlError", "ControlledCarrier", "Operation", "Reply",
           "check_fault_changes", "loads_strict", "parse_body"]

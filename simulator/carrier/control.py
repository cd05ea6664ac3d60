"""The HTTP control API of a running simulator: look at it, change its faults, inject MO.

A thin aiohttp layer over Smsc's Python API (change_fault, remove_fault, inject_mo, status, health);
every change is audited by the Smsc with the actor (X-Actor header, else the peer address).
It must never block the loop or bypass the Smsc's own validation. Bodies are strict JSON objects:
NaN, Infinity and numbers too large for a float are refused (400) before anything sees them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from simulator.faults.pipeline import FaultChangeError

from .mo import MoError, mo_request

if TYPE_CHECKING:
    from .smsc import Smsc

SMSC_KEY = web.AppKey("smsc", object)
EXTRA_STATUS_KEY = web.AppKey("extra_status", list)  # callables returning sections added to /status (e.g. "mqtt")


def _actor(request: web.Request) -> str:
    return request.headers.get("X-Actor") or f"http:{request.remote or '?'}"


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


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


def check_fault_changes(changes: dict[str, Any]) -> None:
    """What the fault pipeline takes for granted of a change (HTTP PUT and MQTT faults/NAME):
    something to change, and `enabled` a boolean. Raises FaultChangeError (400)."""
    if not changes:
        raise FaultChangeError("give the changes, e.g. {\"enabled\": false}, or a new fault with its kind")
    if "enabled" in changes and not isinstance(changes["enabled"], bool):
        raise FaultChangeError(f"enabled: must be true or false, not {changes['enabled']!r}")


async def _json_body(request: web.Request) -> dict[str, Any]:
    try:
        body = loads_strict(await request.read())
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError is a ValueError
        raise web.HTTPBadRequest(text=json.dumps({"error": f"body is not JSON: {exc}"}),
                                 content_type="application/json") from exc
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text=json.dumps({"error": "body must be a JSON object"}),
                                 content_type="application/json")
    return body


def _smsc(request: web.Request) -> "Smsc":
    return request.app[SMSC_KEY]  # type: ignore[return-value]


async def get_status(request: web.Request) -> web.Response:
    status = _smsc(request).status()
    for section in request.app[EXTRA_STATUS_KEY]:
        status.update(section())
    return web.json_response(status)


async def get_health(request: web.Request) -> web.Response:
    """200 {"status": "ok"}, or 503 {"status": "degraded", "reasons": [...]}: for a load balancer
    or a CI step to see that the carrier survived something it should not have met."""
    health = _smsc(request).health()
    return web.json_response(health, status=200 if health["status"] == "ok" else 503)


async def get_scenario(request: web.Request) -> web.Response:
    smsc = _smsc(request)
    return web.json_response({"scenario": smsc.scenario_dump(), "faults": smsc.faults()})


async def get_faults(request: web.Request) -> web.Response:
    return web.json_response(_smsc(request).faults())


async def put_fault(request: web.Request) -> web.Response:
    body = await _json_body(request)
    try:
        check_fault_changes(body)
        return web.json_response(_smsc(request).change_fault(request.match_info["name"], body, _actor(request)))
    except FaultChangeError as exc:
        return _error(400, str(exc))


async def delete_fault(request: web.Request) -> web.Response:
    try:
        _smsc(request).remove_fault(request.match_info["name"], _actor(request))
    except FaultChangeError as exc:
        return _error(404, str(exc))
    return web.json_response({"removed": request.match_info["name"]})


async def post_mo(request: web.Request) -> web.Response:
    body = await _json_body(request)
    smsc = _smsc(request)
    try:
        mo = mo_request(body)
        parts = smsc.inject_mo(mo.account, mo.source, mo.destination, mo.text, mo.data_coding, actor=_actor(request))
    except MoError as exc:
        return web.json_response({"error": str(exc), "field": exc.field}, status=400)
    except KeyError:
        return _error(404, f"no account {body['account']!r}")
    return web.json_response({"queued_parts": parts}, status=202)


async def get_audit(request: web.Request) -> web.Response:
    return web.json_response(list(_smsc(request).audit_log))


@web.middleware
async def _one_answer(request: web.Request,
                      handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
    """A handler that raises gets a JSON 500 and a report to the carrier's supervisor (logged once
    with its traceback, /health degraded) instead of aiohttp's bare error page."""
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except Exception as exc:  # noqa: BLE001 - exactly one answer per request
        _smsc(request).supervisor.report(f"control API {request.method} {request.path}", exc)
        return _error(500, f"{type(exc).__name__}: {exc}")


def make_app(smsc: "Smsc", extra_status: list[Callable[[], dict[str, Any]]] | None = None) -> web.Application:
    app = web.Application(middlewares=[_one_answer])
    app[SMSC_KEY] = smsc
    app[EXTRA_STATUS_KEY] = list(extra_status or [])
    app.add_routes([
        web.get("/status", get_status),
        web.get("/health", get_health),
        web.get("/scenario", get_scenario),
        web.get("/faults", get_faults),
        web.put("/faults/{name}", put_fault),
        web.delete("/faults/{name}", delete_fault),
        web.post("/mo", post_mo),
        web.get("/audit", get_audit),
    ])
    return app


class ControlServer:
    """Runs the control API next to the SMSC, on the same event loop."""

    def __init__(self, smsc: "Smsc", extra_status: list[Callable[[], dict[str, Any]]] | None = None) -> None:
        self.smsc = smsc
        self.extra_status = extra_status or []  # e.g. the MQTT publisher's status_section
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None

    async def start(self, host: str, port: int) -> None:
        self._runner = web.AppRunner(make_app(self.smsc, self.extra_status), access_log=None)
        await self._runner.setup()
        self._site = web.TCPSite(self._runner, host, port)
        await self._site.start()

    @property
    def address(self) -> str:
        assert self._runner is not None
        host, port = self._runner.addresses[0][:2]
        return f"{host}:{port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

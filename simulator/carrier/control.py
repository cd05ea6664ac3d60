"""The HTTP control API of a running simulator: look at it, change its faults, inject MO.

A thin aiohttp layer over Smsc's Python API (change_fault, remove_fault, inject_mo, status);
every change is audited by the Smsc with the actor (X-Actor header, else the peer address).
It must never block the loop or bypass the Smsc's own validation.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from simulator.faults.pipeline import FaultChangeError
from simulator.smpp.coding import CodingError

if TYPE_CHECKING:
    from .smsc import Smsc

SMSC_KEY = web.AppKey("smsc", object)
EXTRA_STATUS_KEY = web.AppKey("extra_status", list)  # callables returning sections added to /status (e.g. "mqtt")


def _actor(request: web.Request) -> str:
    return request.headers.get("X-Actor") or f"http:{request.remote or '?'}"


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


async def _json_body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
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


async def get_scenario(request: web.Request) -> web.Response:
    smsc = _smsc(request)
    return web.json_response({"scenario": smsc.scenario_dump(), "faults": smsc.faults()})


async def get_faults(request: web.Request) -> web.Response:
    return web.json_response(_smsc(request).faults())


async def put_fault(request: web.Request) -> web.Response:
    body = await _json_body(request)
    try:
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
    missing = [k for k in ("account", "source", "destination", "text") if not isinstance(body.get(k), str)]
    if missing:
        return _error(400, f"needs string fields: {', '.join(missing)}")
    smsc = _smsc(request)
    try:
        parts = smsc.inject_mo(body["account"], body["source"], body["destination"], body["text"],
                               body.get("data_coding"), actor=_actor(request))
    except KeyError:
        return _error(404, f"no account {body['account']!r}")
    except CodingError as exc:
        return _error(400, str(exc))
    return web.json_response({"queued_parts": parts}, status=202)


async def get_audit(request: web.Request) -> web.Response:
    return web.json_response(list(_smsc(request).audit_log))


def make_app(smsc: "Smsc", extra_status: list[Callable[[], dict[str, Any]]] | None = None) -> web.Application:
    app = web.Application()
    app[SMSC_KEY] = smsc
    app[EXTRA_STATUS_KEY] = list(extra_status or [])
    app.add_routes([
        web.get("/status", get_status),
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

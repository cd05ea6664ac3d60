"""The HTTP control API (aiohttp): one route per core.OPERATIONS entry, and the server that runs it.

Owns: the routes, the actor of an HTTP request (X-Actor header, else http:PEER), JSON responses for
every answer, errors included (an unknown path or method too), and ControlServer's start/stop on the
SMSC's event loop. Not here: what an operation does, checks or answers (control/core.py). It must
never block the loop.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from aiohttp import web

from .core import (OPERATIONS, Call, ControlCore, ControlError, ControlledCarrier, Operation, StatusSection,
                   parse_body)

CORE_KEY = web.AppKey("control_core", ControlCore)


def _actor(request: web.Request) -> str:
    return request.headers.get("X-Actor") or f"http:{request.remote or '?'}"


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"error": message}, status=status, headers=headers)


def _route(op: Operation) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handle(request: web.Request) -> web.Response:
        core = request.app[CORE_KEY]
        try:
            body = parse_body(await request.read()) if op.takes_body else None
            status, answer = core.call(op, Call(_actor(request), request.match_info.get("name", ""), body))
        except ControlError as exc:
            return web.json_response(exc.body(), status=exc.code)
        return web.json_response(answer, status=status)

    handle.__name__ = f"{op.method.lower()}_{op.path.replace('/{name}', '_name')}"
    return handle


_KNOWN = ", ".join(op.label for op in OPERATIONS)


@web.middleware
async def _one_answer(request: web.Request,
                      handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
    """Every answer is JSON: aiohttp's own 404/405 too, and a JSON 500 and a report to the carrier's
    supervisor (logged once with its traceback, /health degraded) for a failure outside the core."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        allow = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
        what = f"{exc.reason}: {request.method} {request.path} (operations: {_KNOWN})"
        return _error(exc.status, what, allow)
    except Exception as exc:  # noqa: BLE001 - exactly one answer per request
        request.app[CORE_KEY].smsc.supervisor.report(f"control API {request.method} {request.path}", exc)
        return _error(500, f"{type(exc).__name__}: {exc}")


def make_app(smsc: ControlledCarrier, extra_status: list[StatusSection] | None = None) -> web.Application:
    app = web.Application(middlewares=[_one_answer])
    app[CORE_KEY] = ControlCore(smsc, extra_status or [])
    app.add_routes([web.route(op.method, f"/{op.path}", _route(op)) for op in OPERATIONS])
    return app


class ControlServer:
    """Runs the control API next to the SMSC, on the same event loop."""

    def __init__(self, smsc: ControlledCarrier, extra_status: list[StatusSection] | None = None) -> None:
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


__all__ = ["ControlServer", "make_app"]

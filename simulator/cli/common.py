"""What every `carrier-sim` command shares: exit codes, loading a scenario, the MQTT options, run ids.

Owns: the process side of a command (a bad input ends it with exit 2 and one line on stderr).
Not here: the commands themselves (serve.py, validate.py, ledgers.py, meter.py; `run` lives in
loadtests/command.py), anything they do (the simulator's packages).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import click

from simulator.scenario import Scenario, ScenarioError, load_scenario

EXIT_OK = 0
EXIT_DIFFERENCES = 1  # reconcile: the export and the ledger differ
EXIT_BAD_INPUT = 2  # click's own code for usage errors; also a bad scenario or configuration


def install_uvloop() -> None:
    """uvloop's event loop where it is installed (a core dependency except on Windows); without it,
    asyncio's own loop (slower) and, where uvloop was expected, one line saying how to get it back."""
    try:
        import uvloop
    except ImportError as exc:
        if sys.platform != "win32":
            click.echo(f"carrier-sim: {missing(exc)}: running on asyncio's own event loop (slower); "
                       "pip install uvloop", err=True)
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def missing(exc: ImportError) -> str:
    """'aiomqtt is not installed' from the ImportError of a missing module."""
    return f"{exc.name or 'a module'} is not installed" if isinstance(exc, ModuleNotFoundError) else str(exc)


def scenario_or_exit(path: Path | None) -> Scenario:
    """The scenario in `path` (the default scenario without one), or exit 2 with what is wrong."""
    if path is None:
        return Scenario()
    try:
        return load_scenario(path)
    except ScenarioError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_BAD_INPUT)


def mqtt_settings(url: str, ca_file: str | None, node_id: str | None = None):
    """MqttSettings from --mqtt and --mqtt-ca, or exit 2 with the reason (aiomqtt missing, bad URL)."""
    try:
        import aiomqtt  # noqa: F401  (and paho-mqtt; without orjson, schema.py falls back to json)
    except ImportError as exc:
        click.echo(f"carrier-sim: --mqtt needs the 'mqtt' extra ({missing(exc)}): pip install 'carrier-sim[mqtt]'",
                   err=True)
        sys.exit(EXIT_BAD_INPUT)
    from simulator.events.settings import SettingsError, parse_url
    from simulator.events.topics import check_node_id

    try:
        settings = parse_url(url, ca_file=ca_file)
        if node_id is not None:
            check_node_id(node_id)
        settings.ssl_context()
    except SettingsError as exc:
        click.echo(f"error: --mqtt: {exc}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    return settings


def new_run_id(scenario_name: str) -> str:
    """A run id that sorts by time and does not collide: scenario-YYYYmmddTHHMMSS-xxxx."""
    import secrets
    import time

    return f"{scenario_name}-{time.strftime('%Y%m%dT%H%M%S')}-{secrets.token_hex(2)}"


def emit(text: str, output: Path | None) -> None:
    """A command's result to stdout, or to `output` (and 'written: PATH' to stderr)."""
    if output is None:
        click.echo(text, nl=not text.endswith("\n"))
    else:
        output.write_text(text, encoding="utf-8")
        click.echo(f"written: {output}", err=True)

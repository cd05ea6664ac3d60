"""`carrier-sim serve`: the SMSC in the foreground, with its ledger, control API and MQTT events.

Owns: turning the options into a Smsc, a LedgerWriter, a ControlServer and an EventPublisher, starting
them in order, printing where they listen, and stopping them on SIGINT or SIGTERM. Not here: what
they do (simulator/carrier, ledger, events), the options every command shares (cli/common.py).
"""

from __future__ import annotations

import asyncio
import gc
import signal
import sys
from pathlib import Path

import click

from simulator.scenario import Scenario

from .common import EXIT_BAD_INPUT, install_uvloop, mqtt_settings, new_run_id, scenario_or_exit


@click.command()
@click.option("--config", "--scenario", "config", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Scenario (or configuration) YAML file. Default: one account, everything delivered.")
@click.option("--listen", help="host:port to listen on (overrides the file). Port 0 picks a free one.")
@click.option("--control", help="host:port of the HTTP control API (overrides the file), or 'off'.")
@click.option("--ready-file", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the listening host:port to this file once ready (for scripts and tests).")
@click.option("--ledger", "ledger_path", default="runs/{run_id}.sqlite", show_default=True,
              help="SQLite ledger file ({run_id} is replaced), or 'off'.")
@click.option("--durability", type=click.Choice(["commit", "fsync", "async"]), default="commit", show_default=True,
              help="commit: answer a submit once its record is committed (survives a killed process); "
                   "fsync: also survives power loss; async: answer at once (fastest, may lose the last records).")
@click.option("--run-id", help="Name of this run in the ledger (default: scenario and time).")
@click.option("--node-id", default="node-1", show_default=True, help="This simulator's name among several.")
@click.option("--mqtt", "mqtt_url", metavar="URL",
              help="Publish live events to this MQTT broker and take control requests from it: "
                   "mqtt://[user:pass@]host[:port][/prefix][?options], mqtts:// for TLS.")
@click.option("--mqtt-ca", type=click.Path(exists=True, dir_okay=False), help="CA file for mqtts:// brokers.")
def serve(config: Path | None, listen: str | None, control: str | None, ready_file: Path | None,
          ledger_path: str, durability: str, run_id: str | None, node_id: str, mqtt_url: str | None,
          mqtt_ca: str | None) -> None:
    """Run the SMSC in the foreground until SIGINT or SIGTERM."""
    scenario = scenario_or_exit(config)
    mqtt = mqtt_settings(mqtt_url, mqtt_ca, node_id) if mqtt_url else None
    updates: dict[str, object] = {}
    if listen:
        updates["listen"] = listen
    if control:
        updates["control"] = None if control == "off" else control
    if updates:
        try:
            carrier = type(scenario.carrier).model_validate({**scenario.carrier.model_dump(), **updates})
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--listen/--control") from exc
        scenario = scenario.model_copy(update={"carrier": carrier})
    run_id = run_id or new_run_id(scenario.name)
    ledger = None
    if ledger_path != "off":
        from simulator.ledger.writer import LedgerWriter

        ledger = LedgerWriter(ledger_path.replace("{run_id}", run_id), run_id=run_id, node_id=node_id,
                              scenario=scenario.name, seed=scenario.seed,
                              config=scenario.model_dump(mode="json"), durability=durability)  # type: ignore[arg-type]
    from simulator.carrier.limits import raise_open_files_limit

    open_files = raise_open_files_limit()  # logged once; the carrier's connection cap derives from it
    install_uvloop()
    asyncio.run(_serve(scenario, ready_file, ledger, node_id, mqtt, open_files))


async def _serve(scenario: Scenario, ready_file: Path | None, ledger, node_id: str, mqtt=None,
                 open_files: tuple[int, int] = (0, 0)) -> None:
    from simulator.control.http import ControlServer
    from simulator.carrier.messages import MessageIdAllocator
    from simulator.carrier.smsc import Smsc
    from simulator.ledger.writer import LedgerWriteError

    carrier = scenario.carrier
    # The carrier allocates a few short-lived objects per message and keeps millions of long-lived
    # ones (frozen out of the collector by the housekeeping): young collections every 700 objects
    # only add work (bench/RESULTS.md: ~5-10 % with the ledger on).
    gc.set_threshold(50_000, 50, 50)
    smsc = Smsc.from_scenario(scenario, ledger=ledger, message_ids=MessageIdAllocator(node_prefix(node_id)))
    try:
        await smsc.start()
    except OSError as exc:
        click.echo(f"error: cannot listen on {carrier.listen}: {exc.strerror or exc}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    except LedgerWriteError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    publisher = None
    if mqtt is not None:
        from simulator.events.publisher import EventPublisher

        publisher = EventPublisher(smsc, mqtt, node_id)
        await publisher.start()
    control = None
    if carrier.control:
        control = ControlServer(smsc, extra_status=[publisher.status_section] if publisher is not None else [])
        host, _, port = carrier.control.rpartition(":")
        try:
            await control.start(host.strip("[]"), int(port))
        except OSError as exc:
            click.echo(f"error: cannot listen for the control API on {carrier.control}: {exc.strerror or exc}",
                       err=True)
            await smsc.stop(grace=0)
            if publisher is not None:
                await publisher.stop(timeout=1)
            sys.exit(EXIT_BAD_INPUT)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    address = smsc.addresses[0]
    account = carrier.accounts[0]
    click.echo(f"carrier-sim: scenario '{scenario.name}' listening on {address}")
    click.echo(f"  bind with system_id={account.system_id!r} password={account.password!r} "
               f"(host {address.rpartition(':')[0]}, port {smsc.port}); "
               f"{len(carrier.accounts)} account(s) configured")
    before, after = open_files
    raised = f"soft limit raised {before} -> {after}" if after != before else f"soft limit {after}"
    click.echo(f"  limits: open files {raised}; max_connections {smsc.admission.cap}, "
               f"max_faults {carrier.max_faults} (README: Limits)")
    if control is not None:
        click.echo(f"  control API: http://{control.address}/status  (PUT /faults/NAME, POST /mo, GET /audit)")
    if ledger is not None:
        click.echo(f"  ledger: {ledger.path} (run {ledger.run_id}, durability {ledger.durability})")
    if publisher is not None:
        click.echo(f"  MQTT: node {node_id} publishes to {mqtt.url} ({mqtt.prefix}/{node_id}/...; "
                   f"control on {mqtt.prefix}/{node_id}/control/...)")
    click.echo("  stop with Ctrl-C (SIGINT) or SIGTERM", nl=True)
    sys.stdout.flush()
    if ready_file is not None:
        lines = [address] + ([control.address] if control is not None else [])
        ready_file.write_text("\n".join(lines) + "\n")
    await stop.wait()
    click.echo("carrier-sim: stopping (unbinding ESMEs)...")
    if control is not None:
        await control.stop()
    await smsc.stop()
    if publisher is not None:
        await publisher.stop()
        mqtt_status = publisher.status()
        click.echo(f"carrier-sim: MQTT published {mqtt_status['published']}, "
                   f"not published {mqtt_status['unpublished']['total']}")
    click.echo(f"carrier-sim: stopped. {smsc.stats.as_dict()}")


def node_prefix(node_id: str) -> str:
    """Message ids of node "node-3" start with "3"; of a node without a number, with nothing."""
    digits = "".join(c for c in node_id if c.isdigit())
    return "" if digits in ("", "1") else digits


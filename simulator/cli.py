"""The `carrier-sim` command: serve the simulator, check scenario files, and (later) run and report.

Argument parsing and process concerns only (signals, logging, exit codes); everything it does is
a call into the package.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from pathlib import Path

import click

from simulator.scenario import Scenario, ScenarioError, load_scenario

EXIT_OK = 0
EXIT_BAD_INPUT = 2  # click's own code for usage errors; also a bad scenario or configuration


def _install_uvloop() -> None:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", count=True, help="More logging (-v info, -vv debug).")
def main(verbose: int) -> None:
    """carrier-sim: a fake mobile carrier that speaks SMPP 3.4."""
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def _load(path: Path | None) -> Scenario:
    if path is None:
        return Scenario()
    try:
        return load_scenario(path)
    except ScenarioError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_BAD_INPUT)


@main.command()
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
def serve(config: Path | None, listen: str | None, control: str | None, ready_file: Path | None,
          ledger_path: str, durability: str, run_id: str | None, node_id: str) -> None:
    """Run the SMSC in the foreground until SIGINT or SIGTERM."""
    scenario = _load(config)
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
    _install_uvloop()
    asyncio.run(_serve(scenario, ready_file, ledger, node_id))


def new_run_id(scenario_name: str) -> str:
    """A run id that sorts by time and does not collide: scenario-YYYYmmddTHHMMSS-xxxx."""
    import secrets
    import time

    return f"{scenario_name}-{time.strftime('%Y%m%dT%H%M%S')}-{secrets.token_hex(2)}"


async def _serve(scenario: Scenario, ready_file: Path | None, ledger, node_id: str) -> None:
    from simulator.carrier.control import ControlServer
    from simulator.carrier.messages import MessageIdAllocator
    from simulator.carrier.smsc import Smsc
    from simulator.ledger.writer import LedgerError

    carrier = scenario.carrier
    smsc = Smsc.from_scenario(scenario, ledger=ledger, message_ids=MessageIdAllocator(node_prefix(node_id)))
    try:
        await smsc.start()
    except OSError as exc:
        click.echo(f"error: cannot listen on {carrier.listen}: {exc.strerror or exc}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    except LedgerError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    control = None
    if carrier.control:
        control = ControlServer(smsc)
        host, _, port = carrier.control.rpartition(":")
        try:
            await control.start(host.strip("[]"), int(port))
        except OSError as exc:
            click.echo(f"error: cannot listen for the control API on {carrier.control}: {exc.strerror or exc}",
                       err=True)
            await smsc.stop(grace=0)
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
    if control is not None:
        click.echo(f"  control API: http://{control.address}/status  (PUT /faults/NAME, POST /mo, GET /audit)")
    if ledger is not None:
        click.echo(f"  ledger: {ledger.path} (run {ledger.run_id}, durability {ledger.durability})")
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
    click.echo(f"carrier-sim: stopped. {smsc.stats.as_dict()}")


def node_prefix(node_id: str) -> str:
    """Message ids of node "node-3" start with "3"; of a node without a number, with nothing."""
    digits = "".join(c for c in node_id if c.isdigit())
    return "" if digits in ("", "1") else digits


@main.command()
@click.argument("scenario", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def validate(scenario: Path) -> None:
    """Check a scenario file; print what is wrong with file, field and line."""
    loaded = _load(scenario)
    click.echo(f"{scenario}: ok (scenario '{loaded.name}', seed {loaded.seed})")


if __name__ == "__main__":  # pragma: no cover
    main()

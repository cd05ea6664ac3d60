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
def serve(config: Path | None, listen: str | None, control: str | None, ready_file: Path | None) -> None:
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
    _install_uvloop()
    asyncio.run(_serve(scenario, ready_file))


async def _serve(scenario: Scenario, ready_file: Path | None) -> None:
    from simulator.carrier.control import ControlServer
    from simulator.carrier.smsc import Smsc

    carrier = scenario.carrier
    smsc = Smsc.from_scenario(scenario)
    try:
        await smsc.start()
    except OSError as exc:
        click.echo(f"error: cannot listen on {carrier.listen}: {exc.strerror or exc}", err=True)
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


@main.command()
@click.argument("scenario", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def validate(scenario: Path) -> None:
    """Check a scenario file; print what is wrong with file, field and line."""
    loaded = _load(scenario)
    click.echo(f"{scenario}: ok (scenario '{loaded.name}', seed {loaded.seed})")


if __name__ == "__main__":  # pragma: no cover
    main()

"""The `carrier-sim` command: serve the simulator, check scenario files, and (later) run and report.

Argument parsing and process concerns only (signals, logging, exit codes); everything it does is
a call into the package.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import sys
from pathlib import Path

import click

from simulator.scenario import Scenario, ScenarioError, load_scenario

EXIT_OK = 0
EXIT_BAD_INPUT = 2  # click's own code for usage errors; also a bad scenario or configuration


def _install_uvloop() -> None:
    """uvloop's event loop where it is installed (a core dependency except on Windows); without it,
    asyncio's own loop (slower) and, where uvloop was expected, one line saying how to get it back."""
    try:
        import uvloop
    except ImportError as exc:
        if sys.platform != "win32":
            click.echo(f"carrier-sim: {_missing(exc)}: running on asyncio's own event loop (slower); "
                       "pip install uvloop", err=True)
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def _missing(exc: ImportError) -> str:
    """'aiomqtt is not installed' from the ImportError of a missing module."""
    return f"{exc.name or 'a module'} is not installed" if isinstance(exc, ModuleNotFoundError) else str(exc)


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
@click.option("--mqtt", "mqtt_url", metavar="URL",
              help="Publish live events to this MQTT broker and take control requests from it: "
                   "mqtt://[user:pass@]host[:port][/prefix][?options], mqtts:// for TLS.")
@click.option("--mqtt-ca", type=click.Path(exists=True, dir_okay=False), help="CA file for mqtts:// brokers.")
def serve(config: Path | None, listen: str | None, control: str | None, ready_file: Path | None,
          ledger_path: str, durability: str, run_id: str | None, node_id: str, mqtt_url: str | None,
          mqtt_ca: str | None) -> None:
    """Run the SMSC in the foreground until SIGINT or SIGTERM."""
    scenario = _load(config)
    mqtt = _mqtt_settings(mqtt_url, mqtt_ca, node_id) if mqtt_url else None
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
    asyncio.run(_serve(scenario, ready_file, ledger, node_id, mqtt))


def _mqtt_settings(url: str, ca_file: str | None, node_id: str | None = None):
    """MqttSettings from --mqtt and --mqtt-ca, or exit 2 with the reason (aiomqtt missing, bad URL)."""
    try:
        import aiomqtt  # noqa: F401  (and paho-mqtt; without orjson, schema.py falls back to json)
    except ImportError as exc:
        click.echo(f"carrier-sim: --mqtt needs the 'mqtt' extra ({_missing(exc)}): pip install 'carrier-sim[mqtt]'",
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


async def _serve(scenario: Scenario, ready_file: Path | None, ledger, node_id: str, mqtt=None) -> None:
    from simulator.carrier.control import ControlServer
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


@main.command()
@click.argument("scenario", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def validate(scenario: Path) -> None:
    """Check a scenario file and the files it refers to; print what is wrong with file, line and
    field (exit 2). List files must be inside the scenario's folder, or in a folder named in
    $CARRIER_SIM_FILE_DIRS (os.pathsep-separated)."""
    loaded = _load(scenario)
    from simulator.faults.pipeline import FaultPipeline

    try:  # what serve builds from it: whatever the loader let through must also start
        FaultPipeline(loaded)
    except (ScenarioError, ValueError) as exc:
        click.echo(f"error: {scenario}: {exc}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    click.echo(f"{scenario}: ok (scenario '{loaded.name}', seed {loaded.seed})")


# ==================================================================================== metering
EXIT_DIFFERENCES = 1  # reconcile: the export and the ledger differ


def _parse_as_of(value: str | None) -> float | None:
    """Unix seconds, or an ISO 8601 time (with a zone; without one it is UTC)."""
    if value is None:
        return None
    from datetime import UTC, datetime

    try:
        return float(value)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter(f"not a time: {value!r} (Unix seconds or ISO 8601)", param_hint="--as-of") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _parse_vouchers(values: tuple[str, ...]) -> dict[tuple[str, str], str]:
    from decimal import Decimal, InvalidOperation

    paid: dict[tuple[str, str], str] = {}
    for value in values:
        where, _, amount = value.rpartition("=")
        account, _, cycle = where.rpartition(":")
        try:
            if not account or not cycle or Decimal(amount) < 0:
                raise InvalidOperation
        except InvalidOperation:
            raise click.BadParameter(f"{value!r}: write ACCOUNT:CYCLE=AMOUNT, like qa:2026-11=12.50",
                                     param_hint="--vouchers-paid") from None
        paid[(account, cycle)] = amount
    return paid


def _emit(text: str, output: Path | None) -> None:
    if output is None:
        click.echo(text, nl=not text.endswith("\n"))
    else:
        output.write_text(text, encoding="utf-8")
        click.echo(f"written: {output}", err=True)


@main.command("report")
@click.argument("ledgers", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--account", help="Only this account (ESME system_id).")
@click.option("--cycle", help="Only this service cycle, YYYY-MM (like 2026-11).")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "html"]), default="text", show_default=True,
              help="text for a terminal, json for machines (schema carrier-sim/report/1), html for people.")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="Write here, not to stdout.")
@click.option("--scenario", "scenario_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Take prices, tiers and target from this scenario (default: the scenario stored in the ledger).")
@click.option("--timezone", "tz", help="Service cycles in UTC (default) or an offset like +08:00 "
                                       "(default: the scenario's sla.timezone).")
@click.option("--as-of", help="Cut-off: messages without a final state by then are pending (Unix s or ISO 8601).")
@click.option("--vouchers-paid", multiple=True, metavar="ACCOUNT:CYCLE=AMOUNT",
              help="Vouchers already paid for a cycle (they lower the cap of its voucher). Repeatable.")
def report_command(ledgers: tuple[Path, ...], account: str | None, cycle: str | None, fmt: str,
                   output: Path | None, scenario_path: Path | None, tz: str | None, as_of: str | None,
                   vouchers_paid: tuple[str, ...]) -> None:
    """SLA report of one or more ledgers (merged): success rate per account and service cycle, what
    was left out and why, billing, compensation and claim windows."""
    from simulator.ledger.reader import LedgerReadError
    from simulator.metering.sources import report_from_ledgers

    try:
        report = report_from_ledgers(ledgers, scenario_path=scenario_path, account=account, cycle=cycle,
                                     timezone=tz, as_of=_parse_as_of(as_of),
                                     vouchers_paid=_parse_vouchers(vouchers_paid))
    except (LedgerReadError, ScenarioError, ValueError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    if fmt == "json":
        import json

        _emit(json.dumps(report, indent=2, ensure_ascii=False) + "\n", output)
    elif fmt == "html":
        from simulator.metering.html import render_html

        _emit(render_html(report), output)
    else:
        from simulator.metering.text import render_text

        color = output is None and sys.stdout.isatty()
        _emit(render_text(report, color=color), output)


_AGE = {"y": 365 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1}


def _age_seconds(text: str) -> float:
    """'3y', '90d', '12h', '30m', '45s' -> seconds."""
    value, unit = text[:-1], text[-1:]
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if unit not in _AGE or number < 0:
        raise click.BadParameter(f"{text!r}: give a number and a unit (y, d, h, m, s), e.g. 3y or 90d")
    return number * _AGE[unit]


@main.command("prune")
@click.argument("ledger", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--older-than", "older_than", default="3y", show_default=True,
              help="Remove records submitted longer ago than this (billing records: keep at least 3y).")
def prune_command(ledger: Path, older_than: str) -> None:
    """Remove a ledger's records past the retention age, and say how many of each."""
    from simulator.ledger.reader import LedgerReadError, prune

    age = _age_seconds(older_than)
    try:
        removed = prune(ledger, age)
    except LedgerReadError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    click.echo(f"{ledger}: removed records older than {older_than}: "
               + ", ".join(f"{n} {table}" for table, n in removed.items()))


@main.command("reconcile")
@click.argument("ledger", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("export", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--account", help="Only this account's records (and export rows, when it has an account column).")
@click.option("--run", "run_id", help="Only this run's records.")
@click.option("--timezone", "tz", help="Service cycles in UTC (default) or an offset like +08:00.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="Write here, not to stdout.")
def reconcile_command(ledger: Path, export: Path, account: str | None, run_id: str | None, tz: str | None,
                      fmt: str, output: Path | None) -> None:
    """Compare a per-message export (CSV with message_id and status columns) with the ledger: every
    difference and its effect on the success rate. Exit 0 when identical, 1 when they differ."""
    from simulator.ledger.reader import LedgerReadError
    from simulator.metering.reconcile import ExportError
    from simulator.metering.sources import reconcile_files

    try:
        result = reconcile_files(ledger, export, account=account, run_id=run_id, timezone=tz)
    except (LedgerReadError, ExportError, ValueError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    if fmt == "json":
        import json

        _emit(json.dumps(result, indent=2, ensure_ascii=False) + "\n", output)
    else:
        import io

        from rich.console import Console

        from simulator.metering.text import render_reconciliation

        buffer = io.StringIO()
        color = output is None and sys.stdout.isatty()
        render_reconciliation(result, Console(file=buffer, width=140, force_terminal=color,
                                              color_system="standard" if color else None, highlight=False))
        _emit(buffer.getvalue(), output)
    sys.exit(EXIT_OK if result["identical"] else EXIT_DIFFERENCES)


@main.command("run")
@click.argument("scenario", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--users", type=int, help="Simulated ESMEs (default: the scenario's load.users).")
@click.option("--duration", help="Time spent submitting, e.g. 30s (default: load.duration); a drain follows.")
@click.option("--report-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Where reports go (default: reports/RUN_ID).")
@click.option("--processes", type=int, default=1, show_default=True, help="Locust worker processes.")
@click.option("--target", help="Drive an external SMSC at host:port instead of starting the simulator.")
@click.option("--ui", is_flag=True, help="Show Locust's web UI on 127.0.0.1 while the load runs; the run still ends "
                                         "by itself after the duration and the drain.")
@click.option("--keep-ui", is_flag=True, help="Like --ui, and the web UI stays up after the run until Ctrl-C "
                                              "(the reports are written when the load ends).")
@click.option("--ui-port", type=click.IntRange(1, 65535), default=8089, show_default=True,
              help="Port of Locust's web UI.")
@click.option("--run-id", help="Name of the run (default: scenario and time).")
@click.option("--mqtt", "mqtt_url", metavar="URL",
              help="The simulator publishes live events to this broker while the run goes (see serve --mqtt).")
def run_command(scenario: Path, users: int | None, duration: str | None, report_dir: Path | None, processes: int,
                target: str | None, ui: bool, keep_ui: bool, ui_port: int, run_id: str | None,
                mqtt_url: str | None) -> None:
    """Run a load scenario end to end: simulator, Locust, drain, SLA report, gates.

    Ctrl-C or SIGTERM stops the load early and still writes every report, marked interrupted (exit
    130); a second one kills everything at once.

    Exit codes: 0 all gates passed; 1 a gate failed; 2 bad scenario or arguments;
    3 the simulator did not start; 4 the load generator failed (e.g. nothing could bind);
    130 interrupted.
    """
    from loadtests.run import execute, settings_from

    loaded = _load(scenario)
    if target is not None and ":" not in target:
        raise click.BadParameter("must be host:port", param_hint="--target")
    if mqtt_url is not None:
        if target is not None:
            raise click.BadParameter("--mqtt needs the simulator that run starts (not --target)", param_hint="--mqtt")
        _mqtt_settings(mqtt_url, None)
    try:
        settings = settings_from(scenario, loaded, users=users, duration=duration, report_dir=report_dir,
                                 processes=processes, target=target, ui=ui, keep_ui=keep_ui, ui_port=ui_port,
                                 run_id=run_id or new_run_id(loaded.name), mqtt=mqtt_url)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--duration") from exc
    sys.exit(execute(settings))


@main.command("meter")
@click.option("--mqtt", "mqtt_url", metavar="URL", required=True,
              help="The broker the nodes publish to: mqtt://[user:pass@]host[:port][/prefix], mqtts:// for TLS.")
@click.option("--mqtt-ca", type=click.Path(exists=True, dir_okay=False), help="CA file for mqtts:// brokers.")
@click.option("--duration", type=float, help="Stop after this many seconds (default: at Ctrl-C).")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path),
              help="Where the combined report goes at the end: .json, .html or .txt "
                   "(default: reports/meter-TIME.json).")
@click.option("--scenario", "scenario_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="SLA terms (prices, tiers, target) from this scenario (default: what the nodes announce).")
def meter_command(mqtt_url: str, mqtt_ca: str | None, duration: float | None, output: Path | None,
                  scenario_path: Path | None) -> None:
    """Combined live SLA figures of every node publishing to the broker, refreshed each second; at the
    end, the combined report (the same report as `carrier-sim report` on the nodes' merged ledgers)."""
    import time

    settings = _mqtt_settings(mqtt_url, mqtt_ca)
    if scenario_path is not None:
        _load(scenario_path)
    if output is None:
        output = Path("reports") / f"meter-{time.strftime('%Y%m%dT%H%M%S')}.json"
    if duration is not None and duration <= 0:
        raise click.BadParameter("must be > 0", param_hint="--duration")
    _install_uvloop()
    report = asyncio.run(_meter(settings, duration, scenario_path))
    output.parent.mkdir(parents=True, exist_ok=True)
    if output.suffix == ".html":
        from simulator.metering.html import render_html

        output.write_text(render_html(report), encoding="utf-8")
    elif output.suffix == ".txt":
        from simulator.metering.text import render_text

        output.write_text(render_text(report), encoding="utf-8")
    else:
        import json

        output.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    click.echo(f"combined report written: {output}")


async def _meter(settings, duration: float | None, scenario_path: Path | None) -> dict:
    import time

    from rich.console import Console
    from rich.live import Live

    from simulator.events.follow import follow
    from simulator.events.meter import LiveMeter, combined_report
    from simulator.events.view import live_view
    from simulator.metering.text import render

    meter = LiveMeter()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    follower = asyncio.create_task(follow(settings, meter, stop))
    started = time.monotonic()
    console = Console()
    with Live(console=console, refresh_per_second=1, auto_refresh=False) as live:
        while not stop.is_set():
            elapsed = time.monotonic() - started
            live.update(live_view(meter.summary(), settings.url, elapsed, duration), refresh=True)
            if duration is not None and elapsed >= duration:
                break
            try:
                await asyncio.wait_for(stop.wait(), 1.0 if duration is None else min(1.0, duration - elapsed))
            except TimeoutError:
                pass
        live.update(live_view(meter.summary(), settings.url, time.monotonic() - started, duration), refresh=True)
    stop.set()
    await follower
    report = combined_report(meter, scenario_path=str(scenario_path) if scenario_path else None, broker=settings.url)
    render(report, console)
    return report


if __name__ == "__main__":  # pragma: no cover
    main()

"""`carrier-sim run`: a load scenario end to end, as a click command of the `carrier-sim` group.

Owns: the command's options and their checks. Not here: the run itself (loadtests/run.py), the rest
of the `carrier-sim` group (simulator/cli, which names this module and imports it only when `run`
is asked for: the harness sits above the simulator, never below it). Importing this module must
stay cheap: `carrier-sim --help` imports it for its one line of help.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from simulator.cli.common import mqtt_settings, new_run_id, scenario_or_exit


@click.command("run")
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
    from .run import execute, settings_from  # the whole harness, only when it runs

    loaded = scenario_or_exit(scenario)
    if target is not None and ":" not in target:
        raise click.BadParameter("must be host:port", param_hint="--target")
    if mqtt_url is not None:
        if target is not None:
            raise click.BadParameter("--mqtt needs the simulator that run starts (not --target)", param_hint="--mqtt")
        mqtt_settings(mqtt_url, None)
    try:
        settings = settings_from(scenario, loaded, users=users, duration=duration, report_dir=report_dir,
                                 processes=processes, target=target, ui=ui, keep_ui=keep_ui, ui_port=ui_port,
                                 run_id=run_id or new_run_id(loaded.name), mqtt=mqtt_url)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--duration") from exc
    sys.exit(execute(settings))



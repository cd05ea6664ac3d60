"""`carrier-sim meter`: combined live SLA figures of every node publishing to an MQTT broker.

Owns: the live terminal view, its refresh loop and the combined report written at the end. Not here:
following the broker and adding up the nodes' records (simulator/events/follow.py, events/live_meter.py),
rendering the report (simulator/metering).
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import click

from .common import install_uvloop, mqtt_settings, scenario_or_exit


@click.command("meter")
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

    settings = mqtt_settings(mqtt_url, mqtt_ca)
    if scenario_path is not None:
        scenario_or_exit(scenario_path)
    if output is None:
        output = Path("reports") / f"meter-{time.strftime('%Y%m%dT%H%M%S')}.json"
    if duration is not None and duration <= 0:
        raise click.BadParameter("must be > 0", param_hint="--duration")
    install_uvloop()
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
    from simulator.events.live_meter import LiveMeter, combined_report
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

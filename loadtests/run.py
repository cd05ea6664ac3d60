"""`carrier-sim run`: the main job. Start the simulator, drive it with Locust, drain, meter, gate.

Processes, not imports: the simulator and Locust each run in their own process (Locust
monkey-patches everything it touches). This module only orchestrates them, reads the ledger and
the tally, and turns the outcome into reports and an exit code a CI system understands.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

from simulator.scenario import Scenario

from .plan import seconds

LOCUSTFILE = Path(__file__).with_name("locustfile.py")

# Exit codes (documented in the README)
EXIT_OK = 0  # every gate passed
EXIT_GATES_FAILED = 1  # the run worked and at least one gate failed
EXIT_BAD_INPUT = 2  # bad scenario file or command line
EXIT_SIMULATOR_FAILED = 3  # the simulator did not start (or died)
EXIT_LOAD_FAILED = 4  # Locust failed to run


class RunError(Exception):
    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class RunSettings:
    scenario_path: Path
    scenario: Scenario
    report_dir: Path
    users: int
    spawn_rate: float
    duration: float  # seconds of submitting
    drain: float  # seconds of collecting receipts after the last submit
    processes: int = 1
    target: str | None = None  # an external SMSC host:port; no simulator is started
    ui: bool = False
    run_id: str = ""
    mqtt: str | None = None
    extra_locust_args: list[str] = field(default_factory=list)


@dataclass
class RunArtifacts:
    ledger: Path
    tally: Path
    locust_csv_prefix: Path
    locust_html: Path
    simulator_log: Path
    locust_log: Path


class Simulator:
    """The simulator as a child process: `carrier-sim serve` on free loopback ports."""

    def __init__(self, settings: RunSettings, artifacts: RunArtifacts) -> None:
        self.settings = settings
        self.artifacts = artifacts
        self.proc: subprocess.Popen[bytes] | None = None
        self.address = ""
        self.control = ""

    def start(self, timeout: float = 30) -> None:
        ready = self.settings.report_dir / "simulator.ready"
        ready.unlink(missing_ok=True)
        cmd = [
            sys.executable, "-m", "simulator.cli", "serve",
            "--scenario", str(self.settings.scenario_path),
            "--listen", "127.0.0.1:0", "--control", "127.0.0.1:0",
            "--ledger", str(self.artifacts.ledger), "--run-id", self.settings.run_id,
            "--ready-file", str(ready),
        ]  # fmt: skip
        if self.settings.mqtt:
            cmd += ["--mqtt", self.settings.mqtt]
        log = self.artifacts.simulator_log.open("wb")
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RunError(f"the simulator exited with {self.proc.returncode}:\n"
                               f"{self.artifacts.simulator_log.read_text(errors='replace')[-2000:]}",
                               EXIT_SIMULATOR_FAILED)
            if ready.exists():
                lines = ready.read_text().split()
                if len(lines) >= 2:
                    self.address, self.control = lines[0], lines[1]
                    return
            time.sleep(0.05)
        self.stop()
        raise RunError(f"the simulator did not become ready within {timeout:.0f}s", EXIT_SIMULATOR_FAILED)

    def status(self) -> dict[str, Any] | None:
        if not self.control:
            return None
        try:
            with urllib.request.urlopen(f"http://{self.control}/status", timeout=1) as resp:
                return json.loads(resp.read())
        except (OSError, ValueError):
            return None

    def stop(self, timeout: float = 20) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def locust_command(settings: RunSettings, artifacts: RunArtifacts, host: str) -> list[str]:
    total = settings.duration + settings.drain
    cmd = [
        sys.executable, "-m", "locust", "-f", str(LOCUSTFILE),
        "--host", host,
        "--csv", str(artifacts.locust_csv_prefix), "--html", str(artifacts.locust_html),
        "--stop-timeout", "5", "--loglevel", "WARNING",
    ]  # fmt: skip
    if not settings.ui:
        cmd += ["--headless", "--only-summary", "-u", str(settings.users), "-r", str(settings.spawn_rate),
                "-t", f"{total:.0f}s"]
    else:
        cmd += ["--web-host", "127.0.0.1", "-u", str(settings.users), "-r", str(settings.spawn_rate),
                "-t", f"{total:.0f}s", "--autostart"]
    if settings.processes > 1:
        cmd += ["--processes", str(settings.processes)]
    return cmd + settings.extra_locust_args


def run_load(settings: RunSettings, artifacts: RunArtifacts, host: str, sim: Simulator | None,
             console: Console) -> int:
    env = {
        **os.environ,
        "CARRIER_SIM_SCENARIO": str(settings.scenario_path),
        "CARRIER_SIM_TALLY": str(artifacts.tally),
        "CARRIER_SIM_SUBMIT_FOR": str(settings.duration),
        "PYTHONUNBUFFERED": "1",
    }
    with artifacts.locust_log.open("wb") as log:
        proc = subprocess.Popen(locust_command(settings, artifacts, host), stdout=log, stderr=subprocess.STDOUT,
                                env=env)
        total = settings.duration + settings.drain
        started = time.monotonic()
        limit = total + 60  # Locust stops itself at `total`; this only guards against a hang
        with Live(console=console, refresh_per_second=2, transient=True) as live:
            last: tuple[float, int] | None = None
            while proc.poll() is None:
                elapsed = time.monotonic() - started
                if elapsed > limit:
                    proc.kill()
                    break
                status = sim.status() if sim is not None else None
                live.update(_progress(elapsed, settings, status, last))
                if status is not None:
                    last = (elapsed, status["stats"]["submits"])
                time.sleep(0.5)
        return proc.wait()


def _progress(elapsed: float, settings: RunSettings, status: dict[str, Any] | None,
              last: tuple[float, int] | None) -> Table:
    table = Table.grid(padding=(0, 2))
    phase = "submitting" if elapsed < settings.duration else "draining"
    left = max(0.0, settings.duration + settings.drain - elapsed)
    row = [f"[bold]{phase}[/]", f"{elapsed:5.1f}s elapsed", f"{left:5.1f}s left"]
    if status is not None:
        stats = status["stats"]
        rate = ""
        if last is not None and elapsed > last[0]:
            rate = f"{(stats['submits'] - last[1]) / (elapsed - last[0]):8.0f} submits/s"
        row += [rate, f"accepted {stats['accepted']:,}", f"refused {stats['refused']:,}",
                f"receipts {stats['receipts']:,}"]
    table.add_row(*row)
    return table


def settings_from(scenario_path: Path, scenario: Scenario, *, users: int | None, duration: str | None,
                  report_dir: Path | None, processes: int, target: str | None, ui: bool, run_id: str,
                  mqtt: str | None = None) -> RunSettings:
    load = scenario.load
    report = report_dir or Path("reports") / run_id
    return RunSettings(
        scenario_path=scenario_path,
        scenario=scenario,
        report_dir=report,
        users=users or load.users,
        spawn_rate=load.spawn_rate,
        duration=seconds(duration) if duration else seconds(load.duration),
        drain=seconds(load.drain),
        processes=processes,
        target=target,
        ui=ui,
        run_id=run_id,
        mqtt=mqtt,
    )


def artifacts_for(settings: RunSettings) -> RunArtifacts:
    d = settings.report_dir
    d.mkdir(parents=True, exist_ok=True)
    return RunArtifacts(
        ledger=d / "ledger.sqlite",
        tally=d / "tally.json",
        locust_csv_prefix=d / "locust",
        locust_html=d / "locust.html",
        simulator_log=d / "simulator.log",
        locust_log=d / "locust.log",
    )


def execute(settings: RunSettings, console: Console | None = None) -> int:
    """Run the whole job; returns the exit code. Reports land in settings.report_dir."""
    from .gates import evaluate_run

    console = console or Console()
    artifacts = artifacts_for(settings)
    sim: Simulator | None = None
    try:
        if settings.target is None:
            sim = Simulator(settings, artifacts)
            sim.start()
            host = sim.address
        else:
            host = settings.target
        console.print(f"[bold]carrier-sim run[/] {settings.scenario.name}: {settings.users} users, "
                      f"{settings.duration:g}s + {settings.drain:g}s drain against {host}; reports in "
                      f"{settings.report_dir}")
        code = run_load(settings, artifacts, host, sim, console)
        if sim is not None:
            sim.stop()
        if code not in (0, 1) or not artifacts.tally.exists():
            log = artifacts.locust_log.read_text(errors="replace")[-3000:]
            raise RunError(f"Locust failed (exit {code}):\n{log}", EXIT_LOAD_FAILED)
        from .tally import Tally

        tally = Tally.load(artifacts.tally)
        if not any(n for status, n in tally.submits.items() if status != "LOST"):
            log = artifacts.locust_log.read_text(errors="replace")[-2000:]
            raise RunError(f"no submit was answered (binds failed: {dict(tally.bind_failures) or 'none'}); "
                           f"is the SMSC at {host} up?\n{log}", EXIT_LOAD_FAILED)
    except RunError as exc:
        if sim is not None:
            sim.stop()
        console.print(f"[red]error:[/] {exc}")
        return exc.code
    finally:
        if sim is not None:
            sim.stop()
    return evaluate_run(settings, artifacts, console)

"""`carrier-sim run`: the main job. Start the simulator, drive it with Locust, drain, meter, gate.

Processes, not imports: the simulator and Locust each run in their own process (Locust
monkey-patches everything it touches) and in their own session, so a terminal's Ctrl-C reaches only
this process, which decides what the children get: the first Ctrl-C or SIGTERM stops the load,
lets the simulator settle and stops it; a second kills both at once. This module orchestrates and
shows progress (a live line on a terminal, a plain line every few seconds in a CI log); every
ending goes through gates.evaluate_run, which writes the reports and decides the exit code.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Self

from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from simulator.metering.text import report_console
from simulator.scenario import Scenario

from .plan import seconds
from .tally import Tally

LOCUSTFILE = Path(__file__).with_name("locustfile.py")

# Exit codes (documented in the README)
EXIT_OK = 0  # every gate passed
EXIT_GATES_FAILED = 1  # the run worked and at least one gate failed
EXIT_BAD_INPUT = 2  # bad scenario file or command line
EXIT_SIMULATOR_FAILED = 3  # the simulator did not start (or died)
EXIT_LOAD_FAILED = 4  # Locust failed to run, or nothing could bind
EXIT_INTERRUPTED = 130  # Ctrl-C or SIGTERM: the load was stopped early; reports written, marked interrupted

DEFAULT_UI_PORT = 8089
POLL = 0.2  # seconds between looks at the children
PROGRESS_EVERY = 5.0  # seconds between plain progress lines when stdout is not a terminal
INTERRUPT_DRAIN = 2.0  # after an interrupt, at most this long for the simulator's last final states
LOCUST_QUIT_TIMEOUT = 10.0  # after SIGTERM Locust writes its tally and exits; killed after this
HANG_MARGIN = 60.0  # Locust stops itself at the end of the run; this only guards against a hang


class RunError(Exception):
    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


class Abort(BaseException):
    """A second Ctrl-C or SIGTERM: the children were killed; leave at once (not an Exception, so no
    `except Exception` on the way swallows it)."""


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
    ui: bool = False  # Locust's web UI while the load runs; the run still ends by itself
    keep_ui: bool = False  # ... and the web UI stays up after the run until Ctrl-C
    ui_port: int = DEFAULT_UI_PORT
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


# ---------------------------------------------------------------------- children and signals
def _prctl_pdeathsig() -> Callable[[], None] | None:
    """On Linux, a preexec_fn asking the kernel to SIGTERM the child when this process dies, so a
    child in its own session never outlives a run that was killed (kill -9, OOM)."""
    if sys.platform != "linux":
        return None
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    pr_set_pdeathsig = 1

    def preexec() -> None:
        prctl(pr_set_pdeathsig, int(signal.SIGTERM))

    return preexec


_DIE_WITH_PARENT = _prctl_pdeathsig()


def spawn(cmd: list[str], log: IO[bytes], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """A child in its own session (it leads its own process group; the terminal's Ctrl-C is not
    delivered to it), with no stdin (Locust would read keys from the terminal) and output to `log`."""
    return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
                            start_new_session=True, preexec_fn=_DIE_WITH_PARENT)  # noqa: PLW1509 (no threads yet)


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL to a child and everything in its session (Locust's workers, the ledger writer).
    Only while the child is not reaped: until then its id cannot name anything else."""
    if proc.returncode is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


class Signals:
    """Ctrl-C (SIGINT) and SIGTERM during a run. The first is noted; whatever is waiting sees
    `interrupted` and stops the run in order. The second kills every child at once and raises
    Abort; later ones are ignored while we leave."""

    def __init__(self) -> None:
        self.received: int | None = None  # the first signal's number
        self.children: list[subprocess.Popen[bytes]] = []
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> Self:
        if threading.current_thread() is threading.main_thread():  # only the main thread may
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    @property
    def interrupted(self) -> bool:
        return self.received is not None

    @property
    def name(self) -> str:
        return signal.Signals(self.received).name if self.received is not None else ""

    def _handle(self, signum: int, _frame: object) -> None:
        if self.received is None:
            self.received = signum
            return
        for signum_ in self._previous:
            signal.signal(signum_, signal.SIG_IGN)
        for proc in self.children:
            kill_group(proc)
        raise Abort()


# ---------------------------------------------------------------------- the simulator
class Simulator:
    """The simulator as a child process: `carrier-sim serve` on free loopback ports."""

    def __init__(self, settings: RunSettings, artifacts: RunArtifacts) -> None:
        self.settings = settings
        self.artifacts = artifacts
        self.proc: subprocess.Popen[bytes] | None = None
        self.address = ""
        self.control = ""

    @property
    def ready_file(self) -> Path:
        return self.settings.report_dir / "simulator.ready"

    def start(self, signals: Signals, timeout: float = 30) -> bool:
        """Start and wait until it listens; False if a signal came first. RunError when it fails."""
        ready = self.ready_file
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
        with self.artifacts.simulator_log.open("wb") as log:
            self.proc = spawn(cmd, log)
        signals.children.append(self.proc)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if signals.interrupted:
                return False
            if self.proc.poll() is not None:
                log = self.artifacts.simulator_log
                raise RunError(f"the simulator exited with {self.proc.returncode} before it was ready "
                               f"({last_line(log)}); details in {log}", EXIT_SIMULATOR_FAILED)
            if ready.exists():
                lines = ready.read_text().split()
                if len(lines) >= 2:
                    self.address, self.control = lines[0], lines[1]
                    return True
            time.sleep(0.05)
        self.stop()
        raise RunError(f"the simulator did not become ready within {timeout:.0f} s; details in "
                       f"{self.artifacts.simulator_log}", EXIT_SIMULATOR_FAILED)

    def status(self) -> dict[str, Any] | None:
        if not self.control:
            return None
        try:
            with urllib.request.urlopen(f"http://{self.control}/status", timeout=1) as resp:
                return json.loads(resp.read())
        except (OSError, ValueError):
            return None

    def settle(self, limit: float) -> None:
        """After the load stopped early: wait (at most `limit` s) until the simulator's counts stop
        moving, so the messages it accepted reach their final state in the ledger."""
        deadline = time.monotonic() + limit
        last: tuple[int, ...] | None = None
        still_since = time.monotonic()
        while time.monotonic() < deadline:
            status = self.status()
            if status is None:
                return
            stats = status["stats"]
            counts = (stats["submits"], stats["receipts"], stats["accepted"], stats["refused"])
            now = time.monotonic()
            if counts != last:
                last, still_since = counts, now
            elif now - still_since >= 0.5:
                return
            time.sleep(POLL)

    def stop(self, timeout: float = 20) -> None:
        """SIGTERM (it unbinds its ESMEs and closes the ledger), SIGKILL to its session if it hangs."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            kill_group(self.proc)
            self.proc.wait()


# ---------------------------------------------------------------------- the load (Locust)
def locust_command(settings: RunSettings, artifacts: RunArtifacts, host: str) -> list[str]:
    total = settings.duration + settings.drain
    cmd = [
        sys.executable, "-m", "locust", "-f", str(LOCUSTFILE),
        "--host", host,
        "--csv", str(artifacts.locust_csv_prefix), "--html", str(artifacts.locust_html),
        "--stop-timeout", "5", "--loglevel", "WARNING",
        "-u", str(settings.users), "-r", str(settings.spawn_rate), "-t", f"{total:.0f}s",
    ]  # fmt: skip
    if settings.ui or settings.keep_ui:
        # --autostart runs the load as --headless does; --autoquit 0 quits (writing the tally) when
        # it is over. Without --autoquit the web UI stays up: that is --keep-ui.
        cmd += ["--autostart", "--web-host", "127.0.0.1", "--web-port", str(settings.ui_port)]
        if not settings.keep_ui:
            cmd += ["--autoquit", "0"]
    else:
        cmd += ["--headless", "--only-summary"]
    if settings.processes > 1:
        cmd += ["--processes", str(settings.processes)]
    return cmd + settings.extra_locust_args


# How a watch of the load ended
EXITED = "exited"  # Locust exited by itself
INTERRUPTED = "interrupted"  # a signal came while the load ran
TALLY_WRITTEN = "tally written"  # --keep-ui: the load is over and its tally written; the web UI stays up
CLOSED = "closed"  # --keep-ui: a signal came after the load was over
HUNG = "hung"  # Locust outlived the run by HANG_MARGIN


class Load:
    """Locust as a child process, watched until it ends."""

    def __init__(self, settings: RunSettings, artifacts: RunArtifacts, host: str) -> None:
        self.settings = settings
        self.artifacts = artifacts
        self.host = host
        self.proc: subprocess.Popen[bytes] | None = None
        self.started = 0.0

    @property
    def ui_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.ui_port}/"

    def start(self, signals: Signals) -> None:
        env = {
            **os.environ,
            "CARRIER_SIM_SCENARIO": str(self.settings.scenario_path),
            "CARRIER_SIM_TALLY": str(self.artifacts.tally),
            "CARRIER_SIM_SUBMIT_FOR": str(self.settings.duration),
            "PYTHONUNBUFFERED": "1",
        }
        with self.artifacts.locust_log.open("wb") as log:
            self.proc = spawn(locust_command(self.settings, self.artifacts, self.host), log, env)
        signals.children.append(self.proc)
        self.started = time.monotonic()

    def stop(self, timeout: float = LOCUST_QUIT_TIMEOUT) -> int | None:
        """SIGTERM: Locust fires `quitting` (the tally is written) and exits; its session is killed
        if it has not exited after `timeout` s. Returns its exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                kill_group(self.proc)
                self.proc.wait()
        return self.proc.returncode

    def watch(self, sim: Simulator | None, console: Console, signals: Signals) -> str:
        """Show progress until the load ends; returns how it ended (EXITED, INTERRUPTED, ...)."""
        assert self.proc is not None
        settings = self.settings
        total = settings.duration + settings.drain
        over = False  # --keep-ui: Locust's web UI says the load has stopped
        with ProgressDisplay(console, settings, live=_is_terminal(console)) as progress:
            while True:
                elapsed = time.monotonic() - self.started
                if self.proc.poll() is not None:
                    return EXITED
                if signals.interrupted:
                    return CLOSED if over else INTERRUPTED
                if settings.keep_ui:
                    if _tally_ready(self.artifacts.tally):
                        return TALLY_WRITTEN
                    over = over or (elapsed >= total and self.ui_state() == "stopped")
                elif elapsed > total + HANG_MARGIN:
                    return HUNG
                if not over:
                    progress.update(elapsed, sim.status() if sim is not None else None)
                elif not progress.finished:
                    progress.finish(f"the load is over; Locust's web UI stays up at {self.ui_url} until "
                                    f"Ctrl-C; the reports are written then")
                time.sleep(POLL)

    def ui_state(self) -> str | None:
        """The runner's state from Locust's web UI (ready, spawning, running, stopped, ...)."""
        try:
            with urllib.request.urlopen(f"{self.ui_url}stats/requests", timeout=1) as resp:
                return json.loads(resp.read()).get("state")
        except (OSError, ValueError):
            return None


def _tally_ready(path: Path) -> bool:
    try:
        json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    return True


def _is_terminal(console: Console) -> bool:
    isatty = getattr(console.file, "isatty", None)
    return bool(isatty and isatty())


class ProgressDisplay:
    """Progress while the load runs: a live line on a terminal; elsewhere (a CI log) a plain line
    every PROGRESS_EVERY seconds and when the phase changes: time into the load, phase (starting,
    submitting, draining), submits/s, submits, receipts, refused, from the simulator's /status. The
    load's clock starts at the simulator's first bind; an external SMSC gives only time and phase."""

    def __init__(self, console: Console, settings: RunSettings, *, live: bool) -> None:
        self.console = console
        self.settings = settings
        self.live: Live | None = Live(console=console, refresh_per_second=2, transient=True) if live else None
        self.load_started: float | None = None  # elapsed (since Locust started) at the first bind
        self.samples: list[tuple[float, int]] = []  # (time into the load, simulator's submits)
        self.next_line = 0.0
        self.last_phase = ""
        self.finished = False

    def __enter__(self) -> Self:
        if self.live is not None:
            self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            self.live.__exit__(None, None, None)

    def update(self, elapsed: float, status: dict[str, Any] | None) -> None:
        """Called every POLL seconds with the time since Locust started and the simulator's status."""
        stats = status["stats"] if status is not None else None
        if self.load_started is None and (stats is None and elapsed > 0 or stats is not None and stats["binds"]):
            self.load_started = elapsed  # without a simulator, from Locust's start
        t = 0.0 if self.load_started is None else elapsed - self.load_started
        phase = ("starting" if self.load_started is None else
                 "submitting" if t < self.settings.duration else "draining")
        rate = self._rate(t, stats["submits"], 2.0 if self.live else PROGRESS_EVERY) if stats else None
        if self.live is not None:
            self.live.update(self._table(t, phase, stats, rate))
        elif phase != "starting" and (t >= self.next_line or phase != self.last_phase):
            self.console.print(self._line(t, phase, stats, rate), markup=False, highlight=False)
            self.next_line = (t // PROGRESS_EVERY + 1) * PROGRESS_EVERY
            self.last_phase = phase

    def finish(self, message: str) -> None:
        self.finished = True
        if self.live is not None:
            self.live.update(Text(message))
        else:
            self.console.print(message, markup=False, highlight=False)

    def _rate(self, t: float, submits: int, window: float) -> float | None:
        """submits/s over about the last `window` seconds."""
        samples = self.samples
        samples.append((t, submits))
        while len(samples) > 2 and t - samples[1][0] >= window:
            samples.pop(0)
        t0, n0 = samples[0]
        return (submits - n0) / (t - t0) if t - t0 >= 0.5 else None

    @staticmethod
    def _line(t: float, phase: str, stats: dict[str, int] | None, rate: float | None) -> str:
        line = f"progress: {t:.0f} s {phase}"
        if stats is None:
            return line + " (no live counts from an external SMSC)"
        rate_text = "-" if rate is None else f"{rate:,.0f}"
        return (f"{line}, {rate_text} submits/s, {stats['submits']:,} submits, {stats['receipts']:,} receipts, "
                f"{stats['refused']:,} refused")

    def _table(self, t: float, phase: str, stats: dict[str, int] | None, rate: float | None) -> Table:
        table = Table.grid(padding=(0, 2))
        left = max(0.0, self.settings.duration + self.settings.drain - t)
        row = [f"[bold]{phase}[/]", f"{t:5.1f}s elapsed", f"{left:5.1f}s left"]
        if stats is not None:
            row += ["" if rate is None else f"{rate:8.0f} submits/s", f"accepted {stats['accepted']:,}",
                    f"refused {stats['refused']:,}", f"receipts {stats['receipts']:,}"]
        table.add_row(*row)
        return table


# ---------------------------------------------------------------------- what went wrong, in one line
def last_line(path: Path) -> str:
    """The last non-empty line of a log, whole (a log's tail cut at a byte count cuts words)."""
    try:
        lines = [line.strip() for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return "no log"
    return lines[-1] if lines else "empty log"


def bind_failure(host: str, failures: dict[str, int]) -> str:
    """`cannot bind to HOST (connection refused; 12 bind attempts failed, none succeeded); is the SMSC up?`"""
    attempts = sum(failures.values())
    ordered = sorted(failures.items(), key=lambda kv: -kv[1])
    reasons = ", ".join(reason if len(ordered) == 1 else f"{reason} x{n}" for reason, n in ordered)
    refused = any(reason.startswith(("ESME_", "VENDOR_", "STATUS_")) for reason in failures)
    hint = ("the SMSC refused the bind: are load.account's system_id and password right?" if refused
            else "is the SMSC up?")
    return f"cannot bind to {host} ({reasons}; {attempts} bind attempts failed, none succeeded); {hint}"


def load_failure(artifacts: RunArtifacts, host: str, code: int | None) -> str | None:
    """Why the load generator did not do its work, in one line; None when it did."""
    if code not in (0, 1):  # 1: some requests failed, which the gates judge
        return f"Locust exited with {code}: {last_line(artifacts.locust_log)}"
    if not artifacts.tally.exists():
        return f"Locust exited without writing its tally: {last_line(artifacts.locust_log)}"
    tally = Tally.load(artifacts.tally)
    if any(n for status, n in tally.submits.items() if status != "LOST"):
        return None
    if not tally.submitted and tally.bind_failures:
        return bind_failure(host, tally.bind_failures)
    if tally.submitted:
        return f"no submit was answered ({tally.submitted:,} written to {host}); is the SMSC at {host} up?"
    return f"no submit was written to {host}: {last_line(artifacts.locust_log)}"


def _error(console: Console, message: str) -> None:
    console.print(Text.assemble(("error:", "bold red"), " ", message))


# ---------------------------------------------------------------------- the run
def settings_from(scenario_path: Path, scenario: Scenario, *, users: int | None, duration: str | None,
                  report_dir: Path | None, processes: int, target: str | None, ui: bool, run_id: str,
                  mqtt: str | None = None, keep_ui: bool = False, ui_port: int = DEFAULT_UI_PORT) -> RunSettings:
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
        ui=ui or keep_ui,
        keep_ui=keep_ui,
        ui_port=ui_port,
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
    console = console or report_console()
    artifacts = artifacts_for(settings)
    artifacts.tally.unlink(missing_ok=True)  # an earlier run's tally in this directory is no evidence
    with Signals() as signals:
        run = _Run(settings, artifacts, console, signals)
        try:
            return run.execute()
        except Abort:
            for proc in signals.children:
                proc.wait()
            reports = "the reports are incomplete" if run.reporting else "no reports written"
            console.print(f"{signals.name} again: the simulator and Locust were killed; {reports}",
                          markup=False, highlight=False)
            return EXIT_INTERRUPTED


class _Run:
    def __init__(self, settings: RunSettings, artifacts: RunArtifacts, console: Console, signals: Signals) -> None:
        self.settings = settings
        self.artifacts = artifacts
        self.console = console
        self.signals = signals
        self.sim: Simulator | None = None
        self.load: Load | None = None
        self.reporting = False  # evaluate_run has begun writing reports
        self.started = time.time()  # for the reports: when the run began, how long it took

    def execute(self) -> int:
        settings, artifacts, console = self.settings, self.artifacts, self.console
        try:
            if settings.target is None:
                self.sim = Simulator(settings, artifacts)
                if not self.sim.start(self.signals):
                    return self.stop_early()
                host = self.sim.address
            else:
                host = settings.target
            ui = f"; Locust's web UI at http://127.0.0.1:{settings.ui_port}/" if settings.ui else ""
            console.print(f"carrier-sim run {settings.scenario.name}: {settings.users} users, "
                          f"{settings.duration:g}s + {settings.drain:g}s drain against {host}; reports in "
                          f"{settings.report_dir}{ui}", markup=False, highlight=False)
            self.load = Load(settings, artifacts, host)
            self.load.start(self.signals)
            ending = self.load.watch(self.sim, console, self.signals)
            if ending == INTERRUPTED:
                return self.stop_early()
            if ending == TALLY_WRITTEN:
                return self.keep_ui_up(self.evaluate(host, code=0))
            failure = None
            if ending == HUNG:
                failure = f"Locust did not stop {HANG_MARGIN:.0f} s after the end of the run; it was stopped"
            code = self.load.stop()  # CLOSED: the --keep-ui run ends here; else Locust has exited
            return self.evaluate(host, code, failure)
        except RunError as exc:
            _error(console, str(exc))
            return exc.code
        finally:
            if self.load is not None:
                self.load.stop()
            if self.sim is not None:
                self.sim.stop()

    def evaluate(self, host: str, code: int | None, failure: str | None = None) -> int:
        """The load ended by itself: stop the simulator (its ledger complete), then the verdict."""
        from .gates import evaluate_run

        if self.sim is not None:
            self.sim.stop()
        failure = failure or load_failure(self.artifacts, host, code)
        if failure is not None:
            _error(self.console, f"{failure} (details in {self.artifacts.locust_log})")
        self.reporting = True
        result = evaluate_run(self.settings, self.artifacts, self.console, interrupted=False, load_failure=failure,
                              started=self.started)
        return EXIT_INTERRUPTED if self.signals.interrupted and not self.settings.keep_ui else result

    def stop_early(self) -> int:
        """A signal while the load ran: stop Locust (it writes its tally), let the simulator settle
        briefly, stop it, and write every report marked interrupted."""
        from .gates import evaluate_run

        self.console.print(f"{self.signals.name}: stopping the load (a second Ctrl-C or SIGTERM kills everything "
                           f"at once)", markup=False, highlight=False)
        if self.load is not None:
            self.load.stop()
        if self.sim is not None:
            self.sim.settle(min(self.settings.drain, INTERRUPT_DRAIN))
            self.sim.stop()
        self.reporting = True
        evaluate_run(self.settings, self.artifacts, self.console, interrupted=True, started=self.started)
        return EXIT_INTERRUPTED

    def keep_ui_up(self, code: int) -> int:
        """--keep-ui: the reports are written; Locust's web UI stays up until Ctrl-C (or it exits)."""
        assert self.load is not None and self.load.proc is not None
        self.console.print(f"Locust's web UI stays up at {self.load.ui_url}; Ctrl-C to quit",
                           markup=False, highlight=False)
        while self.load.proc.poll() is None and not self.signals.interrupted:
            time.sleep(POLL)
        self.load.stop()
        return code

"""`carrier-sim run`: the main job. Start the simulator, drive it with Locust, drain, meter, gate.

Owns the run's sequence: clear an earlier run's files, start the children, watch the load, and
end every way a run can end (by itself, Ctrl-C/SIGTERM, --keep-ui, a load that failed) through
verdict.evaluate_run, which writes the reports and decides the exit code. Never spawns, signals or
kills a process itself (children.py, signals.py), nor draws progress (progress.py), nor parses
the command line (command.py).

Processes, not imports: the simulator and Locust each run in their own process (Locust
monkey-patches everything it touches) and in their own session, so a terminal's Ctrl-C reaches only
this process, which decides what the children get. The first Ctrl-C or SIGTERM stops the load in
order: Locust stops submitting and its users stay bound, reading receipts, until none is
outstanding (at most INTERRUPT_DRAIN s; the full INTERRUPT_DRAIN against an external SMSC, whose
counts we cannot see); then Locust quits (writing its tally) and the simulator stops. A second
kills both at once.
"""

from __future__ import annotations

import time
from pathlib import Path

from rich.console import Console
from rich.text import Text

from simulator.metering.text import report_console
from simulator.scenario import Scenario

from .children import Load, RunError, Simulator, last_line
from .plan import seconds
from .progress import ProgressDisplay, is_terminal
from .settings import DEFAULT_UI_PORT, RunArtifacts, RunSettings
from .signals import Abort, Signals
from .tally import Tally
from .verdict import EXIT_INTERRUPTED, evaluate_run

POLL = 0.2  # seconds between looks at the children
INTERRUPT_DRAIN = 2.0  # after an interrupt, at most this long for the receipts of the last submits
HANG_MARGIN = 60.0  # Locust stops itself at the end of the run; this only guards against a hang

# How a watch of the load ended
EXITED = "exited"  # Locust exited by itself
INTERRUPTED = "interrupted"  # a signal came while the load ran
TALLY_WRITTEN = "tally written"  # --keep-ui: the load is over and its tally written; the web UI stays up
CLOSED = "closed"  # --keep-ui: a signal came after the load was over, before its tally was written
HUNG = "hung"  # Locust outlived the run by HANG_MARGIN


# ---------------------------------------------------------------------- what went wrong, in one line
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


def _say(console: Console, message: str) -> None:
    console.print(message, markup=False, highlight=False)


def _error(console: Console, message: str) -> None:
    console.print(Text.assemble(("error:", "bold red"), " ", message))


# ---------------------------------------------------------------------- the run
def settings_from(scenario_path: Path, scenario: Scenario, *, users: int | None, duration: str | None,
                  report_dir: Path | None, processes: int, target: str | None, ui: bool, run_id: str,
                  mqtt: str | None = None, keep_ui: bool = False, ui_port: int = DEFAULT_UI_PORT) -> RunSettings:
    load = scenario.load
    if duration and load.stages:
        raise ValueError("the scenario's load.stages set how long users submit; change the stages instead")
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
    settings.report_dir.mkdir(parents=True, exist_ok=True)
    return RunArtifacts.in_dir(settings.report_dir)


def execute(settings: RunSettings, console: Console | None = None) -> int:
    """Run the whole job; returns the exit code. Reports land in settings.report_dir."""
    console = console or report_console()
    artifacts = artifacts_for(settings)
    earlier = artifacts.earlier_run_files()  # an earlier run's ledger, tally or reports are no evidence
    for path in earlier:
        path.unlink(missing_ok=True)
    if earlier:
        _say(console, f"{settings.report_dir}: replaced the files of an earlier run")
    with Signals() as signals:
        run = _Run(settings, artifacts, console, signals)
        try:
            return run.execute()
        except Abort:
            for proc in signals.children:
                proc.wait()
            reports = "the reports are incomplete" if run.reporting else "no reports written"
            _say(console, f"{signals.name} again: the simulator and Locust were killed; {reports}")
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
            _say(console, f"carrier-sim run {settings.scenario.name}: {settings.users} users, "
                          f"{settings.duration:g}s + {settings.drain:g}s drain against {host}; reports in "
                          f"{settings.report_dir}{ui}")
            self.load = Load(settings, artifacts, host)
            self.load.start(self.signals)
            ending = self.watch(self.load)
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

    def watch(self, load: Load) -> str:
        """Show progress until the load ends; returns how it ended (EXITED, INTERRUPTED, ...)."""
        assert load.proc is not None
        settings, sim = self.settings, self.sim
        total = settings.duration + settings.drain
        over = False  # --keep-ui: Locust's web UI says the load has stopped
        with ProgressDisplay(self.console, settings, live=is_terminal(self.console)) as progress:
            while True:
                elapsed = time.monotonic() - load.started
                if load.proc.poll() is not None:
                    return EXITED
                if self.signals.interrupted:
                    return CLOSED if over else INTERRUPTED
                if settings.keep_ui:
                    if load.tally_written():
                        return TALLY_WRITTEN
                    over = over or (elapsed >= total and load.ui_state() == "stopped")
                elif elapsed > total + HANG_MARGIN:
                    return HUNG
                if not over:
                    progress.update(elapsed, sim.status() if sim is not None else None)
                elif not progress.finished:
                    progress.finish("the load is over; waiting for Locust's tally")
                time.sleep(POLL)

    def evaluate(self, host: str, code: int | None, failure: str | None = None) -> int:
        """The load ended by itself: stop the simulator (its ledger complete), then the verdict."""
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
        """A signal while the load ran: drain (stop submitting, read the last receipts), stop Locust
        (it writes its tally), stop the simulator, and write every report marked interrupted."""
        _say(self.console, f"{self.signals.name}: stopping the load (a second Ctrl-C or SIGTERM kills "
                           f"everything at once)")
        submitting_s = None
        if self.load is not None:
            submitting_s = time.monotonic() - self.load.started  # Locust's start to the signal
            self.drain(self.load)
            self.load.stop()
        if self.sim is not None:
            self.sim.stop()
        self.reporting = True
        evaluate_run(self.settings, self.artifacts, self.console, interrupted=True, started=self.started,
                     submitting_s=submitting_s)
        return EXIT_INTERRUPTED

    def drain(self, load: Load) -> None:
        """Users stop submitting and stay bound until no receipt is outstanding at the simulator, at
        most INTERRUPT_DRAIN s (or the scenario's drain if shorter); against an external SMSC, whose
        counts we cannot see, that whole time."""
        limit = min(self.settings.drain, INTERRUPT_DRAIN)
        if not load.stop_submitting():
            return
        if self.sim is not None:
            self.sim.quiet(limit)
            return
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline and load.proc is not None and load.proc.poll() is None:
            time.sleep(0.1)

    def keep_ui_up(self, code: int) -> int:
        """--keep-ui: the reports are written; Locust's web UI stays up until Ctrl-C (or it exits)."""
        assert self.load is not None and self.load.proc is not None
        _say(self.console, f"Locust's web UI stays up at {self.load.ui_url}; Ctrl-C to quit")
        while self.load.proc.poll() is None and not self.signals.interrupted:
            time.sleep(POLL)
        self.load.stop()
        return code

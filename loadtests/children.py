"""The run's child processes: the simulator (`carrier-sim serve`) and Locust, each in its own session.

Owns spawning them (no stdin, output to their logs, SIGTERM to them if this process dies), their
readiness and status, the drain request to Locust and stopping them. Not here: when to do any of it
(loadtests/run.py) or Ctrl-C (loadtests/signals.py); never imports Locust (it monkey-patches).

The drain request is SIGUSR1 to Locust's whole session, so with `--processes N` every worker
(forked into that session) gets it as well as the master; Locust starts with SIGUSR1 ignored, so a
request that comes before loadtests/user.py handles it does nothing (no drain) instead of killing it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

from .settings import RunArtifacts, RunSettings
from .signals import Signals, signal_group, terminate
from .verdict import EXIT_SIMULATOR_FAILED

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
DRAIN_SIGNAL = signal.SIGUSR1  # loadtests/user.py: stop submitting, keep reading receipts
LOCUST_QUIT_TIMEOUT = 10.0  # after SIGTERM Locust writes its tally and exits; killed after this
QUIET_FOR = 0.5  # a simulator whose counts have not moved for this long has no receipt timer left


class RunError(Exception):
    """The run cannot go on; `code` is its exit code."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def _prctl_pdeathsig() -> Callable[[], None] | None:
    """On Linux, a preexec step asking the kernel to SIGTERM the child when this process dies, so a
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


def spawn(cmd: list[str], log: IO[bytes], env: dict[str, str] | None = None,
          ignore: Sequence[int] = ()) -> subprocess.Popen[bytes]:
    """A child in its own session (it leads its own process group; the terminal's Ctrl-C is not
    delivered to it), with no stdin (Locust would read keys from the terminal), output to `log`, and
    the signals in `ignore` ignored until it handles them itself."""

    def preexec() -> None:
        if _DIE_WITH_PARENT is not None:
            _DIE_WITH_PARENT()
        for signum in ignore:
            try:
                signal.signal(signum, signal.SIG_IGN)
            except (ValueError, OSError):  # left as is: a drain request before Locust handles it ends Locust
                pass

    return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
                            start_new_session=True, preexec_fn=preexec)  # noqa: PLW1509 (no threads yet)


def last_line(path: Path) -> str:
    """The last non-empty line of a log, whole (a log's tail cut at a byte count cuts words)."""
    try:
        lines = [line.strip() for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return "no log"
    return lines[-1] if lines else "empty log"


# ---------------------------------------------------------------------- the simulator
class Simulator:
    """The simulator as a child process: `carrier-sim serve` on free loopback ports."""

    def __init__(self, settings: RunSettings, artifacts: RunArtifacts) -> None:
        self.settings = settings
        self.artifacts = artifacts
        self.proc: subprocess.Popen[bytes] | None = None
        self.address = ""
        self.control = ""

    def start(self, signals: Signals, timeout: float = 30) -> bool:
        """Start and wait until it listens; False if a signal came first. RunError when it fails."""
        ready = self.artifacts.ready
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

    def quiet(self, limit: float) -> bool:
        """Wait (at most `limit` s) until no receipt is outstanding: none waiting for delivery or for
        its deliver_sm_resp on any account, and no count moving for QUIET_FOR s (a receipt whose timer
        has not fired yet shows only as a count that moves later). False at the limit or without a
        status."""
        deadline = time.monotonic() + limit
        last: tuple[int, ...] | None = None
        still_since = time.monotonic()
        while time.monotonic() < deadline:
            status = self.status()
            if status is None:
                return False
            stats = status["stats"]
            counts = (stats["submits"], stats["receipts"], stats["accepted"], stats["refused"])
            backlog = sum(account["backlog"] for account in status["accounts"].values())
            now = time.monotonic()
            if counts != last:
                last, still_since = counts, now
            elif not backlog and now - still_since >= QUIET_FOR:
                return True
            time.sleep(0.1)
        return False

    def stop(self, timeout: float = 20) -> None:
        """SIGTERM (it unbinds its ESMEs and closes the ledger), SIGKILL to its session if it hangs."""
        if self.proc is not None:
            terminate(self.proc, timeout)


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
        # it is over. Without --autoquit the web UI stays up (the tally is written when the load
        # stops): that is --keep-ui.
        cmd += ["--autostart", "--web-host", "127.0.0.1", "--web-port", str(settings.ui_port)]
        if not settings.keep_ui:
            cmd += ["--autoquit", "0"]
    else:
        cmd += ["--headless", "--only-summary"]
    if settings.processes > 1:
        cmd += ["--processes", str(settings.processes)]
    return cmd + settings.extra_locust_args


class Load:
    """Locust as a child process (with its worker processes, if any, in its session)."""

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
            self.proc = spawn(locust_command(self.settings, self.artifacts, self.host), log, env,
                              ignore=(DRAIN_SIGNAL,))
        signals.children.append(self.proc)
        self.started = time.monotonic()

    def stop_submitting(self) -> bool:
        """Ask every Locust process to stop submitting and keep reading (the drain). False if
        Locust has already exited."""
        return self.proc is not None and self.proc.poll() is None and signal_group(self.proc, DRAIN_SIGNAL)

    def stop(self, timeout: float = LOCUST_QUIT_TIMEOUT) -> int | None:
        """SIGTERM: Locust fires `quitting` (the tally is written) and exits; its session is killed
        if it has not exited after `timeout` s. Returns its exit code."""
        if self.proc is None:
            return None
        terminate(self.proc, timeout)
        return self.proc.returncode

    def tally_written(self) -> bool:
        """The tally is there and whole (loadtests/user.py writes it when the load stops)."""
        try:
            json.loads(self.artifacts.tally.read_text())
        except (OSError, ValueError):
            return False
        return True

    def ui_state(self) -> str | None:
        """The runner's state from Locust's web UI (ready, spawning, running, stopped, ...)."""
        try:
            with urllib.request.urlopen(f"{self.ui_url}stats/requests", timeout=1) as resp:
                return json.loads(resp.read()).get("state")
        except (OSError, ValueError):
            return None

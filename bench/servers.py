"""The SMPP servers the benchmark measures, and how to start, watch and stop each one.

A server is started as a subprocess on a free 127.0.0.1 port, is ready when its ready file (ours)
or its `ready` stdout line (the peers) appears, and is stopped with SIGTERM, then SIGKILL, always:
`running()` is a context manager whose exit never leaves the process behind.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
PEERS = BENCH / "peers"
HOST = "127.0.0.1"

# Configurations of OUR carrier: one row each in the table, (label, extra `carrier-sim serve` args).
# "{tmp}" in an argument becomes the run's scratch folder (deleted afterwards). The bare carrier
# turns the SQLite ledger off (`serve` writes one to runs/ by default). Adding a row is one line:
#   ("carrier-sim+faults", ["--ledger", "off", "--scenario", "scenarios/realistic.yaml"]),
# The first entry is the reference of the "ratio" column.
CARRIER_CONFIGS: list[tuple[str, list[str]]] = [
    ("carrier-sim", ["--ledger", "off"]),
    # live events on: outcomes, receipts, metering and status published to a local mosquitto that
    # bench/run.py starts for this row ("{mqtt}" becomes its URL); the target is >= 90 % of the row above
    ("carrier-sim+mqtt", ["--ledger", "off", "--mqtt", "{mqtt}/bench"]),
    # the fault pipeline at work on every message: number plan, blacklists, sending rules, throttling,
    # provider failures (bench/scenarios/realistic.yaml); the issue: it must not halve the throughput
    ("carrier-sim+faults", ["--ledger", "off", "--scenario", str(BENCH / "scenarios" / "realistic.yaml")]),
    # the default `carrier-sim serve`: SQLite ledger, a submit is answered once its record is committed;
    # the target is >= 70 % of the bare carrier
    ("carrier-sim+ledger", ["--ledger", "{tmp}/ledger.sqlite"]),
    # the default `serve` with live events on: what MQTT costs the carrier as it is deployed
    ("carrier-sim+ledger+mqtt", ["--ledger", "{tmp}/ledger.sqlite", "--mqtt", "{mqtt}/bench"]),
]
# Configurations that only run when named in --only (e.g. --only carrier-sim,carrier-sim+ledger).
OPTIONAL_CARRIER_CONFIGS: list[tuple[str, list[str]]] = [
    # the ledger without waiting for the commit (--durability async): what building and shipping the
    # rows costs the carrier's loop, apart from the commit round trip (measured: about the same)
    ("carrier-sim+ledger-async", ["--ledger", "{tmp}/ledger.sqlite", "--durability", "async"]),
    # deliver_window 1000 (the default is 100) lifts the cap on unanswered receipts per bind
    (
        "carrier-sim+dw1000",
        ["--ledger", "off", "--scenario", str(BENCH / "scenarios" / "deliver-window-1000.yaml")],
    ),
]


@dataclass
class ServerSpec:
    """How to run one server under test."""

    name: str
    kind: str  # "carrier" (ready file) or "peer" (`ready` on stdout)
    extra_args: list[str] = field(default_factory=list)
    credentials: tuple[str, str] = ("qa", "qa-pass")

    @property
    def needs_broker(self) -> bool:
        return any("{mqtt}" in a for a in self.extra_args)

    def unavailable(self) -> str | None:
        """Why this server cannot run here, or None."""
        if self.needs_broker:
            from simulator.events.broker import INSTALL_HINT, find_mosquitto

            if find_mosquitto() is None:
                return f"mosquitto is not installed ({INSTALL_HINT})"
        if self.name == "node-smpp":
            if shutil.which("node") is None:
                return "node is not installed"
            if not (PEERS / "node_modules" / "smpp").is_dir():
                return "bench/peers/node_modules is missing (run: npm install --prefix bench/peers)"
        if self.name == "smpp34":
            try:
                import smpp34  # noqa: F401
            except ImportError:
                return "the PyPI package smpp34 is not installed in this Python"
        if self.kind == "carrier" and not _carrier_command():
            return "carrier-sim is not installed (run: make setup)"
        return None

    def command(self, port: int, receipts: bool, ready_file: Path, mqtt: str = "") -> list[str]:
        extra = [a.replace("{tmp}", str(ready_file.parent)).replace("{mqtt}", mqtt) for a in self.extra_args]
        if self.kind == "carrier":
            # the idle HTTP control API on a free port, so that a `make run` elsewhere cannot collide
            return [*_carrier_command(), "serve", "--listen", f"{HOST}:{port}", "--control", f"{HOST}:0",
                    "--ready-file", str(ready_file), *extra]  # fmt: skip
        if self.name == "smpp34":
            cmd = [sys.executable, str(PEERS / "smpp34_server.py"), "--host", HOST, "--port", str(port)]
        elif self.name == "node-smpp":
            cmd = ["node", str(PEERS / "node_smpp_server.js"), "--host", HOST, "--port", str(port)]
        else:
            raise ValueError(f"unknown server {self.name}")
        return cmd + (["--receipts"] if receipts else []) + extra


def _carrier_command() -> list[str]:
    exe = Path(sys.executable).with_name("carrier-sim")
    if exe.exists():
        return [str(exe)]
    found = shutil.which("carrier-sim")
    return [found] if found else []


def all_servers() -> list[ServerSpec]:
    """Every server the benchmark knows, our configurations first; --only picks among them."""
    ours = [ServerSpec(label, "carrier", args) for label, args in CARRIER_CONFIGS + OPTIONAL_CARRIER_CONFIGS]
    peers = [ServerSpec("smpp34", "peer"), ServerSpec("node-smpp", "peer")]
    return ours + peers


def default_names() -> list[str]:
    return [label for label, _ in CARRIER_CONFIGS] + ["smpp34", "node-smpp"]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float | None:
    """utime + stime of a process (all its threads) from /proc, or None where there is no /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks  # fields 14 and 15 of stat(5)


class Running:
    """A started server: its pid, port and log."""

    def __init__(self, spec: ServerSpec, proc: subprocess.Popen, port: int, log: Path,
                 ready_file: Path | None = None) -> None:
        self.spec, self.proc, self.port, self.log = spec, proc, port, log
        self.ready_file = ready_file
        self.final_log = ""  # the whole log, kept after the server stopped and its folder is gone

    def status(self) -> dict | None:
        """Our carrier's GET /status (its control API address is the ready file's second line), or None."""
        import json
        import urllib.request

        try:
            lines = self.ready_file.read_text().split() if self.ready_file is not None else []
            if len(lines) < 2:
                return None
            with urllib.request.urlopen(f"http://{lines[1]}/status", timeout=5) as resp:
                return json.loads(resp.read())
        except (OSError, ValueError):
            return None

    def errors_logged(self) -> list[str]:
        """Lines of the final log that report an error (tracebacks, ERROR/CRITICAL records)."""
        lines = self.final_log.splitlines()
        return [ln for ln in lines if " ERROR " in ln or " CRITICAL " in ln or ln.startswith("Traceback")
                or ln.endswith("Error") or "Error: " in ln]  # fmt: skip

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@contextlib.contextmanager
def running(spec: ServerSpec, receipts: bool, ready_timeout: float = 20.0) -> Iterator[Running]:
    """Start `spec`, wait until it is ready, yield it; on exit stop it (SIGTERM, then SIGKILL)."""
    workdir = Path(tempfile.mkdtemp(prefix=f"bench-{spec.name}-"))
    log_path = workdir / "server.log"
    ready_file = workdir / "ready"
    port = free_port()
    broker = None
    log = open(log_path, "wb")  # noqa: SIM115 - closed in finally
    proc: subprocess.Popen | None = None
    server: Running | None = None
    try:
        if spec.needs_broker:  # a fresh mosquitto per run, stopped with the server
            from simulator.events.broker import LocalBroker

            broker = LocalBroker(workdir=workdir / "mosquitto").start()
        cmd = spec.command(port, receipts, ready_file, broker.url if broker is not None else "")
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=ROOT)
        server = Running(spec, proc, port, log_path, ready_file)
        _wait_ready(server, ready_file, ready_timeout)
        yield server
    finally:
        if proc is not None:
            _stop(proc)
        if broker is not None:
            broker.stop()
        log.close()
        if server is not None:
            server.final_log = log_path.read_text(errors="replace") if log_path.exists() else ""
        keep = os.environ.get("BENCH_KEEP_LOGS")
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)


def _wait_ready(server: Running, ready_file: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(
                f"{server.spec.name} exited with {server.proc.returncode} before it was ready:\n"
                f"{server.log_tail()}"
            )
        if server.spec.kind == "carrier":
            if ready_file.exists() and ready_file.read_text().strip():
                return
        elif any(line.strip() == b"ready" for line in server.log.read_bytes().splitlines()):
            return
        time.sleep(0.05)
    raise RuntimeError(f"{server.spec.name} was not ready within {timeout:.0f}s:\n{server.log_tail()}")


def _stop(proc: subprocess.Popen, grace: float = 5.0) -> None:
    if proc.poll() is not None:
        return
    try:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)
    except ProcessLookupError:
        pass

"""A local mosquitto for tests, the benchmark and `make broker`: a generated configuration (one
loopback listener, anonymous, no persistence) in a scratch folder, started and stopped cleanly.

A development convenience, not part of the simulator: it never listens beyond 127.0.0.1 and never
leaves a broker process behind (stop() terminates, then kills).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HOST = "127.0.0.1"
INSTALL_HINT = "install Debian's mosquitto: apt-get install -y mosquitto"


def find_mosquitto() -> str | None:
    """The mosquitto executable (it lives in /usr/sbin, often not on a user's PATH), or None."""
    found = shutil.which("mosquitto")
    if found:
        return found
    for candidate in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto"):
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def free_port(host: str = HOST) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def config_text(port: int, host: str = HOST) -> str:
    return (
        f"listener {port} {host}\n"
        "allow_anonymous true\n"
        "persistence false\n"
        "log_dest stdout\n"
        "log_type error\nlog_type warning\nlog_type notice\n"
        "max_queued_messages 100000\n"
    )


class LocalBroker:
    """`with LocalBroker() as broker:` -> broker.url is mqtt://127.0.0.1:PORT. start()/stop() can repeat
    (a restart keeps the port)."""

    def __init__(self, port: int = 0, workdir: str | Path | None = None, host: str = HOST) -> None:
        self.host = host
        self.port = port or free_port(host)
        self._own_dir = workdir is None
        self.workdir = Path(workdir) if workdir is not None else Path(tempfile.mkdtemp(prefix="carrier-sim-mqtt-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config = self.workdir / "mosquitto.conf"
        self.log = self.workdir / "mosquitto.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> "LocalBroker":
        exe = find_mosquitto()
        if exe is None:
            raise RuntimeError(f"mosquitto is not installed ({INSTALL_HINT})")
        self.config.write_text(config_text(self.port, self.host))
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen([exe, "-c", str(self.config)], stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited with {self.proc.returncode}: {self.log_tail()}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"mosquitto did not listen on {self.host}:{self.port} within {timeout:.0f}s: {self.log_tail()}")

    def stop(self, grace: float = 5.0) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)

    def close(self) -> None:
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def log_tail(self, lines: int = 10) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def __enter__(self) -> "LocalBroker":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


def main(argv: list[str] | None = None) -> int:
    """`make broker`: mosquitto in the foreground on 127.0.0.1:1883 until Ctrl-C."""
    parser = argparse.ArgumentParser(description="Run Debian's mosquitto on loopback for carrier-sim.")
    parser.add_argument("--port", type=int, default=1883)
    args = parser.parse_args(argv)
    exe = find_mosquitto()
    if exe is None:
        print(f"error: mosquitto is not installed ({INSTALL_HINT})", file=sys.stderr)
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="carrier-sim-broker-"))
    config = workdir / "mosquitto.conf"
    config.write_text(config_text(args.port).replace("log_dest stdout\n", "log_dest stdout\nconnection_messages true\n"))
    print(f"mosquitto on mqtt://{HOST}:{args.port} (config {config}); Ctrl-C stops it", flush=True)
    proc = subprocess.Popen([exe, "-c", str(config)])
    try:
        return proc.wait()
    except KeyboardInterrupt:
        proc.send_signal(signal.SIGTERM)
        return proc.wait()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

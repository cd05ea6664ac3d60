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
from typing import Self

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


def config_text(port: int, host: str = HOST, *, tls: tuple[Path, Path] | None = None,
                password_file: Path | None = None) -> str:
    """mosquitto.conf: one loopback listener; anonymous unless a password file is given; TLS with
    (certfile, keyfile). Files are read after mosquitto drops root, so as root it stays root."""
    lines = [f"listener {port} {host}"]
    if tls is not None:
        lines += [f"certfile {tls[0]}", f"keyfile {tls[1]}"]
    if password_file is not None:
        lines += ["allow_anonymous false", f"password_file {password_file}"]
    else:
        lines.append("allow_anonymous true")
    if (tls is not None or password_file is not None) and hasattr(os, "geteuid") and os.geteuid() == 0:
        lines.append("user root")  # the files live in folders only root can read (pytest's tmp_path)
    lines += ["persistence false", "log_dest stdout", "log_type error", "log_type warning", "log_type notice",
              "max_queued_messages 100000"]  # a slow subscriber's QoS 1 backlog (default 1000)
    return "\n".join(lines) + "\n"


class LocalBroker:
    """`with LocalBroker() as broker:` -> broker.url is mqtt://127.0.0.1:PORT. start()/stop() can repeat
    (a restart keeps the port)."""

    def __init__(self, port: int = 0, workdir: str | Path | None = None, host: str = HOST, *,
                 tls: tuple[Path, Path] | None = None, password_file: Path | None = None) -> None:
        self.host = host
        self.tls = tls
        self.password_file = password_file
        self.port = port or free_port(host)
        self._own_dir = workdir is None
        self.workdir = Path(workdir) if workdir is not None else Path(tempfile.mkdtemp(prefix="carrier-sim-mqtt-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config = self.workdir / "mosquitto.conf"
        self.log = self.workdir / "mosquitto.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> Self:
        exe = find_mosquitto()
        if exe is None:
            raise RuntimeError(f"mosquitto is not installed ({INSTALL_HINT})")
        self.config.write_text(config_text(self.port, self.host, tls=self.tls, password_file=self.password_file))
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen([exe, "-c", str(self.config)], stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited with {self.proc.returncode}: {self.log_tail()}")
            if self._listening():
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"mosquitto did not listen on {self.host}:{self.port} within {timeout:.0f}s: {self.log_tail()}")

    def _listening(self) -> bool:
        """Whether the port accepts connections (probing a TLS listener with plain TCP is fine)."""
        try:
            with socket.create_connection((self.host, self.port), timeout=0.2):
                return True
        except OSError:
            return False

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

    def __enter__(self) -> Self:
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

    def forward(signum: int, frame: object) -> None:  # Ctrl-C, SIGTERM (make stopped), SIGHUP: stop mosquitto too
        proc.send_signal(signal.SIGTERM)

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, forward)
    try:
        code = proc.wait()
        return 0 if code in (0, -signal.SIGTERM) else code
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

"""Signals of a run: the Ctrl-C and SIGTERM it receives, and the signals it sends its children's groups.

Owns the first-signal / second-signal rule (the first is noted and the run stops in order; the
second kills every child at once) and killing a child's session. Not here: what "in order" means
(loadtests/run.py); never starts a process (loadtests/children.py).
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from typing import Any, Self


class Abort(BaseException):
    """A second Ctrl-C or SIGTERM: the children were killed; leave at once (not an Exception, so no
    `except Exception` on the way swallows it)."""


def signal_group(proc: subprocess.Popen[bytes], signum: int) -> bool:
    """`signum` to a child and everything in its session (Locust's worker processes are forked into
    it). Only while the child is not reaped: until then its id cannot name anything else. True if sent."""
    if proc.returncode is not None:
        return False
    try:
        os.killpg(proc.pid, signum)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL to a child and everything in its session (Locust's workers, the ledger writer)."""
    signal_group(proc, signal.SIGKILL)


def terminate(proc: subprocess.Popen[bytes], timeout: float) -> None:
    """SIGTERM to a child (it ends in order), SIGKILL to its session if it has not exited after
    `timeout` s."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        kill_group(proc)
        proc.wait()


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

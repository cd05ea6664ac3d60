"""Limits: the open-files budget, the connection cap it sets, and log lines counted instead of repeated.

Owns: raising the soft RLIMIT_NOFILE to the hard limit (`carrier-sim serve` calls it once at start),
the connection cap derived from it (`carrier.max_connections`, by default the soft limit less a
reserve for the ledger, the control API and MQTT), the refusal of a connection past the cap (closed
at once, counted, one log line per interval), TooManyFaults (past `carrier.max_faults`). Repeated
refusals are summed up by simulator/logsummary.py.
Not here: bind protection (bind_guard.py), what a bound connection may do (binds.py, submits.py).

Why a connection past the cap is closed at once rather than answered ESME_RBINDFAIL: SMPP has no
greeting, so a bind_resp could only be sent once the peer's bind arrives, and until then (a peer may
never send one) the refused connection would hold the very file descriptor the cap protects. A close
costs nothing and frees it at once; clients take a close before bind_resp as a failed connection and
retry after their reconnect delay, as they would after ESME_RBINDFAIL.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from simulator.logsummary import LogSummary

log = logging.getLogger("carrier_sim.limits")

# File descriptors kept free of SMPP connections: the listener, the ledger (its pipe to the writer
# process and the child's files), the control API's listener and its requests, MQTT, logs, stdio.
FD_RESERVE = 64
LOG_INTERVAL_S = 10.0


def open_files_limit() -> tuple[int, int]:
    """(soft, hard) RLIMIT_NOFILE; (0, 0) where the platform has none (the cap is then not derived)."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not on POSIX
        return 0, 0
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft, hard


def raise_open_files_limit() -> tuple[int, int]:
    """Raise the soft RLIMIT_NOFILE to the hard limit; returns (before, after) and logs the figure once.
    An unlimited hard limit is not a figure the kernel takes as a soft limit: it stays as it is then."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not on POSIX
        return 0, 0
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft == hard:
        log.info("open files: soft limit %d (hard limit %s)", soft, "unlimited" if hard < 0 else hard)
        return soft, soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ValueError, OSError) as exc:  # e.g. a hard limit above the kernel's nr_open
        log.warning("open files: soft limit %d, could not raise it to %d: %s", soft, hard, exc)
        return soft, soft
    log.info("open files: soft limit raised %d -> %d", soft, hard)
    return soft, hard


def connection_cap(configured: int | None, soft_limit: int, reserve: int = FD_RESERVE) -> int:
    """The most SMPP connections the carrier holds: `configured`, but never more than the open-files
    soft limit less `reserve` (at least 1); with nothing configured, that figure itself."""
    budget = max(1, soft_limit - reserve) if soft_limit > 0 else None
    if configured is None:
        return budget if budget is not None else 1_000_000
    if budget is not None and configured > budget:
        log.warning("carrier.max_connections %d is above what %d open files allow: the cap is %d",
                    configured, soft_limit, budget)
        return budget
    return configured


class TooManyFaults(Exception):
    """A new fault past carrier.max_faults: each live fault is a step of every submit's decision
    (5,000 of them took throughput from 96k to 490 submits/s). The control API answers 409."""


class Admission:
    """Whether a new connection is let in: under the cap, yes; past it, it is closed at once, counted
    (CarrierStats.connections_refused) and logged once per interval."""

    def __init__(self, cap: int, clock: Callable[[], float], interval: float = LOG_INTERVAL_S) -> None:
        self.cap = cap
        self.refused = LogSummary(log, "carrier", f"connection refused past max_connections {cap:,}",
                                  f"connections refused past max_connections {cap:,}", clock=clock, every_s=interval)

    def admit(self, open_now: int, peer: str) -> bool:
        if open_now < self.cap:
            return True
        self.refused.add(f"{open_now:,} open, the latest from {peer}")
        return False


__all__ = ["Admission", "FD_RESERVE", "TooManyFaults", "connection_cap", "open_files_limit",
           "raise_open_files_limit"]

"""Bind protection: refused binds cost the guesser time, connections, and the carrier only one audit row.

Owns: the refused binds of a connection (closed after `max_failures`), a token bucket per peer IP
address (`peer_burst` refusals free, then `peer_rate` a second; a bind from an address in debt waits
up to `max_delay_s`, whatever its credentials, so the wait cannot tell a right password from a wrong
one), the refused-bind audit rows counted per (address, system_id, status) and written as one row at
once and then one row with the count per `audit_interval_s`, and the status a refusal is answered
with (`carrier.uniform_bind_errors`: ESME_RBINDFAIL for all). Memory is bounded: at most `max_peers`
addresses and as many audit counters; the longest-quiet are forgotten first.
Not here: whether a bind is right (binds.py), bind states (smpp/session.py).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from simulator.scenario import BindProtection
from simulator.smpp.constants import CommandStatus as S

from .stats import CarrierStats

log = logging.getLogger("carrier_sim.smsc")
OTHERS = ("*", "*", "*")  # the audit counter of whatever does not fit in max_peers counters


class _Bucket:
    __slots__ = ("tokens", "updated")

    def __init__(self, tokens: float, now: float) -> None:
        self.tokens = tokens
        self.updated = now


class _Refusals:
    __slots__ = ("count", "opened", "bind_type")

    def __init__(self, opened: float, bind_type: str) -> None:
        self.count = 0  # refusals after the one written at once
        self.opened = opened
        self.bind_type = bind_type


def peer_address(peer: str) -> str:
    """The IP address of "host:port" (IPv6 too: the port is after the last colon)."""
    return peer.rpartition(":")[0] or peer


class BindGuard:
    """The carrier's bind protection (one per Smsc); `tick(now)` from the housekeeping writes the counts."""

    def __init__(self, config: BindProtection, uniform_errors: bool, stats: CarrierStats,
                 clock: Callable[[], float], audit: Callable[..., None]) -> None:
        self.config = config
        self.uniform_errors = uniform_errors
        self.stats = stats
        self.clock = clock
        self.audit = audit  # Smsc.audit(action, actor, **details)
        self._peers: OrderedDict[str, _Bucket] = OrderedDict()
        self._refusals: OrderedDict[tuple[str, str, str], _Refusals] = OrderedDict()

    # ---------------------------------------------------------------- slowing an address down
    def _bucket(self, address: str, now: float, create: bool) -> _Bucket | None:
        cfg = self.config
        bucket = self._peers.get(address)
        if bucket is None:
            if not create:
                return None
            bucket = self._peers[address] = _Bucket(float(cfg.peer_burst), now)
            if len(self._peers) > cfg.max_peers:
                self._peers.popitem(last=False)
        else:
            bucket.tokens = min(float(cfg.peer_burst), bucket.tokens + (now - bucket.updated) * cfg.peer_rate)
            bucket.updated = now
            self._peers.move_to_end(address)
        return bucket

    def delay(self, peer: str) -> tuple[float, bool]:
        """(seconds a bind from `peer` waits before it is answered, whether it is then looked at).
        (0, True) unless its address is in debt. A delayed bind reserves the token it may use
        (returned by `answered` if it succeeds); once `max_delay_s` worth of binds are waiting, the
        next ones wait `max_delay_s` and are refused without being looked at (ESME_RBINDFAIL): opening
        more connections does not let an address try more passwords a second."""
        cfg = self.config
        if not cfg.enabled or cfg.max_delay_s <= 0:  # max_delay_s 0: addresses are not slowed
            return 0.0, True
        bucket = self._bucket(peer_address(peer), self.clock(), create=False)
        if bucket is None or bucket.tokens >= 1:
            return 0.0, True
        self.stats.binds_slowed += 1
        wait = (1 - bucket.tokens) / cfg.peer_rate  # until the address has a token again
        if wait > cfg.max_delay_s:
            return cfg.max_delay_s, False
        bucket.tokens -= 1
        return wait, True

    # ---------------------------------------------------------------- after the decision
    def answered(self, conn: Any, status: int, held: bool, system_id: str, bind_type: str,
                 credentials: bool) -> tuple[int, bool]:
        """A bind from `conn` was decided `status`; returns (the status to answer, close the
        connection after the answer). `credentials`: refused for its system_id or password (those
        count against the connection and the address; a full account or a fault does not).
        `held`: it waited in `delay` and holds a reserved token."""
        cfg = self.config
        address = peer_address(conn.peer)
        now = self.clock()
        if status == S.ESME_ROK:
            if held and cfg.enabled:
                bucket = self._bucket(address, now, create=False)
                if bucket is not None:
                    bucket.tokens = min(float(cfg.peer_burst), bucket.tokens + 1)
            return status, False
        self._audit_refusal(conn.peer, address, system_id, bind_type, status, now)
        close = False
        if credentials and cfg.enabled:
            conn.bind_failures += 1
            if not held:
                bucket = self._bucket(address, now, create=True)
                assert bucket is not None
                bucket.tokens = max(bucket.tokens - 1, -cfg.peer_rate * cfg.max_delay_s)
            if conn.bind_failures >= cfg.max_failures:
                close = True
                self.stats.bind_lockouts += 1
                log.info("conn %d from %s: %d refused binds, closing it", conn.id, conn.peer, conn.bind_failures)
        return (S.ESME_RBINDFAIL if self.uniform_errors else status), close

    # ---------------------------------------------------------------- the audit trail
    def _audit_refusal(self, peer: str, address: str, system_id: str, bind_type: str, status: int,
                       now: float) -> None:
        name = S(status).name if status in S._value2member_map_ else f"0x{status:08X}"
        key = (address, system_id, name)
        entry = self._refusals.get(key)
        if entry is None and len(self._refusals) >= self.config.max_peers:
            key, entry = OTHERS, self._refusals.get(OTHERS)
            if entry is None:
                entry = self._refusals[OTHERS] = _Refusals(now, bind_type)
        if entry is None:
            self._refusals[key] = _Refusals(now, bind_type)
            self.audit("bind.refused", peer, system_id=system_id, bind_type=bind_type, status=name)
            log.info("bind %s as %s from %s refused: %s", system_id, bind_type, peer, name)
            return
        entry.count += 1
        entry.bind_type = bind_type
        self._refusals.move_to_end(key)

    def tick(self, now: float, force: bool = False) -> None:
        """Write one row for each counter whose interval is over and that counted anything; forget
        the quiet ones (their next refusal is written at once) and the addresses paid up again."""
        interval = self.config.audit_interval_s
        for key in list(self._refusals):
            entry = self._refusals[key]
            if not force and now - entry.opened < interval:
                continue
            if entry.count:
                address, system_id, status = key
                self.audit("bind.refused", address, system_id=system_id, bind_type=entry.bind_type, status=status,
                           count=entry.count, seconds=round(now - entry.opened, 1))
                log.info("bind %s from %s refused %s more times in the last %.0f s: %s", system_id, address,
                         f"{entry.count:,}", now - entry.opened, status)
                entry.count = 0
                entry.opened = now
            else:
                del self._refusals[key]
        burst = float(self.config.peer_burst)
        rate = self.config.peer_rate
        while self._peers:
            address, bucket = next(iter(self._peers.items()))
            if bucket.tokens + (now - bucket.updated) * rate < burst:
                break
            del self._peers[address]


__all__ = ["BindGuard", "peer_address"]

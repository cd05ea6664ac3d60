"""Housekeeping: the carrier's periodic pass over its connections, and the collector's schedule.

Owns: bind timeouts, enquire_link to idle peers, dropping dead peers, the decider's link checks,
unanswered deliver_sm (back to the account's queue), and keeping millions of stored messages out
of the cyclic GC. Not here: the timers of single messages (scheduler.py), what a dropped bind
changes at its account (binds.py).
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Callable

from simulator.scenario import Carrier
from simulator.smpp.pdu import EnquireLink
from simulator.smpp.session import BindState

from .connection import SmscConnection
from .decider import Decider
from .stats import CarrierStats

log = logging.getLogger("carrier_sim.smsc")
FULL_COLLECTION_EVERY_S = 300


class Housekeeping:
    """run() every `interval` seconds, for the life of the carrier (its supervisor restarts it)."""

    def __init__(self, config: Carrier, connections: set[SmscConnection], decider: Decider, stats: CarrierStats,
                 clock: Callable[[], float], interval: float) -> None:
        self.config = config
        self.connections = connections
        self.decider = decider
        self.stats = stats
        self.clock = clock
        self.interval = interval
        self.ticks: list[Callable[[float], None]] = []  # called on each pass (e.g. counted log lines)

    async def run(self) -> None:
        last_full_collection = self.clock()
        while True:
            await asyncio.sleep(self.interval)
            now = self.clock()
            # Millions of stored messages make the cyclic GC's full passes pause the loop for
            # hundreds of ms (measured: bench/RESULTS.md). They are freed by reference counting, so
            # move them out of the collector's sight; a full pass runs only every few minutes.
            if now - last_full_collection > FULL_COLLECTION_EVERY_S:
                gc.unfreeze()
                gc.collect()
                last_full_collection = now
            gc.freeze()
            self.check_links(now)
            for tick in self.ticks:
                tick(now)

    def check_links(self, now: float) -> None:
        cfg = self.config
        decider = self.decider
        link_checks = decider.wants_link_checks
        for conn in list(self.connections):
            if conn.closing:
                continue
            if not conn.session.is_bound:
                if conn.session.state is BindState.OPEN and now - conn.opened_at > cfg.bind_timeout_s:
                    log.info("conn %d from %s did not bind in %.0fs: closing", conn.id, conn.peer, cfg.bind_timeout_s)
                    conn.close()
                continue
            if conn.enquire_sent_at is not None:
                if now - conn.enquire_sent_at > cfg.response_timeout_s:
                    self.stats.dead_peers += 1
                    log.warning("conn %d from %s stopped answering: dropping it", conn.id, conn.peer)
                    conn.abort()
                    continue
            elif now - conn.last_received > cfg.enquire_link_interval_s:
                conn.enquire_sent_at = now
                conn.enquire_sequence = conn.send(EnquireLink())
            if link_checks and conn.link is not None and decider.decide_link(conn.link, now) == "drop":
                self.stats.dropped_links += 1
                log.info("fault: dropping conn %d from %s", conn.id, conn.peer)
                conn.abort()
                continue
            if conn.deliveries and conn.account is not None:
                late = [s for s, item in conn.deliveries.items() if now - item.sent_at > cfg.response_timeout_s]
                for sequence in late:
                    conn.account.router.on_timeout(conn.deliveries.pop(sequence))
                if late:
                    conn.account.router.pump()

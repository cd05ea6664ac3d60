"""Throttling: each account's token buckets (per account and per bind), window and daily quota.

An ADMISSION-stage section built from carrier.accounts; it counts segments, not PDUs, and reads
time only from the scenario clock it is given (never time.time()). A submit it refuses takes
nothing from any bucket or quota; a submit it admits takes from all of them at once.

Semantics, checked in this order (the first limit hit decides):
  window          link.outstanding >= window      -> ESME_RMSGQFUL    excluded platform_traffic_control
  bind_throughput the bind's bucket lacks tokens   -> throttle_status  excluded platform_traffic_control
  throughput      the account's bucket lacks them  -> throttle_status  excluded platform_traffic_control
  daily_quota     used + segments > daily_quota    -> throttle_status  excluded unnotified_high_concurrency
A bucket starts full (`burst` tokens) and refills at `rate` per second up to `burst`; a message
needs one token per segment. A message of more segments than `burst` passes on a full bucket and
leaves it in debt, so the long-run rate still holds. Quota days are 24 h of scenario time from its
start (`quota_day: scenario`) or calendar days at midnight UTC (`UTC`) or at an offset (`+08:00`).
Tokens are taken by every submit this section admits, whatever a later stage decides about it
(a carrier's rate limiter sits at the front door); `outstanding` counts submits whose response
is still being delayed (see Smsc._respond).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from simulator.smpp.constants import CommandStatus

from ..base import FaultEnv, FaultStage, SectionFault
from ..outcome import Outcome, SlaClass, Submission, Verdict
from ..registry import scenario_section

if TYPE_CHECKING:
    from simulator.scenario import Account, Carrier, Scenario, Throughput

TRAFFIC_CONTROL = Verdict(SlaClass.EXCLUDED, "platform_traffic_control")
HIGH_CONCURRENCY = Verdict(SlaClass.EXCLUDED, "unnotified_high_concurrency")
DAY = 86_400.0
_EPSILON = 1e-9  # float refill arithmetic: 0.1 s at 10/s is one token, not 0.9999999


class TokenBucket:
    """`burst` tokens at most, refilled at `rate` per second of scenario time."""

    __slots__ = ("burst", "rate", "stamp", "tokens")

    def __init__(self, rate: float, burst: int, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = float(burst)
        self.stamp = now

    def level(self, now: float) -> float:
        if now > self.stamp:
            self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now
        return self.tokens

    def admits(self, need: int, now: float) -> bool:
        return self.level(now) + _EPSILON >= min(need, self.burst)

    def take(self, need: int) -> None:
        self.tokens -= need

    def full_by(self, now: float) -> bool:
        """True when the bucket would be full at `now`: as good as a fresh one (safe to forget)."""
        return self.tokens + max(0.0, now - self.stamp) * self.rate + _EPSILON >= self.burst


class DailyQuota:
    """Segments admitted on the current day, and the day they were counted for."""

    __slots__ = ("day", "limit", "used")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.day: int | None = None
        self.used = 0

    def admits(self, need: int, day: int) -> bool:
        if day != self.day:
            self.day, self.used = day, 0
        return self.used + need <= self.limit


def _utc_offset(quota_day: str) -> float | None:
    """Seconds east of UTC for calendar quota days, or None for scenario days."""
    if quota_day == "scenario":
        return None
    if quota_day == "UTC":
        return 0.0
    sign = -1 if quota_day[0] == "-" else 1
    hours, minutes = quota_day[1:].split(":")
    return sign * (int(hours) * 3600 + int(minutes) * 60)


class AccountLimiter:
    """One account's live limits."""

    __slots__ = ("_prune_at", "bind_buckets", "bucket", "config", "quota", "utc_offset")

    def __init__(self, config: Account) -> None:
        self.config = config
        self.bucket: TokenBucket | None = None  # made on the first submit, full
        self.bind_buckets: dict[int, TokenBucket] = {}
        self.quota = DailyQuota(config.daily_quota) if config.daily_quota is not None else None
        self.utc_offset = _utc_offset(config.quota_day)
        self._prune_at = 64

    def account_bucket(self, spec: Throughput, now: float) -> TokenBucket:
        if self.bucket is None:
            self.bucket = TokenBucket(spec.rate, spec.burst, now)
        return self.bucket

    def bind_bucket(self, spec: Throughput, bind_id: int, now: float) -> TokenBucket:
        bucket = self.bind_buckets.get(bind_id)
        if bucket is None:
            if len(self.bind_buckets) >= self._prune_at:  # binds come and go: forget the full ones
                self.bind_buckets = {k: b for k, b in self.bind_buckets.items() if not b.full_by(now)}
                self._prune_at = max(64, 2 * len(self.bind_buckets))
            bucket = self.bind_buckets[bind_id] = TokenBucket(spec.rate, spec.burst, now)
        return bucket


@scenario_section(stage=FaultStage.ADMISSION)
class Throttling(SectionFault):
    """The accounts' throughput, window and quota limits, as one scenario section."""

    def __init__(self, section: Carrier, env: FaultEnv, name: str = "throttling") -> None:
        super().__init__(section, env, name)
        self.limiters = {
            a.system_id: AccountLimiter(a)
            for a in section.accounts
            if any(x is not None for x in (a.throughput, a.bind_throughput, a.window, a.daily_quota))
        }
        self.refused = {"window": 0, "bind_throughput": 0, "throughput": 0, "daily_quota": 0}

    def quota_day(self, limiter: AccountLimiter, now: float) -> int:
        if limiter.utc_offset is None:
            return math.floor(now / DAY)
        return math.floor((self.env.started_wall + now + limiter.utc_offset) / DAY)

    def apply(self, submission: Submission, outcome: Outcome, now: float) -> bool:
        if outcome.submit_status:
            return False  # refused before it reached us: it counts against nothing
        limiter = self.limiters.get(submission.account)
        if limiter is None:
            return False
        config = limiter.config
        need = max(1, submission.segments)
        link = submission.link
        if config.window is not None and link is not None and link.outstanding >= config.window:
            return self._refuse(outcome, "window", CommandStatus.ESME_RMSGQFUL, TRAFFIC_CONTROL)
        bind_bucket = account_bucket = None
        if config.bind_throughput is not None:
            bind_id = link.bind_id if link is not None else submission.bind_id
            bind_bucket = limiter.bind_bucket(config.bind_throughput, bind_id, now)
            if not bind_bucket.admits(need, now):
                return self._refuse(outcome, "bind_throughput", config.throttle_status, TRAFFIC_CONTROL)
        if config.throughput is not None:
            account_bucket = limiter.account_bucket(config.throughput, now)
            if not account_bucket.admits(need, now):
                return self._refuse(outcome, "throughput", config.throttle_status, TRAFFIC_CONTROL)
        quota = limiter.quota
        if quota is not None and not quota.admits(need, self.quota_day(limiter, now)):
            return self._refuse(outcome, "daily_quota", config.throttle_status, HIGH_CONCURRENCY)
        if bind_bucket is not None:
            bind_bucket.take(need)
        if account_bucket is not None:
            account_bucket.take(need)
        if quota is not None:
            quota.used += need
        return False

    def _refuse(self, outcome: Outcome, limit: str, status: int, verdict: Verdict) -> bool:
        self.refused[limit] += 1
        outcome.refuse(status)
        self.classify(outcome, verdict)
        return True

    @classmethod
    def from_scenario(cls, scenario: Scenario, env: FaultEnv) -> Throttling | None:
        """The throttling section, or None when no account has a limit."""
        throttling = cls(scenario.carrier, env)
        return throttling if throttling.limiters else None

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "refused": dict(self.refused)}

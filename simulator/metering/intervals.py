"""Binomial intervals: where an observed success rate should fall, and what an observed rate says.

binomial_interval(p, n): the prediction interval of the rate observed over n valid sends when the
true rate is p (what a gate "expect_success_rate: {value, interval: binomial-99}" checks).
wilson_interval(k, n): the confidence interval of the true rate after observing k of n. Pure math.

Methods of binomial_interval:
- "normal-cc" (default): p +- (z * sqrt(p (1 - p) / n) + 1 / (2 n)), clamped to [0, 1]: the normal
  approximation of Binomial(n, p) / n with continuity correction. Good when n p (1 - p) >~ 10.
- "exact": the central interval of Binomial(n, p) itself: [k_lo / n, k_hi / n] with k_lo the
  alpha/2 quantile and k_hi the 1 - alpha/2 quantile (coverage >= the confidence). Use it for
  small n or p near 0 or 1, where the normal approximation is poor.
Wilson's score interval is the wrong tool for the first question (it estimates p from an
observation rather than predicting an observation from p), which is why it answers the second.
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import Literal

Method = Literal["normal-cc", "exact"]
GATE_CONFIDENCE = {"binomial-99": 0.99, "binomial-95": 0.95}


def z_value(confidence: float) -> float:
    """The two-sided standard normal quantile: 0.99 -> 2.5758, 0.95 -> 1.9600."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    return NormalDist().inv_cdf(1 - (1 - confidence) / 2)


def binomial_interval(p: float, n: int, confidence: float = 0.99, method: Method = "normal-cc") -> tuple[float, float]:
    """The interval in which the rate observed over `n` valid sends falls with probability
    >= `confidence` (about, for normal-cc) when each send succeeds with probability `p`."""
    if not 0 <= p <= 1:
        raise ValueError(f"p must be in [0, 1], got {p}")
    if n < 1:
        raise ValueError("n must be at least 1 (no valid sends: no rate, no interval)")
    if method == "normal-cc":
        half = z_value(confidence) * math.sqrt(p * (1 - p) / n) + 1 / (2 * n)
        return max(0.0, p - half), min(1.0, p + half)
    if method == "exact":
        alpha = 1 - confidence
        lo, hi = _binomial_quantiles(n, p, alpha / 2, 1 - alpha / 2)
        return lo / n, hi / n
    raise ValueError(f"unknown method {method!r} (normal-cc or exact)")


def _binomial_quantiles(n: int, p: float, q_lo: float, q_hi: float) -> tuple[int, int]:
    """The smallest k with P(X <= k) >= q, for q_lo and q_hi, X ~ Binomial(n, p)."""
    if p == 0:
        return 0, 0
    if p == 1:
        return n, n
    sd = math.sqrt(n * p * (1 - p))
    start = max(0, int(n * p - 12 * sd) - 2)
    stop = min(n, int(n * p + 12 * sd) + 2)
    log_p, log_q = math.log(p), math.log1p(-p)
    base = math.lgamma(n + 1)
    cumulative = 0.0
    lo = hi = None
    for k in range(start, stop + 1):
        cumulative += math.exp(base - math.lgamma(k + 1) - math.lgamma(n - k + 1) + k * log_p + (n - k) * log_q)
        if lo is None and cumulative >= q_lo:
            lo = k
        if cumulative >= q_hi:
            hi = k
            break
    return (lo if lo is not None else stop), (hi if hi is not None else stop)


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson's score interval for the true rate after `successes` of `n` (no continuity correction)."""
    if n < 1:
        raise ValueError("n must be at least 1")
    if not 0 <= successes <= n:
        raise ValueError("successes must be in [0, n]")
    z = z_value(confidence)
    phat = successes / n
    denom = 1 + z * z / n
    centre = (phat + z * z / (2 * n)) / denom
    half = z * math.sqrt(phat * (1 - phat) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


# ------------------------------------------------------------------ how many sends decide a question
def _smallest_n(decided, limit: int = 10**9) -> int | None:
    """The smallest n >= 1 with decided(n) true, assuming it stays true for larger n (None: beyond limit)."""
    hi = 1
    while not decided(hi):
        if hi >= limit:
            return None
        hi *= 2
    lo = hi // 2  # decided(lo) is false (or lo == 0)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if decided(mid):
            hi = mid
        else:
            lo = mid
    return hi


def _wilson_at(phat: float, n: int, z: float) -> tuple[float, float]:
    denom = 1 + z * z / n
    centre = (phat + z * z / (2 * n)) / denom
    half = z * math.sqrt(max(phat * (1 - phat), 0.0) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def sends_to_tell_from(rate: float, target: float, confidence: float = 0.99) -> int | None:
    """Valid sends needed before an observed `rate` is told apart from `target` at `confidence`:
    the smallest n whose Wilson interval around `rate` leaves `target` out. None when they are
    equal (no sample can tell them apart)."""
    if rate == target:
        return None
    z = z_value(confidence)

    def decided(n: int) -> bool:
        lo, hi = _wilson_at(rate, n, z)
        return lo > target if rate > target else hi < target

    return _smallest_n(decided)


def sends_for_resolution(p: float, resolution: float, confidence: float = 0.99) -> int:
    """Valid sends needed before binomial_interval(p, n) is narrower than +-`resolution`."""
    if resolution <= 0:
        raise ValueError("resolution must be > 0")
    z = z_value(confidence)
    n = _smallest_n(lambda n: z * math.sqrt(p * (1 - p) / n) + 1 / (2 * n) < resolution)
    assert n is not None  # the half-width falls below any positive resolution
    return n

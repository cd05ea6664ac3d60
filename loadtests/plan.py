"""The load plan: what a scenario's `load` section asks of the harness, as numbers.

Durations in seconds, the stages as (end, users, spawn rate), and the volume the load should
produce (the default of the `min_sends` evidence gate). Pure: no Locust, no gevent.
"""

from __future__ import annotations

from simulator.scenario import Load, duration_seconds

seconds = duration_seconds  # the harness's name for it


def stage_plan(load: Load) -> list[tuple[float, int, float]]:
    """[(end_time_s, users, spawn_rate)] for the stages, then the drain holding the last count."""
    plan = []
    t = 0.0
    users = load.users
    for stage in load.stages:
        t += seconds(stage.duration)
        users = stage.users
        plan.append((t, users, stage.spawn_rate or load.spawn_rate))
    plan.append((t + seconds(load.drain), users, load.spawn_rate))
    return plan


# An unpaced user keeps its window full; on loopback it makes hundreds of submits a second, against
# a distant SMSC with a small window tens. Below this floor the run did not do the work it describes.
UNPACED_FLOOR_PER_USER = 20.0  # submits/s
VOLUME_TOLERANCE = 0.8  # a paced load must reach 80 % of rate x user-seconds


def user_seconds(load: Load, users: int, duration: float) -> float:
    """User-seconds of submitting in the first `duration` seconds: each stage (or, without stages,
    `users` for the whole time) at its user count, less half of the ramp to it at its spawn rate."""
    stages = [(seconds(s.duration), s.users, s.spawn_rate or load.spawn_rate) for s in load.stages]
    if not stages:
        stages = [(duration, users, load.spawn_rate)]
    total, t, current = 0.0, 0.0, 0.0
    for length, count, spawn_rate in stages:
        span = min(length, duration - t)
        if span <= 0:
            break
        ramp = abs(count - current) / spawn_rate
        if ramp <= span:
            total += count * span - (count - current) * ramp / 2
            reached = float(count)
        else:  # still ramping when the stage (or the time) ends: the next stage starts from here
            step = spawn_rate * span if count > current else -spawn_rate * span
            total += current * span + step * span / 2
            reached = current + step
        t, current = t + length, reached
    return total


def default_min_sends(load: Load, users: int, duration: float) -> tuple[int, str]:
    """The volume a run must at least reach, and how it follows from the load section."""
    us = user_seconds(load, users, duration)
    if load.rate_per_user:
        n = int(VOLUME_TOLERANCE * load.rate_per_user * us)
        return max(n, 1), (f"{VOLUME_TOLERANCE:.0%} of rate_per_user {load.rate_per_user:g}/s x "
                           f"{us:,.0f} user-seconds")
    n = int(UNPACED_FLOOR_PER_USER * us)
    return max(n, 1), f"unpaced: at least {UNPACED_FLOOR_PER_USER:g}/s per user x {us:,.0f} user-seconds"

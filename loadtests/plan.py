"""The load plan: what a scenario's `load` section asks of the harness, as numbers.

Durations in seconds, the stages as (end, users, spawn rate), and the volume the load should
produce (the default of the `min_sends` evidence gate). Pure: no Locust, no gevent.
"""

from __future__ import annotations

import re

from simulator.scenario import Load

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h)$")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def seconds(text: str) -> float:
    match = _DURATION.match(text.strip())
    if not match:
        raise ValueError(f"not a duration: {text!r} (use e.g. 500ms, 30s, 5m, 1h)")
    return float(match.group(1)) * _UNIT[match.group(2)]


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

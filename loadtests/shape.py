"""Load shapes from the scenario's `load.stages`: a LoadTestShape that walks the stages, then holds
the last user count through the drain so outstanding receipts are still collected.

Without stages, Locust's own --users/--spawn-rate/--run-time apply and no shape is defined.
"""

from __future__ import annotations

import os
import re

from locust import LoadTestShape

from simulator.scenario import Load, load_scenario

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


def shape_for_environment() -> type[LoadTestShape] | None:
    path = os.environ.get("CARRIER_SIM_SCENARIO")
    if not path:
        return None
    load = load_scenario(path).load
    if not load.stages:
        return None
    plan = stage_plan(load)

    class ScenarioShape(LoadTestShape):
        """The scenario's stages, then the drain."""

        def tick(self) -> tuple[int, float] | None:
            run_time = self.get_run_time()
            for end, users, rate in plan:
                if run_time < end:
                    return users, rate
            return None

    return ScenarioShape

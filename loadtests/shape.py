"""Load shapes from the scenario's `load.stages`: a LoadTestShape that walks the stages, then holds
the last user count through the drain so outstanding receipts are still collected.

Without stages, Locust's own --users/--spawn-rate/--run-time apply and no shape is defined.
"""

from __future__ import annotations

import os

from locust import LoadTestShape

from simulator.scenario import load_scenario

from .plan import stage_plan


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

"""`carrier-sim validate`: check a scenario file the way `serve` would load and build it.

Owns: the verdict on one file (ok, or what is wrong with file, line and field, exit 2). Not here: the
scenario model and its loader (the simulator/scenario package), the fault pipeline it builds (simulator/faults).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from simulator.scenario import ScenarioError

from .common import EXIT_BAD_INPUT, scenario_or_exit


@click.command()
@click.argument("scenario", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def validate(scenario: Path) -> None:
    """Check a scenario file and the files it refers to; print what is wrong with file, line and
    field (exit 2). List files must be inside the scenario's folder, or in a folder named in
    $CARRIER_SIM_FILE_DIRS (os.pathsep-separated)."""
    loaded = scenario_or_exit(scenario)
    from simulator.faults.pipeline import FaultPipeline

    try:  # what serve builds from it: whatever the loader let through must also start
        FaultPipeline(loaded)
    except (ScenarioError, ValueError) as exc:
        click.echo(f"error: {scenario}: {exc}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    click.echo(f"{scenario}: ok (scenario '{loaded.name}', seed {loaded.seed})")



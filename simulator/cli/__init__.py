"""The `carrier-sim` command: one click group, its subcommands in their own modules.

Owns: the group (logging from -v) and the list of its subcommands. serve.py runs the SMSC,
validate.py checks a scenario file, ledgers.py reports on, prunes and reconciles ledgers, meter.py
follows live nodes over MQTT. Argument parsing and process concerns only (signals, logging, exit
codes); everything a command does is a call into the package.

Not here: `carrier-sim run`, the load harness's command. It lives in the layer above the simulator
(loadtests/command.py) and is named below by its module path only: click imports it when it is
asked for (to run it or to print its help), so the simulator package never imports loadtests.
"""

from __future__ import annotations

import importlib
import logging

import click

from .ledgers import prune_command, reconcile_command, report_command
from .meter import meter_command
from .serve import serve
from .validate import validate

# Commands of the layers above the simulator: name -> "module:attribute" of a click command.
UPPER_LAYER_COMMANDS = {"run": "loadtests.command:run_command"}


class CarrierSimGroup(click.Group):
    """A click group that also offers UPPER_LAYER_COMMANDS, importing each only when it is used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *UPPER_LAYER_COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands or cmd_name not in UPPER_LAYER_COMMANDS:
            return super().get_command(ctx, cmd_name)
        module, _, attribute = UPPER_LAYER_COMMANDS[cmd_name].partition(":")
        command = getattr(importlib.import_module(module), attribute)
        self.add_command(command, cmd_name)
        return command


@click.group(cls=CarrierSimGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", count=True, help="More logging (-v info, -vv debug).")
def main(verbose: int) -> None:
    """carrier-sim: a fake mobile carrier that speaks SMPP 3.4."""
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


for _command in (serve, validate, report_command, prune_command, reconcile_command, meter_command):
    main.add_command(_command)

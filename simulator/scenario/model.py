"""The Scenario: the whole document, its sections, and the references between them.

Owns: Scenario and cross_check(). Each `faults:` entry is validated by its own kind's model, found
in simulator.faults.registry when a scenario is validated (never when this module is imported), so
the scenario describes data and the fault kinds bring their own parameters.
Not here: reading the file (loader.py), the sections' models (their modules).
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, Field, PlainValidator

from .base import MAX_SEED, Model
from .carrier import Carrier
from .lists import Blacklists
from .load import Load
from .numbers import Numbers
from .rules import Rules
from .sla import Gates, Sla


def _fault_spec(value: Any) -> Any:
    """One `faults:` entry, validated by the model of its kind (a simulator.faults FaultSpec)."""
    from simulator.faults.registry import validate_spec

    return validate_spec(value)


FaultEntry = Annotated[Any, PlainValidator(_fault_spec)]


def _file_name_safe(name: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name):
        raise ValueError("must be letters, digits, '.', '_' and '-', starting with a letter or digit "
                         "(it names runs, ledgers and report folders)")
    return name


class Scenario(Model):
    name: Annotated[str, AfterValidator(_file_name_safe)] = Field(
        default="default", max_length=64, description="also names runs, ledgers and report folders")
    description: str = ""
    seed: int = Field(default=0, strict=True, ge=0, le=MAX_SEED, description="an integer, 0 .. 2**63-1")
    carrier: Carrier = Field(default_factory=Carrier)
    numbers: Numbers = Field(default_factory=Numbers)
    blacklists: Blacklists = Field(default_factory=Blacklists)
    rules: Rules = Field(default_factory=Rules)
    faults: list[FaultEntry] = Field(default_factory=list)  # type: ignore[valid-type]
    load: Load = Field(default_factory=Load)
    sla: Sla = Field(default_factory=Sla)
    gates: Gates = Field(default_factory=Gates)

    def cross_check(self) -> list[tuple[tuple[Any, ...], str]]:
        """References between sections that field validation cannot see: (path, problem) pairs."""
        problems: list[tuple[tuple[Any, ...], str]] = []
        names = [f.name or f.kind for f in self.faults]
        if len(names) > self.carrier.max_faults:
            problems.append((("faults", self.carrier.max_faults), f"{len(names)} faults, more than "
                             f"carrier.max_faults ({self.carrier.max_faults})"))
        for i, name in enumerate(names):
            if names.index(name) != i:
                problems.append((("faults", i), f"fault name {name!r} is used twice (give each a unique `name:`)"))
        for group in self.load.traffic:
            if group not in self.numbers.groups:
                problems.append((("load", "traffic", group), f"no number group {group!r} in numbers.groups "
                                 f"(known: {', '.join(self.numbers.groups) or 'none'})"))
        known = {a.system_id for a in self.carrier.accounts}
        for section, accounts in (("rules", self.rules.accounts), ("blacklists", self.blacklists.accounts)):
            for account in accounts:
                if account not in known:
                    problems.append(((section, "accounts", account), f"no account {account!r} in carrier.accounts"))
        if self.load.account is not None and self.load.account not in known:
            problems.append((("load", "account"), f"no account {self.load.account!r} in carrier.accounts"))
        return problems

"""What the carrier asks about each message, bind and link: the Decider protocol, and its defaults.

Owns: Decider (every member the carrier uses, so nothing probes a decider with getattr),
DeciderDefaults (the answers of a decider without faults: any bind, no link checks, nothing to
change) and NoFaults, the decider of a carrier started without a scenario.
Not here: the scenario's decisions (faults/pipeline.py FaultPipeline is the real Decider).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from simulator.faults.outcome import DeliverEverything, LinkStats, Outcome, Submission

FaultListener = Callable[[dict[str, Any]], None]  # told {"action", "actor", "fault", "changes"}


class Decider(Protocol):
    """Decides what happens to messages, binds and links; FaultPipeline is the scenario's one."""

    @property
    def started_at(self) -> float:
        """The carrier clock at scenario time 0 (maintenance windows count from here)."""
        ...

    @property
    def wants_link_checks(self) -> bool:
        """Whether housekeeping should ask decide_link about every bound link."""
        ...

    @property
    def listeners(self) -> list[FaultListener]:
        """Called with every live fault change: the carrier appends its audit entry maker."""
        ...

    def start(self, now: float | None = None) -> None: ...

    def decide(self, submission: Submission, now: float) -> Outcome: ...

    def decide_bind(self, account: str, bind_type: str, now: float) -> int:
        """0 to let the bind proceed, else the command_status to refuse it with."""
        ...

    def decide_link(self, link: LinkStats, now: float) -> str | None:
        """"drop" to drop the link now, else None."""
        ...

    def describe(self) -> list[dict[str, Any]]: ...

    def change(self, name: str, changes: dict[str, Any], actor: str = "api") -> dict[str, Any]: ...

    def remove(self, name: str, actor: str = "api") -> None: ...


class DeciderDefaults:
    """Every Decider member but decide(), answered as a carrier without faults would: subclass it
    (tests' scripted deciders do) and write decide()."""

    started_at = 0.0
    wants_link_checks = False

    @property
    def listeners(self) -> list[FaultListener]:
        return []  # no faults, so no fault changes to tell anyone about

    def start(self, now: float | None = None) -> None:
        pass

    def decide_bind(self, account: str, bind_type: str, now: float) -> int:
        return 0

    def decide_link(self, link: LinkStats, now: float) -> str | None:
        return None

    def describe(self) -> list[dict[str, Any]]:
        return []

    def change(self, name: str, changes: dict[str, Any], actor: str = "api") -> dict[str, Any]:
        raise _no_faults()

    def remove(self, name: str, actor: str = "api") -> None:
        raise _no_faults()


class NoFaults(DeciderDefaults, DeliverEverything):
    """The decider of a carrier without a scenario: every message delivered after a fixed delay."""


def _no_faults() -> Exception:
    from simulator.faults.pipeline import FaultChangeError  # the fault machinery, only when asked

    return FaultChangeError("this simulator runs without a scenario: there are no faults to change")


__all__ = ["Decider", "DeciderDefaults", "NoFaults"]

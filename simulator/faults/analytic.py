"""The analytic side of a fault: one message as the expectation's walk sees it, and what a kind's
expected() may tell the walk.

Owns: Track (what the pipeline's Outcome knows that later faults look at), Effect, the Walk
protocol and the effect shared by the kinds that take a submit's response. Never draws a number.
Not here: the walk itself (simulator/metering/expectation.py), each kind's effect (its module).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple, Protocol

from .outcome import Verdict, prevails


class Track(NamedTuple):
    """One message's state in the walk: its SLA class and reason (plain strings), whether
    something refused or failed it (Outcome.settled), and whether its response is still free
    for a link fault to take (not Outcome.response_taken)."""

    sla_class: str
    reason: str
    settled: bool
    link_free: bool


# A fault's effect on a message it hits: its new Track, or None when it does not act on that one.
Effect = Callable[[Track], "Track | None"]


class Walk(Protocol):
    """What a kind's expected() may report besides its effect."""

    link_history: list[str]  # faults met so far whose action depends on a link's history (after_pdus)

    def assume(self, text: str) -> None:
        """An assumption the expectation rests on."""

    def not_analytic(self, text: str) -> None:
        """Why the rate cannot be worked out from the scenario's text."""

    def time_dependent(self, name: str, what: str, sla_class: str) -> None:
        """A cause acting by time (a window): fine when it only leaves messages out of the
        denominator, not analytic when it makes them delivered or definite failures."""


def takes_response(walk: Walk, fault: str, verdict: Verdict) -> Effect:
    """The effect of a fault (`fault`: its kind and name) that takes a submit's response
    (no_response, generic_nack): a message whose response is still free becomes settled and not
    link-free and takes `verdict`, unless an earlier verdict ranks as high (see after())."""
    if walk.link_history:
        walk.not_analytic(
            f"{fault} comes after {', '.join(walk.link_history)}, which act on a link's "
            "history (after_pdus): whether it may still act depends on the binds, not on a probability")
    sla_class, reason = verdict.sla_class.value, verdict.reason
    # an earlier verdict of the same or a higher rank stands: the walk applies outcome.prevails
    return lambda track: Track(sla_class, reason, True, False) if track.link_free else None


def after(track: Track, new: Track) -> Track:
    """`new` (a fault's effect on `track`), with the class and reason the one precedence of SLA
    classes keeps (outcome.prevails): an earlier verdict that ranks as high or higher stands."""
    if prevails(new.sla_class, track.sla_class):
        return new
    return new._replace(sla_class=track.sla_class, reason=track.reason)


def settles_unsettled(verdict: Verdict) -> Effect:
    """The effect of a fault that refuses or fails what nothing settled before (throttle,
    provider_failure): such a message takes `verdict`."""
    sla_class, reason = verdict.sla_class.value, verdict.reason
    return lambda track: None if track.settled else Track(sla_class, reason, True, track.link_free)

"""The traffic mix: which numbers and texts the load sends, drawn from the scenario's `load` section.

Destinations come from the number plan's groups by weight, texts from the templates with their
placeholders filled, a share of them long (several segments). Seeded per user, so a run repeats.
Pure: no sockets, no Locust.
"""

from __future__ import annotations

import random
import re
import string
from dataclasses import dataclass

from simulator.scenario import NumberGroup, Scenario, Template, normalize_number
from simulator.smpp.coding import choose_coding, split_message
from simulator.smpp.constants import EsmClass
from simulator.smpp.pdu import SubmitSm

PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
DEFAULT_GROUP = NumberGroup(prefix="8613800", state="active")
LONG_FILLER = (" Thank you for choosing us; reply STOP to opt out of these messages at any time."
               " Terms apply, see our website for details.")


@dataclass(frozen=True, slots=True)
class Message:
    """One message to send: its destination, group and the submit_sm PDUs of its segments."""

    group: str
    destination: str
    category: str
    pdus: list[SubmitSm]


class TrafficMix:
    def __init__(self, scenario: Scenario, seed_offset: int = 0, source: str = "1000") -> None:
        load = scenario.load
        self.random = random.Random(f"{scenario.seed}:traffic:{seed_offset}")
        groups = scenario.numbers.groups
        weights = load.traffic or ({name: 1.0 for name in groups} if groups else {"default": 1.0})
        self.group_names = [name for name, w in weights.items() if w > 0]
        self.group_weights = [weights[name] for name in self.group_names]
        self.groups = {name: groups.get(name, DEFAULT_GROUP) for name in self.group_names}
        self.templates: list[Template] = [
            t if isinstance(t, Template) else Template(text=t) for t in load.templates
        ] or [Template(text="Your code is {code}", category="verification")]
        self.long_share = load.long_messages
        self.registered_delivery = load.registered_delivery
        self.source = source
        self._ref = 0

    def number(self, group: NumberGroup) -> str:
        rng = self.random
        if group.numbers:
            return rng.choice(group.numbers)
        if group.range is not None:
            lo, hi = (normalize_number(x) for x in group.range)
            return str(rng.randint(int(lo), int(hi))).zfill(len(lo))
        prefix = normalize_number(group.prefix or "")
        digits = max(group.length - len(prefix), 0)
        return prefix + "".join(rng.choices(string.digits, k=digits))

    def text(self, template: Template) -> str:
        rng = self.random

        def fill(match: re.Match[str]) -> str:
            name = match.group(1).lower()
            if name in ("code", "otp", "pin"):
                return "".join(rng.choices(string.digits, k=6))
            if name in ("amount", "balance"):
                return f"{rng.randint(1, 9999)}.{rng.randint(0, 99):02d}"
            return "".join(rng.choices(string.ascii_letters, k=rng.randint(3, 8)))

        return PLACEHOLDER.sub(fill, template.text)

    def next(self) -> Message:
        rng = self.random
        name = rng.choices(self.group_names, self.group_weights)[0]
        destination = self.number(self.groups[name])
        template = rng.choice(self.templates)
        text = self.text(template)
        if self.long_share and rng.random() < self.long_share:
            while len(text) < 300:
                text += LONG_FILLER
        coding = choose_coding(text)
        self._ref = (self._ref + 1) & 0xFF
        parts = split_message(text, coding, "udh8", ref=self._ref)
        pdus = [
            SubmitSm(
                source_addr=self.source,
                destination_addr=destination,
                esm_class=EsmClass.UDHI if part.esm_class_udhi else 0,
                data_coding=coding,
                registered_delivery=self.registered_delivery,
                short_message=part.short_message,
            )
            for part in parts
        ]
        return Message(name, destination, template.category, pdus)

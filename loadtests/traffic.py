"""The traffic mix: which numbers and texts the load sends, drawn from the scenario's `load` section.

Destinations come from the number plan's groups by weight, texts from the templates with their
placeholders filled, a share of them long (several segments). Seeded per user, so a run repeats.
Pure: no sockets, no Locust. Two forms of the same draw: `next()` gives a PlannedSend of SubmitSm
objects, `next_frames()` the encoded submit_sm (sequence 0, for the client to number) at a fraction
of the cost, from one simulator.smpp.submit_template.SubmitTemplate per esm_class and data_coding
(each checked against SubmitSm.encode() when it is built). Not here: encoding (simulator/smpp).
"""

from __future__ import annotations

import enum
import random
import re
import string
from bisect import bisect
from collections.abc import Callable
from dataclasses import dataclass
from itertools import accumulate

from simulator.scenario import DEFAULT_TRAFFIC_GROUP, NumberGroup, Scenario, Template, normalize_number
from simulator.smpp.coding import choose_coding, encode_text, split_message
from simulator.smpp.constants import DataCoding, EsmClass
from simulator.smpp.pdu import SubmitSm
from simulator.smpp.submit_template import SubmitTemplate

PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
LONG_FILLER = (" Thank you for choosing us; reply STOP to opt out of these messages at any time."
               " Terms apply, see our website for details.")
LONG_MIN_CHARS = 300  # a long message is its text plus fillers up to at least this many characters
# Encoded text up to this many octets is one segment in every alphabet (GSM 160, others 140).
ONE_SEGMENT_OCTETS = 140
UDHI = int(EsmClass.UDHI)
UCS2 = int(DataCoding.UCS2)  # encode_text's UCS2 is UTF-16BE
_LETTERS = string.ascii_letters


@dataclass(frozen=True, slots=True)
class PlannedSend:
    """One message not yet sent: its destination, group and the submit_sm PDUs of its segments."""

    group: str
    destination: str
    category: str
    pdus: list[SubmitSm]


# ---------------------------------------------------------------------------------------- drawing
class Placeholder(enum.Enum):
    """What a template's `{name}` is filled with, by its name."""

    CODE = "code"  # {code}, {otp}, {pin}: six digits
    AMOUNT = "amount"  # {amount}, {balance}: 1.00 to 9999.99
    WORD = "word"  # anything else: 3 to 8 letters

    @classmethod
    def of(cls, name: str) -> Placeholder:
        name = name.lower()
        if name in ("code", "otp", "pin"):
            return cls.CODE
        if name in ("amount", "balance"):
            return cls.AMOUNT
        return cls.WORD


def _code(rng: random.Random) -> str:
    return str(int(rng.random() * 1_000_000)).zfill(6)


def _amount(rng: random.Random) -> str:
    return f"{rng.randrange(1, 10_000)}.{rng.randrange(100):02d}"


def _word(rng: random.Random) -> str:
    return "".join(rng.choices(_LETTERS, k=rng.randrange(3, 9)))


FILL: dict[Placeholder, Callable[[random.Random], str]] = {
    Placeholder.CODE: _code, Placeholder.AMOUNT: _amount, Placeholder.WORD: _word}


class _Filler:
    """A template cut at its placeholders, with the coding its filled texts always take."""

    __slots__ = ("category", "coding", "fills", "literals", "template")

    def __init__(self, template: Template) -> None:
        self.template = template
        self.category = template.category
        pieces = PLACEHOLDER.split(template.text)  # literal, name, literal, name, ..., literal
        self.literals = pieces[0::2]
        self.fills = [FILL[Placeholder.of(name)] for name in pieces[1::2]]
        # Fills are ASCII letters, digits and '.', all in the GSM alphabet, and the filler is GSM
        # text too: the coding of every filled text is that of the literal parts.
        self.coding = choose_coding("".join(self.literals))


class TrafficMix:
    def __init__(self, scenario: Scenario, seed_offset: int = 0, source: str = "1000") -> None:
        load = scenario.load
        self.random = random.Random(f"{scenario.seed}:traffic:{seed_offset}")
        groups = scenario.numbers.groups
        weights = load.traffic or ({name: 1.0 for name in groups} if groups else {"default": 1.0})
        self.group_names = [name for name, w in weights.items() if w > 0]
        self.group_weights = [weights[name] for name in self.group_names]
        self._cum_weights = list(accumulate(self.group_weights))
        self.groups = {name: groups.get(name, DEFAULT_TRAFFIC_GROUP) for name in self.group_names}
        self._draw_number = {name: self._number_drawer(group) for name, group in self.groups.items()}
        self.templates: list[Template] = [
            t if isinstance(t, Template) else Template(text=t) for t in load.templates
        ] or [Template(text="Your code is {code}", category="verification")]
        self._fillers = [_Filler(t) for t in self.templates]
        self.long_share = load.long_messages
        self.registered_delivery = load.registered_delivery
        self.source = source
        self._ref = 0
        self._submit_templates: dict[tuple[int, int], SubmitTemplate] = {}  # by (esm_class, data_coding)
        for filler in self._fillers:  # built (and checked) now, not in the middle of the load
            self._submit_template(0, filler.coding)
            self._submit_template(UDHI, filler.coding)

    # ------------------------------------------------------------------ numbers and texts
    def _number_drawer(self, group: NumberGroup) -> Callable[[], str]:
        rng = self.random
        if group.numbers:
            numbers = list(group.numbers)
            return lambda: numbers[int(rng.random() * len(numbers))]
        if group.range is not None:
            lo, hi = (normalize_number(x) for x in group.range)
            first, span, width = int(lo), int(hi) - int(lo) + 1, len(lo)
            return lambda: str(first + rng.randrange(span)).zfill(width)
        prefix = normalize_number(group.prefix or "")
        digits = max(group.length - len(prefix), 0)
        if not digits:
            return lambda: prefix
        top = 10**digits
        if top <= 1 << 32:  # random() has 53 bits: uniform enough, and cheaper than randrange
            draw = rng.random
            return lambda: prefix + str(int(draw() * top)).zfill(digits)
        return lambda: prefix + str(rng.randrange(top)).zfill(digits)

    def number(self, group: NumberGroup) -> str:
        """A number of `group` (drawn uniformly from its list, range or prefix)."""
        for name, g in self.groups.items():
            if g is group:
                return self._draw_number[name]()
        return self._number_drawer(group)()

    def _fill(self, filler: _Filler) -> str:
        fills = filler.fills
        literals = filler.literals
        if not fills:
            return literals[0]
        rng = self.random
        out = [literals[0]]
        for i, fill in enumerate(fills, 1):
            out.append(fill(rng))
            out.append(literals[i])
        return "".join(out)

    def text(self, template: Template) -> str:
        return self._fill(_Filler(template))

    def _draw(self) -> tuple[str, str, _Filler, str]:
        """One message: (group, destination, template, text)."""
        rng = self.random
        names = self.group_names
        if len(names) == 1:
            name = names[0]
        else:
            cum = self._cum_weights
            name = names[bisect(cum, rng.random() * cum[-1], 0, len(cum) - 1)]
        destination = self._draw_number[name]()
        fillers = self._fillers
        filler = fillers[int(rng.random() * len(fillers))] if len(fillers) > 1 else fillers[0]
        text = self._fill(filler)
        if self.long_share and rng.random() < self.long_share:
            while len(text) < LONG_MIN_CHARS:
                text += LONG_FILLER
        return name, destination, filler, text

    def _segments(self, text: str, coding: int) -> list[tuple[int, bytes]]:
        """[(esm_class, short_message)] of the text's segments (udh8 concatenation when long)."""
        data = text.encode("utf-16-be") if coding == UCS2 else encode_text(text, coding)
        if len(data) <= ONE_SEGMENT_OCTETS:
            return [(0, data)]
        self._ref = (self._ref + 1) % 256  # udh8: the concatenation reference is one octet
        return [(UDHI if part.esm_class_udhi else 0, part.short_message)
                for part in split_message(text, coding, "udh8", ref=self._ref)]

    # ------------------------------------------------------------------ the two forms
    def next(self) -> PlannedSend:
        """The next message, as SubmitSm objects."""
        name, destination, filler, text = self._draw()
        coding = filler.coding
        pdus = [
            SubmitSm(
                source_addr=self.source,
                destination_addr=destination,
                esm_class=esm_class,
                data_coding=coding,
                registered_delivery=self.registered_delivery,
                short_message=short_message,
            )
            for esm_class, short_message in self._segments(text, coding)
        ]
        return PlannedSend(name, destination, filler.category, pdus)

    def next_frames(self) -> list[bytes]:
        """The next message as encoded submit_sm, one per segment, with sequence number 0: the
        same octets SubmitSm(...).encode() gives for what next() would have drawn."""
        _name, destination, filler, text = self._draw()
        coding = filler.coding
        dest = destination.encode("latin-1")
        templates = self._submit_templates
        return [(templates.get((esm, coding)) or self._submit_template(esm, coding)).frame(dest, part)
                for esm, part in self._segments(text, coding)]

    def _submit_template(self, esm_class: int, coding: int) -> SubmitTemplate:
        template = SubmitTemplate(self.source, esm_class=esm_class, data_coding=coding,
                                  registered_delivery=self.registered_delivery)
        self._submit_templates[(esm_class, coding)] = template
        return template

"""The traffic mix: which numbers and texts the load sends, drawn from the scenario's `load` section.

Destinations come from the number plan's groups by weight, texts from the templates with their
placeholders filled, a share of them long (several segments). Seeded per user, so a run repeats.
Pure: no sockets, no Locust. Two forms of the same draw: `next()` gives SubmitSm objects,
`next_frames()` the encoded submit_sm (sequence 0, for the client to number) at a fraction of
the cost, from per-coding templates checked against SubmitSm.encode() when the mix is built.
"""

from __future__ import annotations

import random
import re
import string
from bisect import bisect
from collections.abc import Callable
from dataclasses import dataclass
from itertools import accumulate

from simulator.scenario import DEFAULT_TRAFFIC_GROUP, NumberGroup, Scenario, Template, normalize_number
from simulator.smpp.coding import choose_coding, encode_text, split_message
from simulator.smpp.constants import CommandId, DataCoding, EsmClass
from simulator.smpp.errors import PduEncodeError
from simulator.smpp.pdu import HEADER, SubmitSm

PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
LONG_FILLER = (" Thank you for choosing us; reply STOP to opt out of these messages at any time."
               " Terms apply, see our website for details.")
LONG_MIN_CHARS = 300  # a long message is its text plus fillers up to at least this many characters
# Encoded text up to this many octets is one segment in every alphabet (GSM 160, others 140).
ONE_SEGMENT_OCTETS = 140
SUBMIT_SM = int(CommandId.submit_sm)
UDHI = int(EsmClass.UDHI)
UCS2 = int(DataCoding.UCS2)  # encode_text's UCS2 is UTF-16BE
_LETTERS = string.ascii_letters


@dataclass(frozen=True, slots=True)
class Message:
    """One message to send: its destination, group and the submit_sm PDUs of its segments."""

    group: str
    destination: str
    category: str
    pdus: list[SubmitSm]


# ---------------------------------------------------------------------------------------- drawing
class _Filler:
    """A template cut at its placeholders, with the coding its filled texts always take."""

    __slots__ = ("category", "coding", "kinds", "literals", "template")

    def __init__(self, template: Template) -> None:
        self.template = template
        self.category = template.category
        pieces = PLACEHOLDER.split(template.text)  # literal, name, literal, name, ..., literal
        self.literals = pieces[0::2]
        self.kinds = [_kind(name) for name in pieces[1::2]]
        # Fills are ASCII letters, digits and '.', all in the GSM alphabet, and the filler is GSM
        # text too: the coding of every filled text is that of the literal parts.
        self.coding = choose_coding("".join(self.literals))


def _kind(name: str) -> int:
    name = name.lower()
    if name in ("code", "otp", "pin"):
        return 0
    if name in ("amount", "balance"):
        return 1
    return 2


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
        self._frame_parts: dict[tuple[int, int], tuple[bytes, bytes]] = {}
        self._check_frames()

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
        kinds = filler.kinds
        literals = filler.literals
        if not kinds:
            return literals[0]
        rng = self.random
        out = [literals[0]]
        for i, kind in enumerate(kinds):
            if kind == 0:
                out.append(str(int(rng.random() * 1_000_000)).zfill(6))
            elif kind == 1:
                out.append(f"{rng.randrange(1, 10_000)}.{rng.randrange(100):02d}")
            else:
                out.append("".join(rng.choices(_LETTERS, k=rng.randrange(3, 9))))
            out.append(literals[i + 1])
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
        self._ref = (self._ref + 1) & 0xFF
        return [(UDHI if part.esm_class_udhi else 0, part.short_message)
                for part in split_message(text, coding, "udh8", ref=self._ref)]

    # ------------------------------------------------------------------ the two forms
    def next(self) -> Message:
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
        return Message(name, destination, filler.category, pdus)

    def next_frames(self) -> list[bytes]:
        """The next message as encoded submit_sm, one per segment, with sequence number 0: the
        same octets SubmitSm(...).encode() gives for what next() would have drawn."""
        _name, destination, filler, text = self._draw()
        coding = filler.coding
        dest = destination.encode("latin-1")
        if len(dest) > 20 or 0 in dest:
            raise PduEncodeError(f"submit_sm.destination_addr: {destination!r} breaks its limit")
        frames = []
        pack = HEADER.pack
        for esm_class, short_message in self._segments(text, coding):
            head, mid = self._frame_parts.get((esm_class, coding)) or self._parts(esm_class, coding)
            size = len(short_message)
            if size > 254:
                raise PduEncodeError(f"submit_sm.short_message: {size} octets, at most 254")
            frames.append(b"".join((
                pack(16 + len(head) + len(dest) + len(mid) + 2 + size, SUBMIT_SM, 0, 0),
                head, dest, b"\0", mid, bytes((size,)), short_message,
            )))  # fmt: skip
        return frames

    def _parts(self, esm_class: int, coding: int) -> tuple[bytes, bytes]:
        """(octets before destination_addr, octets between its NUL and sm_length) for this
        esm_class and data_coding, cut out of SubmitSm.encode() itself."""
        frame = SubmitSm(source_addr=self.source, destination_addr="", esm_class=esm_class, data_coding=coding,
                         registered_delivery=self.registered_delivery, short_message=b"").encode()
        # service_type "" NUL, source ton and npi, source_addr NUL, dest ton and npi (SMPP 3.4 4.4.1)
        cut = 16 + 1 + 2 + len(self.source.encode("latin-1")) + 1 + 2
        if frame[cut] != 0 or frame[-1] != 0:
            raise AssertionError("the submit_sm layout is not the one next_frames() assumes")
        parts = frame[16:cut], frame[cut + 1 : -1]
        self._frame_parts[(esm_class, coding)] = parts
        return parts

    def _check_frames(self) -> None:
        """next_frames() must give SubmitSm.encode()'s octets: compare one message per template."""
        state = self.random.getstate(), self._ref
        try:
            for filler in self._fillers:
                text = self._fill(filler)
                for long in (False, True):
                    while long and len(text) < LONG_MIN_CHARS:
                        text += LONG_FILLER
                    segments = self._segments(text, filler.coding)
                    dest = "8613800000000"
                    expected = [SubmitSm(source_addr=self.source, destination_addr=dest, esm_class=e,
                                         data_coding=filler.coding, registered_delivery=self.registered_delivery,
                                         short_message=sm).encode() for e, sm in segments]
                    got = []
                    for e, sm in segments:
                        head, mid = self._parts(e, filler.coding)
                        body = head + dest.encode() + b"\0" + mid + bytes((len(sm),)) + sm
                        got.append(HEADER.pack(16 + len(body), SUBMIT_SM, 0, 0) + body)
                    if got != expected:
                        raise AssertionError("next_frames() would not encode submit_sm as SubmitSm.encode() does")
        finally:
            self.random.setstate(state[0])
            self._ref = state[1]

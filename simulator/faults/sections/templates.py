"""Approved signatures and templates, compiled: what one account's AccountPolicy judges a text by.

Owns: the template syntax ({name} placeholders, {{ and }} literal braces), its translation to
regexes that match in time linear in the text (template_regex, prefix_regex), the signature forms
(【】, [], ［］) and AccountPolicy (the verdict on a whole text or on the first part of a long one).
Not here: the content filter and the long-message bookkeeping (sections/sending_rules.py).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from simulator.smpp.coding import CodingError, decode_text, parse_udh
from simulator.smpp.constants import EsmClass

if TYPE_CHECKING:
    from simulator.scenario import AccountRules

    from ..outcome import Submission

DEFAULT_CATEGORY = "notification"
UNAPPROVED_SIGNATURE = "unapproved_signature"
UNAPPROVED_TEMPLATE = "unapproved_template"

# A signature is a name in brackets; the CJK form 【】, the ASCII form [] and the full-width
# form ［］ are the same signature.
_BRACKETS = (("【", "】"), ("[", "]"), ("［", "］"))
_BRACKETED = re.compile(r"\s*(?:【(.+)】|\[(.+)\]|［(.+)］)\s*", re.DOTALL)
# Template syntax: {name} is a placeholder, {{ and }} are literal braces. A placeholder stands for
# any non-empty text (an address or a list may take several lines); literal whitespace matches any
# run of whitespace.
_TOKEN = re.compile(r"\{\{|\}\}|\{[^{}\n]*\}")
_CHARS = re.compile(r"\s+|.", re.DOTALL)
_ANY = "(?s:.)"


def signature_forms(signature: str) -> tuple[str, ...]:
    """The ways an approved signature may be written: '【Acme】' -> ('【Acme】', '[Acme]', '［Acme］')."""
    match = _BRACKETED.fullmatch(signature)
    name = next(g for g in match.groups() if g) if match else signature.strip()
    if not name:
        return ()
    return tuple(f"{opening}{name}{closing}" for opening, closing in _BRACKETS)


def template_parts(text: str) -> list[str | None]:
    """A template's literal texts (braces unescaped) with None for each placeholder, in order."""
    parts: list[str | None] = []
    literal: list[str] = []
    pos = 0
    for match in _TOKEN.finditer(text):
        literal.append(text[pos : match.start()])
        token = match.group()
        if token == "{{":
            literal.append("{")
        elif token == "}}":
            literal.append("}")
        else:
            parts.append("".join(literal))
            parts.append(None)
            literal = []
        pos = match.end()
    literal.append(text[pos:])
    parts.append("".join(literal))
    return parts


def _literal_tokens(literal: str) -> list[str]:
    """Regex tokens of a literal text: one per character, and one per run of whitespace.

    A run between two characters is `\\s++` (possessive: it must take the whole run anyway); a run
    at either end of the literal borders a placeholder, which takes any extra whitespace, so one
    `\\s` is enough. Either way no whitespace is ever re-tried: matching stays linear.
    """
    matches = list(_CHARS.finditer(literal))
    last = len(matches) - 1
    return [
        (r"\s++" if 0 < i < last else r"\s") if m.group().isspace() else re.escape(m.group())
        for i, m in enumerate(matches)
    ]


def template_regex(text: str) -> str:
    """The regex source that a whole message body must fullmatch to follow the template.

    Anchored at both ends, surrounding whitespace ignored. Each placeholder with the literal after
    it is an atomic group that takes the leftmost place where that literal appears: with
    placeholders that take any text this finds a match whenever there is one, and never
    backtracks, so a hostile 64 KB message_payload costs a linear scan, not minutes.
    """
    parts = template_parts(text.strip())
    first = "".join(_literal_tokens(parts[0]))  # type: ignore[arg-type]
    out = [r"\s*+" + first if first else ""]
    for i in range(1, len(parts), 2):
        literal = "".join(_literal_tokens(parts[i + 1]))  # type: ignore[arg-type]
        if i + 2 < len(parts):  # a placeholder with a literal after it
            out.append(f"(?>{_ANY}+?{literal})" if literal else _ANY)
        else:  # the last placeholder, and the literal that ends the message
            out.append(f"{_ANY}+{literal}" if literal else f"{_ANY}+")
    if parts[-1]:
        out.append(r"\s*")
    return "".join(out)


def prefix_regex(text: str) -> str:
    """The regex source that the first part of a long message must fullmatch: any beginning of a
    body that follows the template (as template_regex), cut anywhere.

    Once past the first placeholder anything may follow (a placeholder takes any text), so this is
    the template's first literal text, each of its characters optional after the one before it,
    then any text if a placeholder comes next. Characters are grouped into runs of up to `chunk`
    (the cut may fall inside a run) so the nesting stays shallow however long the literal is.
    """
    parts = template_parts(text.strip())
    tokens = _literal_tokens(parts[0])  # type: ignore[arg-type]
    if not tokens:
        return f"{_ANY}*"
    chunk = max(16, -(-len(tokens) // 64))
    runs = [tokens[i : i + chunk] for i in range(0, len(tokens), chunk)]
    rest = f"{_ANY}*" if len(parts) > 1 else ""
    for run in reversed(runs):
        cuts = ["".join(run[:k]) for k in range(len(run) - 1, 0, -1)]
        rest = "(?:" + "|".join(["".join(run) + rest, *cuts]) + ")?"
    return rf"\s*+{rest}\s*"


class AccountPolicy:
    """One account's approved signatures and templates, compiled."""

    __slots__ = ("categories", "forms", "matcher", "prefix_matcher")

    def __init__(self, rules: AccountRules) -> None:
        forms: list[str] = []
        for signature in rules.signatures:
            forms.extend(f for f in signature_forms(signature) if f not in forms)
        self.forms = tuple(forms)
        self.categories = tuple(t.category for t in rules.templates)
        self.matcher: re.Pattern[str] | None = None
        self.prefix_matcher: re.Pattern[str] | None = None
        if rules.templates:
            # one alternation, one capturing group per template: lastindex names the template
            self.matcher = re.compile("|".join(f"({template_regex(t.text)})" for t in rules.templates))
            self.prefix_matcher = re.compile("|".join(f"({prefix_regex(t.text)})" for t in rules.templates))

    def judge(self, text: str) -> tuple[str, str]:
        """(refusal reason or "", category) for a whole message text.

        The template is tried on the text without its signature: after a leading one, before a
        trailing one, and last on the whole text (a template may spell the signature out itself).
        """
        forms = self.forms
        matcher = self.matcher
        signed = not forms
        if forms:
            start = text.lstrip()
            if start.startswith(forms):
                if matcher is None:
                    return "", DEFAULT_CATEGORY
                signed = True
                match = matcher.fullmatch(start, self._length(start, forms, leading=True))
                if match is not None:
                    return "", self.categories[match.lastindex - 1]  # type: ignore[operator]
            end = text.rstrip()
            if end.endswith(forms):
                if matcher is None:
                    return "", DEFAULT_CATEGORY
                signed = True
                match = matcher.fullmatch(end, 0, len(end) - self._length(end, forms, leading=False))
                if match is not None:
                    return "", self.categories[match.lastindex - 1]  # type: ignore[operator]
            if not signed:
                return UNAPPROVED_SIGNATURE, ""
        if matcher is None:
            return "", DEFAULT_CATEGORY
        match = matcher.fullmatch(text)
        if match is not None:
            return "", self.categories[match.lastindex - 1]  # type: ignore[operator]
        return UNAPPROVED_TEMPLATE, ""

    @staticmethod
    def _length(text: str, forms: tuple[str, ...], leading: bool) -> int:
        """The length of the signature form that the text starts (or ends) with."""
        for form in forms:
            if text.startswith(form) if leading else text.endswith(form):
                return len(form)
        raise AssertionError("no signature form")  # pragma: no cover - checked by the caller

    def judge_first_part(self, text: str) -> tuple[str, str]:
        """(refusal reason or "", category) for the first part of a UDH-concatenated message."""
        forms = self.forms
        pos = 0
        if forms:
            text = text.lstrip()
            if not text.startswith(forms):
                return UNAPPROVED_SIGNATURE, ""
            pos = self._length(text, forms, leading=True)
        matcher = self.prefix_matcher
        if matcher is None:
            return "", DEFAULT_CATEGORY
        match = matcher.fullmatch(text, pos) or (matcher.fullmatch(text) if pos else None)
        if match is not None:
            return "", self.categories[match.lastindex - 1]  # type: ignore[operator]
        return UNAPPROVED_TEMPLATE, ""


_UDHI = int(EsmClass.UDHI)  # a plain int: `int & IntFlag` costs a microsecond on the hot path


def text_and_part(submission: Submission) -> tuple[str, tuple[int, int, int] | None]:
    """The text a template is matched against, and (ref, total, seq) when the submission is one part
    of a concatenated message (its UDH, else its SAR TLVs), without parsing the UDH twice."""
    body = submission.body
    concat = None
    if submission.esm_class & _UDHI:
        try:
            concat, body = parse_udh(body)
        except CodingError:
            pass
    try:
        text = decode_text(body, submission.data_coding)
    except CodingError:
        text = body.decode("latin-1")
    if concat is not None and concat.total > 1:
        return text, (concat.ref, concat.total, concat.seq)
    sar = submission.sar
    if sar is not None and sar[1] > 1 and 1 <= sar[2] <= sar[1]:
        return text, (sar[0], sar[1], sar[2])
    return text, None

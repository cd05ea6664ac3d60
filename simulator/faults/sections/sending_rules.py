"""sending_rules: the `rules:` section: approved signatures and templates per account, and a content
filter for everyone. Refusals are SLA-excluded; accepted messages get their template's category.
It compiles everything once, matches in time linear in the text, never touches a settled outcome.
"""

from __future__ import annotations

import re
import unicodedata
from collections import OrderedDict
from typing import TYPE_CHECKING

from simulator.smpp.coding import CodingError, decode_text, parse_udh
from simulator.smpp.constants import EsmClass

from ..base import SectionFault, Stage
from ..outcome import Outcome, SlaClass, Submission
from ..pipeline import section

if TYPE_CHECKING:
    from simulator.scenario import AccountRules, ContentFilter, Rules, Scenario

    from ..pipeline import FaultEnv

DEFAULT_CATEGORY = "notification"
MAX_OPEN_MESSAGES = 65_536  # partial UDH-concatenated messages whose verdict is remembered

UNAPPROVED_SIGNATURE = "unapproved_signature"
UNAPPROVED_TEMPLATE = "unapproved_template"
ILLEGAL_CONTENT = "illegal_content"

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
_UDHI = int(EsmClass.UDHI)  # a plain int: `int & IntFlag` costs a microsecond on the hot path


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


def fold(text: str) -> str:
    """Text as the word filter sees it: NFKC (full-width letters are letters) and case-folded."""
    if text.isascii():
        return text.lower()
    return unicodedata.normalize("NFKC", text).casefold()


def _word_regex(word: str) -> str:
    return r"\s++".join(re.escape(chunk) for chunk in word.split())


class ContentRules:
    """Prohibited words (case-insensitive, Unicode-aware, found anywhere) and regex patterns."""

    __slots__ = ("patterns", "plain", "status", "tail", "words")

    MAX_PLAIN = 32  # up to this many one-piece words, `word in text` beats a regex alternation

    def __init__(self, content: ContentFilter) -> None:
        words = sorted({" ".join(fold(w).split()) for w in content.words if w.strip()}, key=len, reverse=True)
        plain = [w for w in words if " " not in w]
        if len(plain) > self.MAX_PLAIN:
            plain = []
        rest = [w for w in words if w not in plain]
        self.plain = tuple(plain)
        self.words = re.compile("|".join(_word_regex(w) for w in rest)) if rest else None
        self.patterns = tuple(re.compile(p) for p in content.patterns)
        self.status = content.status
        self.tail = max((len(w) for w in words), default=0)  # characters of a part kept for the next one

    def __bool__(self) -> bool:
        return bool(self.plain) or self.words is not None or bool(self.patterns)

    def hit(self, text: str) -> bool:
        if self.plain or self.words is not None:
            folded = fold(text)
            for word in self.plain:
                if word in folded:
                    return True
            if self.words is not None and self.words.search(folded) is not None:
                return True
        for pattern in self.patterns:
            if pattern.search(text) is not None:
                return True
        return False


class _OpenMessage:
    """The verdict of a UDH-concatenated message, while its parts arrive."""

    __slots__ = ("category", "reason", "status", "tail")

    def __init__(self, reason: str, status: int, category: str) -> None:
        self.reason = reason
        self.status = status
        self.category = category
        self.tail = ""


class SendingRules(SectionFault):
    """The `rules:` section at run time.

    Checks run cheapest first: the signature (str.startswith/endswith), then one regex over all of
    the account's templates, then the content filter (plain words, a word regex, the patterns).
    An account listed with neither signatures nor
    templates, or not listed, is left untouched (no category either); the content filter applies
    to every account.

    Long messages. A whole text (one SMS, or a long message in message_payload) gets every check.
    A UDH-concatenated message arrives as parts, each answered before the next one comes, so it
    cannot be judged on its reassembled text without accepting parts that might turn out bad. It
    is judged at its first part, and the rest of the message follows that verdict:
      - part 1 must start with an approved signature (in a long message the signature leads; a
        trailing one is accepted only on a whole text) and be a beginning of a message following
        one approved template (prefix_regex): it never refuses a part that later parts could
        complete into an approved message; what lies past part 1 is not checked.
      - parts 2..n take part 1's verdict, refused with the same status and reason or accepted with
        the same category: a long message is never half refused for its template and is billed at
        one price. A part whose part 1 was not seen (out of order, or forgotten: at most
        MAX_OPEN_MESSAGES partial messages are remembered) is accepted as a "notification".
      - the content filter runs on every part, with the end of the previous part prepended so a
        prohibited word cut in two by the split is still found; from the first offending part on,
        the rest of the message is refused too.
    Parts sent with the SAR TLVs (Submission.sar) are judged the same way as UDH parts.
    """

    stage = Stage.POLICY
    spec: Rules

    def __init__(self, rules: Rules, env: FaultEnv, name: str = "rules") -> None:
        super().__init__(rules, env, name)
        self.policies = {
            account: AccountPolicy(r) for account, r in rules.accounts.items() if r.signatures or r.templates
        }
        content = ContentRules(rules.content) if rules.content is not None else None
        self.content = content if content else None
        self.unapproved_status = rules.unapproved_status
        self.open_messages: OrderedDict[tuple, _OpenMessage] = OrderedDict()

    def on_submit(self, submission: Submission, outcome: Outcome, now: float) -> None:
        if outcome.settled:
            return
        policy = self.policies.get(submission.account)
        content = self.content
        if policy is None and content is None:
            return
        # the text as Submission.text gives it, without parsing the UDH twice
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
            self._on_part(submission, outcome, text, concat.ref, concat.total, concat.seq, policy)
            return
        sar = submission.sar
        if sar is not None and sar[1] > 1 and 1 <= sar[2] <= sar[1]:
            self._on_part(submission, outcome, text, sar[0], sar[1], sar[2], policy)
            return
        if policy is not None:
            reason, category = policy.judge(text)
            if reason:
                self._refuse(outcome, self.unapproved_status, reason)
                return
        if content is not None and content.hit(text):
            self._refuse(outcome, content.status, ILLEGAL_CONTENT)
            return
        if policy is not None:
            outcome.category = category

    def _on_part(
        self,
        submission: Submission,
        outcome: Outcome,
        text: str,
        ref: int,
        total: int,
        seq: int,
        policy: AccountPolicy | None,
    ) -> None:
        key = (submission.account, submission.source, submission.destination, ref, total)
        messages = self.open_messages
        message = messages.get(key) if seq != 1 else None
        if message is None:
            if seq == 1 and policy is not None:
                reason, category = policy.judge_first_part(text)
            else:  # no account rules, or part 1 unseen
                reason, category = "", (DEFAULT_CATEGORY if policy is not None else "")
            message = _OpenMessage(reason, self.unapproved_status if reason else 0, category)
            messages[key] = message
            messages.move_to_end(key)
            while len(messages) > MAX_OPEN_MESSAGES:
                messages.popitem(last=False)
        if seq == total:
            messages.pop(key, None)
        content = self.content
        if not message.reason and content is not None:
            if content.hit(message.tail + text):
                message.reason, message.status = ILLEGAL_CONTENT, content.status
            elif content.tail:
                message.tail = text[-content.tail :]
        if message.reason:
            self._refuse(outcome, message.status, message.reason)
        elif policy is not None:
            outcome.category = message.category

    def _refuse(self, outcome: Outcome, status: int, reason: str) -> None:
        self.hits += 1
        outcome.refuse(status)
        outcome.sla_class = SlaClass.EXCLUDED
        outcome.reason = reason
        outcome.decided_by = self.name


@section
def build_sending_rules(scenario: Scenario, env: FaultEnv) -> SendingRules | None:
    rules = scenario.rules
    content = rules.content
    if not rules.accounts and (content is None or not (content.words or content.patterns)):
        return None
    return SendingRules(rules, env, "rules")

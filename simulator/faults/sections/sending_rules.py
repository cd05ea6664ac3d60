"""sending_rules: the `rules:` section: approved signatures and templates per account, and a content
filter for everyone. Refusals are SLA-excluded; accepted messages get their template's category.
It compiles everything once, matches in time linear in the text, never touches a settled outcome.

Owns: the content filter (ContentRules), the verdict on long messages part by part, and the
section's run time (SendingRules). Not here: template and signature matching (sections/templates.py).
"""

from __future__ import annotations

import re
import unicodedata
from collections import OrderedDict
from typing import TYPE_CHECKING


from ..base import FaultEnv, FaultStage, SectionFault
from ..outcome import Outcome, SlaClass, Submission, Verdict
from ..registry import scenario_section
from .templates import DEFAULT_CATEGORY, AccountPolicy, text_and_part

if TYPE_CHECKING:
    from simulator.scenario import ContentFilter, Rules, Scenario

MAX_OPEN_MESSAGES = 65_536  # partial UDH-concatenated messages whose verdict is remembered
ILLEGAL_CONTENT = "illegal_content"


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


@scenario_section(stage=FaultStage.POLICY)
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

    def apply(self, submission: Submission, outcome: Outcome, now: float) -> bool:
        if outcome.settled:
            return False
        policy = self.policies.get(submission.account)
        content = self.content
        if policy is None and content is None:
            return False
        text, part = text_and_part(submission)
        if part is not None:
            return self._on_part(submission, outcome, text, *part, policy)
        if policy is not None:
            reason, category = policy.judge(text)
            if reason:
                return self._refuse(outcome, self.unapproved_status, reason)
        if content is not None and content.hit(text):
            return self._refuse(outcome, content.status, ILLEGAL_CONTENT)
        if policy is not None:
            outcome.category = category
        return False

    def _on_part(
        self,
        submission: Submission,
        outcome: Outcome,
        text: str,
        ref: int,
        total: int,
        seq: int,
        policy: AccountPolicy | None,
    ) -> bool:
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
            return self._refuse(outcome, message.status, message.reason)
        if policy is not None:
            outcome.category = message.category
        return False

    def _refuse(self, outcome: Outcome, status: int, reason: str) -> bool:
        outcome.refuse(status)
        self.classify(outcome, Verdict(SlaClass.EXCLUDED, reason))
        return True

    @classmethod
    def from_scenario(cls, scenario: Scenario, env: FaultEnv) -> SendingRules | None:
        rules = scenario.rules
        content = rules.content
        if not rules.accounts and (content is None or not (content.words or content.patterns)):
            return None
        return cls(rules, env, "rules")

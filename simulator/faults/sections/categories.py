"""categories: the billing category of a message from the templates the scenario declares with one.

A carrier prices a message by the category of the template it follows (verification codes,
notifications, promotions), matching the text against the templates registered with it. The
`rules:` section registers an account's templates and refuses what follows none
(sections/sending_rules.py); without it, the templates the load declares as objects
(`load.templates: [{text: ..., category: verification}]`: what the harness sends) are registered
for the category only: the carrier matches every accepted message of an account that `rules:`
does not cover against them, and a text that follows none is a notification. Nothing is refused
here, no SLA class changes.

A UDH- or SAR-concatenated message is categorised by its first part (a beginning of a text that
follows the template, templates.prefix_regex) and its other parts take that category, so a long
message is billed at one price; a part whose first part was not seen is a notification.

Owns: Categories (the section at run time) and declared_templates. Not here: matching
(sections/templates.py AccountPolicy), refusing (sections/sending_rules.py), pricing
(metering/billing.py).
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from typing import TYPE_CHECKING, Any


from ..base import FaultEnv, FaultStage, SectionFault
from ..outcome import Outcome, Submission
from ..registry import scenario_section
from .sending_rules import MAX_OPEN_MESSAGES
from .templates import DEFAULT_CATEGORY, AccountPolicy, text_and_part

if TYPE_CHECKING:
    from simulator.scenario import Scenario, Template



def declared_templates(scenario: Scenario) -> list[Template]:
    """The load's templates written with a category (objects, not plain strings)."""
    from simulator.scenario import Template

    return [t for t in scenario.load.templates if isinstance(t, Template)]


@scenario_section(stage=FaultStage.POLICY)
class Categories(SectionFault):
    """The load's declared templates at run time: each accepted message of an account without
    `rules:` templates or signatures gets the category of the template it follows."""

    def __init__(self, templates: list[Template], covered: frozenset[str], env: FaultEnv) -> None:
        from simulator.scenario import AccountRules

        super().__init__(AccountRules(templates=templates), env, "categories")
        self.policy = AccountPolicy(AccountRules(templates=templates))
        self.covered = covered  # accounts whose category the `rules:` section decides
        self.open_messages: OrderedDict[tuple, str] = OrderedDict()
        self.counts: Counter[str] = Counter()  # accepted messages by category ("" : followed no template)

    def applies_to(self, account: str) -> bool:
        return account not in self.covered

    def apply(self, submission: Submission, outcome: Outcome, now: float) -> bool:
        if outcome.settled or outcome.category:
            return False
        text, part = text_and_part(submission)
        if part is None:
            category = self.policy.judge(text)[1]
        else:
            ref, total, seq = part
            key = (submission.account, submission.source, submission.destination, ref, total)
            if seq == 1:
                category = self.policy.judge_first_part(text)[1]
                self.open_messages[key] = category
                while len(self.open_messages) > MAX_OPEN_MESSAGES:
                    self.open_messages.popitem(last=False)
            else:
                category = self.open_messages.get(key, "")
            if seq == total:
                self.open_messages.pop(key, None)
        self.counts[category] += 1
        outcome.category = category or DEFAULT_CATEGORY
        return False  # categorising is not a fault acting: no hit counted

    def describe(self) -> dict[str, Any]:
        counts = dict(self.counts)
        return {**super().describe(), "categorised": {k: n for k, n in counts.items() if k},
                "followed_no_template": counts.get("", 0)}

    @classmethod
    def from_scenario(cls, scenario: Scenario, env: FaultEnv) -> Categories | None:
        templates = declared_templates(scenario)
        if not templates:
            return None
        covered = frozenset(a for a, r in scenario.rules.accounts.items() if r.signatures or r.templates)
        return cls(templates, covered, env)

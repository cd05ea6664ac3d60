"""The `rules:` section: the agreement's approved signatures and templates, and prohibited content.

Owns: Rules, AccountRules, Template, ContentFilter. Not here: matching messages against them
(simulator.faults.sections.sending_rules and templates).
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from .base import Model, Status

Category = Literal["verification", "notification", "promotion"]


class Template(Model):
    text: str = Field(min_length=1, description="with {placeholders}")
    category: Category = "notification"


class AccountRules(Model):
    signatures: list[str] = Field(default_factory=list, description="approved, e.g. 【Acme】")
    templates: list[Template] = Field(default_factory=list)


class ContentFilter(Model):
    words: list[str] = Field(default_factory=list)
    patterns: list[str] = Field(default_factory=list)
    status: Status = Field(default=0x45, description="status for prohibited content (RSUBMITFAIL)")

    @field_validator("patterns")
    @classmethod
    def _compiles(cls, value: list[str]) -> list[str]:
        for pattern in value:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"bad regular expression {pattern!r}: {exc}") from exc
        return value


class Rules(Model):
    """The agreement's sending rules: approved signatures and templates, prohibited content."""

    accounts: dict[str, AccountRules] = Field(default_factory=dict)
    unapproved_status: Status = Field(default=0x45, description="status for a message matching no template")
    content: ContentFilter | None = None

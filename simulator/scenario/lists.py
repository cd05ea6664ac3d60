"""The `blacklists:` section and its list files: numbers inline or one a line in a file.

Owns: Blacklists, BlacklistSource, reading a list file into number keys (read_number_file,
parse_number, number_key) and the list problems load_scenario reports (blacklist_problems,
file_problems: a file must be inside the scenario's folder, regular, bounded, UTF-8, one number a
line). Problems never quote a file's content. Not here: refusing listed destinations
(simulator.faults.sections.blacklist).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import Field

from .base import Model, Problems, ScenarioError, Status
from .files import FILE_DIRS_ENV, MAX_LIST_FILE_BYTES, read_text
from .numbers import normalize_number


class BlacklistSource(Model):
    """Numbers inline and/or from a file (one number per line, # comments)."""

    numbers: list[str] = Field(default_factory=list)
    file: Path | None = None
    status: Status | None = Field(
        default=None, description="refuse at submit with this (default: vendor 0x401 platform, 0x402 carrier, 0x403 opt-out)"
    )


class Blacklists(Model):
    platform: BlacklistSource | None = None
    carrier: BlacklistSource | None = None
    accounts: dict[str, BlacklistSource] = Field(default_factory=dict, description="per-account opt-outs")


MAX_DIGITS = 20  # destination_addr is at most 20 characters (SMPP 3.4, 5.2.9)

_NUMBER = re.compile(r"\+?[0-9][0-9 ().\-]*", re.ASCII)
HINT = "one number per line: digits with an optional leading +; # starts a comment"


def number_key(digits: str) -> int:
    """A normalized number as an int; the leading 1 keeps leading zeros apart ('012' != '12')."""
    return int("1" + digits)


def parse_number(text: str) -> int | None:
    """The key of one written number, or None if `text` is not a phone number."""
    if not _NUMBER.fullmatch(text):
        return None
    digits = normalize_number(text)
    if not digits or len(digits) > MAX_DIGITS:
        return None
    return number_key(digits)


_MISTYPED = re.compile(r"[0-9 +().\-]*[A-Za-z]?[0-9 +().\-]*[A-Za-z]?[0-9 +().\-]*", re.ASCII)


def _shown(written: str) -> str:
    """How an error shows a bad line of a list file: quoted only when it is a mistyped number (at
    most 24 characters of digits and number punctuation, with at most two stray letters, like
    86138000000O2); anything else could be any file's content and is not shown."""
    if len(written) <= 24 and sum(c.isdigit() for c in written) >= 6 and _MISTYPED.fullmatch(written):
        return f": {written!r}"
    return f" (a line of {len(written)} characters, not shown)"


def read_number_file(path: Path, where: str = "blacklist") -> set[int]:
    """Every number of a blacklist file, as keys. Raises ScenarioError naming the file and line; a
    bad line is quoted only if it is a mistyped number (_shown), since a list file may be anything
    someone pointed a scenario at. Only a regular file of at most MAX_LIST_FILE_BYTES is read
    (read_text)."""
    text = read_text(path, MAX_LIST_FILE_BYTES, where)
    keys: set[int] = set()
    add = keys.add
    for lineno, line in enumerate(text.split("\n"), 1):
        if line.isdigit() and line.isascii():  # the usual line: bare digits
            digits = line.removeprefix("00")
            if 0 < len(digits) <= MAX_DIGITS:
                add(int("1" + digits))
                continue
        written = line.split("#", 1)[0].strip()
        if not written:
            continue
        key = parse_number(written)
        if key is None:
            raise ScenarioError(f"{path}:{lineno}: {where}: not a phone number{_shown(written)} ({HINT})")
        add(key)
    return keys


def _list_sources(lists: Blacklists) -> list[tuple[tuple[Any, ...], BlacklistSource]]:
    out: list[tuple[tuple[Any, ...], BlacklistSource]] = []
    for name in ("platform", "carrier"):
        source = getattr(lists, name)
        if source is not None:
            out.append((("blacklists", name), source))
    out += [(("blacklists", "accounts", account), source) for account, source in lists.accounts.items()]
    return out


def blacklist_problems(lists: Blacklists) -> Problems:
    """Inline numbers the blacklists section would refuse when the carrier starts."""
    problems: Problems = []
    for path, source in _list_sources(lists):
        for i, number in enumerate(source.numbers):
            if parse_number(number.strip()) is None:
                problems.append((path + ("numbers", i), f"not a phone number: {number!r} ({HINT})"))
    return problems


def file_problems(lists: Blacklists, base_dir: Path, file_dirs: list[Path]) -> Problems:
    """Each list file: inside the scenario's folder (or one of `file_dirs`), a regular file within
    MAX_LIST_FILE_BYTES, UTF-8, one phone number a line. Problems never quote the file's content."""
    roots = [base_dir.resolve(), *(Path(d).resolve() for d in file_dirs)]
    problems: Problems = []
    for path, source in _list_sources(lists):
        if source.file is None:
            continue
        field = path + ("file",)
        written = Path(source.file)
        try:
            resolved = written.resolve()
        except (OSError, RuntimeError) as exc:  # a symlink loop
            problems.append((field, f"{written}: cannot resolve the path: {exc}"))
            continue
        if not any(resolved.is_relative_to(root) for root in roots):
            problems.append((field, f"{written}: outside the scenario's folder {roots[0]} (list files must "
                                    f"be in it, or in a folder named in ${FILE_DIRS_ENV})"))
            continue
        try:
            read_number_file(written, ".".join(path))
        except ScenarioError as exc:
            problems.append((field, str(exc)))
    return problems

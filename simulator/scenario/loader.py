"""Loading a scenario: a file or a text in, a validated Scenario out, or a ScenarioError that names
the file, the line, the field path and what was expected.

Owns: load_scenario, parse_scenario, the validation error messages and the checks that need the
document's lines or folder (number plan, blacklists, list files). Not here: the YAML guards
(document.py), reading files (files.py), the models (their modules).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from .base import ScenarioError
from .document import MAX_YAML_DEPTH, NON_PRINTABLE, Refused, compose, line_index
from .files import FILE_DIRS_ENV, MAX_SCENARIO_BYTES, read_text, size_label
from .lists import blacklist_problems, file_problems
from .model import Scenario
from .numbers import number_plan_problems

MAX_ERRORS_SHOWN = 50  # validation errors listed; the rest are counted


def load_scenario(path: str | Path, file_dirs: list[Path] | None = None) -> Scenario:
    """Read and validate a scenario file; relative file paths in it are resolved against its folder.

    Files it refers to (blacklists) must be regular files of at most MAX_LIST_FILE_BYTES inside the
    scenario's folder or one of `file_dirs` (default: the folders in $CARRIER_SIM_FILE_DIRS), and are
    read and checked here, so that a scenario that loads also starts."""
    path = Path(path)
    text = read_text(path, MAX_SCENARIO_BYTES)
    if file_dirs is None:
        file_dirs = [Path(d) for d in os.environ.get(FILE_DIRS_ENV, "").split(os.pathsep) if d]
    return parse_scenario(text, str(path), base_dir=path.parent, file_dirs=file_dirs)


def parse_scenario(text: str, source: str = "<scenario>", base_dir: Path | None = None,
                   file_dirs: list[Path] | None = None) -> Scenario:
    """Validate the text of a scenario; with `base_dir` (its folder), also the files it refers to,
    which must be inside `base_dir` or one of `file_dirs`."""
    if len(text) > MAX_SCENARIO_BYTES:
        raise ScenarioError(f"{source}: larger than the limit of {size_label(MAX_SCENARIO_BYTES)}")
    bad = NON_PRINTABLE.search(text)
    if bad is not None:
        line = text.count("\n", 0, bad.start()) + 1
        column = bad.start() - (text.rfind("\n", 0, bad.start()) + 1) + 1
        raise ScenarioError(f"{source}:{line}: not valid YAML: control character U+{ord(bad.group()):04X} "
                            f"at column {column}")
    try:
        node, data = compose(text)
    except Refused as exc:
        field = _field(exc.path[:4]) + ("..." if len(exc.path) > 4 else "")
        raise ScenarioError(f"{source}:{exc.line} {field or '(top)'}: {exc.message}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        problem = getattr(exc, "problem", None) or str(exc)
        if "maximum nesting depth" in problem:  # libyaml's own limit (1,000)
            problem = f"nested more than {MAX_YAML_DEPTH} levels deep"
        raise ScenarioError(f"{where}: not valid YAML: {problem}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ScenarioError(f"{source}:1: a scenario is a mapping (name:, seed:, carrier:, ...), got {type(data).__name__}")
    lines = line_index(node) if node is not None else {}
    if base_dir is not None:
        data = _resolve_files(data, base_dir)
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        shown = [_describe(error, source, lines) for error in errors[:MAX_ERRORS_SHOWN]]
        if len(errors) > MAX_ERRORS_SHOWN:
            shown.append(f"{source}: ... and {len(errors) - MAX_ERRORS_SHOWN:,} more errors")
        raise ScenarioError("\n".join(shown)) from None
    problems = scenario.cross_check()
    problems += number_plan_problems(scenario.numbers, lines)
    problems += blacklist_problems(scenario.blacklists)
    if base_dir is not None:
        problems += file_problems(scenario.blacklists, base_dir, file_dirs or [])
    if problems:
        raise ScenarioError("\n".join(_format(source, lines, path, message) for path, message in problems))
    return scenario


def _field(path: tuple[Any, ...]) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else (f".{p}" if j else str(p)) for j, p in enumerate(path))


def _format(source: str, lines: dict[tuple[Any, ...], int], path: tuple[Any, ...], message: str) -> str:
    field = _field(path)
    line = None
    probe = path
    while line is None:
        line = lines.get(probe)
        if not probe:
            break
        probe = probe[:-1]
    return f"{source}:{line or 1} {field or '(top)'}: {message}"


def _resolve_files(data: dict[str, Any], base: Path) -> dict[str, Any]:
    lists = data.get("blacklists")
    if not isinstance(lists, dict):
        return data

    def fix(entry: Any) -> Any:
        if isinstance(entry, dict) and isinstance(entry.get("file"), str) and not Path(entry["file"]).is_absolute():
            return {**entry, "file": str(base / entry["file"])}
        return entry

    fixed = {k: fix(v) for k, v in lists.items() if k != "accounts"}
    if isinstance(lists.get("accounts"), dict):
        fixed["accounts"] = {k: fix(v) for k, v in lists["accounts"].items()}
    elif "accounts" in lists:
        fixed["accounts"] = lists["accounts"]
    return {**data, "blacklists": fixed}


_MESSAGES = {
    "greater_than_equal": "must be >= {ge}",
    "greater_than": "must be > {gt}",
    "less_than_equal": "must be <= {le}",
    "less_than": "must be < {lt}",
    "string_too_long": "must be at most {max_length} characters",
    "string_too_short": "must be at least {min_length} characters",
    "too_short": "needs at least {min_length} item(s)",
    "missing": "is required",
    "string_pattern_mismatch": "must match {pattern}",
    "finite_number": "must be a finite number",
    "int_type": "must be an integer",
}


_UNION_TAGS = {"fixed", "uniform", "normal", "lognormal"}


def _is_kind_tag(shown: list[Any]) -> bool:
    """A part of an error's location right after ('faults', i) that the document does not have is
    the entry's kind, which the kinds' tagged union puts there."""
    return len(shown) == 2 and shown[0] == "faults" and isinstance(shown[1], int)


def _describe(error: dict[str, Any], source: str, lines: dict[tuple[Any, ...], int]) -> str:
    loc = list(error["loc"])
    kind = error["type"]
    # unions put their tag into the location ('faults', 2, 'latency', ...): leave tags out
    shown: list[Any] = []
    for part in loc:
        candidate = tuple(shown) + (part,)
        if candidate in lines:
            shown.append(part)
        elif isinstance(part, str) and (part in _UNION_TAGS or _is_kind_tag(shown)
                                        or part.startswith(("function-", "tagged-union[", "union["))):
            continue
        else:
            shown.append(part)
    ctx = error.get("ctx") or {}
    if kind == "extra_forbidden":
        message = "unknown key (not part of this section)"
    elif kind == "union_tag_invalid":
        key = str(ctx.get("discriminator", "kind")).strip("'")
        message = f"unknown {key} {ctx.get('tag')!r} (known: {ctx.get('expected_tags')})"
    elif kind == "union_tag_not_found":
        message = f"needs {str(ctx.get('discriminator', 'kind')).strip(chr(39))}"
    elif kind in _MESSAGES:
        message = _MESSAGES[kind].format(**ctx)
    else:
        message = error["msg"].removeprefix("Value error, ")
    if kind not in ("missing", "extra_forbidden", "union_tag_not_found") and "input" in error:
        value = error["input"]
        if not isinstance(value, (dict, list)):
            message += f", got {value!r}"
    return _format(source, lines, tuple(shown), message)

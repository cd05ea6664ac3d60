"""The score of `make mutants`: per module, mutants generated / killed / survived / timed out / with
no test, read from mutmut's result files (mutants/*.meta), and every surviving mutant with its
diff line. Exits 1 when a survivor is not explained in docs/mutation.md (its name and its diff
line must both appear there: a test kills it, or a written reason says why it is left).

Usage (the Makefile's `mutants` target runs it): python bench/mutants.py [--since EPOCH] GLOB...
The GLOBs are the mutant names `mutmut run` was given; only those mutants are counted.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import platform
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "mutation.md"
MUTMUT = Path(sys.executable).with_name("mutmut")

# mutmut 3's exit codes (mutmut/stats.py)
STATUS = {1: "killed", 3: "killed", 0: "survived", 5: "no tests", 33: "no tests", 34: "skipped", 36: "timeout",
          24: "timeout", -24: "timeout", 152: "timeout", 255: "timeout", 37: "type check", None: "not checked"}
COLUMNS = ["killed", "survived", "timeout", "no tests", "other"]
NEEDS_A_REASON = ("survived", "no tests", "other", "not checked")


def results(globs: list[str]) -> dict[str, dict[str, int | None]]:
    """module -> {mutant name: exit code} for the mutants matching `globs`."""
    out: dict[str, dict[str, int | None]] = {}
    for meta in sorted((ROOT / "mutants").rglob("*.py.meta")):
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        for name, code in codes.items():
            if any(fnmatch.fnmatchcase(name, g) for g in globs):
                module = str(meta.relative_to(ROOT / "mutants"))[: -len(".meta")]
                out.setdefault(module, {})[name] = code
    return out


def diff_line(name: str) -> str:
    """The mutant's changed line, as `mutmut show` prints it (the first `+` line)."""
    shown = subprocess.run([str(MUTMUT), "show", name], cwd=ROOT, capture_output=True, text=True).stdout
    plus = [line for line in shown.splitlines() if line.startswith("+") and not line.startswith("+++")]
    return plus[0][1:].strip() if plus else "(a change to the function's signature or defaults)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--since", type=float, help="when the run started (Unix seconds): prints its duration")
    parser.add_argument("globs", nargs="+")
    args = parser.parse_args()
    by_module = results(args.globs)
    if not by_module:
        print("mutants: no results (run `make mutants`)", file=sys.stderr)
        return 2
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    took = f", {(time.time() - args.since) / 60:.1f} min" if args.since else ""
    print(f"\nmutation score ({when}{took}; {platform.node()}, {_cores()} cores, Python {platform.python_version()})\n")
    print("| module | mutants | " + " | ".join(COLUMNS) + " | score |")
    print("|---|---:|" + "---:|" * len(COLUMNS) + "---:|")
    survivors: list[tuple[str, str]] = []
    totals: Counter[str] = Counter()
    for module, codes in by_module.items():
        counts = Counter(STATUS.get(code, "other") for code in codes.values())
        counts["other"] += counts.pop("type check", 0) + counts.pop("skipped", 0) + counts.pop("not checked", 0)
        totals.update(counts)
        totals["mutants"] += len(codes)
        decided = counts["killed"] + counts["timeout"]
        print(f"| {module} | {len(codes)} | " + " | ".join(str(counts[c]) for c in COLUMNS)
              + f" | {decided / len(codes):.1%} |")
        survivors += [(name, STATUS.get(code, "other")) for name, code in codes.items()
                      if STATUS.get(code, "other") in NEEDS_A_REASON]
    decided = totals["killed"] + totals["timeout"]
    print(f"| **all** | {totals['mutants']} | " + " | ".join(str(totals[c]) for c in COLUMNS)
          + f" | {decided / totals['mutants']:.1%} |")
    doc = DOC.read_text() if DOC.exists() else ""
    unexplained = 0
    if survivors:
        print("\nnot killed (each needs a test or a reason in docs/mutation.md):")
    for name, status in survivors:
        line = diff_line(name)
        explained = name in doc and line in doc
        unexplained += not explained
        print(f"  {'ok ' if explained else 'NEW'} {name} [{status}]: {line}")
    if unexplained:
        print(f"\nmutants: {unexplained} mutant(s) not killed and not explained in docs/mutation.md "
              "(`.venv/bin/mutmut show NAME` shows one; kill it with a test or write down why it is left)")
        return 1
    print("\nmutants: every mutant not killed is explained in docs/mutation.md")
    return 0


def _cores() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


if __name__ == "__main__":
    sys.exit(main())

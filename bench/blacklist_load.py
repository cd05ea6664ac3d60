"""Benchmark: load a 1,000,000-number blacklist file and check numbers against it.

Prints the seconds to load, the memory the set of ints takes, and lookups per second (half hits, half
misses) through Blacklist.match, the path every submit takes.
Run: .venv/bin/python bench/blacklist_load.py [N]
"""

from __future__ import annotations

import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from simulator.faults.pipeline import FaultEnv
from simulator.faults.sections.blacklist import Blacklist
from simulator.scenario import Blacklists, BlacklistSource, Scenario


def main(count: int = 1_000_000, lookups: int = 1_000_000) -> None:
    rng = random.Random(1)
    numbers = [f"86{rng.randrange(10**11):011d}" for _ in range(count)]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "platform.txt"
        path.write_text("# platform blacklist\n" + "\n".join(numbers) + "\n", encoding="utf-8")
        print(f"file: {count:,} numbers, {path.stat().st_size / 1e6:.1f} MB")

        section = Blacklists(platform=BlacklistSource(file=path))
        env = FaultEnv(seed=0, receipt_delay=0.1, scenario=Scenario())
        started = time.perf_counter()
        blacklist = Blacklist.load(section, env)
        seconds = time.perf_counter() - started
        keys = blacklist.shared[0].keys
        size = sys.getsizeof(keys) + sum(sys.getsizeof(k) for k in keys)
        print(
            f"load: {seconds:.2f} s ({count / seconds:,.0f} numbers/s), {len(keys):,} distinct, "
            f"set of ints {size / 1e6:.0f} MB"
        )

    probes = [
        numbers[rng.randrange(count)] if i % 2 else f"87{rng.randrange(10**11):011d}" for i in range(lookups)
    ]
    match = blacklist.match
    started = time.perf_counter()
    hits = sum(1 for p in probes if match("qa", p) is not None)
    seconds = time.perf_counter() - started
    print(f"lookups: {lookups:,} in {seconds:.2f} s = {lookups / seconds:,.0f}/s ({hits:,} hits)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)

"""Scenario sections that act as faults (number plan, blacklists, sending rules, throttling).

Each module here registers a builder with @section; the pipeline imports them all and sorts the
results by stage. Adding a section is adding a file here (and its model in simulator/scenario.py).
"""

from __future__ import annotations

import importlib
import pkgutil

for _module in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    importlib.import_module(f"{__name__}.{_module.name}")

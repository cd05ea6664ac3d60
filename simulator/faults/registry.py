"""Finds the fault kinds: every module in simulator/faults/kinds/ registers itself by its name.

Adding a fault kind is adding a file there (as toxiproxy adds a toxic); nothing else to edit.
"""

from __future__ import annotations

import importlib
import pkgutil

from .base import FAULT_KINDS, FaultSpec, fault_kind

__all__ = ["FAULT_KINDS", "FaultSpec", "fault_kind", "load_kinds"]

_loaded = False


def load_kinds() -> dict[str, type[FaultSpec]]:
    """Import every module of simulator.faults.kinds once; returns the registry."""
    global _loaded
    if not _loaded:
        from . import kinds

        for module in sorted(pkgutil.iter_modules(kinds.__path__), key=lambda m: m.name):
            importlib.import_module(f"{kinds.__name__}.{module.name}")
        _loaded = True
    return FAULT_KINDS

"""Pure decisions: (message, clock, state) -> what happens to it. No I/O, no asyncio, no sockets.

Each fault kind is one module in kinds/, registered with @fault_kind under the name scenarios use;
each scenario section that acts as a fault is one module in sections/ (registry.py finds both).
The carrier asks the pipeline for an Outcome per message and carries it out. Seeded, so a run
can be repeated.
"""

"""Pure decisions: (message, clock, state) -> what happens to it. No I/O, no asyncio, no sockets.

Each fault kind is a small module registered by the name scenarios use; the carrier asks the
pipeline for an Outcome per message and carries it out. Seeded, so a run can be repeated.
"""

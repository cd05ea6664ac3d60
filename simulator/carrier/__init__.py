"""The asyncio SMSC: listener, sessions, windows, timers, receipt delivery, message store, MO.

It asks simulator.faults what should happen to a message and records what did; the protocol itself
lives in simulator.smpp. Nothing here decides outcomes by itself.
"""

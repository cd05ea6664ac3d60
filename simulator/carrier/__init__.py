"""The asyncio SMSC: smsc.py Smsc wires small collaborators (binds, submits, answers, receipts,
queries, recorder, housekeeping) around one connection per socket; each module says what it owns.

It asks a Decider (decider.py; simulator.faults implements it) what should happen to a message and
records what did, to RecordSinks (simulator.ledger.records); the protocol itself lives in
simulator.smpp. Nothing here decides outcomes by itself.
"""

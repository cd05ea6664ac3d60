"""Durable per-message records and the audit log (SQLite by default).

The ledger is the truth the metering reads: what was submitted, what became of it, and who
changed what. Writers never block the event loop; readers never write records.
"""

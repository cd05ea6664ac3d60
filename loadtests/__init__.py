"""The Locust load harness: a gevent SMPP client, the SmppUser, traffic, shapes and the tally.

It speaks SMPP through simulator.smpp (no second codec) and reads the ledger only through
simulator.ledger/metering; it never imports the carrier's internals.
"""

"""Live events over MQTT: the simulator publishes its outcomes, receipts, metering, status and audit
to a broker and takes control requests from it; `carrier-sim meter` combines several nodes.

MQTT is the live view, never the truth: nothing here may slow, block or fail the SMPP path, and
nothing here writes to the ledger. Topics and payloads are documented in SCHEMA.md beside this file.
"""

"""Live events over MQTT: the simulator publishes its outcomes, receipts, metering, status and audit
to a broker (publisher.py wires tap.py, outbox.py and link.py) and takes control requests from it
(answered by simulator/control/mqtt.py); `carrier-sim meter` combines several nodes (follow.py,
live_meter.py, view.py).

MQTT is the live view, never the truth: nothing here may slow, block or fail the SMPP path, and
nothing here writes to the ledger. Topics and payloads are documented in SCHEMA.md beside this file.
"""

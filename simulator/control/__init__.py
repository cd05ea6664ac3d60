"""Control of a running carrier: one core (core.py) and its two transports, HTTP (http.py) and MQTT
topics (mqtt.py). Every operation is listed once, in core.OPERATIONS, and both transports are built
from that list, so neither can offer, check or answer an operation differently from the other.
"""

"""Sans-IO SMPP 3.4: PDUs, codec, TLVs, data codings, receipts and the session state machine.

Bytes in, PDUs out. Nothing in this package opens a socket, starts a task or imports asyncio.
"""

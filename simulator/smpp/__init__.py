"""Sans-IO SMPP 3.4: PDUs, codec, TLVs, data codings, receipts, the session state machine and the ESME end.

fields.py/pdu.py the PDUs and their codec; constants.py errors.py tlv.py; coding.py gsm.py
reassembly.py data codings and segments; receipt.py Appendix B receipts; session.py framing and bind
states (both ends); esme_session.py window.py submit_template.py what every ESME of ours does.

Bytes in, PDUs out. Nothing in this package opens a socket, starts a task or imports asyncio.
"""

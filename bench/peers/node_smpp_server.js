#!/usr/bin/env node
/*
 * Benchmark peer: a minimal SMSC on the npm package `smpp` (node-smpp 0.5.x).
 *
 * This is NOT carrier-sim code. `make bench` starts it next to our simulator to
 * compare submit_sm throughput against an independent SMPP 3.4 server.
 *
 * Behaviour (same as smpp34_server.py):
 *   - listens on 127.0.0.1:PORT (--port, --host);
 *   - accepts any bind_transmitter / bind_receiver / bind_transceiver;
 *   - answers every submit_sm with ESME_ROK and a unique message_id (a hex counter);
 *     a submit_sm before a bind, or on a receiver bind, gets ESME_RINVBNDSTS;
 *   - answers enquire_link; answers unbind, then closes; unknown commands get generic_nack;
 *   - with --receipts: for each submit_sm whose registered_delivery has bit 0 set, sends one
 *     delivery receipt (deliver_sm, esm_class 0x04, Appendix B text "stat:DELIVRD" plus the
 *     receipted_message_id and message_state TLVs) back over the same session, if it can receive
 *     (transceiver or receiver bind);
 *   - prints "ready" on stdout once listening;
 *   - runs until SIGTERM or SIGINT, then closes the listener and its sessions and exits 0.
 *
 * Limitations (node-smpp 0.5.1): a PDU it cannot decode, or one longer than 16384 bytes, makes
 * the session emit 'error'; this peer then drops the connection. short_message and the
 * schedule/validity times are decoded on every submit_sm (part of what the benchmark measures).
 *
 * Usage:  npm install --prefix bench/peers
 *         node bench/peers/node_smpp_server.js --port 2777 [--receipts]
 */
'use strict';

const smpp = require('smpp');

function parseArgs(argv) {
	const args = { host: '127.0.0.1', port: null, receipts: false, systemId: 'NODESMPPPEER' };
	for (let i = 0; i < argv.length; i++) {
		const a = argv[i];
		const [flag, inline] = a.startsWith('--') && a.includes('=') ? a.split(/=(.*)/s) : [a, undefined];
		const value = () => (inline !== undefined ? inline : argv[++i]);
		if (flag === '--port') args.port = Number(value());
		else if (flag === '--host') args.host = value();
		else if (flag === '--system-id') args.systemId = value();
		else if (flag === '--receipts') args.receipts = true;
		else if (flag === '-h' || flag === '--help') {
			process.stdout.write('usage: node_smpp_server.js --port PORT [--host HOST] [--receipts] [--system-id ID]\n');
			process.exit(0);
		} else {
			process.stderr.write(`node_smpp_server.js: unknown argument ${a}\n`);
			process.exit(2);
		}
	}
	if (!Number.isInteger(args.port) || args.port < 0 || args.port > 65535) {
		process.stderr.write('node_smpp_server.js: --port PORT is required\n');
		process.exit(2);
	}
	return args;
}

const MESSAGE_STATE_DELIVERED = 2;

function smppDate(d) {
	const p = (n) => String(n).padStart(2, '0');
	return p(d.getUTCFullYear() % 100) + p(d.getUTCMonth() + 1) + p(d.getUTCDate()) +
		p(d.getUTCHours()) + p(d.getUTCMinutes());
}

function messageText(shortMessage) {
	// node-smpp decodes short_message into {message: string|Buffer, udh?}
	let m = shortMessage && shortMessage.message !== undefined ? shortMessage.message : shortMessage;
	if (Buffer.isBuffer(m)) m = m.toString('latin1');
	return typeof m === 'string' ? m.slice(0, 20) : '';
}

function main() {
	const args = parseArgs(process.argv.slice(2));
	let counter = 0;

	const server = smpp.createServer((session) => {
		let bound = false;
		let canReceive = false;
		let canTransmit = false;

		session.on('error', () => session.destroy());

		const onBind = (pdu) => {
			if (bound) {
				session.send(pdu.response({ command_status: smpp.ESME_RALYBND }));
				return;
			}
			bound = true;
			canReceive = pdu.command !== 'bind_transmitter';
			canTransmit = pdu.command !== 'bind_receiver';
			session.send(pdu.response({ system_id: args.systemId }));
		};
		session.on('bind_transceiver', onBind);
		session.on('bind_transmitter', onBind);
		session.on('bind_receiver', onBind);

		session.on('submit_sm', (pdu) => {
			if (!canTransmit) { // not bound, or bound as a receiver
				session.send(pdu.response({ command_status: smpp.ESME_RINVBNDSTS }));
				return;
			}
			const messageId = (++counter).toString(16);
			session.send(pdu.response({ message_id: messageId }));
			if (args.receipts && canReceive && (pdu.registered_delivery & 1)) {
				const stamp = smppDate(new Date());
				const text = `id:${messageId} sub:001 dlvrd:001 submit date:${stamp} done date:${stamp} ` +
					`stat:DELIVRD err:000 text:${messageText(pdu.short_message)}`;
				session.deliver_sm({
					source_addr_ton: pdu.dest_addr_ton,
					source_addr_npi: pdu.dest_addr_npi,
					source_addr: pdu.destination_addr,
					dest_addr_ton: pdu.source_addr_ton,
					dest_addr_npi: pdu.source_addr_npi,
					destination_addr: pdu.source_addr,
					esm_class: 0x04,
					data_coding: 0,
					short_message: Buffer.from(text, 'latin1'),
					receipted_message_id: messageId,
					message_state: MESSAGE_STATE_DELIVERED,
				});
			}
		});

		session.on('enquire_link', (pdu) => session.send(pdu.response()));
		session.on('unbind', (pdu) => {
			session.send(pdu.response());
			session.close();
		});
		// Requests this peer does not implement: generic_nack for unknown ids,
		// ESME_RINVCMDID in the matching *_resp for known ones (query_sm, data_sm, ...).
		session.on('pdu', (pdu) => {
			if (pdu.isResponse()) return;
			switch (pdu.command) {
				case 'bind_transceiver': case 'bind_transmitter': case 'bind_receiver':
				case 'submit_sm': case 'enquire_link': case 'unbind':
					return;
				default: {
					let resp;
					try {
						resp = pdu.response({ command_status: smpp.ESME_RINVCMDID });
					} catch (e) { // e.g. alert_notification/outbind: no *_resp defined
						resp = new smpp.PDU('generic_nack', {
							sequence_number: pdu.sequence_number,
							command_status: smpp.ESME_RINVCMDID,
						});
					}
					session.send(resp);
				}
			}
		});
	});

	server.on('error', (err) => {
		process.stderr.write(`node_smpp_server.js: ${err.message}\n`);
		process.exit(1);
	});

	const shutdown = () => {
		server.close(() => process.exit(0));
		for (const s of server.sessions.slice()) s.destroy();
		setTimeout(() => process.exit(0), 1000).unref();
	};
	process.on('SIGTERM', shutdown);
	process.on('SIGINT', shutdown);

	server.listen(args.port, args.host, () => {
		process.stdout.write('ready\n');
	});
}

main();

"""Every SMPP 3.4 PDU as a small class, with a fast encoder and decoder generated from a field table.

The field table (fields.py) is the spec (section 4); encode/decode functions are compiled from it once
at import, the way dataclasses builds __init__, so the hot path has no per-field interpretation.
Decoding untrusted bytes raises PduError (with the command_status to answer) and nothing else.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any, ClassVar

from .constants import HEADER_SIZE, RESPONSE_BIT, CommandId, CommandStatus
from .errors import PduEncodeError, PduError
from .fields import FIELDS, OMIT_BODY_ON_ERROR, Field
from .tlv import decode_tlvs, encode_tlvs

S = CommandStatus
HEADER = struct.Struct(">IIII")


# --------------------------------------------------------------------------------------------
# Values of submit_multi's address lists
@dataclass(frozen=True, slots=True)
class SmeAddress:
    """A destination of submit_multi (dest_flag 1) or an unsuccessful SME of submit_multi_resp."""

    ton: int = 0
    npi: int = 0
    addr: str = ""
    error_status: int = 0  # only used in submit_multi_resp's unsuccess_sme list


@dataclass(frozen=True, slots=True)
class DistributionList:
    """A destination of submit_multi given by distribution list name (dest_flag 2)."""

    name: str


# --------------------------------------------------------------------------------------------
# The base class
class Pdu:
    """A PDU: header fields (sequence, status), its mandatory fields, and TLVs as {tag: raw bytes}."""

    __slots__ = ("sequence", "status", "tlvs")
    command_id: ClassVar[CommandId]
    fields: ClassVar[tuple[str, ...]]
    is_response: ClassVar[bool]
    sequence: int
    status: int
    tlvs: dict[int, bytes]

    def encode(self) -> bytes:
        """The full wire form, header included."""
        if self.status and self.command_id in OMIT_BODY_ON_ERROR:
            body = b""
        else:
            try:
                body = self._encode_body()  # type: ignore[attr-defined]
            except (UnicodeEncodeError, struct.error, OverflowError, AttributeError, TypeError) as exc:
                raise PduEncodeError(f"{self.command_id.name}: {exc}") from exc
            if self.tlvs:
                body += encode_tlvs(self.tlvs)
        try:
            return HEADER.pack(HEADER_SIZE + len(body), self.command_id, self.status, self.sequence) + body
        except struct.error as exc:
            raise PduEncodeError(f"{self.command_id.name} header: {exc}") from exc

    @property
    def name(self) -> str:
        return self.command_id.name

    def response(self, status: int = 0, **fields: Any) -> "Pdu":
        """The response PDU to this request, with the same sequence number."""
        cls = PDU_CLASSES[self.command_id | RESPONSE_BIT]
        return cls(sequence=self.sequence, status=status, **fields)

    def field_values(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.fields}

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return (
            self.sequence == other.sequence  # type: ignore[attr-defined]
            and self.status == other.status  # type: ignore[attr-defined]
            and self.tlvs == other.tlvs  # type: ignore[attr-defined]
            and self.field_values() == other.field_values()  # type: ignore[attr-defined]
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        parts = [f"sequence={self.sequence}"]
        if self.status:
            parts.append(f"status=0x{self.status:X}")
        parts += [f"{k}={v!r}" for k, v in self.field_values().items()]
        if self.tlvs:
            parts.append(f"tlvs={self.tlvs!r}")
        return f"{type(self).__name__}({', '.join(parts)})"


def _fail(status: int, command: str, field: str, detail: str) -> PduError:
    return PduError(status, f"{command}.{field}: {detail}")


def _decode_dests(self: Any, d: bytes, o: int, e: int) -> int:
    if o >= e:
        raise _fail(S.ESME_RINVCMDLEN, "submit_multi", "number_of_dests", "missing")
    count = d[o]
    o += 1
    if count == 0 or count > 254:
        raise _fail(S.ESME_RINVNUMDESTS, "submit_multi", "number_of_dests", f"{count} is not 1-254")
    dests: list[SmeAddress | DistributionList] = []
    for _ in range(count):
        if o >= e:
            raise _fail(S.ESME_RINVCMDLEN, "submit_multi", "dest_address", "truncated")
        flag = d[o]
        o += 1
        if flag == 1:
            if o + 2 > e:
                raise _fail(S.ESME_RINVCMDLEN, "submit_multi", "dest_address", "truncated")
            ton, npi = d[o], d[o + 1]
            o, addr = _cstring(d, o + 2, e, 21, S.ESME_RINVDSTADR, "dest_address.destination_addr")
            dests.append(SmeAddress(ton, npi, addr))
        elif flag == 2:
            o, name = _cstring(d, o, e, 21, S.ESME_RINVDLNAME, "dest_address.dl_name")
            dests.append(DistributionList(name))
        else:
            raise _fail(S.ESME_RINVDESTFLAG, "submit_multi", "dest_flag", f"{flag} is not 1 or 2")
    self.dest_address = dests
    return o


def _decode_unsuccess(self: Any, d: bytes, o: int, e: int) -> int:
    if o >= e:
        raise _fail(S.ESME_RINVCMDLEN, "submit_multi_resp", "no_unsuccess", "missing")
    count = d[o]
    o += 1
    smes: list[SmeAddress] = []
    for _ in range(count):
        if o + 2 > e:
            raise _fail(S.ESME_RINVCMDLEN, "submit_multi_resp", "unsuccess_sme", "truncated")
        ton, npi = d[o], d[o + 1]
        o, addr = _cstring(d, o + 2, e, 21, S.ESME_RINVDSTADR, "unsuccess_sme.destination_addr")
        if o + 4 > e:
            raise _fail(S.ESME_RINVCMDLEN, "submit_multi_resp", "unsuccess_sme", "truncated")
        smes.append(SmeAddress(ton, npi, addr, int.from_bytes(d[o : o + 4], "big")))
        o += 4
    self.unsuccess_sme = smes
    return o


def _cstring(d: bytes, o: int, e: int, size: int, status: int, name: str) -> tuple[int, str]:
    n = d.find(0, o, e)
    if n < 0 or n - o >= size:
        raise PduError(status, f"{name}: not a NUL-terminated string of at most {size - 1} octets")
    return n + 1, d[o:n].decode("latin-1")


def _encode_dests(dests: list[SmeAddress | DistributionList]) -> bytes:
    if not 1 <= len(dests) <= 254:
        raise PduEncodeError(f"submit_multi needs 1-254 destinations, got {len(dests)}")
    out = [bytes((len(dests),))]
    for dest in dests:
        if isinstance(dest, DistributionList):
            out.append(b"\x02" + _encode_cstring(dest.name, 21, "dl_name"))
        else:
            out.append(bytes((1, dest.ton, dest.npi)) + _encode_cstring(dest.addr, 21, "destination_addr"))
    return b"".join(out)


def _encode_unsuccess(smes: list[SmeAddress]) -> bytes:
    if len(smes) > 255:
        raise PduEncodeError(f"submit_multi_resp lists at most 255 unsuccessful SMEs, got {len(smes)}")
    out = [bytes((len(smes),))]
    for sme in smes:
        out.append(
            bytes((sme.ton, sme.npi))
            + _encode_cstring(sme.addr, 21, "destination_addr")
            + sme.error_status.to_bytes(4, "big")
        )
    return b"".join(out)


def _encode_cstring(value: str, size: int, name: str) -> bytes:
    raw = value.encode("latin-1")
    if len(raw) >= size or 0 in raw:
        raise PduEncodeError(f"{name}: {value!r} is longer than {size - 1} octets or contains NUL")
    return raw + b"\0"


# --------------------------------------------------------------------------------------------
# Code generation: one __init__, _decode_body and _encode_body per PDU class
def _defaults(field: Field) -> str:
    return {"B": "0", "c": "''", "t": "''", "sm": "b''", "dests": "None", "unsuccess": "None"}[
        field.kind
    ]


def _compile(cls_name: str, command_id: CommandId, fields: list[Field]) -> dict[str, Any]:
    ns: dict[str, Any] = {
        "PduError": PduError,
        "PduEncodeError": PduEncodeError,
        "decode_tlvs": decode_tlvs,
        "_decode_dests": _decode_dests,
        "_decode_unsuccess": _decode_unsuccess,
        "_encode_dests": _encode_dests,
        "_encode_unsuccess": _encode_unsuccess,
        "NUL": b"\0",
        "LENGTHS": [bytes((n,)) for n in range(256)],
    }
    cmd = command_id.name
    # __init__
    params = ", ".join(f"{f.name}={_defaults(f)}" for f in fields)
    init = [f"def __init__(self, *, sequence=0, status=0, {params + ', ' if params else ''}tlvs=None):"]
    init.append("    self.sequence = sequence; self.status = status")
    init.append("    self.tlvs = {} if tlvs is None else tlvs")
    for f in fields:
        if f.kind in ("dests", "unsuccess"):
            init.append(f"    self.{f.name} = [] if {f.name} is None else list({f.name})")
        else:
            init.append(f"    self.{f.name} = {f.name}")

    # decoder and encoder, grouping runs of integers into one struct call
    dec = ["def _decode_body(self, d, o, e):"]
    enc = ["def _encode_body(self):"]
    pieces: list[str] = []  # expressions joined at the end, in order
    run: list[Field] = []
    n_struct = 0

    def flush() -> None:
        nonlocal n_struct, run
        if not run:
            return
        fmt = ">" + "".join(f.kind for f in run)
        size = struct.calcsize(fmt)
        sname = f"_s{n_struct}"
        n_struct += 1
        ns[sname] = struct.Struct(fmt)
        names = ", ".join(f"self.{f.name}" for f in run)
        dec.append(f"    if o + {size} > e: raise PduError({S.ESME_RINVCMDLEN}, '{cmd}.{run[0].name}: body ends early')")
        dec.append(f"    {names}{',' if len(run) == 1 else ''} = {sname}.unpack_from(d, o); o += {size}")
        enc.append(f"    p{len(pieces)} = {sname}.pack({names})")
        pieces.append(f"p{len(pieces)}")
        run = []

    for f in fields:
        if f.kind == "B":
            run.append(f)
            continue
        flush()
        if f.kind in ("c", "t"):
            dec.append("    n = d.find(0, o, e)")
            if f.kind == "c":
                bad = f"n < 0 or n - o >= {f.size}"
                what = f"not a NUL-terminated string of at most {f.size - 1} octets"
            else:
                bad = "n < 0 or (n != o and n - o != 16)"
                what = "not empty and not a 16-character time"
            dec.append(f"    if {bad}: raise PduError({f.status}, '{cmd}.{f.name}: {what}')")
            dec.append(f"    self.{f.name} = d[o:n].decode('latin-1'); o = n + 1")
            var = f"p{len(pieces)}"
            enc.append(f"    {var} = self.{f.name}.encode('latin-1')")
            limit = f"len(x) >= {f.size}" if f.kind == "c" else "len(x) not in (0, 16)"
            limit = limit.replace("len(x)", f"len({var})")
            enc.append(f"    if {limit} or 0 in {var}: raise PduEncodeError('{cmd}.{f.name}: ' + repr(self.{f.name}) + ' breaks its limit ({what})')")
            pieces += [var, "NUL"]
        elif f.kind == "sm":
            dec.append(f"    if o >= e: raise PduError({S.ESME_RINVCMDLEN}, '{cmd}.sm_length: body ends early')")
            dec.append("    n = d[o]; o += 1")
            dec.append(f"    if n > 254 or o + n > e: raise PduError({S.ESME_RINVMSGLEN}, '{cmd}.short_message: sm_length ' + str(n) + ' does not fit the body')")
            dec.append("    self.short_message = d[o:o + n]; o += n")
            var = f"p{len(pieces)}"
            enc.append(f"    {var} = self.short_message")
            enc.append(f"    if len({var}) > 254: raise PduEncodeError('" + cmd + ".short_message: ' + str(len(" + var + ")) + ' octets, at most 254 (use message_payload)')")
            pieces += [f"LENGTHS[len({var})]", var]
        elif f.kind == "dests":
            dec.append("    o = _decode_dests(self, d, o, e)")
            enc.append(f"    p{len(pieces)} = _encode_dests(self.{f.name})")
            pieces.append(f"p{len(pieces)}")
        elif f.kind == "unsuccess":
            dec.append("    o = _decode_unsuccess(self, d, o, e)")
            enc.append(f"    p{len(pieces)} = _encode_unsuccess(self.{f.name})")
            pieces.append(f"p{len(pieces)}")
    flush()
    dec.append("    return o")
    if not pieces:
        enc.append("    return b''")
    elif len(pieces) == 1:
        enc.append(f"    return {pieces[0]} + b''")
    else:
        enc.append(f"    return b''.join(({', '.join(pieces)},))")
    source = "\n".join(init) + "\n\n" + "\n".join(dec) + "\n\n" + "\n".join(enc) + "\n"
    exec(compile(source, f"<smpp {cls_name}>", "exec"), ns)  # noqa: S102 - generated from the table above
    return {"__init__": ns["__init__"], "_decode_body": ns["_decode_body"], "_encode_body": ns["_encode_body"]}


def _class_name(command_id: CommandId) -> str:
    return "".join(part.capitalize() for part in command_id.name.split("_"))


PDU_CLASSES: dict[int, type[Pdu]] = {}


def _make_classes() -> None:
    for command_id, fields in FIELDS.items():
        name = _class_name(command_id)
        attrs: dict[str, Any] = {
            "__slots__": tuple(f.name for f in fields),
            "command_id": command_id,
            "fields": tuple(f.name for f in fields),
            "is_response": bool(command_id & RESPONSE_BIT),
            "__module__": __name__,
            "__qualname__": name,
            "__doc__": f"SMPP 3.4 {command_id.name} (command_id 0x{command_id:08X}).",
        }
        attrs.update(_compile(name, command_id, fields))
        cls = type(name, (Pdu,), attrs)
        PDU_CLASSES[command_id] = cls
        globals()[name] = cls


_make_classes()

# Names for type checkers and readers; the classes themselves are made above.
GenericNack: type[Pdu] = globals()["GenericNack"]
BindReceiver: type[Pdu] = globals()["BindReceiver"]
BindReceiverResp: type[Pdu] = globals()["BindReceiverResp"]
BindTransmitter: type[Pdu] = globals()["BindTransmitter"]
BindTransmitterResp: type[Pdu] = globals()["BindTransmitterResp"]
BindTransceiver: type[Pdu] = globals()["BindTransceiver"]
BindTransceiverResp: type[Pdu] = globals()["BindTransceiverResp"]
Outbind: type[Pdu] = globals()["Outbind"]
Unbind: type[Pdu] = globals()["Unbind"]
UnbindResp: type[Pdu] = globals()["UnbindResp"]
EnquireLink: type[Pdu] = globals()["EnquireLink"]
EnquireLinkResp: type[Pdu] = globals()["EnquireLinkResp"]
SubmitSm: type[Pdu] = globals()["SubmitSm"]
SubmitSmResp: type[Pdu] = globals()["SubmitSmResp"]
SubmitMulti: type[Pdu] = globals()["SubmitMulti"]
SubmitMultiResp: type[Pdu] = globals()["SubmitMultiResp"]
DeliverSm: type[Pdu] = globals()["DeliverSm"]
DeliverSmResp: type[Pdu] = globals()["DeliverSmResp"]
DataSm: type[Pdu] = globals()["DataSm"]
DataSmResp: type[Pdu] = globals()["DataSmResp"]
QuerySm: type[Pdu] = globals()["QuerySm"]
QuerySmResp: type[Pdu] = globals()["QuerySmResp"]
CancelSm: type[Pdu] = globals()["CancelSm"]
CancelSmResp: type[Pdu] = globals()["CancelSmResp"]
ReplaceSm: type[Pdu] = globals()["ReplaceSm"]
ReplaceSmResp: type[Pdu] = globals()["ReplaceSmResp"]
AlertNotification: type[Pdu] = globals()["AlertNotification"]


def decode_body(command_id: int, status: int, sequence: int, d: bytes, o: int, e: int) -> Pdu:
    """Decode the PDU whose header was already read; the body is d[o:e]. Raises PduError."""
    cls = PDU_CLASSES.get(command_id)
    if cls is None:
        raise PduError(S.ESME_RINVCMDID, f"unknown command_id 0x{command_id:08X}")
    pdu = cls.__new__(cls)
    pdu.sequence = sequence
    pdu.status = status
    if o == e and status and cls.is_response:
        # error responses may come without a body: give every field its default
        cls.__init__(pdu, sequence=sequence, status=status)
        return pdu
    o = pdu._decode_body(d, o, e)  # type: ignore[attr-defined]
    pdu.tlvs = decode_tlvs(d, o, e) if o < e else {}
    return pdu


def decode_pdu(frame: bytes) -> Pdu:
    """Decode one whole PDU (header and body). Raises PduError."""
    if len(frame) < HEADER_SIZE:
        raise PduError(S.ESME_RINVCMDLEN, f"a PDU is at least 16 octets, got {len(frame)}")
    length, command_id, status, sequence = HEADER.unpack_from(frame, 0)
    if length != len(frame):
        raise PduError(S.ESME_RINVCMDLEN, f"command_length {length} but {len(frame)} octets given")
    return decode_body(command_id, status, sequence, frame, HEADER_SIZE, length)

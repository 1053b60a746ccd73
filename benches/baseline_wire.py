"""Pure-Python `struct` codec for the benchmarked messages: the baseline rserpool.wire must beat.

It decodes and encodes the same bytes as the Cython codec (Registration, Handle Resolution
Response, Handle Table Response), builds plain objects, keeps addresses as raw bytes like the
Cython codec does, and checks lengths, but skips the full error reporting.
"""

import struct
from collections.abc import Iterator
from dataclasses import dataclass, field

_HDR = struct.Struct("!BBH")
_TLV = struct.Struct("!HH")
_U32 = struct.Struct("!I")
_PE = struct.Struct("!IIi")
_PORT_USE = struct.Struct("!HH")
_IDS = struct.Struct("!II")

POLICY_FIELDS = {
    0x1: (), 0x2: ("weight",), 0x3: (), 0x4: ("weight",), 0x5: ("priority",),
    0x40000001: ("load",), 0x40000002: ("load", "load_degradation"),
    0x40000003: ("load", "load_degradation"), 0x40000004: ("load",),
}


@dataclass(slots=True)
class Transport:
    ptype: int
    port: int
    use: int
    addresses: list[bytes]


@dataclass(slots=True)
class Policy:
    policy_type: int
    values: dict[str, int] = field(default_factory=dict)


@dataclass(slots=True)
class PoolElement:
    pe_identifier: int
    home_enrp_server_identifier: int
    registration_life: int
    user_transport: Transport
    policy: Policy


@dataclass(slots=True)
class Message:
    mtype: int
    flags: int
    pool_handle: bytes | None = None
    pool_elements: list[PoolElement] = field(default_factory=list)
    policy: Policy | None = None
    ids: tuple[int, int] | None = None
    pools: list[tuple[bytes, list[PoolElement]]] = field(default_factory=list)


def _tlvs(data: bytes, pos: int, end: int) -> Iterator[tuple[int, int, int]]:
    """(pure type, value start, value end) of each TLV in data[pos:end]."""
    while pos < end:
        ptype, length = _TLV.unpack_from(data, pos)
        if length < 4 or pos + length > end:
            raise ValueError(f"bad parameter length {length} at {pos}")
        yield ptype & 0x3FFF, pos + 4, pos + length
        pos += (length + 3) & ~3


def _transport(data: bytes, ptype: int, start: int, end: int) -> Transport:
    port, use = _PORT_USE.unpack_from(data, start)
    addrs = []
    for atype, a, b in _tlvs(data, start + 4, end):
        if atype not in (1, 2) or b - a != (4 if atype == 1 else 16):
            raise ValueError("bad address")
        addrs.append(data[a:b])
    return Transport(ptype, port, use, addrs)


def _policy(data: bytes, start: int, end: int) -> Policy:
    (ptype,) = _U32.unpack_from(data, start)
    names = POLICY_FIELDS[ptype]
    values = struct.unpack_from(f"!{len(names)}I", data, start + 4)
    return Policy(ptype, dict(zip(names, values, strict=True)))


def _pool_element(data: bytes, start: int, end: int) -> PoolElement:
    pe_id, home, life = _PE.unpack_from(data, start)
    transport = policy = None
    for ptype, a, b in _tlvs(data, start + 12, end):
        if 3 <= ptype <= 7:
            transport = _transport(data, ptype, a, b)
        elif ptype == 8:
            policy = _policy(data, a, b)
    if transport is None or policy is None:
        raise ValueError("incomplete pool element")
    return PoolElement(pe_id, home, life, transport, policy)


def decode(data: bytes) -> Message:
    mtype, flags, length = _HDR.unpack_from(data)
    if length != len(data):
        raise ValueError("length mismatch")
    return _decode_body(Message(mtype, flags), data, 4)


def _decode_body(msg: Message, data: bytes, pos: int) -> Message:
    current: list[PoolElement] | None = None
    for ptype, a, b in _tlvs(data, pos, len(data)):
        if ptype == 9:
            handle = data[a:b]
            if msg.ids is not None:
                current = []
                msg.pools.append((handle, current))
            else:
                msg.pool_handle = handle
        elif ptype == 10:
            pe = _pool_element(data, a, b)
            (current if current is not None else msg.pool_elements).append(pe)
        elif ptype == 8:
            msg.policy = _policy(data, a, b)
    return msg


def decode_enrp(data: bytes) -> Message:
    mtype, flags, length = _HDR.unpack_from(data)
    if length != len(data):
        raise ValueError("length mismatch")
    msg = Message(mtype, flags, ids=_IDS.unpack_from(data, 4))
    return _decode_body(msg, data, 12)


def _tlv(ptype: int, value: bytes) -> bytes:
    return _TLV.pack(ptype, 4 + len(value)) + value + bytes(-len(value) % 4)


def _encode_transport(t: Transport) -> bytes:
    body = _PORT_USE.pack(t.port, t.use) + b"".join(
        _tlv(1 if len(a) == 4 else 2, a) for a in t.addresses)
    return _tlv(t.ptype, body)


def _encode_policy(p: Policy) -> bytes:
    names = POLICY_FIELDS[p.policy_type]
    return _tlv(8, struct.pack(f"!I{len(names)}I", p.policy_type,
                               *(p.values.get(n, 0) for n in names)))


def _encode_pe(pe: PoolElement) -> bytes:
    return _tlv(10, _PE.pack(pe.pe_identifier, pe.home_enrp_server_identifier,
                             pe.registration_life)
                + _encode_transport(pe.user_transport) + _encode_policy(pe.policy))


def encode(msg: Message) -> bytes:
    parts = []
    if msg.ids is not None:
        parts.append(_IDS.pack(*msg.ids))
    if msg.pool_handle is not None:
        parts.append(_tlv(9, msg.pool_handle))
    if msg.policy is not None:
        parts.append(_encode_policy(msg.policy))
    parts += [_encode_pe(pe) for pe in msg.pool_elements]
    for handle, pes in msg.pools:
        parts.append(_tlv(9, handle))
        parts += [_encode_pe(pe) for pe in pes]
    body = b"".join(parts)
    return _HDR.pack(msg.mtype, msg.flags, 4 + len(body)) + body

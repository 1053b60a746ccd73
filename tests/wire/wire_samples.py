"""Sample messages: every ASAP and ENRP message type with every parameter variant."""

import struct

from rserpool import wire
from rserpool.wire import Cause, PolicyType

V4 = ("10.0.0.1", "192.168.77.2")
V6 = ("fd00:99::10", "2001:db8::1")

#: One policy per policy type, with distinct non-zero values in every field it carries.
POLICIES = [
    wire.Policy(PolicyType.ROUND_ROBIN),
    wire.Policy(PolicyType.WEIGHTED_ROUND_ROBIN, weight=7),
    wire.Policy(PolicyType.RANDOM),
    wire.Policy(PolicyType.WEIGHTED_RANDOM, weight=12),
    wire.Policy(PolicyType.PRIORITY, priority=3),
    wire.Policy(PolicyType.LEAST_USED, load=0x40000000),
    wire.Policy(PolicyType.LEAST_USED_DEGRADATION, load=0x10000000, load_degradation=0x01000000),
    wire.Policy(PolicyType.PRIORITY_LEAST_USED, load=0x20000000, load_degradation=0x02000000),
    wire.Policy(PolicyType.RANDOMIZED_LEAST_USED, load=0x30000000),
    wire.Policy(PolicyType.RANDOMIZED_PRIORITY_LEAST_USED, load=0x11111111),
    wire.Policy(PolicyType.RANDOMIZED_LEAST_USED_DEGRADATION, load=0x2222, load_degradation=0x33),
    wire.Policy(PolicyType.PRIORITY_LEAST_USED_DEGRADATION, load=0x4444, load_degradation=0x55),
    wire.Policy(PolicyType.RANDOMIZED_PRIORITY_LEAST_USED_DEGRADATION, load=6, load_degradation=7),
    wire.Policy(PolicyType.WEIGHTED_RANDOM_DPF, weight=5, weight_dpf=0x80000000, distance=120),
    wire.Policy(PolicyType.LEAST_USED_DPF, load=0x0F000000, load_dpf=0x00100000, distance=40),
    wire.Policy(PolicyType.LEAST_USED_DEGRADATION_DPF, load=9, load_degradation=10, load_dpf=11,
                distance=12),
]

TRANSPORTS = [
    wire.SctpTransport(3863, V4, transport_use=1),
    wire.SctpTransport(40000, V6),
    wire.SctpTransport(40001, (V4[0], V6[0]), transport_use=1),
    wire.TcpTransport(80, V4[:1], transport_use=0),
    wire.TcpTransport(8080, V6[:1], transport_use=1),
    wire.UdpTransport(5000, V4[:1]),
    wire.UdpTransport(5001, V6[:1]),
    wire.UdpLiteTransport(5002, V4[:1]),
    wire.UdpLiteTransport(5003, V6[:1]),
    wire.DccpTransport(6000, V4[:1], service_code=42),
    wire.DccpTransport(6001, V6[:1], service_code=0x01020304),
]


def pool_element(i: int, policy: wire.Policy | None = None,
                 transport: wire.Transport | None = None, asap: bool = False) -> wire.PoolElement:
    return wire.PoolElement(
        0x10000000 + i, 0x5CE1F001, 30000 + i,
        transport or wire.SctpTransport(9000 + i, (f"10.1.{i // 250}.{i % 250 + 1}", V6[0]), 1),
        policy or wire.Policy(PolicyType.LEAST_USED, load=i * 1000),
        wire.SctpTransport(9900 + i, (V4[1],)) if asap else None,
    )


ERROR = wire.OperationError([
    wire.ErrorCause(Cause.UNRECOGNIZED_PARAMETER, b"\xc0\x77\x00\x05z"),
    wire.ErrorCause(Cause.UNKNOWN_POOL_HANDLE),
])
#: Cause information that is itself a parameter or message, by the object it encodes.
CAUSE_INFO_OBJECTS: dict[bytes, object] = {
    POLICIES[7].encode(): POLICIES[7],
    TRANSPORTS[3].encode(): TRANSPORTS[3],
}
_CAUSE_INFO = {
    Cause.UNRECOGNIZED_PARAMETER: struct.pack("!HHI", 0xC077, 8, 99),
    Cause.UNRECOGNIZED_MESSAGE: bytes([0x7F, 0, 0, 4]),
    Cause.INVALID_VALUES: struct.pack("!HHI", 0xC078, 8, 98),
    Cause.INCONSISTENT_POLICY: POLICIES[7].encode(),
    Cause.INCONSISTENT_TRANSPORT_TYPE: TRANSPORTS[3].encode(),
}
#: Every cause code, each with the cause information RFC 5354 gives it.
ALL_CAUSES = wire.OperationError([wire.ErrorCause(c, _CAUSE_INFO.get(c, b"")) for c in Cause])
SERVER = wire.ServerInformation(0x5CE1F002, wire.SctpTransport(9901, V4 + V6, 1))


def asap_messages() -> list[wire.Message]:
    """Every ASAP message type, with every parameter variant."""
    msgs: list[wire.Message] = []
    for i, pol in enumerate(POLICIES):
        msgs.append(wire.Registration(b"Pool-%d" % i, pool_element(i, policy=pol)))
    for i, tr in enumerate(TRANSPORTS):
        msgs.append(wire.Registration(b"T" * (i + 1), pool_element(i, transport=tr, asap=True)))
    msgs += [
        wire.Deregistration(b"EchoPool", 0xEC000001),
        wire.RegistrationResponse(b"EchoPool", 0xEC000001),
        wire.RegistrationResponse(b"EchoPool", 0xEC000001, reject=True, error=ERROR),
        wire.DeregistrationResponse(b"EchoPool", 0xEC000001),
        wire.DeregistrationResponse(b"EchoPool", 0xEC000001, reject=True, error=ALL_CAUSES),
        wire.HandleResolution(b"EchoPool"),
        wire.HandleResolution(b"EchoPool", items=3),
        wire.HandleResolutionResponse(b"EchoPool", [pool_element(i) for i in range(3)],
                                      policy=wire.Policy(PolicyType.ROUND_ROBIN)),
        wire.HandleResolutionResponse(b"EchoPool", [pool_element(7)]),
        wire.HandleResolutionResponse(b"Nope", error=wire.OperationError(
            [wire.ErrorCause(Cause.UNKNOWN_POOL_HANDLE)])),
        wire.EndpointKeepAlive(0x5CE1F001, b"EchoPool", 0xEC000001),
        wire.EndpointKeepAlive(0x5CE1F001, b"EchoPool", home=True),
        wire.EndpointKeepAliveAck(b"EchoPool", 0xEC000001),
        wire.EndpointUnreachable(b"EchoPool", 0xEC000002),
        wire.ServerAnnounce(0x5CE1F001, [TRANSPORTS[0], TRANSPORTS[1], TRANSPORTS[5]]),
        wire.ServerAnnounce(0x5CE1F002),
        wire.Cookie(b"<PP-TD1>\x00\x00\x00\x00\x00\x00\x00\x02"),
        wire.Cookie(b"odd"),
        wire.CookieEcho(b"state:12345"),
        wire.BusinessCard(b"EchoPool", [pool_element(1), pool_element(2, asap=True)]),
        wire.AsapError(ERROR),
        wire.AsapError(ALL_CAUSES),
    ]
    return msgs


def enrp_messages() -> list[wire.Message]:
    """Every ENRP message type, with every flag and parameter variant."""
    s, r = 0x5CE1F001, 0x5CE1F002
    return [
        wire.Presence(s, r, 0xBEEF),
        wire.Presence(s, 0, 0x0001, SERVER, reply_required=True),
        wire.HandleTableRequest(s, r),
        wire.HandleTableRequest(s, r, own_children_only=True),
        wire.HandleTableResponse(s, r, [(b"EchoPool", tuple(pool_element(i) for i in range(3))),
                                        (b"PingPongPool", (pool_element(9, POLICIES[13]),))],
                                 more_to_send=True),
        wire.HandleTableResponse(s, r, reject=True),
        wire.HandleUpdate(s, r, wire.UpdateAction.ADD_PE, b"EchoPool", pool_element(4)),
        wire.HandleUpdate(s, r, wire.UpdateAction.DEL_PE, b"EchoPool", pool_element(5, asap=True),
                          takeover_suggestion=True),
        wire.ListRequest(s, r),
        wire.ListResponse(s, r, [SERVER, wire.ServerInformation(r, TRANSPORTS[1])]),
        wire.ListResponse(s, r, reject=True),
        wire.InitTakeover(s, 0, 0x5CE1F003),
        wire.InitTakeoverAck(r, s, 0x5CE1F003),
        wire.TakeoverServer(s, 0, 0x5CE1F003),
        wire.EnrpError(s, r, ERROR),
    ]


def all_messages() -> list[tuple[int, wire.Message]]:
    return [(wire.PPID_ASAP, m) for m in asap_messages()] + \
        [(wire.PPID_ENRP, m) for m in enrp_messages()]


def tlv(ptype: int, value: bytes) -> bytes:
    """A parameter TLV, padded to 4 bytes."""
    raw = struct.pack("!HH", ptype, 4 + len(value)) + value
    return raw + bytes(-len(raw) % 4)


def message(mtype: int, body: bytes, flags: int = 0) -> bytes:
    """A message with its header."""
    return struct.pack("!BBH", mtype, flags, 4 + len(body)) + body


def sctp(port: int, *addresses: bytes) -> bytes:
    """An SCTP transport TLV holding IPv4 (4-byte) or IPv6 (16-byte) addresses."""
    return tlv(0x04, struct.pack("!HH", port, 0)
               + b"".join(tlv(1 if len(a) == 4 else 2, a) for a in addresses))


def pe_tlv(pe_id: int, *inner: bytes) -> bytes:
    """A pool element TLV; default content: one SCTP address and round robin."""
    if not inner:
        inner = (sctp(1, bytes(4)), tlv(0x08, struct.pack("!I", 1)))
    return tlv(0x0A, struct.pack("!IIi", pe_id, 0, 1000) + b"".join(inner))

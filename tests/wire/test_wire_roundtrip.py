"""Every message type and parameter variant survives encode -> decode -> encode unchanged."""

import copy
import ipaddress
import pickle
import struct

import pytest
from wire_samples import (
    ERROR,
    POLICIES,
    SERVER,
    TRANSPORTS,
    all_messages,
    message,
    pool_element,
    tlv,
)

from rserpool import wire
from rserpool.wire import PolicyType

SAMPLES = all_messages()


@pytest.mark.parametrize(("ppid", "msg"), SAMPLES, ids=[type(m).__name__ for _, m in SAMPLES])
def test_roundtrip(ppid: int, msg: wire.Message) -> None:
    data = msg.encode()
    assert len(data) % 4 == 0
    assert int.from_bytes(data[2:4], "big") == len(data)
    assert data[0] == msg.type
    back = wire.decode(data, ppid)
    assert type(back) is type(msg)
    assert back == msg
    assert (back != msg) is False
    assert back.encode() == data
    assert back.unrecognized == ()
    assert repr(back) == repr(msg)
    assert back.ppid == ppid


def test_every_message_type_is_covered() -> None:
    asap = {m.type for p, m in SAMPLES if p == wire.PPID_ASAP}
    enrp = {m.type for p, m in SAMPLES if p == wire.PPID_ENRP}
    assert asap == set(range(1, 0x0F))
    assert enrp == set(range(1, 0x0B))


def test_every_policy_type_is_covered() -> None:
    assert {p.policy_type for p in POLICIES} == set(PolicyType)


@pytest.mark.parametrize(
    ("msg", "flags"),
    [
        (wire.RegistrationResponse(b"p", 1, reject=True), 0x01),
        (wire.EndpointKeepAlive(1, b"p", home=True), 0x01),
        (wire.Presence(1, 2, 3, reply_required=True), 0x01),
        (wire.HandleTableRequest(1, 2, own_children_only=True), 0x01),
        (wire.HandleTableResponse(1, 2, reject=True), 0x01),
        (wire.HandleTableResponse(1, 2, more_to_send=True), 0x02),
        (wire.HandleTableResponse(1, 2, more_to_send=True, reject=True), 0x03),
        (wire.HandleUpdate(1, 2, 0, b"p", pool_element(1), takeover_suggestion=True), 0x01),
        (wire.ListResponse(1, 2, reject=True), 0x01),
        (wire.Registration(b"p", pool_element(1)), 0x00),
    ],
)
def test_flag_bits_on_the_wire(msg: wire.Message, flags: int) -> None:
    assert msg.encode()[1] == flags
    assert msg.flags == flags


def test_rsplib_registration_layout() -> None:
    """Byte layout of the Registration RSPLIB 3.4.4 sent (from the reference capture)."""
    data = bytes.fromhex(
        "0100004c0009000c4563686f506f6f6c000a003cec0000010000000000015f9000040024b7610001"
        "000100080a63000a00020014fd0000990000000000000000000000100008000800000001"
    )
    msg = wire.decode(data, wire.PPID_ASAP)
    assert isinstance(msg, wire.Registration)
    assert msg.pool_handle == b"EchoPool"
    pe = msg.pool_element
    assert pe.pe_identifier == 0xEC000001
    assert pe.registration_life == 90000
    tr = pe.user_transport
    assert isinstance(tr, wire.SctpTransport)
    assert tr.port == 46945 and tr.transport_use == 1
    assert tr.addresses == (ipaddress.ip_address("10.99.0.10"),
                            ipaddress.ip_address("fd00:99::10"))
    assert pe.member_selection_policy == wire.Policy(PolicyType.ROUND_ROBIN)
    assert msg.encode() == data


def test_addresses_accept_strings_and_objects_and_compare_equal() -> None:
    a = wire.SctpTransport(1, ["10.0.0.1", ipaddress.ip_address("::1")])
    b = wire.SctpTransport(1, [ipaddress.ip_address("10.0.0.1"), "::1"])
    assert a == b
    assert a.packed_addresses == (bytes([10, 0, 0, 1]), bytes(15) + b"\x01")
    assert a != wire.SctpTransport(1, ["10.0.0.2", "::1"])
    assert a != wire.TcpTransport(1, ["10.0.0.1", "::1"])
    with pytest.raises(TypeError):
        hash(a)


def test_fields_are_compared() -> None:
    base = pool_element(1)
    other = pool_element(1)
    assert base == other
    other.registration_life += 1
    assert base != other
    assert wire.Policy(PolicyType.LEAST_USED, load=1) != wire.Policy(PolicyType.LEAST_USED, load=2)
    assert wire.Cookie(b"a") != wire.CookieEcho(b"a")


def test_constructor_validation() -> None:
    with pytest.raises(ValueError, match="carries no weight"):
        wire.Policy(PolicyType.LEAST_USED, weight=1)
    with pytest.raises(ValueError, match="unknown policy type"):
        wire.Policy(0x12345678)
    with pytest.raises(ValueError, match="at least one address"):
        wire.SctpTransport(1, [])
    with pytest.raises(TypeError):
        wire.Registration("EchoPool", pool_element(1))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="pool handle"):
        wire.Deregistration(b"", 1)
    with pytest.raises(OverflowError):
        wire.Deregistration(b"p", 1 << 32)


def test_readable_repr() -> None:
    text = repr(wire.Registration(b"EchoPool", pool_element(1)))
    assert text.startswith("Registration(pool_handle=b'EchoPool', pool_element=PoolElement(")
    assert ("SctpTransport(port=9001, addresses=('10.1.0.2', 'fd00:99::10'), transport_use=1)"
            in text)
    assert "Policy(policy_type=0x40000001, load=1000)" in text


def test_rsplib_plu_without_degradation_decodes() -> None:
    """RSPLIB sends Priority Least-Used with the load only; RFC 5356 adds the degradation."""
    transport = tlv(0x04, struct.pack("!HH", 9000, 1) + tlv(0x01, bytes([10, 0, 0, 1])))
    policy = tlv(0x08, struct.pack("!II", PolicyType.PRIORITY_LEAST_USED, 5))
    pe = tlv(0x0A, struct.pack("!IIi", 7, 0, 30000) + transport + policy)
    msg = wire.decode(message(1, tlv(0x09, b"p") + pe), wire.PPID_ASAP)
    assert isinstance(msg, wire.Registration)
    assert msg.pool_element.member_selection_policy == wire.Policy(
        PolicyType.PRIORITY_LEAST_USED, load=5)


def test_unknown_policy_type_only_by_assignment() -> None:
    """Layers above may set an unknown type to test their refusal; decode() rejects it."""
    pe = pool_element(1)
    pe.member_selection_policy.policy_type = 0x7777
    assert pe.member_selection_policy.load == 0
    data = wire.Registration(b"p", pe).encode()
    with pytest.raises(wire.ParseError, match="unsupported member selection policy type"):
        wire.decode(data, wire.PPID_ASAP)


@pytest.mark.parametrize("msg", [m for _, m in SAMPLES[::7]])
def test_copy_and_pickle(msg: wire.Message) -> None:
    assert copy.deepcopy(msg) == msg
    assert pickle.loads(pickle.dumps(msg)) == msg
    for part in (POLICIES[13], pool_element(3, asap=True), SERVER, ERROR, *TRANSPORTS):
        assert pickle.loads(pickle.dumps(part)) == part
        assert copy.copy(part) == part

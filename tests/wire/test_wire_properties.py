"""Properties over generated messages: decode(m.encode()) == m, canonical bytes round-trip,
lazily built pool element parts behave like eagerly built ones."""

import struct

import pytest
from hypothesis import given
from wire_samples import pool_element, tlv
from wire_strategies import messages, pool_elements

from rserpool import wire
from rserpool.wire import PolicyType


@given(messages)
def test_decode_of_encode_is_identity(case: tuple[int, wire.Message]) -> None:
    ppid, msg = case
    data = msg.encode()
    back = wire.decode(data, ppid)
    assert back == msg
    assert back.encode() == data
    assert repr(back) == repr(msg)


@given(pool_elements)
def test_lazy_pool_element_matches_eager(pe: wire.PoolElement) -> None:
    data = wire.Registration(b"p", pe).encode()
    lazy = wire.decode(data, wire.PPID_ASAP)
    assert isinstance(lazy, wire.Registration)
    assert lazy.encode() == data              # before any part is built
    got = lazy.pool_element
    assert got.user_transport == pe.user_transport
    assert got.member_selection_policy == pe.member_selection_policy
    assert got.asap_transport == pe.asap_transport
    assert lazy.encode() == data              # after


def test_changes_to_a_decoded_pool_element_are_encoded() -> None:
    msg = wire.decode(wire.Registration(b"p", pool_element(1)).encode(), wire.PPID_ASAP)
    assert isinstance(msg, wire.Registration)
    pe = msg.pool_element
    pe.home_enrp_server_identifier = 0x1234
    pe.member_selection_policy.load = 77         # builds the policy, then changes it
    pe.user_transport = wire.TcpTransport(1, ["::1"])
    pe.asap_transport = wire.SctpTransport(2, ["10.0.0.9"])
    back = wire.decode(msg.encode(), wire.PPID_ASAP)
    assert isinstance(back, wire.Registration)
    assert back.pool_element.home_enrp_server_identifier == 0x1234
    assert back.pool_element.member_selection_policy == wire.Policy(PolicyType.LEAST_USED,
                                                                    load=77)
    assert back.pool_element.user_transport == wire.TcpTransport(1, ["::1"])
    assert back.pool_element.asap_transport == wire.SctpTransport(2, ["10.0.0.9"])
    policy = pe.member_selection_policy
    policy.policy_type = PolicyType.ROUND_ROBIN     # clears the load, which RR does not carry
    assert policy == wire.Policy(PolicyType.ROUND_ROBIN)
    assert wire.decode(msg.encode(), wire.PPID_ASAP) == msg
    with pytest.raises(ValueError, match="carries no weight"):
        policy.weight = 3


def test_non_canonical_parts_are_built_eagerly_and_reencoded_canonically() -> None:
    """An address type with skip bits set, and RSPLIB's short PLU, decode to the same objects."""
    transport = tlv(0x04, struct.pack("!HH", 9, 1) + tlv(0x4001, bytes([10, 0, 0, 1])))
    policy = tlv(0x08, struct.pack("!II", PolicyType.PRIORITY_LEAST_USED, 5))
    pe = tlv(0x0A, struct.pack("!IIi", 7, 0, 1000) + transport + policy)
    body = tlv(0x09, b"p") + pe
    data = struct.pack("!BBH", 1, 0, 4 + len(body)) + body
    msg = wire.decode(data, wire.PPID_ASAP)
    assert isinstance(msg, wire.Registration)
    want = wire.PoolElement(7, 0, 1000, wire.SctpTransport(9, ["10.0.0.1"], 1),
                            wire.Policy(PolicyType.PRIORITY_LEAST_USED, load=5))
    assert msg.pool_element == want
    assert msg.encode() == wire.Registration(b"p", want).encode() != data

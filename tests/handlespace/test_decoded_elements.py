"""Pool elements as a registrar gets them: decoded from a message, sub-parameters not built.

The handlespace reads their policy and transport from the message bytes; these tests check
that it sees the same values as in constructed elements.
"""

import pytest

from rserpool.handlespace import Handlespace, HandlespaceError
from rserpool.wire import (
    PPID_ASAP,
    Cause,
    DccpTransport,
    Policy,
    PolicyType,
    PoolElement,
    Registration,
    SctpTransport,
    TcpTransport,
    Transport,
    decode,
)


def decoded(pe_id: int, policy: Policy, transport: Transport | None = None) -> PoolElement:
    """pe as a registrar decodes it from an ASAP Registration."""
    built = PoolElement(pe_id, 1, 30_000, transport or SctpTransport(3000, ["10.0.0.1"]), policy)
    message = decode(Registration(b"p", built).encode(), PPID_ASAP)
    assert isinstance(message, Registration)
    return message.pool_element


def cause(hs: Handlespace, e: PoolElement) -> Cause:
    with pytest.raises(HandlespaceError) as info:
        hs.register(b"p", e, now=0.0)
    return info.value.cause


def test_load_and_degradation_are_read_from_the_message() -> None:
    hs = Handlespace()
    lud = PolicyType.LEAST_USED_DEGRADATION
    hs.register(b"p", decoded(1, Policy(lud, load=10, load_degradation=5)), now=0.0)
    hs.register(b"p", decoded(2, Policy(lud, load=12, load_degradation=1)), now=0.0)
    picks = [hs.select(b"p", 1)[0].pe_identifier for _ in range(5)]
    assert picks == [1, 2, 2, 2, 1]     # loads 10, 12 -> 15, 12 -> 15, 13 -> 15, 14 -> 15, 15


def test_priority_is_read_from_the_message() -> None:
    hs = Handlespace()
    for pe_id, priority in ((1, 3), (2, 9), (3, 5)):
        hs.register(b"p", decoded(pe_id, Policy(PolicyType.PRIORITY, priority=priority)),
                    now=0.0)
    assert [e.pe_identifier for e in hs.select(b"p", 3)] == [2, 3, 1]


def test_a_zero_weight_from_the_message_is_never_picked() -> None:
    hs = Handlespace(seed=5)
    wrand = PolicyType.WEIGHTED_RANDOM
    hs.register(b"p", decoded(1, Policy(wrand, weight=0)), now=0.0)
    hs.register(b"p", decoded(2, Policy(wrand, weight=7)), now=0.0)
    assert {hs.select(b"p", 1)[0].pe_identifier for _ in range(50)} == {2}


def test_transport_type_and_use_are_read_from_the_message() -> None:
    hs = Handlespace()
    rr = Policy(PolicyType.ROUND_ROBIN)
    hs.register(b"p", decoded(1, rr, SctpTransport(80, ["10.0.0.1"], transport_use=1)),
                now=0.0)
    assert cause(hs, decoded(2, rr, SctpTransport(80, ["10.0.0.2"]))) == \
        Cause.INCONSISTENT_DATA_CONTROL
    assert cause(hs, decoded(3, rr, TcpTransport(80, ["10.0.0.3"], transport_use=1))) == \
        Cause.INCONSISTENT_TRANSPORT_TYPE
    assert hs.register(b"p", PoolElement(4, 1, 1000, SctpTransport(80, ["10.0.0.4"], 1), rr),
                       now=0.0)


def test_a_dccp_service_code_is_no_transport_use() -> None:
    hs = Handlespace()
    rr = Policy(PolicyType.ROUND_ROBIN)
    hs.register(b"p", decoded(1, rr, DccpTransport(80, ["10.0.0.1"], service_code=7)), now=0.0)
    assert hs.register(b"p", decoded(2, rr, DccpTransport(80, ["10.0.0.2"])), now=0.0)
    assert len(hs) == 2


def test_addresses_in_the_message_count_against_the_limit() -> None:
    hs = Handlespace(max_addresses=2)
    rr = Policy(PolicyType.ROUND_ROBIN)
    two = SctpTransport(80, ["2001:db8::1", "10.0.0.1"])
    three = SctpTransport(80, ["10.0.0.1", "2001:db8::2", "10.0.0.3"])
    assert hs.register(b"p", decoded(1, rr, two), now=0.0)
    assert cause(hs, decoded(2, rr, three)) == Cause.INVALID_VALUES
    assert len(hs) == 1

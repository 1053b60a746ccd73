"""Registrar-side ASAP (RFC 5352) and its RFC 5355 protections, driven with fake time."""

from __future__ import annotations

import logging
import random
import struct

import pytest

from rserpool import wire
from rserpool.actions import Announce
from rserpool.asap.registrar import Registrar
from rserpool.asap.registrar_config import RegistrarConfig

from .fabric import Client, Fabric, pe_param

POOL = b"echo"
A, B = 0x0A0A0A0A, 0x0B0B0B0B


@pytest.fixture
def net() -> Fabric:
    fabric = Fabric()
    fabric.registrar("A", A)
    return fabric


def register(net: Fabric, pe: Client, assoc: int, pe_id: int, pool: bytes = POOL,
             **kwargs: object) -> object:
    net.send(pe, assoc, wire.Registration(pool, pe_param(pe_id, pe, **kwargs)))  # type: ignore[arg-type]
    return pe.last(wire.RegistrationResponse)


def resolve(net: Fabric, pu: Client, assoc: int, pool: bytes = POOL,
            items: int | None = None) -> object:
    net.send(pu, assoc, wire.HandleResolution(pool, items))
    return pu.last(wire.HandleResolutionResponse)


def cause_of(error: object) -> int:
    assert error is not None
    causes = error.causes  # type: ignore[attr-defined]
    assert len(causes) == 1
    return int(causes[0].code)


# ---------------------------------------------------------------- registration


def test_registration_makes_pe_resolvable_with_registrar_as_home(net: Fabric) -> None:
    pe, pu = net.client("pe"), net.client("pu")
    pe_assoc, pu_assoc = net.connect(pe, "A"), net.connect(pu, "A")

    response = register(net, pe, pe_assoc, 0x1234)

    assert not response.reject and response.error is None
    assert response.pool_handle == POOL and response.pe_identifier == 0x1234
    found = resolve(net, pu, pu_assoc)
    assert found.error is None
    assert [p.pe_identifier for p in found.pool_elements] == [0x1234]
    stored = found.pool_elements[0]
    assert stored.home_enrp_server_identifier == A
    assert [str(a) for a in stored.user_transport.addresses] == list(pe.addresses)
    assert found.policy.policy_type == wire.PolicyType.ROUND_ROBIN
    assert net.registrars["A"].statistics()["registrations"] == 1


def test_timer_serial_changes_with_every_deadline_set_and_only_then(net: Fabric) -> None:
    """A runtime re-reads next_timer() only when timer_serial() changed: a registration (a
    new keep-alive deadline) must change it, a handle resolution (no deadline) must not,
    and the earliest deadline never moves earlier without a change."""
    core = net.registrars["A"]
    pe, pu = net.client("pe"), net.client("pu")
    pe_assoc, pu_assoc = net.connect(pe, "A"), net.connect(pu, "A")
    before, earliest = core.timer_serial(), core.next_timer()
    register(net, pe, pe_assoc, 0x1234)
    assert core.timer_serial() != before
    serial, earliest = core.timer_serial(), core.next_timer()
    for _ in range(3):
        assert resolve(net, pu, pu_assoc).error is None  # type: ignore[attr-defined]
    assert core.timer_serial() == serial and core.next_timer() == earliest


def test_reregistration_updates_policy_values_and_counts_separately(net: Fabric) -> None:
    pe, pu = net.client("pe"), net.client("pu")
    pe_assoc, pu_assoc = net.connect(pe, "A"), net.connect(pu, "A")
    wrr = wire.PolicyType.WEIGHTED_ROUND_ROBIN
    register(net, pe, pe_assoc, 7, policy=wire.Policy(wrr, weight=1))

    response = register(net, pe, pe_assoc, 7, policy=wire.Policy(wrr, weight=9))

    assert not response.reject
    found = resolve(net, pu, pu_assoc)
    assert [(p.pe_identifier, p.member_selection_policy.weight) for p in found.pool_elements] \
        == [(7, 9)]
    stats = net.registrars["A"].statistics()
    assert (stats["registrations"], stats["reregistrations"]) == (1, 1)


def test_inconsistent_policy_is_rejected_with_its_cause(net: Fabric) -> None:
    one, two = net.client("pe1"), net.client("pe2")
    register(net, one, net.connect(one, "A"), 1)

    response = register(net, two, net.connect(two, "A"), 2,
                        policy=wire.Policy(wire.PolicyType.LEAST_USED))

    assert response.reject
    assert cause_of(response.error) == wire.Cause.INCONSISTENT_POLICY


def test_addresses_not_on_the_association_are_refused(net: Fabric) -> None:
    pe = net.client("pe", addresses=("10.0.1.50",))
    assoc = net.connect(pe, "A")

    response = register(net, pe, assoc, 5, addresses=("192.0.2.99",))

    assert response.reject
    assert cause_of(response.error) == wire.Cause.REJECTED_SECURITY
    pu = net.client("pu")
    assert cause_of(resolve(net, pu, net.connect(pu, "A")).error) == \
        wire.Cause.UNKNOWN_POOL_HANDLE


def test_foreign_addresses_are_filtered_out_of_a_registration(net: Fabric) -> None:
    pe = net.client("pe", addresses=("10.0.1.50", "10.0.2.50"))
    assoc = net.connect(pe, "A")

    response = register(net, pe, assoc, 5, addresses=("10.0.2.50", "192.0.2.99"))

    assert not response.reject
    pu = net.client("pu")
    found = resolve(net, pu, net.connect(pu, "A"))
    assert [str(a) for a in found.pool_elements[0].user_transport.addresses] == ["10.0.2.50"]


def test_mobile_pe_may_register_addresses_it_gained(net: Fabric) -> None:
    pe = net.client("pe", addresses=("10.0.1.50",))
    assoc = net.connect(pe, "A")
    core = net.registrars["A"]
    core.peer_addresses_changed(net.registrar_assoc(pe, assoc), ("10.0.1.50", "10.0.3.7"),
                                net.now)

    response = register(net, pe, assoc, 5, addresses=("10.0.3.7",))

    assert not response.reject


# ---------------------------------------------------------------- deregistration


def test_deregistration_removes_the_pe(net: Fabric) -> None:
    pe, pu = net.client("pe"), net.client("pu")
    pe_assoc, pu_assoc = net.connect(pe, "A"), net.connect(pu, "A")
    register(net, pe, pe_assoc, 9)

    net.send(pe, pe_assoc, wire.Deregistration(POOL, 9))

    response = pe.last(wire.DeregistrationResponse)
    assert not response.reject and response.pe_identifier == 9
    assert cause_of(resolve(net, pu, pu_assoc).error) == wire.Cause.UNKNOWN_POOL_HANDLE
    assert net.registrars["A"].statistics()["deregistrations"] == 1


def test_deregistration_of_an_unknown_pe_reports_success(net: Fabric) -> None:
    pe = net.client("pe")
    assoc = net.connect(pe, "A")

    net.send(pe, assoc, wire.Deregistration(POOL, 404))

    assert not pe.last(wire.DeregistrationResponse).reject


def test_only_the_registering_association_may_deregister_or_reregister(net: Fabric) -> None:
    pe, thief, pu = net.client("pe"), net.client("thief"), net.client("pu")
    pe_assoc = net.connect(pe, "A")
    thief_assoc, pu_assoc = net.connect(thief, "A"), net.connect(pu, "A")
    register(net, pe, pe_assoc, 77)

    net.send(thief, thief_assoc, wire.Deregistration(POOL, 77))
    refused = thief.last(wire.DeregistrationResponse)
    hijack = register(net, thief, thief_assoc, 77)

    assert refused.reject and cause_of(refused.error) == wire.Cause.REJECTED_SECURITY
    assert hijack.reject and cause_of(hijack.error) == wire.Cause.REJECTED_SECURITY
    found = resolve(net, pu, pu_assoc)
    assert [str(a) for a in found.pool_elements[0].user_transport.addresses] == \
        list(pe.addresses)


def test_losing_the_association_removes_its_pes(net: Fabric) -> None:
    pe, pu = net.client("pe"), net.client("pu")
    pe_assoc, pu_assoc = net.connect(pe, "A"), net.connect(pu, "A")
    register(net, pe, pe_assoc, 1)
    register(net, pe, pe_assoc, 2)

    net.close(pe, pe_assoc)

    assert cause_of(resolve(net, pu, pu_assoc).error) == wire.Cause.UNKNOWN_POOL_HANDLE


def test_pes_per_association_are_bounded(net: Fabric) -> None:
    fabric = Fabric()
    fabric.registrar("A", A, max_pes_per_association=2)
    pe = fabric.client("pe")
    assoc = fabric.connect(pe, "A")
    register(fabric, pe, assoc, 1)
    register(fabric, pe, assoc, 2)

    third = register(fabric, pe, assoc, 3)
    again = register(fabric, pe, assoc, 2)

    assert third.reject and cause_of(third.error) == wire.Cause.LACK_OF_RESOURCES
    assert not again.reject


# ---------------------------------------------------------------- handle resolution


def test_handle_resolution_items_default_requested_and_capped(net: Fabric) -> None:
    pe, pu = net.client("pe"), net.client("pu")
    pe_assoc, pu_assoc = net.connect(pe, "A"), net.connect(pu, "A")
    for pe_id in range(1, 131):
        register(net, pe, pe_assoc, pe_id)

    assert len(resolve(net, pu, pu_assoc).pool_elements) == 3
    assert len(resolve(net, pu, pu_assoc, items=5).pool_elements) == 5
    assert len(resolve(net, pu, pu_assoc, items=1000).pool_elements) == 128
    assert net.registrars["A"].statistics()["handle_resolutions"] == 3


def test_handle_resolution_rate_limit_is_per_pool_user(net: Fabric) -> None:
    fabric = Fabric()
    fabric.registrar("A", A, max_hr_rate=1.0)
    pe, greedy, polite = fabric.client("pe"), fabric.client("greedy"), fabric.client("polite")
    register(fabric, pe, fabric.connect(pe, "A"), 1)
    greedy_assoc, polite_assoc = fabric.connect(greedy, "A"), fabric.connect(polite, "A")

    first = resolve(fabric, greedy, greedy_assoc)
    second = resolve(fabric, greedy, greedy_assoc)
    other = resolve(fabric, polite, polite_assoc)
    fabric.advance(1.0)
    later = resolve(fabric, greedy, greedy_assoc)

    assert first.error is None and len(first.pool_elements) == 1
    assert cause_of(second.error) == wire.Cause.REJECTED_SECURITY
    assert other.error is None
    assert later.error is None


# ---------------------------------------------------------------- keep-alives and lifetime


def test_keep_alives_every_interval_keep_an_answering_pe(net: Fabric) -> None:
    pe, pu = net.client("pe"), net.client("pu")
    pe_assoc, pu_assoc = net.connect(pe, "A"), net.connect(pu, "A")
    register(net, pe, pe_assoc, 3)

    net.advance(4.9)
    assert pe.received(wire.EndpointKeepAlive) == []
    net.advance(0.2)
    keep_alive = pe.last(wire.EndpointKeepAlive)
    net.advance(25.0)

    assert keep_alive.server_identifier == A and keep_alive.pe_identifier == 3
    assert not keep_alive.home
    assert len(pe.received(wire.EndpointKeepAlive)) == 6
    assert resolve(net, pu, pu_assoc).error is None
    assert net.registrars["A"].statistics()["endpoint_keep_alives"] == 6


def test_pe_that_stops_answering_keep_alives_is_removed(net: Fabric) -> None:
    pe, pu = net.client("pe", answer_keep_alives=False), net.client("pu")
    pe_assoc, pu_assoc = net.connect(pe, "A"), net.connect(pu, "A")
    register(net, pe, pe_assoc, 3)

    net.advance(9.9)  # keep-alive at 5 s, timeout 5 s later
    still_there = resolve(net, pu, pu_assoc)
    net.advance(0.2)

    assert still_there.error is None
    assert cause_of(resolve(net, pu, pu_assoc).error) == wire.Cause.UNKNOWN_POOL_HANDLE


def test_registration_expires_after_its_lifetime(net: Fabric) -> None:
    pe, pu = net.client("pe"), net.client("pu")
    pe_assoc, pu_assoc = net.connect(pe, "A"), net.connect(pu, "A")
    register(net, pe, pe_assoc, 3, life_ms=2000)

    net.advance(1.9)
    alive = resolve(net, pu, pu_assoc)
    register(net, pe, pe_assoc, 3, life_ms=2000)  # a re-registration restarts the lifetime
    net.advance(1.9)
    refreshed = resolve(net, pu, pu_assoc)
    net.advance(0.2)

    assert alive.error is None and refreshed.error is None
    assert cause_of(resolve(net, pu, pu_assoc).error) == wire.Cause.UNKNOWN_POOL_HANDLE


# ---------------------------------------------------------------- unreachable reports


def test_endpoint_unreachable_removes_pe_at_max_bad_pe_reports(net: Fabric) -> None:
    pe, pu = net.client("pe"), net.client("pu")
    pe_assoc, pu_assoc = net.connect(pe, "A"), net.connect(pu, "A")
    register(net, pe, pe_assoc, 3)

    net.send(pu, pu_assoc, wire.EndpointUnreachable(POOL, 3))
    net.send(pu, pu_assoc, wire.EndpointUnreachable(POOL, 3))
    after_two = resolve(net, pu, pu_assoc)
    net.send(pu, pu_assoc, wire.EndpointUnreachable(POOL, 3))

    assert after_two.error is None
    assert cause_of(resolve(net, pu, pu_assoc).error) == wire.Cause.UNKNOWN_POOL_HANDLE
    assert net.registrars["A"].statistics()["failure_reports"] == 3


def test_endpoint_unreachable_rate_limit_protects_pes(net: Fabric) -> None:
    fabric = Fabric()
    fabric.registrar("A", A, max_eu_rate=0.5)
    pe, liar, pu = fabric.client("pe"), fabric.client("liar"), fabric.client("pu")
    register(fabric, pe, fabric.connect(pe, "A"), 3)
    liar_assoc, pu_assoc = fabric.connect(liar, "A"), fabric.connect(pu, "A")

    for _ in range(10):
        fabric.send(liar, liar_assoc, wire.EndpointUnreachable(POOL, 3))

    assert resolve(fabric, pu, pu_assoc).error is None
    assert fabric.registrars["A"].statistics()["failure_reports"] == 1


# ---------------------------------------------------------------- errors, announces


GARBAGE = [
    b"",  # empty
    b"\x01\x00\x00\x10",  # a Registration header that promises 16 bytes
    b"\x05\x00\x00\x08\x00\x09\x00\x40",  # a pool handle longer than the message
    b"\x7f\x00\x00\x04",  # unknown message type
    bytes(range(256)) * 300,  # oversized nonsense
]


@pytest.mark.parametrize("data", GARBAGE, ids=["empty", "truncated", "overrun", "type",
                                               "oversized"])
def test_garbage_gets_an_asap_error_and_nothing_else_changes(
    net: Fabric, caplog: pytest.LogCaptureFixture, data: bytes
) -> None:
    pe, pu, attacker = net.client("pe"), net.client("pu"), net.client("attacker")
    pe_assoc, pu_assoc = net.connect(pe, "A"), net.connect(pu, "A")
    attacker_assoc = net.connect(attacker, "A")
    register(net, pe, pe_assoc, 1)
    expected = _parse_error(data)

    with caplog.at_level(logging.WARNING):
        net.send_raw(attacker, attacker_assoc, data, wire.PPID_ASAP)

    reply = attacker.last(wire.AsapError)
    assert cause_of(reply.error) == expected.cause
    assert "undecodable" in caplog.text
    assert [type(m) for _, m in pe.inbox] == [wire.RegistrationResponse]
    assert pu.inbox == []
    assert [p.pe_identifier for p in resolve(net, pu, pu_assoc).pool_elements] == [1]


def _with_parameter(message: object, ptype: int) -> bytes:
    """An encoded message with one more (unknown) parameter at its end."""
    data = message.encode()  # type: ignore[attr-defined]
    extra = struct.pack("!HH", ptype, 7) + b"xyz\x00"
    return data[:2] + struct.pack("!H", len(data) + len(extra)) + data[4:] + extra


def test_unknown_parameter_marked_skip_and_report_is_reported_and_skipped(net: Fabric) -> None:
    pe, pu = net.client("pe"), net.client("pu")
    register(net, pe, net.connect(pe, "A"), 1)
    assoc = net.connect(pu, "A")

    net.send_raw(pu, assoc, _with_parameter(wire.HandleResolution(POOL), 0xC123), wire.PPID_ASAP)

    error = pu.last(wire.AsapError).error
    assert [(int(c.code), c.info) for c in error.causes] == \
        [(wire.Cause.UNRECOGNIZED_PARAMETER, struct.pack("!HH", 0xC123, 7) + b"xyz")]
    assert [p.pe_identifier for p in pu.last(wire.HandleResolutionResponse).pool_elements] == [1]


@pytest.mark.parametrize(("ptype", "reported"), [(0x0123, False), (0x4123, True)])
def test_unknown_parameter_marked_stop_drops_the_message(
    net: Fabric, ptype: int, reported: bool
) -> None:
    pu = net.client("pu")
    assoc = net.connect(pu, "A")

    net.send_raw(pu, assoc, _with_parameter(wire.HandleResolution(POOL), ptype), wire.PPID_ASAP)

    assert pu.received(wire.HandleResolutionResponse) == []
    errors = pu.received(wire.AsapError)
    assert [cause_of(e.error) for e in errors] == \
        ([wire.Cause.UNRECOGNIZED_PARAMETER] if reported else [])


def test_message_a_registrar_does_not_take_gets_unrecognized_message(net: Fabric) -> None:
    pu = net.client("pu")
    assoc = net.connect(pu, "A")

    net.send(pu, assoc, wire.Cookie(b"not for a registrar"))

    assert cause_of(pu.last(wire.AsapError).error) == wire.Cause.UNRECOGNIZED_MESSAGE


def test_enrp_message_on_an_asap_association_is_refused(net: Fabric) -> None:
    pu = net.client("pu")
    assoc = net.connect(pu, "A")
    resolve(net, pu, assoc)

    net.send(pu, assoc, wire.TakeoverServer(B, A, A))

    reply = pu.last(wire.EnrpError)
    assert cause_of(reply.error) == wire.Cause.UNRECOGNIZED_MESSAGE
    assert net.registrars["A"].enrp.peers == {}


def test_server_announces_every_cycle_after_startup() -> None:
    fabric = Fabric()
    core = fabric.registrar("A", A)
    listener = fabric.client("listener")

    fabric.advance(4.9)  # startup: looking for a mentor
    assert listener.announces == []
    fabric.advance(5.1)

    announces = listener.announces
    assert 5 <= len(announces) <= 7
    assert all(a.server_identifier == A for a in announces)
    assert [str(x) for x in announces[0].transports[0].addresses] == \
        list(core.config.asap_addresses)
    assert announces[0].transports[0].port == core.config.asap_port


def _parse_error(data: bytes) -> wire.ParseError:
    try:
        wire.decode(data, wire.PPID_ASAP)
    except wire.ParseError as exc:
        return exc
    raise AssertionError(f"{data!r} decoded")


def test_addresses_kept_per_association_are_bounded() -> None:
    fabric = Fabric()
    fabric.registrar("A", A, max_peer_addresses=4)
    many = tuple(f"10.0.5.{i}" for i in range(1, 41))
    pe = fabric.client("pe", addresses=many)
    assoc = fabric.connect(pe, "A")

    register(fabric, pe, assoc, 1)

    stored = fabric.registrars["A"].handlespace.get(POOL, 1)
    assert len(stored.user_transport.addresses) == 4
    assert len(stored.asap_transport.addresses) == 4


def test_registration_with_zero_lifetime_is_invalid(net: Fabric) -> None:
    pe = net.client("pe")

    response = register(net, pe, net.connect(pe, "A"), 1, life_ms=0)

    assert response.reject and cause_of(response.error) == wire.Cause.INVALID_VALUES


def test_without_configured_addresses_announces_still_encode() -> None:
    core = Registrar(RegistrarConfig(server_id=A), rng=random.Random(1))
    actions = core.handle_timer(0.0)
    while (due := core.next_timer()) is not None and due <= 6.0:
        actions += core.handle_timer(6.0)

    announces = [a.message for a in actions if isinstance(a, Announce)]
    assert {type(m) for m in announces} == {wire.Presence, wire.ServerAnnounce}
    for message in announces:
        assert wire.decode(message.encode(), message.ppid) == message

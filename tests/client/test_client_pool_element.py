"""The PE core with fake time: registration, re-registration, keep-alives, failover, close."""

from __future__ import annotations

import random
from itertools import pairwise

from clientkit import (
    POOL,
    REG_A,
    REG_B,
    closes,
    connects,
    notified,
    one_connect,
    one_send,
    rejection,
    sends,
)

from rserpool import wire
from rserpool.asap.pool_element import PoolElementCore

POLICY = wire.Policy(wire.PolicyType.LEAST_USED, load=0)
USER = wire.SctpTransport(7000, ["10.1.0.1"])


def registered_pe(**kwargs: object) -> tuple[PoolElementCore, wire.Registration]:
    """A PE registered at REG_A over association 1 at t=1."""
    core = PoolElementCore(POOL, POLICY, USER, registrars=[REG_A, REG_B], rng=42, **kwargs)
    connect = one_connect(core.start(0.0))
    registration = one_send(core.association_up(1, ["10.0.0.1"], 1.0, connect.key),
                            wire.Registration).message
    actions = core.receive(1, wire.RegistrationResponse(POOL, core.pe_identifier), 1.1)
    assert notified(actions, "registered") == [core.pe_identifier]
    return core, registration


def test_registration_carries_the_pe_and_a_lifetime_of_three_intervals() -> None:
    core, registration = registered_pe(reregistration_interval=30.0)
    assert registration.pool_handle == POOL
    element = registration.pool_element
    assert element.pe_identifier == random.Random(42).randrange(1, 1 << 32)
    assert element.registration_life == 90000
    assert element.user_transport == USER
    assert element.member_selection_policy == POLICY
    assert core.registered and core.registrar_assoc == 1


def test_pe_identifier_comes_from_the_seed_or_the_caller() -> None:
    a = PoolElementCore(POOL, POLICY, USER, rng=7)
    b = PoolElementCore(POOL, POLICY, USER, rng=random.Random(7))
    assert a.pe_identifier == b.pe_identifier != 0
    assert PoolElementCore(POOL, POLICY, USER, pe_identifier=1234).pe_identifier == 1234


def test_reregisters_every_interval() -> None:
    core, _ = registered_pe(reregistration_interval=30.0)
    assert core.next_timer() == 31.0  # 30 s after the registration was sent
    assert core.handle_timer(30.9) == []
    again = one_send(core.handle_timer(31.0), wire.Registration)
    assert again.assoc == 1 and again.message.pool_element.pe_identifier == core.pe_identifier
    assert notified(core.receive(1, wire.RegistrationResponse(POOL, core.pe_identifier), 31.1),
                    "registered") == []  # already registered: no new event
    assert core.next_timer() == 61.0


def test_new_load_and_new_addresses_reregister_at_once() -> None:
    core, _ = registered_pe()
    sent = one_send(core.update(5.0, load=0x80000000), wire.Registration)
    assert sent.message.pool_element.member_selection_policy.load == 0x80000000
    assert sent.message.pool_element.member_selection_policy.policy_type == POLICY.policy_type
    moved = wire.SctpTransport(7000, ["10.9.0.1", "10.9.1.1"])
    sent = one_send(core.update(6.0, user_transport=moved), wire.Registration)
    assert sent.message.pool_element.user_transport == moved
    assert core.next_timer() == 11.0  # the response is awaited (request timeout 5 s)
    core.receive(1, wire.RegistrationResponse(POOL, core.pe_identifier), 6.1)
    assert core.next_timer() == 36.0


def test_rejection_is_reported_with_its_cause() -> None:
    core = PoolElementCore(POOL, POLICY, USER, registrars=[REG_A], rng=1)
    core.association_up(1, [], 0.1, one_connect(core.start(0.0)).key)
    response = wire.RegistrationResponse(POOL, core.pe_identifier, reject=True,
                                         error=rejection(wire.Cause.INCONSISTENT_POLICY))
    [rejected] = notified(core.receive(1, response, 0.2), "registration-rejected")
    assert rejected.cause == wire.Cause.INCONSISTENT_POLICY and rejected.pool_handle == POOL
    assert not core.registered


def test_rejected_registration_is_retried_soon_then_backs_off_to_the_interval() -> None:
    core = PoolElementCore(POOL, POLICY, USER, registrars=[REG_A], rng=1,
                           retry_interval=1.0, reregistration_interval=5.0)
    core.association_up(1, [], 0.0, one_connect(core.start(0.0)).key)
    refused = wire.RegistrationResponse(POOL, core.pe_identifier, reject=True,
                                        error=rejection(wire.Cause.REJECTED_SECURITY))
    retries, now = [], 0.0
    for _ in range(5):
        core.receive(1, refused, now)
        now = core.next_timer() or 0.0
        retries.append(now)
        assert one_send(core.handle_timer(now), wire.Registration)
    assert [round(b - a, 6) for a, b in pairwise([0.0, *retries])] == [1, 2, 4, 5, 5]
    core.receive(1, wire.RegistrationResponse(POOL, core.pe_identifier), now)
    assert core.registered and core.next_timer() == now + 5.0


def test_non_unique_identifier_draws_a_new_one_for_the_next_try() -> None:
    core = PoolElementCore(POOL, POLICY, USER, registrars=[REG_A], rng=1)
    core.association_up(1, [], 0.1, one_connect(core.start(0.0)).key)
    old = core.pe_identifier
    core.receive(1, wire.RegistrationResponse(
        POOL, old, reject=True, error=rejection(wire.Cause.NON_UNIQUE_PE_IDENTIFIER)), 0.2)
    retry = one_send(core.handle_timer(30.1), wire.Registration)
    assert retry.message.pool_element.pe_identifier == core.pe_identifier != old


def test_keep_alive_is_answered_on_its_association() -> None:
    core, _ = registered_pe()
    ack = one_send(core.receive(1, wire.EndpointKeepAlive(77, POOL, core.pe_identifier), 5.0),
                   wire.EndpointKeepAliveAck)
    assert ack.assoc == 1
    assert ack.message == wire.EndpointKeepAliveAck(POOL, core.pe_identifier)
    assert core.receive(1, wire.EndpointKeepAlive(77, POOL, core.pe_identifier + 1), 5.0) == []


def test_home_flag_adopts_the_new_registrar() -> None:
    core, _ = registered_pe()
    # A takeover registrar (id 99) connects to the PE and sends a keep-alive with the H flag.
    assert core.association_up(8, ["10.0.0.9"], 10.0) == []
    actions = core.receive(8, wire.EndpointKeepAlive(99, POOL, core.pe_identifier, home=True),
                           10.1)
    assert one_send(actions, wire.EndpointKeepAliveAck).assoc == 8
    assert notified(actions, "home-registrar") == [99]
    assert [c.assoc for c in closes(actions)] == [1]
    assert core.home_registrar == 99 and core.registrar_assoc == 8
    # It re-registers with its new home at once, and from then on every interval.
    now = one_send(actions, wire.Registration)
    assert now.assoc == 8 and now.message.pool_element.home_enrp_server_identifier == 99
    core.receive(8, wire.RegistrationResponse(POOL, core.pe_identifier), 10.2)
    assert one_send(core.handle_timer(40.1), wire.Registration).assoc == 8


def test_home_flag_while_still_hunting_registers_with_the_new_home() -> None:
    core = PoolElementCore(POOL, POLICY, USER, registrars=[REG_A], rng=4)
    one_connect(core.start(0.0))  # REG_A never answers
    core.association_up(9, ["10.0.0.9"], 0.5)
    actions = core.receive(9, wire.EndpointKeepAlive(99, POOL, core.pe_identifier, home=True),
                           0.6)
    assert one_send(actions, wire.Registration).assoc == 9
    assert notified(core.receive(9, wire.RegistrationResponse(POOL, core.pe_identifier), 0.7),
                    "registered") == [core.pe_identifier]


def test_lost_registrar_fails_over_and_registers_again() -> None:
    core, _ = registered_pe()
    actions = core.association_lost(1, 12.0)
    assert notified(actions, "registrar-down") == [1]
    connect = one_connect(actions)
    assert (connect.addresses, connect.port) == REG_B
    assert not core.registered  # registrar A dropped it with the association
    sent = one_send(core.association_up(2, ["10.0.0.2"], 12.1, connect.key), wire.Registration)
    assert sent.assoc == 2
    actions = core.receive(2, wire.RegistrationResponse(POOL, core.pe_identifier), 12.2)
    assert notified(actions, "registered") == [core.pe_identifier] and core.registered


def test_unanswered_registration_fails_over_to_another_registrar() -> None:
    core = PoolElementCore(POOL, POLICY, USER, registrars=[REG_A, REG_B], rng=3,
                           request_timeout=2.0)
    core.association_up(1, [], 0.1, one_connect(core.start(0.0)).key)
    assert core.next_timer() == 2.1
    actions = core.handle_timer(2.1)
    assert [(c.assoc, c.abort) for c in closes(actions)] == [(1, True)]
    connect = one_connect(actions)
    assert connect.addresses == REG_B[0]
    assert one_send(core.association_up(2, [], 2.2, connect.key), wire.Registration).assoc == 2
    assert core.association_lost(1, 2.3) == []  # the abort's echo changes nothing


def test_registration_waits_for_an_announced_registrar() -> None:
    core = PoolElementCore(POOL, POLICY, USER, rng=5)
    assert connects(core.start(0.0)) == []
    announce = wire.ServerAnnounce(4, (wire.SctpTransport(3863, ["192.0.2.4"]),))
    connect = one_connect(core.receive_announce(announce, "192.0.2.4", 0.5))
    assert connect.addresses == ("192.0.2.4",)
    core.association_up(3, [], 0.6, connect.key)
    core.receive(3, wire.RegistrationResponse(POOL, core.pe_identifier), 0.7)
    assert core.home_registrar == 4
    assert one_send(core.handle_timer(30.6), wire.Registration).message.pool_element \
        .home_enrp_server_identifier == 4


def test_close_deregisters_then_closes() -> None:
    core, _ = registered_pe()
    dereg = one_send(core.close(20.0), wire.Deregistration)
    assert dereg.message == wire.Deregistration(POOL, core.pe_identifier)
    actions = core.receive(1, wire.DeregistrationResponse(POOL, core.pe_identifier), 20.1)
    assert notified(actions, "deregistered") == [core.pe_identifier]
    assert notified(actions, "closed") == [None] and closes(actions)[0].assoc == 1
    assert core.closed and core.next_timer() is None


def test_close_gives_up_on_a_silent_registrar() -> None:
    core, _ = registered_pe(request_timeout=2.0)
    core.close(20.0)
    actions = core.handle_timer(22.0)
    assert notified(actions, "closed") == [None] and notified(actions, "deregistered") == []
    assert connects(actions) == []


def test_cookies_and_business_cards() -> None:
    core, _ = registered_pe()
    assert one_send(core.send_cookie(5, b"state-1"), wire.Cookie).message == wire.Cookie(b"state-1")
    card = one_send(core.send_business_card(5), wire.BusinessCard)
    assert card.assoc == 5 and card.message.pool_handle == POOL
    [echo] = notified(core.receive(5, wire.CookieEcho(b"state-1"), 3.0), "cookie-echo")
    assert echo.assoc == 5 and echo.message.cookie == b"state-1"


def test_undecodable_message_is_answered_with_an_error() -> None:
    core, _ = registered_pe()
    error = wire.ParseError("bad", cause=wire.Cause.UNRECOGNIZED_MESSAGE, offset=0)
    reply = one_send(core.receive_error(1, error, 2.0), wire.AsapError)
    assert reply.message.error.causes[0].code == wire.Cause.UNRECOGNIZED_MESSAGE
    assert sends(core.receive(1, wire.Cookie(b"x"), 2.0)) == []  # a stray Cookie is ignored


def test_keep_alive_names_the_home_registrar_of_a_statically_configured_pe() -> None:
    core, _ = registered_pe()
    assert core.home_registrar is None  # REG_A came from the static list: id unknown
    core.receive(1, wire.EndpointKeepAlive(31, POOL, core.pe_identifier), 5.0)
    assert core.home_registrar == 31
    rereg = one_send(core.handle_timer(31.0), wire.Registration)
    assert rereg.message.pool_element.home_enrp_server_identifier == 31

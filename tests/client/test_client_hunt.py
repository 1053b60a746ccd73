"""Registrar discovery and hunt: static lists, Server Announces, failover between registrars."""

from __future__ import annotations

from clientkit import REG_A, REG_B, closes, notified, one_connect

from rserpool import wire
from rserpool.asap.hunt import ASAP_PORT, RegistrarHunt


def test_static_registrars_are_tried_in_turn_then_after_a_pause() -> None:
    hunt = RegistrarHunt([REG_A, REG_B], connect_timeout=2.0, retry_interval=1.0)
    first = one_connect(hunt.start(0.0))
    assert (first.addresses, first.port) == REG_A
    assert hunt.next_timer() == 2.0
    second = one_connect(hunt.handle_timer(2.0))  # connect timed out
    assert (second.addresses, second.port) == REG_B
    assert hunt.connect_failed(second.key, 2.5) == []  # round over: pause
    assert hunt.next_timer() == 3.5
    assert (one_connect(hunt.handle_timer(3.5)).addresses) == REG_A[0]


def test_late_answer_to_an_abandoned_connect_is_closed() -> None:
    hunt = RegistrarHunt([REG_A, REG_B], connect_timeout=2.0)
    stale = one_connect(hunt.start(0.0))
    current = one_connect(hunt.handle_timer(2.0))
    assert closes(hunt.up(5, stale.key, 2.1))[0].assoc == 5
    assert not hunt.connected
    assert notified(hunt.up(6, current.key, 2.2), "registrar-up") == [6]
    assert hunt.assoc == 6 and hunt.next_timer() is None


def test_lost_registrar_fails_over_to_the_other_one() -> None:
    hunt = RegistrarHunt([REG_A, REG_B])
    hunt.up(1, one_connect(hunt.start(0.0)).key, 0.1)
    actions = hunt.lost(1, 10.0)
    assert notified(actions, "registrar-down") == [1]
    assert one_connect(actions).addresses == REG_B[0]
    assert hunt.lost(99, 10.0) == []  # not ours


def test_abandon_aborts_the_silent_registrar() -> None:
    hunt = RegistrarHunt([REG_A, REG_B])
    hunt.up(1, one_connect(hunt.start(0.0)).key, 0.1)
    actions = hunt.abandon(5.0)
    assert closes(actions)[0].abort is True and closes(actions)[0].assoc == 1
    assert one_connect(actions).addresses == REG_B[0]


def test_announced_registrar_is_used_and_expires() -> None:
    hunt = RegistrarHunt(announce_timeout=30.0)
    assert hunt.start(0.0) == []  # nothing known yet
    announce = wire.ServerAnnounce(7, (wire.SctpTransport(4000, ["192.0.2.7", "192.0.2.8"]),))
    connect = one_connect(hunt.announced(announce, "192.0.2.7", 0.5))
    assert connect.addresses == ("192.0.2.7", "192.0.2.8") and connect.port == 4000
    hunt.up(3, connect.key, 0.6)
    assert hunt.server_id == 7
    assert hunt.candidates(30.0) != [] and hunt.candidates(31.0) == []


def test_announce_without_transport_means_source_address_and_asap_port() -> None:
    hunt = RegistrarHunt()
    hunt.start(0.0)
    connect = one_connect(hunt.announced(wire.ServerAnnounce(9), "198.51.100.4", 1.0))
    assert connect.addresses == ("198.51.100.4",) and connect.port == ASAP_PORT


def test_home_registrar_is_preferred_over_others() -> None:
    hunt = RegistrarHunt([REG_A])
    hunt.announced(wire.ServerAnnounce(1, (wire.SctpTransport(1, ["192.0.2.1"]),)), "x", 0.0)
    hunt.announced(wire.ServerAnnounce(2, (wire.SctpTransport(2, ["192.0.2.2"]),)), "x", 0.5)
    assert [sid for _, sid in hunt.candidates(1.0)] == [2, 1, None]
    hunt.home = 1
    assert [sid for _, sid in hunt.candidates(1.0)] == [1, 2, None]

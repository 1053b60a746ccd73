"""The PU core with fake time: resolution cache, unreachable reports, timeouts, sessions."""

from __future__ import annotations

from typing import Any

from clientkit import (
    POOL,
    REG_A,
    REG_B,
    closes,
    connects,
    notified,
    one_connect,
    one_send,
    pe,
    rejection,
    sends,
)

from rserpool import wire
from rserpool.asap.pool_user import PoolUserCore


def connected_pu(**kwargs: Any) -> PoolUserCore:
    """A PU with an association (1) to REG_A."""
    core = PoolUserCore(registrars=[REG_A, REG_B], **kwargs)
    core.hunt.up(1, one_connect(core.hunt.start(0.0)).key, 0.0)
    return core


def answer(core: PoolUserCore, now: float, *elements: Any) -> list[Any]:
    return core.receive(1, wire.HandleResolutionResponse(POOL, tuple(elements)), now)


def test_resolution_waits_for_a_registrar_then_asks_it() -> None:
    core = PoolUserCore(registrars=[REG_A], items=4)
    connect = one_connect(core.resolve(POOL, 0.0))
    request = one_send(core.association_up(1, [], 0.1, connect.key), wire.HandleResolution)
    assert request.message == wire.HandleResolution(POOL, 4)
    [resolved] = notified(answer(core, 0.2, pe(1), pe(2, "10.1.0.2")), "resolved")
    assert resolved.pool_handle == POOL and [e.pe_identifier for e in resolved.pool_elements] \
        == [1, 2]


def test_answers_are_cached_until_their_time_to_live() -> None:
    core = connected_pu(cache_ttl=10.0)
    core.resolve(POOL, 1.0)
    answer(core, 1.1, pe(1))
    actions = core.resolve(POOL, 5.0)
    assert sends(actions) == [] and notified(actions, "resolved")[0].pool_elements == (pe(1),)
    assert core.cached(POOL, 11.0) is not None and core.cached(POOL, 11.1) is None
    assert one_send(core.resolve(POOL, 11.1), wire.HandleResolution).assoc == 1
    assert one_send(core.resolve(b"other", 11.2, fresh=False), wire.HandleResolution)
    core.receive(1, wire.HandleResolutionResponse(POOL, (pe(3),)), 11.3)
    assert one_send(core.resolve(POOL, 11.4, fresh=True), wire.HandleResolution)


def test_same_handle_is_asked_once_while_pending() -> None:
    core = connected_pu()
    assert len(sends(core.resolve(POOL, 1.0))) == 1
    assert core.resolve(POOL, 1.5) == []


def test_select_round_robins_over_the_cache() -> None:
    core = connected_pu()
    core.resolve(POOL, 0.0)
    answer(core, 0.1, pe(1), pe(2, "10.1.0.2"), pe(3, "10.1.0.3"))
    picks = [core.select(POOL, 1.0).pe_identifier for _ in range(4)]
    assert picks == [1, 2, 3, 1]
    core.invalidate(POOL, 2)
    assert [core.select(POOL, 1.0).pe_identifier for _ in range(3)] == [1, 3, 1]
    core.invalidate(POOL)
    assert core.select(POOL, 1.0) is None


def test_rejected_resolution_reports_the_cause() -> None:
    core = connected_pu()
    core.resolve(POOL, 0.0)
    actions = core.receive(1, wire.HandleResolutionResponse(
        POOL, error=rejection(wire.Cause.UNKNOWN_POOL_HANDLE)), 0.1)
    [failed] = notified(actions, "resolution-failed")
    assert failed.cause == wire.Cause.UNKNOWN_POOL_HANDLE and core.cached(POOL, 0.2) is None


def test_unanswered_resolution_moves_to_another_registrar_then_fails() -> None:
    core = connected_pu(request_timeout=2.0, max_request_attempts=2)
    core.resolve(POOL, 0.0)
    actions = core.handle_timer(2.0)
    assert [(c.assoc, c.abort) for c in closes(actions)] == [(1, True)]
    connect = one_connect(actions)
    assert connect.addresses == REG_B[0]
    resent = one_send(core.association_up(2, [], 2.5, connect.key), wire.HandleResolution)
    assert resent.assoc == 2
    [failed] = notified(core.handle_timer(4.5), "resolution-failed")
    assert failed.cause is None


def test_unreachable_reports_drop_the_pe_and_reach_the_registrar() -> None:
    core = connected_pu()
    core.resolve(POOL, 0.0)
    answer(core, 0.1, pe(1), pe(2, "10.1.0.2"))
    report = one_send(core.report_unreachable(POOL, 1, 1.0), wire.EndpointUnreachable)
    assert report.message == wire.EndpointUnreachable(POOL, 1) and report.assoc == 1
    assert [e.pe_identifier for e in core.cached(POOL, 1.1) or ()] == [2]


def test_unreachable_reports_wait_for_a_registrar() -> None:
    core = PoolUserCore(registrars=[REG_A])
    connect = one_connect(core.report_unreachable(POOL, 9, 0.0))
    sent = one_send(core.association_up(4, [], 0.1, connect.key), wire.EndpointUnreachable)
    assert sent.assoc == 4 and sent.message.pe_identifier == 9


def open_session(core: PoolUserCore, *elements: Any) -> tuple[int, int]:
    """Open a session and bring it up with the first PE answered; return (session, assoc)."""
    sid, actions = core.open_session(POOL, 1.0)
    assert one_send(actions, wire.HandleResolution)
    connect = one_connect(answer(core, 1.1, *elements))
    [up] = notified(core.association_up(10, ["10.1.0.1"], 1.2, connect.key), "session-up")
    assert up.session == sid and up.assoc == 10 and not up.failover
    return sid, 10


def test_session_connects_to_the_first_pe_answered() -> None:
    core = connected_pu()
    sid, actions = core.open_session(POOL, 1.0)
    assert connects(actions) == []
    connect = one_connect(answer(core, 1.1, pe(1, "10.1.0.1", 7001), pe(2, "10.1.0.2")))
    assert connect.addresses == ("10.1.0.1",) and connect.port == 7001
    assert core.session_pe(sid).pe_identifier == 1


def test_sessions_spread_over_a_cached_pool() -> None:
    core = connected_pu()
    open_session(core, pe(1), pe(2, "10.1.0.2"))
    _, actions = core.open_session(POOL, 2.0)
    assert one_connect(actions).addresses == ("10.1.0.2",)


def test_failover_reports_reresolves_and_echoes_the_last_cookie() -> None:
    core = connected_pu()
    sid, assoc = open_session(core, pe(1), pe(2, "10.1.0.2"))
    core.receive(assoc, wire.Cookie(b"state-1"), 2.0)
    core.receive(assoc, wire.Cookie(b"state-2"), 3.0)
    assert core.session_cookie(sid) == b"state-2"
    actions = core.association_lost(assoc, 4.0)
    assert notified(actions, "session-failover")[0].pe_identifier == 1
    assert one_send(actions, wire.EndpointUnreachable).message.pe_identifier == 1
    assert one_send(actions, wire.HandleResolution).message.pool_handle == POOL
    # The registrar has not noticed yet: it still returns PE 1 first.
    connect = one_connect(answer(core, 4.1, pe(1), pe(2, "10.1.0.2")))
    assert connect.addresses == ("10.1.0.2",)
    actions = core.association_up(11, ["10.1.0.2"], 4.2, connect.key)
    echo = one_send(actions, wire.CookieEcho)
    assert echo.assoc == 11 and echo.message == wire.CookieEcho(b"state-2")
    [up] = notified(actions, "session-up")
    assert actions.index(echo) < [getattr(a, "detail", None) for a in actions].index(up)
    assert up.failover and up.pe_identifier == 2 and core.session_of(11) == sid


def test_failover_follows_a_pe_that_moved() -> None:
    core = connected_pu()
    _, assoc = open_session(core, pe(1, "10.1.0.1"))
    core.association_lost(assoc, 4.0)
    connect = one_connect(answer(core, 4.1, pe(1, "10.7.0.1")))  # same PE, new address
    assert connect.addresses == ("10.7.0.1",)


def test_unreachable_pes_are_skipped_then_the_session_gives_up() -> None:
    core = connected_pu(connect_timeout=1.0, retry_interval=0.5, max_failover_rounds=2)
    sid, actions = core.open_session(POOL, 1.0)
    first = one_connect(answer(core, 1.1, pe(1), pe(2, "10.1.0.2")))
    actions = core.connect_failed(first.key, 1.2)
    assert one_send(actions, wire.EndpointUnreachable).message.pe_identifier == 1
    second = one_connect(actions)
    assert second.addresses == ("10.1.0.2",)
    actions = core.handle_timer(2.2)  # connect timed out
    assert one_send(actions, wire.EndpointUnreachable).message.pe_identifier == 2
    assert one_send(actions, wire.HandleResolution)  # out of candidates: ask again
    assert connects(answer(core, 2.3)) == []  # empty pool: pause, then one more round
    assert core.next_timer() == 2.8
    assert one_send(core.handle_timer(2.8), wire.HandleResolution)
    [failed] = notified(answer(core, 2.9), "session-failed")
    assert failed.session == sid and core.session_assoc(sid) is None


def test_business_card_is_the_fallback_when_the_registrar_has_nothing() -> None:
    core = connected_pu()
    _, assoc = open_session(core, pe(1))
    core.receive(assoc, wire.BusinessCard(POOL, (pe(1), pe(5, "10.1.0.5"))), 2.0)
    core.association_lost(assoc, 3.0)
    connect = one_connect(core.receive(1, wire.HandleResolutionResponse(
        POOL, error=rejection(wire.Cause.UNKNOWN_POOL_HANDLE)), 3.1))
    assert connect.addresses == ("10.1.0.5",)


def test_closed_session_drops_a_late_association() -> None:
    core = connected_pu()
    sid, _ = core.open_session(POOL, 1.0)
    connect = one_connect(answer(core, 1.1, pe(1)))
    assert core.close_session(sid, 1.2) == []
    assert [c.assoc for c in closes(core.association_up(12, [], 1.3, connect.key))] == [12]


def test_close_closes_sessions_and_the_registrar() -> None:
    core = connected_pu()
    _, assoc = open_session(core, pe(1))
    actions = core.close(5.0)
    assert sorted(c.assoc for c in closes(actions)) == [1, assoc]
    assert notified(actions, "closed") == [None]


def test_resolution_in_flight_is_asked_again_at_the_next_registrar() -> None:
    core = connected_pu()
    core.resolve(POOL, 0.0)
    actions = core.association_lost(1, 0.5)
    assert notified(actions, "registrar-down") == [1]
    connect = one_connect(actions)
    assert connect.addresses == REG_B[0]
    assert one_send(core.association_up(2, [], 0.6, connect.key), wire.HandleResolution).assoc == 2
    [resolved] = notified(core.receive(2, wire.HandleResolutionResponse(POOL, (pe(1),)), 0.7),
                          "resolved")
    assert resolved.pool_elements == (pe(1),)


def test_announced_registrar_serves_resolutions() -> None:
    core = PoolUserCore()
    assert core.resolve(POOL, 0.0) == []
    announce = wire.ServerAnnounce(3, (wire.SctpTransport(3863, ["192.0.2.3"]),))
    connect = one_connect(core.receive_announce(announce, "192.0.2.3", 0.1))
    assert one_send(core.association_up(5, [], 0.2, connect.key), wire.HandleResolution)

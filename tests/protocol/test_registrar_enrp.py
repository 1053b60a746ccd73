"""ENRP (RFC 5353) between registrar cores over the test fabric, with fake time."""

from __future__ import annotations

import pytest

from rserpool import wire
from rserpool.asap.registrar import Registrar

from .fabric import Client, Fabric, pe_param

POOL = b"echo"
A, B, C = 0x10, 0x20, 0x30


def register(net: Fabric, pe: Client, assoc: int, pe_id: int, pool: bytes = POOL) -> None:
    net.send(pe, assoc, wire.Registration(pool, pe_param(pe_id, pe)))
    assert not pe.last(wire.RegistrationResponse).reject


def ids_at(core: Registrar, pool: bytes = POOL) -> dict[int, int]:
    """PE id -> home registrar id, as one registrar's handlespace has it."""
    return {pe.pe_identifier: pe.home_enrp_server_identifier
            for pe in core.handlespace.elements(pool)}


def sent_by(net: Fabric, name: str, kind: type) -> list[object]:
    return [a.message for n, a in net.sent if n == name and isinstance(a.message, kind)]


@pytest.fixture
def trio() -> Fabric:
    """Three registrars that found each other by multicast Presence and left startup."""
    net = Fabric()
    for name, server_id in (("A", A), ("B", B), ("C", C)):
        net.registrar(name, server_id)
    net.advance(6.0)
    return net


def test_peers_find_each_other_and_leave_startup(trio: Fabric) -> None:
    for name, core in trio.registrars.items():
        assert set(core.enrp.peers) == {A, B, C} - {core.server_id}, name
        assert not core.enrp.in_startup
    ready = {name for name, n in trio.notifications if n.event == "registrar-ready"}
    assert ready == {"A", "B", "C"}


def test_registration_at_one_registrar_is_visible_at_all(trio: Fabric) -> None:
    pe = trio.client("pe")
    assoc = trio.connect(pe, "B")
    register(trio, pe, assoc, 1)
    register(trio, pe, assoc, 2)

    for name, core in trio.registrars.items():
        assert ids_at(core) == {1: B, 2: B}, name
    trio.send(pe, assoc, wire.Deregistration(POOL, 1))
    for name, core in trio.registrars.items():
        assert ids_at(core) == {2: B}, name
    assert trio.registrars["A"].statistics()["handle_updates"] == 3


def test_pe_removed_by_keep_alive_timeout_disappears_everywhere(trio: Fabric) -> None:
    pe = trio.client("pe", answer_keep_alives=False)
    register(trio, pe, trio.connect(pe, "A"), 1)

    trio.advance(10.2)

    for name, core in trio.registrars.items():
        assert ids_at(core) == {}, name


def test_newcomer_learns_a_large_handle_table_in_pages_from_its_mentor() -> None:
    net = Fabric()
    net.registrar("A", A, enrp_announces=False)
    pe = net.client("pe")
    assoc = net.connect(pe, "A")
    for pe_id in range(1, 301):
        register(net, pe, assoc, pe_id)

    newcomer = net.registrar("B", B, peers=["A"], enrp_announces=False)
    net.advance(1.0)

    pages = sent_by(net, "A", wire.HandleTableResponse)
    assert [p.more_to_send for p in pages] == [True, True, False]
    assert [sum(len(pes) for _, pes in p.pools) for p in pages] == [128, 128, 44]
    assert ids_at(newcomer) == dict.fromkeys(range(1, 301), A)
    assert not newcomer.enrp.in_startup and newcomer.enrp.mentor_id == A
    assert net.registrars["A"].statistics()["synchronizations"] == 3


def test_checksum_mismatch_triggers_owned_only_resynchronisation(trio: Fabric) -> None:
    pe_a, pe_b = trio.client("pe-a"), trio.client("pe-b")
    register(trio, pe_a, trio.connect(pe_a, "A"), 1)
    register(trio, pe_a, trio.connect(pe_a, "A"), 2)
    register(trio, pe_b, trio.connect(pe_b, "B"), 3)
    c = trio.registrars["C"]
    c.handlespace.deregister(POOL, 1)  # lost: C must get it back
    c.store_foreign(POOL, wire.PoolElement(99, A, 300_000, pe_param(99, pe_a).user_transport,
                                           wire.Policy(wire.PolicyType.ROUND_ROBIN)), trio.now)
    assert c.handlespace.checksum(owner=A) != trio.registrars["A"].handlespace.checksum(owner=A)
    before = len(sent_by(trio, "A", wire.HandleTableResponse))
    asked_before = len(sent_by(trio, "C", wire.HandleTableRequest))

    trio.advance(3.0)  # at least one heartbeat of A

    assert ids_at(c) == {1: A, 2: A, 3: B}
    requests = sent_by(trio, "C", wire.HandleTableRequest)[asked_before:]
    assert {m.receiver_server_id for m in requests} == {A}
    assert requests and all(r.own_children_only for r in requests)
    responses = sent_by(trio, "A", wire.HandleTableResponse)[before:]
    assert responses
    assert all(pe.home_enrp_server_identifier == A
               for r in responses for _, pes in r.pools for pe in pes)


def test_ignored_handle_update_is_repaired_by_the_checksum_audit() -> None:
    net = Fabric()
    net.registrar("A", A)
    c = net.registrar("C", C, debug_ignore_handle_updates=1)
    net.advance(6.0)
    pe = net.client("pe")
    assoc = net.connect(pe, "A")
    synced = net.registrars["A"].statistics()["synchronizations"]

    register(net, pe, assoc, 1)  # C ignores this update (fault injection)
    assert ids_at(c) == {}
    register(net, pe, assoc, 2)  # and takes this one: only the first N are ignored
    assert ids_at(c) == {2: A}
    net.advance(3.0)  # A's next Presence carries a checksum C cannot match

    assert ids_at(c) == {1: A, 2: A}
    assert net.registrars["A"].statistics()["synchronizations"] == synced + 1
    assert c.statistics()["handle_updates"] == 1


def test_dead_registrar_is_taken_over_by_exactly_one_survivor(trio: Fabric) -> None:
    pes = [trio.client(f"pe{i}") for i in range(3)]
    for pe_id, pe in enumerate(pes, start=1):
        register(trio, pe, trio.connect(pe, "A"), pe_id)

    trio.kill("A")
    trio.advance(15.0)

    takeovers = [(name, n.detail["target"]) for name, n in trio.notifications
                 if n.event == "takeover"]
    assert len(takeovers) == 1 and takeovers[0][1] == A
    winner = trio.registrars[takeovers[0][0]].server_id
    announced = {(n, m.target_server_id) for n in ("B", "C")
                 for m in sent_by(trio, n, wire.TakeoverServer)}
    assert announced == {(takeovers[0][0], A)}
    for name, core in trio.registrars.items():
        assert ids_at(core) == {1: winner, 2: winner, 3: winner}, name
        assert A not in core.enrp.peers, name
    for pe in pes:
        homes = [k for k in pe.received(wire.EndpointKeepAlive) if k.home]
        assert [k.server_identifier for k in homes] == [winner]
    trio.advance(20.0)  # the PEs answer the new home's keep-alives and stay
    for core in trio.registrars.values():
        assert ids_at(core) == {1: winner, 2: winner, 3: winner}


def test_dead_registrar_without_pes_is_just_forgotten(trio: Fabric) -> None:
    trio.kill("C")
    trio.advance(15.0)

    for core in trio.registrars.values():
        assert C not in core.enrp.peers
    assert not any(n.event == "takeover" for _, n in trio.notifications)
    assert sent_by(trio, "A", wire.InitTakeover) == sent_by(trio, "B", wire.InitTakeover) == []


def test_takeover_suggestion_sends_h_flag_keep_alive_from_the_better_peer() -> None:
    net = Fabric()
    net.registrar("A", A, support_takeover_suggestion=True)
    net.registrar("B", B, support_takeover_suggestion=True)
    net.advance(6.0)
    pe = net.client("pe")
    pe_id = 0x0F  # B ^ 0x0F = 0x2F beats A ^ 0x0F = 0x1F

    register(net, pe, net.connect(pe, "A"), pe_id)

    suggestions = [m for m in sent_by(net, "A", wire.HandleUpdate) if m.takeover_suggestion]
    assert [m.receiver_server_id for m in suggestions] == [B]
    homes = [k for k in pe.received(wire.EndpointKeepAlive) if k.home]
    assert [k.server_identifier for k in homes] == [B]


def test_no_takeover_suggestion_unless_configured(trio: Fabric) -> None:
    pe = trio.client("pe")
    register(trio, pe, trio.connect(pe, "A"), 0x0F)

    assert not any(m.takeover_suggestion for m in sent_by(trio, "A", wire.HandleUpdate))
    assert not any(k.home for k in pe.received(wire.EndpointKeepAlive))


def test_peers_learn_each_other_from_list_responses() -> None:
    net = Fabric()
    net.registrar("A", A, enrp_announces=False)
    net.registrar("B", B, peers=["A"], enrp_announces=False)
    net.registrar("C", C, peers=["A"], enrp_announces=False)
    net.advance(6.0)

    assert set(net.registrars["B"].enrp.peers) == {A, C}
    assert set(net.registrars["C"].enrp.peers) == {A, B}
    assert sent_by(net, "A", wire.ListResponse)


def test_peer_table_is_bounded() -> None:
    net = Fabric()
    net.registrar("A", A, max_peers=1)
    net.registrar("B", B)
    net.registrar("C", C)
    net.advance(6.0)

    assert len(net.registrars["A"].enrp.peers) == 1


def test_pes_per_peer_are_bounded() -> None:
    net = Fabric()
    net.registrar("A", A)
    limited = net.registrar("B", B, max_pes_per_peer=2)
    net.advance(6.0)
    pe = net.client("pe")
    assoc = net.connect(pe, "A")
    for pe_id in (1, 2, 3):
        register(net, pe, assoc, pe_id)

    assert len(ids_at(limited)) == 2
    assert len(ids_at(net.registrars["A"])) == 3


def fake_peer(net: Fabric, registrar: str, server_id: int) -> tuple[Client, int]:
    """A scripted ENRP peer: an association whose first message is a Presence."""
    peer = net.client(f"peer-{server_id:x}")
    assoc = net.connect(peer, registrar)
    info = wire.ServerInformation(server_id, wire.SctpTransport(9901, peer.addresses))
    net.send(peer, assoc, wire.Presence(server_id, 0, 0, info))
    return peer, assoc


def test_a_mentor_that_never_delivers_its_table_is_not_reported_as_mentor() -> None:
    net = Fabric()
    core = net.registrar("A", A, mentor_discovery_timeout=2.0)
    silent, _ = fake_peer(net, "A", 0x99)  # answers nothing, not even the table request
    net.advance(3.0)

    assert silent.received(wire.HandleTableRequest)
    assert not core.enrp.in_startup
    ready = [n.detail for _, n in net.notifications if n.event == "registrar-ready"]
    assert ready == [{"mentor": 0}]


def test_only_the_home_registrar_may_remove_a_pe_over_enrp(trio: Fabric) -> None:
    pe = trio.client("pe")
    register(trio, pe, trio.connect(pe, "A"), 1)
    rogue, assoc = fake_peer(trio, "B", 0x99)
    stored = trio.registrars["B"].handlespace.get(POOL, 1)

    trio.send(rogue, assoc, wire.HandleUpdate(0x99, B, wire.UpdateAction.DEL_PE, POOL, stored))

    error = rogue.last(wire.EnrpError).error
    assert [int(c.code) for c in error.causes] == [wire.Cause.REJECTED_SECURITY]
    assert ids_at(trio.registrars["B"]) == {1: A}


def test_handle_update_for_another_registrars_pe_is_refused(trio: Fabric) -> None:
    rogue, assoc = fake_peer(trio, "B", 0x99)
    forged = wire.PoolElement(5, A, 300_000, pe_param(5, rogue).user_transport,
                              wire.Policy(wire.PolicyType.ROUND_ROBIN))

    trio.send(rogue, assoc, wire.HandleUpdate(0x99, B, wire.UpdateAction.ADD_PE, POOL, forged))

    assert [int(c.code) for c in rogue.last(wire.EnrpError).error.causes] == \
        [wire.Cause.REJECTED_SECURITY]
    assert ids_at(trio.registrars["B"]) == {}


def test_undecodable_enrp_message_gets_an_enrp_error(trio: Fabric) -> None:
    rogue, assoc = fake_peer(trio, "B", 0x99)

    trio.send_raw(rogue, assoc, b"\x01\x00\x00\x04", wire.PPID_ENRP)  # Presence, no fields

    reply = rogue.last(wire.EnrpError)
    assert reply.sender_server_id == B and reply.receiver_server_id == 0x99
    assert [int(c.code) for c in reply.error.causes] == [wire.Cause.INVALID_VALUES]
    assert set(trio.registrars["B"].enrp.peers) == {A, C, 0x99}


def test_pe_failing_over_to_another_registrar_changes_home_everywhere(trio: Fabric) -> None:
    pe = trio.client("pe")
    old = trio.connect(pe, "A")
    register(trio, pe, old, 1)

    register(trio, pe, trio.connect(pe, "B"), 1)
    trio.close(pe, old)  # the old home's association goes; the PE must stay
    keep_alives_before = len(pe.received(wire.EndpointKeepAlive))
    trio.advance(12.0)

    for name, core in trio.registrars.items():
        assert ids_at(core) == {1: B}, name
    senders = {k.server_identifier for k in pe.received(wire.EndpointKeepAlive)
               [keep_alives_before:]}
    assert senders == {B}


def test_takeover_waits_for_every_peer_and_expires_without_all_acks() -> None:
    net = Fabric()
    net.registrar("A", A)
    b = net.registrar("B", B)
    net.advance(6.0)
    pe = net.client("pe")
    register(net, pe, net.connect(pe, "A"), 1)
    silent, assoc = fake_peer(net, "B", 0x99)  # alive, but never acknowledges a takeover

    net.kill("A")
    for _ in range(12):  # 24 s: A is declared dead, the takeover starts and expires
        net.send(silent, assoc, wire.Presence(0x99, B, 0))
        net.advance(2.0)

    inits = [m for m in silent.received(wire.InitTakeover) if m.target_server_id == A]
    assert len(inits) == 1 and inits[0].sender_server_id == B
    assert sent_by(net, "B", wire.TakeoverServer) == []
    assert A not in b.enrp.peers and 0x99 in b.enrp.peers
    assert not any(k.home for k in pe.received(wire.EndpointKeepAlive))


def test_takeover_completes_when_the_last_peer_acknowledges() -> None:
    net = Fabric()
    net.registrar("A", A)
    b = net.registrar("B", B)
    net.advance(6.0)
    pe = net.client("pe")
    register(net, pe, net.connect(pe, "A"), 1)
    helper, assoc = fake_peer(net, "B", 0x99)

    net.kill("A")
    for _ in range(6):
        net.send(helper, assoc, wire.Presence(0x99, B, 0))
        net.advance(2.0)
        for init in helper.received(wire.InitTakeover)[-1:]:
            net.send(helper, assoc, wire.InitTakeoverAck(0x99, B, init.target_server_id))

    assert [m.target_server_id for m in helper.received(wire.TakeoverServer)] == [A]
    assert ids_at(b) == {1: B}
    assert [k.server_identifier for k in pe.received(wire.EndpointKeepAlive) if k.home] == [B]


def test_init_takeover_of_a_live_registrar_is_answered_with_presence(trio: Fabric) -> None:
    rogue, assoc = fake_peer(trio, "B", 0x99)
    presences_before = len(rogue.received(wire.Presence))

    trio.send(rogue, assoc, wire.InitTakeover(0x99, B, B))

    assert len(rogue.received(wire.Presence)) > presences_before
    assert rogue.received(wire.InitTakeoverAck) == []


def test_init_takeover_of_another_peer_is_acknowledged(trio: Fabric) -> None:
    rogue, assoc = fake_peer(trio, "B", 0x99)

    trio.send(rogue, assoc, wire.InitTakeover(0x99, B, C))

    ack = rogue.last(wire.InitTakeoverAck)
    assert (ack.sender_server_id, ack.receiver_server_id, ack.target_server_id) == (B, 0x99, C)
    assert trio.registrars["B"].enrp.peers[C].taken_over_by == 0x99


def test_list_request_is_answered_with_the_peer_table(trio: Fabric) -> None:
    rogue, assoc = fake_peer(trio, "A", 0x99)

    trio.send(rogue, assoc, wire.ListRequest(0x99, A))

    servers = {s.server_identifier: s for s in rogue.last(wire.ListResponse).servers}
    assert set(servers) == {B, C}
    assert [str(a) for a in servers[B].transport.addresses] == \
        list(trio.registrars["B"].config.enrp_addresses)


def test_handle_table_request_from_an_unknown_server_is_rejected(trio: Fabric) -> None:
    stranger = trio.client("stranger")
    assoc = trio.connect(stranger, "A")

    trio.send(stranger, assoc, wire.HandleTableRequest(0x77, A))

    assert stranger.last(wire.HandleTableResponse).reject


def test_handle_table_pages_continue_only_while_the_requester_keeps_asking() -> None:
    net = Fabric()
    net.registrar("A", A)
    pe = net.client("pe")
    assoc = net.connect(pe, "A")
    for pe_id in range(1, 301):
        register(net, pe, assoc, pe_id)
    peer, peer_assoc = fake_peer(net, "A", 0x99)

    def page() -> list[int]:
        net.send(peer, peer_assoc, wire.HandleTableRequest(0x99, A))
        response = peer.last(wire.HandleTableResponse)
        return [p.pe_identifier for _, pes in response.pools for p in pes]

    first, second = page(), page()
    for _ in range(3):  # silence from the requester: the half-served table is forgotten
        net.send(peer, peer_assoc, wire.Presence(0x99, A, 0))
        net.advance(2.0)
    again = page()

    assert len(first) == len(second) == 128 and not set(first) & set(second)
    assert again == first


def test_a_resynchronisation_that_gets_no_answer_is_retried() -> None:
    net = Fabric()
    core = net.registrar("A", A)
    net.advance(6.0)  # out of startup: no mentor request to the newcomer
    peer, assoc = fake_peer(net, "A", 0x99)

    def requests() -> int:
        return len([m for m in peer.received(wire.HandleTableRequest) if m.own_children_only])

    net.send(peer, assoc, wire.Presence(0x99, A, 0x1234))  # a checksum A cannot match
    asked = requests()
    net.advance(1.0)
    net.send(peer, assoc, wire.Presence(0x99, A, 0x1234))
    still = requests()
    net.advance(5.0)
    net.send(peer, assoc, wire.Presence(0x99, A, 0x1234))

    assert (asked, still, requests()) == (1, 1, 2)
    assert core.enrp.peers[0x99].ht_sync


def test_messages_for_an_unreachable_peer_are_bounded() -> None:
    net = Fabric()
    core = net.registrar("A", A, max_queued_per_peer=5)
    net.advance(6.0)
    lister, assoc = fake_peer(net, "A", 0x99)
    phantom = wire.ServerInformation(0x77, wire.SctpTransport(9901, ("192.0.2.77",)))
    net.send(lister, assoc, wire.ListResponse(0x99, A, (phantom,)))
    pe = net.client("pe")
    pe_assoc = net.connect(pe, "A")

    for pe_id in range(1, 11):
        register(net, pe, pe_assoc, pe_id)

    assert 0x77 in core.enrp.peers and not core.enrp.peers[0x77].assocs
    assert len(core.enrp.peers[0x77].queue) == 5
    assert ids_at(core) == dict.fromkeys(range(1, 11), A)


def test_restarted_registrar_relearns_from_a_mentor_and_its_old_pes_are_purged(
    trio: Fabric,
) -> None:
    pe_a, pe_b = trio.client("pe-a"), trio.client("pe-b")
    register(trio, pe_a, trio.connect(pe_a, "A"), 1)
    register(trio, pe_b, trio.connect(pe_b, "B"), 2)

    trio.kill("B")
    trio.advance(2.0)  # back before anyone declares it dead
    reborn = trio.registrar("B2", B)
    trio.advance(6.0)

    assert ids_at(reborn) == {1: A}
    assert not reborn.enrp.in_startup and reborn.enrp.mentor_id in (A, C)
    for name in ("A", "C"):  # nobody supervises PE 2 any more: its home says it has none
        assert ids_at(trio.registrars[name]) == {1: A}, name
    assert not any(n.event == "takeover" for _, n in trio.notifications)


def test_replies_listing_pes_with_many_addresses_fit_in_one_message() -> None:
    net = Fabric()
    net.registrar("A", A, enrp_announces=False)
    many = tuple(f"2001:db8::{i:x}" for i in range(1, 33))
    pe = net.client("pe", addresses=many)
    assoc = net.connect(pe, "A")
    for pe_id in range(1, 131):
        register(net, pe, assoc, pe_id)
    pu = net.client("pu")
    pu_assoc = net.connect(pu, "A")

    net.send(pu, pu_assoc, wire.HandleResolution(POOL, 128))
    newcomer = net.registrar("B", B, peers=["A"], enrp_announces=False)
    net.advance(1.0)

    listed = pu.last(wire.HandleResolutionResponse).pool_elements
    assert 20 < len(listed) < 128
    pages = sent_by(net, "A", wire.HandleTableResponse)
    assert len(pages) > 2 and all(len(p.encode()) <= 65535 for p in pages)
    assert ids_at(newcomer) == dict.fromkeys(range(1, 131), A)


def test_pes_learnt_from_a_peer_expire_with_their_lifetime(trio: Fabric) -> None:
    pe = trio.client("pe")
    trio.send(pe, trio.connect(pe, "A"), wire.Registration(POOL, pe_param(1, pe, life_ms=3000)))

    trio.advance(2.9)
    alive = {name: ids_at(core) for name, core in trio.registrars.items()}
    trio.advance(0.2)

    assert alive == {"A": {1: A}, "B": {1: A}, "C": {1: A}}
    for name, core in trio.registrars.items():
        assert ids_at(core) == {}, name


def test_errors_from_peers_are_logged_and_change_nothing(
    trio: Fabric, caplog: pytest.LogCaptureFixture
) -> None:
    rogue, assoc = fake_peer(trio, "B", 0x99)
    pe = trio.client("pe")
    pe_assoc = trio.connect(pe, "B")
    register(trio, pe, pe_assoc, 1)
    error = wire.OperationError((wire.ErrorCause(wire.Cause.UNSPECIFIED),))
    sent_before = len(trio.sent)

    trio.send(rogue, assoc, wire.EnrpError(0x99, B, error))
    trio.send(pe, pe_assoc, wire.AsapError(error))

    assert len(trio.sent) == sent_before
    assert "reports an ENRP error" in caplog.text and "reports an ASAP error" in caplog.text
    assert ids_at(trio.registrars["B"]) == {1: B}


def test_rejected_requests_end_the_exchange(trio: Fabric) -> None:
    rogue, assoc = fake_peer(trio, "B", 0x99)
    b = trio.registrars["B"]
    b.enrp.peers[0x99].ht_sync = True

    trio.send(rogue, assoc, wire.HandleTableResponse(0x99, B, reject=True))
    trio.send(rogue, assoc, wire.ListResponse(0x99, B, reject=True))

    assert not b.enrp.peers[0x99].ht_sync
    assert set(b.enrp.peers) == {A, C, 0x99}


def test_an_association_speaks_for_one_peer_only(trio: Fabric) -> None:
    rogue, assoc = fake_peer(trio, "B", 0x99)

    trio.send(rogue, assoc, wire.Presence(C, B, 0))  # pretending to be C on 0x99's association

    assert [int(c.code) for c in rogue.last(wire.EnrpError).error.causes] == \
        [wire.Cause.REJECTED_SECURITY]
    assert trio.registrar_assoc(rogue, assoc) not in trio.registrars["B"].enrp.peers[C].assocs


def test_taken_over_pe_that_never_reregisters_expires_everywhere(trio: Fabric) -> None:
    pe = trio.client("pe")
    trio.send(pe, trio.connect(pe, "A"), wire.Registration(POOL, pe_param(1, pe, life_ms=30_000)))

    trio.kill("A")
    trio.advance(15.0)  # taken over; the PE answers keep-alives but never registers again
    homes = {name: ids_at(core) for name, core in trio.registrars.items()}
    trio.advance(45.0)

    assert len({tuple(h.items()) for h in homes.values()}) == 1
    assert list(homes["B"]) == [1]
    for name, core in trio.registrars.items():
        assert ids_at(core) == {}, name


def test_two_registrars_dying_at_once_are_both_taken_over() -> None:
    net = Fabric()
    ids = {"A": A, "B": B, "C": C, "D": 0x40, "E": 0x50}
    for name, server_id in ids.items():
        net.registrar(name, server_id)
    net.advance(6.0)
    homes = {1: "B", 2: "B", 3: "D", 4: "E"}
    for pe_id, home in homes.items():
        pe = net.client(f"pe{pe_id}")
        register(net, pe, net.connect(pe, home), pe_id)

    net.kill("B")
    net.kill("D")  # each one's takeover can no longer wait for the other's acknowledgement
    net.advance(20.0)

    targets = sorted(n.detail["target"] for _, n in net.notifications if n.event == "takeover")
    assert targets == [B, 0x40]
    views = [ids_at(core) for core in net.registrars.values()]
    assert all(view == views[0] for view in views)
    assert set(views[0]) == set(homes) and set(views[0].values()) <= {A, C, 0x50}

"""Three registrar cores on the in-memory SCTP network: real association events, ephemeral
ports, connects that race, and a registrar whose links go dead."""

from __future__ import annotations

import pytest

from rserpool import wire
from rserpool.asap.pool_element import PoolElementCore
from rserpool.asap.pool_user import PoolUserCore

from .memhost import ClientHost, Endpoint, World

POOL = b"memory"


@pytest.fixture
def world() -> World:
    w = World()
    for i, server_id in enumerate((0x100, 0x200, 0x300), start=1):
        w.registrar(f"10.9.0.{i}", server_id)
    w.run(6.0)
    return w


def test_registrars_peer_up_and_leave_startup(world: World) -> None:
    for host in world.hosts:
        assert len(host.core.enrp.peers) == 2
        assert all(p.assocs for p in host.core.enrp.peers.values())
        assert [n.event for n in host.notifications] == ["registrar-ready"]


def test_pe_registered_at_one_is_resolvable_at_all(world: World) -> None:
    pe = Endpoint(world, "10.9.1.1")
    assoc = pe.connect(world.hosts[0])
    pe.send(assoc, wire.Registration(POOL, pe.pool_element(42)))
    assert not pe.last(wire.RegistrationResponse).reject

    for i, host in enumerate(world.hosts):
        pu = Endpoint(world, f"10.9.2.{i + 1}")
        pu_assoc = pu.connect(host)
        pu.send(pu_assoc, wire.HandleResolution(POOL))
        found = pu.last(wire.HandleResolutionResponse)
        assert [p.pe_identifier for p in found.pool_elements] == [42]
        assert found.pool_elements[0].home_enrp_server_identifier == 0x100


def test_dead_registrar_is_taken_over_and_its_pe_follows(world: World) -> None:
    pe = Endpoint(world, "10.9.1.1")
    assoc = pe.connect(world.hosts[0])
    pe.send(assoc, wire.Registration(POOL, pe.pool_element(42)))

    world.hosts[0].kill()
    world.run(15.0)

    takeovers = [(h.core.server_id, n.detail["target"]) for h in world.hosts[1:]
                 for n in h.notifications if n.event == "takeover"]
    assert len(takeovers) == 1 and takeovers[0][1] == 0x100
    winner = takeovers[0][0]
    homes = [m for _, m in pe.inbox if isinstance(m, wire.EndpointKeepAlive) and m.home]
    assert [k.server_identifier for k in homes] == [winner]
    world.run(12.0)  # keep-alives of the new home are answered: the PE stays
    for host in world.hosts[1:]:
        assert {p.pe_identifier: p.home_enrp_server_identifier
                for p in host.core.handlespace.elements(POOL)} == {42: winner}


def test_client_cores_register_resolve_and_follow_a_takeover(world: World) -> None:
    """The PE and PU cores of rserpool.asap against the registrar cores."""
    first, _, last = world.hosts
    pe = ClientHost(world, "10.9.1.1", PoolElementCore(
        POOL, wire.Policy(wire.PolicyType.ROUND_ROBIN), wire.SctpTransport(7000, ("10.9.1.1",)),
        registrars=[((first.address,), 3863)], pe_identifier=7, rng=1))
    pu = ClientHost(world, "10.9.2.1", PoolUserCore(registrars=[((last.address,), 3863)]))
    pe.call(pe.core.start)
    world.run(1.0)
    pu.call(lambda now: pu.core.resolve(POOL, now))
    world.run(1.0)

    assert pe.events("registered") == [7]
    resolved = pu.events("resolved")
    assert [p.pe_identifier for p in resolved[-1].pool_elements] == [7]

    first.kill()
    world.run(40.0)  # takeover, then the PE re-registers at its new home
    pu.call(lambda now: pu.core.resolve(POOL, now, fresh=True))
    world.run(1.0)

    winner = pe.events("home-registrar")
    assert len(winner) == 1 and winner[0] in (0x200, 0x300)
    (element,) = pu.events("resolved")[-1].pool_elements
    assert (element.pe_identifier, element.home_enrp_server_identifier) == (7, winner[0])
    assert pe.core.registered

"""Random traffic against one registrar: it never raises, only answers live associations, and
its bookkeeping stays consistent with its handlespace."""

from __future__ import annotations

from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from rserpool import wire

from .fabric import Client, Fabric

SELF = 0x51
HANDLES = st.sampled_from([b"a", b"b", b"x" * 32])
PE_IDS = st.integers(1, 6)
SERVER_IDS = st.sampled_from([0, SELF, 0x61, 0x62])
POLICIES = st.sampled_from([wire.PolicyType.ROUND_ROBIN, wire.PolicyType.LEAST_USED,
                            wire.PolicyType.WEIGHTED_RANDOM])
LIVES = st.sampled_from([-5, 0, 1500, 300_000])


VALUES = {wire.PolicyType.ROUND_ROBIN: {}, wire.PolicyType.LEAST_USED: {"load": 7},
          wire.PolicyType.WEIGHTED_RANDOM: {"weight": 3}}


def element(pe_id: int, home: int, life: int, addresses: tuple[str, ...], policy: int) -> Any:
    return wire.PoolElement(pe_id, home, life, wire.SctpTransport(7000, addresses),
                            wire.Policy(policy, **VALUES[policy]),  # type: ignore[index]
                            wire.SctpTransport(5000, addresses))


class RegistrarUnderFire(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.net = Fabric()
        self.core = self.net.registrar("A", SELF, max_pes_per_association=4, max_peers=2,
                                       max_pes_per_peer=3, max_hr_rate=5.0, max_eu_rate=2.0)
        self.clients = [self.net.client(f"c{i}") for i in range(3)]
        self.assocs: list[tuple[Client, int]] = []

    @rule(which=st.integers(0, 2))
    def connect(self, which: int) -> None:
        client = self.clients[which]
        self.assocs.append((client, self.net.connect(client, "A")))

    @precondition(lambda self: self.assocs)
    @rule(index=st.integers(0, 20))
    def lose(self, index: int) -> None:
        client, assoc = self.assocs.pop(index % len(self.assocs))
        self.net.close(client, assoc)

    @precondition(lambda self: self.assocs)
    @rule(index=st.integers(0, 20), data=st.data())
    def asap(self, index: int, data: st.DataObject) -> None:
        client, assoc = self.assocs[index % len(self.assocs)]
        own = client.addresses
        addresses = data.draw(st.sampled_from([own, ("192.0.2.1",), (*own, "192.0.2.1")]))
        handle, pe_id = data.draw(HANDLES), data.draw(PE_IDS)
        message = data.draw(st.sampled_from([
            wire.Registration(handle, element(pe_id, 0, data.draw(LIVES), addresses,
                                              data.draw(POLICIES))),
            wire.Deregistration(handle, pe_id),
            wire.HandleResolution(handle, data.draw(st.sampled_from([None, 0, 1, 500]))),
            wire.EndpointKeepAliveAck(handle, pe_id),
            wire.EndpointUnreachable(handle, pe_id),
            wire.Cookie(b"c"),
            wire.ServerAnnounce(0x61),
        ]))
        self.net.send(client, assoc, message)

    @precondition(lambda self: self.assocs)
    @rule(index=st.integers(0, 20), data=st.data())
    def enrp(self, index: int, data: st.DataObject) -> None:
        client, assoc = self.assocs[index % len(self.assocs)]
        sender, receiver = data.draw(SERVER_IDS), data.draw(st.sampled_from([0, SELF, 0x99]))
        handle, pe_id = data.draw(HANDLES), data.draw(PE_IDS)
        pe = element(pe_id, data.draw(SERVER_IDS), data.draw(LIVES), client.addresses,
                     data.draw(POLICIES))
        message = data.draw(st.sampled_from([
            wire.Presence(sender, receiver, data.draw(st.integers(0, 0xFFFF)),
                          wire.ServerInformation(sender, wire.SctpTransport(9901,
                                                                            client.addresses)),
                          data.draw(st.booleans())),
            wire.HandleUpdate(sender, receiver, data.draw(st.sampled_from([0, 1, 7])), handle,
                              pe, data.draw(st.booleans())),
            wire.HandleTableRequest(sender, receiver, data.draw(st.booleans())),
            wire.HandleTableResponse(sender, receiver, [(handle, [pe])],
                                     data.draw(st.booleans()), data.draw(st.booleans())),
            wire.ListRequest(sender, receiver),
            wire.ListResponse(sender, receiver, [wire.ServerInformation(
                0x62, wire.SctpTransport(9901, ("192.0.2.62",)))]),
            wire.InitTakeover(sender, receiver, data.draw(SERVER_IDS)),
            wire.InitTakeoverAck(sender, receiver, data.draw(SERVER_IDS)),
            wire.TakeoverServer(sender, receiver, data.draw(SERVER_IDS)),
        ]))
        self.net.send(client, assoc, message)

    @precondition(lambda self: self.assocs)
    @rule(index=st.integers(0, 20), raw=st.binary(max_size=64), ppid=st.sampled_from([11, 12]))
    def garbage(self, index: int, raw: bytes, ppid: int) -> None:
        client, assoc = self.assocs[index % len(self.assocs)]
        self.net.send_raw(client, assoc, raw, ppid)

    @rule(seconds=st.sampled_from([0.3, 1.0, 2.5, 6.0]))
    def wait(self, seconds: float) -> None:
        self.net.advance(seconds, step=0.25)

    @invariant()
    def only_live_associations_are_answered(self) -> None:
        assert self.net.dropped == [], self.net.dropped

    @invariant()
    def bookkeeping_matches_the_handlespace(self) -> None:
        core, hs = self.core, self.core.handlespace
        for (handle, pe_id), own in core._own.items():
            assert hs.owner(handle, pe_id) == SELF
            if own.reg_assoc is not None:
                assert (handle, pe_id) in core._assocs[own.reg_assoc].registered
        owned = {(h, pe.pe_identifier) for h, pe in hs.owned_by(SELF)}
        assert owned == set(core._own)
        foreign = sum(len(hs.elements(h)) for h in hs.pools()) - len(owned)
        assert sum(core._peer_pe_count.values()) == foreign
        for handle in hs.pools():
            for pe in hs.elements(handle):
                assert hs.owner(handle, pe.pe_identifier) == pe.home_enrp_server_identifier
        assert len(core.enrp.peers) <= 2


TestRegistrarUnderFire = RegistrarUnderFire.TestCase
TestRegistrarUnderFire.settings = settings(max_examples=60, stateful_step_count=40,
                                           deadline=None)

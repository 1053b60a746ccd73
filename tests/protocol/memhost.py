"""Registrar cores on the in-memory SCTP network, driven without asyncio on virtual time.

``RegistrarHost`` does what the daemon does around the core: an ASAP endpoint (port 3863)
and an ENRP endpoint (port 9901), association ids made unique across both, events fed to the
core, actions carried out, multicast announces handed to the other hosts. ``Endpoint`` is a
scripted PE or PU on its own address.
"""

from __future__ import annotations

import contextlib
import itertools
import random
from typing import Any

from rserpool import wire
from rserpool.actions import Announce, Close, Connect, Notify, Send
from rserpool.asap.registrar import Registrar
from rserpool.asap.registrar_config import RegistrarConfig
from rserpool.transport import AssociationChange, AssociationState, Message, TransportError
from rserpool.transport.memory import MemoryEndpoint, MemoryNetwork, VirtualClock

ENDED = (AssociationState.LOST, AssociationState.SHUTDOWN)


class World:
    """The network, its clock and the registrar hosts on it."""

    def __init__(self) -> None:
        self.clock = VirtualClock()
        self.net = MemoryNetwork(self.clock)
        self.hosts: list[RegistrarHost] = []
        self.endpoints: list[Endpoint] = []
        self.clients: list[ClientHost] = []

    def registrar(self, address: str, server_id: int, **settings: Any) -> RegistrarHost:
        config = RegistrarConfig(server_id=server_id, asap_addresses=(address,),
                                 enrp_addresses=(address,), **settings)
        host = RegistrarHost(self, Registrar(config, rng=random.Random(server_id)), address)
        self.hosts.append(host)
        host.pump()
        return host

    def run(self, seconds: float, step: float = 0.01) -> None:
        end = self.clock.now() + seconds
        while self.clock.now() < end - 1e-9:
            self.clock.run_until(min(end, self.clock.now() + step))
            for _ in range(100):  # until every host and endpoint is quiet
                busy = [host.pump() for host in self.hosts if host.alive]
                busy += [endpoint.poll() for endpoint in self.endpoints]
                busy += [client.pump() for client in self.clients]
                if not any(busy):
                    break


class RegistrarHost:
    """One registrar core with its two endpoints."""

    def __init__(self, world: World, core: Registrar, address: str) -> None:
        self.world, self.core, self.address = world, core, address
        self.alive = True
        self.asap = world.net.endpoint([address], 3863)
        self.enrp = world.net.endpoint([address], 9901)
        self.asap.open_nowait()
        self.enrp.open_nowait()
        self._ids = itertools.count(1)
        self._global: dict[tuple[int, int], int] = {}  # (id(endpoint), local) -> core's id
        self._local: dict[int, tuple[MemoryEndpoint, int]] = {}
        self._keys: dict[tuple[int, int], Any] = {}  # our Connects, by (id(endpoint), local)
        self.notifications: list[Notify] = []

    def kill(self) -> None:
        """Crash: the endpoints vanish without a word (peers notice by timeouts)."""
        self.alive = False
        self.world.net.fail(self.address)

    def pump(self) -> bool:
        """Feed waiting events and due timers to the core; True if anything happened."""
        busy = False
        now = self.world.clock.now()
        for endpoint in (self.asap, self.enrp):
            while (event := endpoint.receive_nowait()) is not None:
                busy = True
                self.apply(self._event(endpoint, event, now))
        due = self.core.next_timer()
        if due is not None and due <= now:
            busy = True
            self.apply(self.core.handle_timer(now))
        return busy

    def _assoc_id(self, endpoint: MemoryEndpoint, local: int) -> int:
        key = (id(endpoint), local)
        if key not in self._global:
            self._global[key] = next(self._ids)
            self._local[self._global[key]] = (endpoint, local)
        return self._global[key]

    def _event(self, endpoint: MemoryEndpoint, event: Any, now: float) -> list[Any]:
        assoc = self._assoc_id(endpoint, event.assoc)
        ppid = wire.PPID_ASAP if endpoint is self.asap else wire.PPID_ENRP
        if isinstance(event, Message):
            try:
                message = wire.decode(event.data, event.ppid)
            except wire.ParseError as error:
                return self.core.receive_error(assoc, error, now, ppid=ppid)
            return self.core.receive(assoc, message, now)
        if isinstance(event, AssociationChange):
            key = self._keys.pop((id(endpoint), event.assoc), None)
            if event.state is AssociationState.UP:
                return self.core.association_up(assoc, event.peer_addresses, now, key,
                                                peer_port=event.peer_port)
            if event.state is AssociationState.CANT_START and key is not None:
                return self.core.connect_failed(key, now)
            if event.state in ENDED:
                return self.core.association_lost(assoc, now)
        return []

    def apply(self, actions: list[Any]) -> None:
        now = self.world.clock.now()
        for action in actions:
            if isinstance(action, Send):
                endpoint, local = self._local[action.assoc]
                # a failure means the association is going away; its loss event follows
                with contextlib.suppress(TransportError):
                    endpoint.send_nowait(local, action.message.encode(), action.ppid)
            elif isinstance(action, Connect):
                endpoint = self.enrp if action.key[0] == "enrp" else self.asap
                try:
                    local = endpoint.connect_nowait(action.addresses, action.port)
                except TransportError:
                    self.apply(self.core.connect_failed(action.key, now))
                else:
                    self._keys[(id(endpoint), local)] = action.key
            elif isinstance(action, Announce) and action.ppid == wire.PPID_ENRP:
                message = wire.decode(action.message.encode(), wire.PPID_ENRP)
                for other in self.world.hosts:
                    if other is not self and other.alive:
                        other.apply(other.core.receive_announce(message, self.address, now))
            elif isinstance(action, Close):
                endpoint, local = self._local[action.assoc]
                endpoint.abort(local) if action.abort else endpoint.shutdown(local)
            elif isinstance(action, Notify):
                self.notifications.append(action)


class Endpoint:
    """A scripted PE or PU: one memory endpoint that answers keep-alives if told to."""

    def __init__(self, world: World, address: str, *, answer_keep_alives: bool = True) -> None:
        self.world = world
        self.ep = world.net.endpoint([address])
        self.ep.open_nowait()
        self.address = address
        self.answer_keep_alives = answer_keep_alives
        self.inbox: list[tuple[int, Any]] = []
        world.endpoints.append(self)

    def connect(self, host: RegistrarHost) -> int:
        assoc = self.ep.connect_nowait([host.address], 3863)
        self.world.run(0.05)
        return assoc

    def send(self, assoc: int, message: Any) -> None:
        self.ep.send_nowait(assoc, message.encode(), wire.PPID_ASAP)
        self.world.run(0.05)

    def poll(self) -> bool:
        """Take what arrived (answering keep-alives); True if anything did."""
        busy = False
        while (event := self.ep.receive_nowait()) is not None:
            busy = True
            if isinstance(event, Message):
                message = wire.decode(event.data, event.ppid)
                self.inbox.append((event.assoc, message))
                if isinstance(message, wire.EndpointKeepAlive) and self.answer_keep_alives:
                    self.ep.send_nowait(event.assoc, wire.EndpointKeepAliveAck(
                        message.pool_handle, message.pe_identifier).encode(), wire.PPID_ASAP)
        return busy

    def last(self, kind: type) -> Any:
        self.poll()
        found = [m for _, m in self.inbox if isinstance(m, kind)]
        assert found, f"{self.address} received no {kind.__name__}"
        return found[-1]

    def pool_element(self, pe_id: int) -> Any:
        return wire.PoolElement(
            pe_id, 0, 300_000, wire.SctpTransport(7000, (self.address,)),
            wire.Policy(wire.PolicyType.ROUND_ROBIN),
            wire.SctpTransport(self.ep.port, (self.address,)))


class ClientHost:
    """A PE or PU client core (``rserpool.asap``) on its own memory endpoint."""

    def __init__(self, world: World, address: str, core: Any) -> None:
        self.world, self.core = world, core
        self.ep = world.net.endpoint([address])
        self.ep.open_nowait()
        self._keys: dict[int, Any] = {}
        self.notifications: list[Notify] = []
        world.clients.append(self)

    def call(self, method: Any) -> None:
        """Run ``method(now)`` on the core and carry out its actions."""
        self.apply(method(self.world.clock.now()))

    def events(self, name: str) -> list[Any]:
        return [n.detail for n in self.notifications if n.event == name]

    def pump(self) -> bool:
        busy = False
        now = self.world.clock.now()
        while (event := self.ep.receive_nowait()) is not None:
            busy = True
            if isinstance(event, Message):
                self.apply(self.core.receive(event.assoc, wire.decode(event.data, event.ppid),
                                             now))
            elif isinstance(event, AssociationChange):
                key = self._keys.pop(event.assoc, None)
                if event.state is AssociationState.UP:
                    self.apply(self.core.association_up(event.assoc, event.peer_addresses, now,
                                                        key))
                elif event.state is AssociationState.CANT_START and key is not None:
                    self.apply(self.core.connect_failed(key, now))
                elif event.state in ENDED:
                    self.apply(self.core.association_lost(event.assoc, now))
        due = self.core.next_timer()
        if due is not None and due <= now:
            busy = True
            self.apply(self.core.handle_timer(now))
        return busy

    def apply(self, actions: list[Any]) -> None:
        now = self.world.clock.now()
        for action in actions:
            if isinstance(action, Send):
                with contextlib.suppress(TransportError):
                    self.ep.send_nowait(action.assoc, action.message.encode(), action.ppid)
            elif isinstance(action, Connect):
                try:
                    self._keys[self.ep.connect_nowait(action.addresses, action.port)] = \
                        action.key
                except TransportError:
                    self.apply(self.core.connect_failed(action.key, now))
            elif isinstance(action, Close):
                with contextlib.suppress(TransportError):
                    (self.ep.abort if action.abort else self.ep.shutdown)(action.assoc)
            elif isinstance(action, Notify):
                self.notifications.append(action)

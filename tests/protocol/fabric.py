"""A deterministic network for protocol tests: registrar cores and scripted clients, fake time.

Every message crosses the fabric as bytes (``encode()`` then ``wire.decode``), so the tests
also prove the registrar's messages survive the real codec. Actions are carried out in FIFO
order; ``advance`` moves the clock in small steps and fires due timers on every core.
"""

from __future__ import annotations

import itertools
import random
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from rserpool import wire
from rserpool.actions import Announce, Close, Connect, Notify, Send
from rserpool.asap.registrar import Registrar
from rserpool.asap.registrar_config import RegistrarConfig, StaticPeer

ASAP_PORT = 3863
ENRP_PORT = 9901


@dataclass(eq=False)
class Client:
    """A scripted ASAP endpoint (a PE or PU stand-in) that records what reaches it."""

    name: str
    addresses: tuple[str, ...]
    port: int
    answer_keep_alives: bool = True
    inbox: list[tuple[int, Any]] = field(default_factory=list)
    announces: list[Any] = field(default_factory=list)

    def received(self, kind: type) -> list[Any]:
        return [m for _, m in self.inbox if isinstance(m, kind)]

    def last(self, kind: type) -> Any:
        found = self.received(kind)
        assert found, f"{self.name} received no {kind.__name__}; inbox: {self.inbox}"
        return found[-1]


@dataclass(eq=False)
class _End:
    node: Any  # Registrar | Client
    assoc: int
    peer: _End | None = None


class Fabric:
    """Registrars and clients joined by associations that deliver in order."""

    def __init__(self) -> None:
        self.now = 0.0
        self.registrars: dict[str, Registrar] = {}
        self.addresses: dict[str, Any] = {}  # address -> node
        self.ends: dict[tuple[int, int], _End] = {}  # (id(node), assoc) -> end
        self.queue: deque[tuple[Any, int, Any]] = deque()
        self.notifications: list[tuple[str, Notify]] = []
        self.sent: list[tuple[str, Send]] = []  # every Send a registrar made, with its name
        self.dropped: list[Send] = []  # Sends naming an association that does not exist
        self._ids = itertools.count(1)
        self._hosts = itertools.count(1)  # registrar addresses, never reused

    # ------------------------------------------------------------------ building

    def registrar(self, name: str, server_id: int, *, peers: Iterable[str] = (),
                  **settings: Any) -> Registrar:
        address = f"10.0.0.{next(self._hosts)}"
        config = RegistrarConfig(
            server_id=server_id, asap_addresses=(address,), enrp_addresses=(address,),
            static_peers=tuple(StaticPeer((self.registrar_address(p),), ENRP_PORT)
                               for p in peers),
            **settings)
        core = Registrar(config, rng=random.Random(server_id))
        self.registrars[name] = core
        self.addresses[address] = core
        self._run_timers(core)
        self.drain()
        return core

    def registrar_address(self, name: str) -> str:
        return self.registrars[name].config.asap_addresses[0]

    def client(self, name: str, *, port: int = 5000, addresses: tuple[str, ...] | None = None,
               answer_keep_alives: bool = True) -> Client:
        addresses = addresses or (f"10.0.1.{next(self._hosts)}",)
        node = Client(name, addresses, port, answer_keep_alives)
        for address in addresses:
            self.addresses[address] = node
        return node

    def connect(self, client: Client, registrar: str,
                addresses: tuple[str, ...] | None = None) -> int:
        """Open an association from a client to a registrar's ASAP port; returns the client's
        association id. ``addresses`` overrides what the registrar sees as the peer's."""
        core = self.registrars[registrar]
        a, b = self._pair(client, core)
        self._apply(core, core.association_up(
            b.assoc, addresses or client.addresses, self.now, peer_port=client.port))
        self.drain()
        return a.assoc

    def kill(self, name: str) -> None:
        """A registrar dies: its associations are lost at the other ends."""
        core = self.registrars.pop(name)
        for address in core.config.asap_addresses:
            self.addresses.pop(address, None)
        for key, end in list(self.ends.items()):
            if end.node is core:
                del self.ends[key]
                if end.peer is not None:
                    self._lose(end.peer)
        self.drain()

    def close(self, client: Client, assoc: int) -> None:
        end = self.ends.pop((id(client), assoc))
        if end.peer is not None:
            self._lose(end.peer)
        self.drain()

    # ------------------------------------------------------------------ traffic

    def send(self, client: Client, assoc: int, message: Any) -> None:
        end = self.ends[(id(client), assoc)]
        assert end.peer is not None
        self.queue.append((end.peer.node, end.peer.assoc, self._wire(message)))
        self.drain()

    def send_raw(self, client: Client, assoc: int, data: bytes, ppid: int) -> None:
        """Bytes from a client, decoded as a registrar daemon does: a message or an error."""
        end = self.ends[(id(client), assoc)]
        assert end.peer is not None and isinstance(end.peer.node, Registrar)
        core, registrar_assoc = end.peer.node, end.peer.assoc
        try:
            message = wire.decode(data, ppid)
        except wire.ParseError as error:
            self._apply(core, core.receive_error(registrar_assoc, error, self.now, ppid=ppid))
        else:
            self._apply(core, core.receive(registrar_assoc, message, self.now))
        self.drain()

    def registrar_assoc(self, client: Client, assoc: int) -> int:
        end = self.ends[(id(client), assoc)]
        assert end.peer is not None
        return end.peer.assoc

    def advance(self, seconds: float, step: float = 0.05) -> None:
        end = self.now + seconds
        while self.now < end - 1e-9:
            self.now = min(end, self.now + step)
            for core in list(self.registrars.values()):
                self._run_timers(core)
            self.drain()

    def drain(self) -> None:
        while self.queue:
            node, assoc, message = self.queue.popleft()
            if isinstance(node, Registrar):
                if node in self.registrars.values():
                    self._apply(node, node.receive(assoc, message, self.now))
            else:
                node.inbox.append((assoc, message))
                if isinstance(message, wire.EndpointKeepAlive) and node.answer_keep_alives:
                    self.send_later(node, assoc, wire.EndpointKeepAliveAck(
                        message.pool_handle, message.pe_identifier))

    def send_later(self, client: Client, assoc: int, message: Any) -> None:
        end = self.ends.get((id(client), assoc))
        if end is not None and end.peer is not None:
            self.queue.append((end.peer.node, end.peer.assoc, self._wire(message)))

    # ------------------------------------------------------------------ internals

    @staticmethod
    def _wire(message: Any) -> Any:
        ppid = wire.PPID_ENRP if hasattr(message, "sender_server_id") else wire.PPID_ASAP
        return wire.decode(message.encode(), ppid)

    def _name(self, core: Registrar) -> str:
        return next(n for n, c in self.registrars.items() if c is core)

    def _run_timers(self, core: Registrar) -> None:
        for _ in range(1000):
            due = core.next_timer()
            if due is None or due > self.now or core not in self.registrars.values():
                return
            self._apply(core, core.handle_timer(self.now))
        raise AssertionError("timer loop does not settle")

    def _pair(self, a_node: Any, b_node: Any) -> tuple[_End, _End]:
        a = _End(a_node, next(self._ids))
        b = _End(b_node, next(self._ids))
        a.peer, b.peer = b, a
        self.ends[(id(a_node), a.assoc)] = a
        self.ends[(id(b_node), b.assoc)] = b
        return a, b

    def _lose(self, end: _End) -> None:
        self.ends.pop((id(end.node), end.assoc), None)
        if isinstance(end.node, Registrar) and end.node in self.registrars.values():
            self._apply(end.node, end.node.association_lost(end.assoc, self.now))

    def _apply(self, core: Registrar, actions: list[Any]) -> None:
        name = self._name(core)
        for action in actions:
            if isinstance(action, Send):
                self.sent.append((name, action))
                end = self.ends.get((id(core), action.assoc))
                if end is None or end.peer is None:
                    self.dropped.append(action)
                    continue
                self.queue.append((end.peer.node, end.peer.assoc, self._wire(action.message)))
            elif isinstance(action, Announce):
                self._announce(core, action)
            elif isinstance(action, Connect):
                self._connect(core, action)
            elif isinstance(action, Close):
                end = self.ends.pop((id(core), action.assoc), None)
                if end is not None and end.peer is not None:
                    self._lose(end.peer)
            elif isinstance(action, Notify):
                self.notifications.append((name, action))

    def _announce(self, core: Registrar, action: Announce) -> None:
        source = core.config.asap_addresses[0]
        message = self._wire(action.message)
        for other in list(self.registrars.values()):
            if other is not core and action.ppid == wire.PPID_ENRP:
                self._apply(other, other.receive_announce(message, source, self.now))
        if action.ppid == wire.PPID_ASAP:
            for node in set(self.addresses.values()):
                if isinstance(node, Client):
                    node.announces.append(message)

    def _connect(self, core: Registrar, action: Connect) -> None:
        target = next((self.addresses[a] for a in action.addresses if a in self.addresses), None)
        listening = ENRP_PORT if isinstance(target, Registrar) else getattr(target, "port", None)
        port_ok = target is not None and action.port == listening
        if not port_ok or target not in (*self.registrars.values(), *self._clients()):
            self._apply(core, core.connect_failed(action.key, self.now))
            return
        a, b = self._pair(core, target)
        self._apply(core, core.association_up(a.assoc, target_addresses(target), self.now,
                                              action.key, peer_port=action.port))
        if isinstance(target, Registrar):
            self._apply(target, target.association_up(
                b.assoc, core.config.enrp_addresses, self.now, peer_port=ENRP_PORT))

    def _clients(self) -> list[Client]:
        return [n for n in self.addresses.values() if isinstance(n, Client)]


def target_addresses(node: Any) -> tuple[str, ...]:
    if isinstance(node, Registrar):
        return node.config.enrp_addresses
    return tuple(node.addresses)


def pe_param(pe_id: int, client: Client, *, policy: Any = None, life_ms: int = 300_000,
             addresses: tuple[str, ...] | None = None) -> Any:
    """A Pool Element parameter as a PE would send it."""
    return wire.PoolElement(
        pe_id, 0, life_ms,
        wire.SctpTransport(client.port + 1, addresses or client.addresses),
        policy or wire.Policy(wire.PolicyType.ROUND_ROBIN),
        wire.SctpTransport(client.port, client.addresses))


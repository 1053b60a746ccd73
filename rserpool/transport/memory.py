"""An in-process SCTP network, for deterministic protocol tests and simulation at scale.

The model, as a user of the ``Endpoint`` interface sees it:

- Every address sits on its own access ``Link`` (delay, loss, up). A packet from address a
  to address b crosses both links: delays add up, losses compound, and it passes only while
  both are up (``MemoryNetwork.fail`` / ``restore``) and b is still bound by the peer.
- Associations are reliable: a lost packet is sent again after the RTO (doubling per try),
  to another peer address when there is one. Ordered messages come out in order per stream,
  so a retransmission holds back the later messages of its stream; unordered ones come out
  on arrival. Giving up after ``association_max_retransmissions`` tries loses the association.
- Path supervision stands in for heartbeats: a peer address whose path failed is reported
  UNREACHABLE after ``rto_min * (pf_threshold + 1)``, a restored one AVAILABLE after
  ``heartbeat_interval``. Data goes to the primary while it is reachable, else to the first
  reachable peer address (failover and back). When no peer address has been reachable for
  ``rto_max * association_max_retransmissions``, the association is LOST.
- ``bindx_add`` / ``bindx_remove`` / ``set_peer_primary`` travel as ASCONFs, one at a time
  and reliably, and give the peer ADDED / REMOVED / MADE_PRIMARY events.
- A lost association returns what it had not delivered as ``SendFailed`` events, after
  the LOST event. ``AssociationChange.error`` is an SCTP error cause (12 after an abort).
- Back-pressure: at most ``send_buffer`` bytes may be unacknowledged per association, and a
  receiver acknowledges data only while fewer than ``receive_queue`` events wait to be read.
- Time is a ``Clock``: asyncio's (the default) or a ``VirtualClock`` that a test or a
  simulation advances by hand. The ``*_nowait`` methods never wait, for driving endpoints
  without asyncio; the async methods wait for the clock, whichever it is.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import ipaddress
import itertools
import random
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rserpool.transport.base import (
    AssociationChange,
    AssociationState,
    Endpoint,
    Event,
    Message,
    PeerAddressChange,
    PeerAddressState,
    SctpParameters,
    SendFailed,
    TransportError,
)
from rserpool.transport.clock import AsyncioClock, Clock, Timer, VirtualClock

__all__ = ["Link", "MemoryEndpoint", "MemoryNetwork", "NetworkStats", "VirtualClock"]

_USER_ABORT = 12  # SCTP error cause "User-Initiated Abort" (RFC 4960 3.3.10.12)
_MAX_INIT_ATTEMPTS = 8  # Linux's default sctp max_init_retransmits
_EPHEMERAL_PORTS = range(49152, 65536)


@functools.lru_cache(maxsize=1 << 16)
def _norm(address: str) -> str:
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        raise TransportError(errno.EINVAL, "not an IP address", address) from None


@dataclass(slots=True)
class Link:
    """The access link of one address. Change ``delay`` and ``loss`` freely; take it down and
    up with ``MemoryNetwork.fail`` / ``restore`` so that path supervision notices."""

    delay: float = 0.0
    loss: float = 0.0
    up: bool = True


@dataclass(slots=True)
class NetworkStats:
    """Counters over the whole network."""

    packets: int = 0  # transmissions, retransmissions included
    lost: int = 0  # transmissions dropped by loss, a down link or an unbound address
    retransmissions: int = 0
    delivered: int = 0  # user messages accepted by a receiver


class MemoryNetwork:
    """Addresses, their links, and the endpoints bound to them.

    ``seed`` fixes the loss pattern; ``delay`` and ``loss`` are the defaults of new links."""

    def __init__(
        self, clock: Clock | None = None, *, seed: int = 0, delay: float = 0.0, loss: float = 0.0
    ) -> None:
        self.clock: Clock = clock if clock is not None else AsyncioClock()
        self.stats = NetworkStats()
        self._rng = random.Random(seed)
        self._defaults = (delay, loss)
        self._links: dict[str, Link] = {}
        self._bound: dict[tuple[str, int], MemoryEndpoint] = {}
        self._at: dict[str, list[MemoryEndpoint]] = {}
        self._port_cursor = 0

    def endpoint(
        self, addresses: Sequence[str], port: int = 0, params: SctpParameters | None = None
    ) -> MemoryEndpoint:
        """A new (unopened) endpoint on this network."""
        return MemoryEndpoint(addresses, port, params, network=self)

    def link(self, address: str) -> Link:
        """The link of an address (created with the network's defaults on first use)."""
        return self._link(_norm(address))

    def set_link(
        self, address: str, *, delay: float | None = None, loss: float | None = None
    ) -> None:
        link = self.link(address)
        if delay is not None:
            link.delay = delay
        if loss is not None:
            link.loss = loss

    def fail(self, address: str) -> None:
        """Take an address's link down: packets over it are lost from now on."""
        self._set_up(_norm(address), False)

    def restore(self, address: str) -> None:
        """Bring an address's link back up."""
        self._set_up(_norm(address), True)

    # -- internals ---------------------------------------------------------------------------

    def _link(self, address: str) -> Link:
        link = self._links.get(address)
        if link is None:
            link = self._links[address] = Link(*self._defaults)
        return link

    def _set_up(self, address: str, up: bool) -> None:
        link = self._link(address)
        if link.up == up:
            return
        link.up = up
        for assoc in self._assocs_via(address):
            assoc.schedule_check(failure=not up)

    def _assocs_via(self, address: str) -> list[_Assoc]:
        found: dict[int, _Assoc] = {}
        for ep in self._at.get(address, ()):
            for assoc in ep._assocs.values():
                found[id(assoc)] = assoc
                if assoc.peer is not None:
                    found[id(assoc.peer)] = assoc.peer
        return list(found.values())

    def _bind(self, ep: MemoryEndpoint) -> int:
        port = ep._port or self._free_port(ep._addresses)
        for address in ep._addresses:
            if (address, port) in self._bound:
                raise TransportError(errno.EADDRINUSE, "address in use", f"{address}:{port}")
        for address in ep._addresses:
            self._bind_address(ep, address, port)
        return port

    def _free_port(self, addresses: list[str]) -> int:
        for _ in _EPHEMERAL_PORTS:
            port = _EPHEMERAL_PORTS[self._port_cursor % len(_EPHEMERAL_PORTS)]
            self._port_cursor += 1
            if all((a, port) not in self._bound for a in addresses):
                return port
        raise TransportError(errno.EADDRINUSE, "no free port", ",".join(addresses))

    def _bind_address(self, ep: MemoryEndpoint, address: str, port: int) -> None:
        self._bound[(address, port)] = ep
        self._at.setdefault(address, []).append(ep)

    def _unbind_address(self, ep: MemoryEndpoint, address: str) -> None:
        if self._bound.get((address, ep._port)) is ep:
            del self._bound[(address, ep._port)]
        eps = self._at.get(address, [])
        if ep in eps:
            eps.remove(ep)

    def _passes(self, a: Link, b: Link, dst: str, receiver: MemoryEndpoint) -> bool:
        """Whether a packet over links a and b to dst gets through (drawing the loss)."""
        if not (a.up and b.up) or dst not in receiver._addresses:
            return False
        loss = a.loss + b.loss - a.loss * b.loss
        return loss <= 0.0 or self._rng.random() >= loss

    def _delay(self, src: str, dst: str) -> float:
        return self._link(src).delay + self._link(dst).delay

    def _reachable(self, assoc: _Assoc, address: str) -> bool:
        peer = assoc.peer
        return (
            peer is not None
            and address in peer.endpoint._addresses
            and self._link(address).up
            and any(self._link(a).up for a in assoc.endpoint._addresses)
        )

    def _transmit(
        self, assoc: _Assoc, arrive: Callable[[], None], attempt: int = 0, last: str | None = None
    ) -> None:
        """Send one packet of an established association reliably: retransmit until it
        arrives, or give the association up."""
        peer = assoc.peer
        if assoc.dead or peer is None:
            return
        dst = assoc.destination(last)
        src = assoc.endpoint._source()
        self.stats.packets += 1
        if attempt:
            self.stats.retransmissions += 1
        now = self.clock.now()
        a, b = self._link(src), self._link(dst)
        delay = a.delay + b.delay
        if self._passes(a, b, dst, peer.endpoint):
            self.clock.call_at(now + delay, arrive)
            return
        self.stats.lost += 1
        params = assoc.endpoint.params
        if attempt >= params.association_max_retransmissions:
            assoc.lose()
            return
        rto = max(params.rto_min_ms / 1000, 6 * delay) * 2**attempt
        rto = min(rto, params.rto_max_ms / 1000)
        self.clock.call_at(now + rto, lambda: self._transmit(assoc, arrive, attempt + 1, dst))

    def _send_init(self, assoc: _Assoc, attempt: int = 0) -> None:
        if assoc.dead or assoc.peer is not None:
            return
        dst = assoc.peer_addrs[attempt % len(assoc.peer_addrs)]
        src = assoc.endpoint._source()
        self.stats.packets += 1
        if attempt:
            self.stats.retransmissions += 1
        now = self.clock.now()
        a, b = self._link(src), self._link(dst)
        loss = a.loss + b.loss - a.loss * b.loss
        if a.up and b.up and (loss <= 0.0 or self._rng.random() >= loss):
            self.clock.call_at(now + a.delay + b.delay, lambda: self._on_init(assoc, src, dst))
            return
        self.stats.lost += 1
        params = assoc.endpoint.params
        rto = min(params.rto_initial_ms / 1000 * 2**attempt, params.rto_max_ms / 1000)
        if attempt + 1 >= _MAX_INIT_ATTEMPTS:
            self.clock.call_at(now + rto, lambda: assoc.fail_to_start(errno.ETIMEDOUT, dst))
        else:
            self.clock.call_at(now + rto, lambda: self._send_init(assoc, attempt + 1))

    def _on_init(self, assoc: _Assoc, src: str, dst: str) -> None:
        if assoc.dead or assoc.peer is not None:
            return
        back = self.clock.now() + self._delay(src, dst)
        listener = self._bound.get((dst, assoc.peer_port))
        if listener is None or listener._closed:
            self.clock.call_at(back, lambda: assoc.fail_to_start(errno.ECONNREFUSED, dst))
            return
        ours = assoc.endpoint
        peer_addrs = [src, *(a for a in ours._addresses if a != src)]
        peer = _Assoc(listener, peer_addrs, ours._port)
        listener._assocs[peer.id] = peer
        peer.establish(assoc)
        self.clock.call_at(back, lambda: assoc.init_acked(peer, dst))


class _Assoc:
    """One end of an association."""

    __slots__ = (
        "_control", "_control_busy", "_early", "_keys", "_lost_timer", "_pending", "_rx_held",
        "_rx_next", "_ssn", "_unacked", "closing", "dead", "endpoint", "id", "network",
        "outstanding", "peer", "peer_addrs", "peer_port", "primary", "shutdown_received",
        "shutdown_sent", "streams", "unreachable", "up_waiters", "writers",
    )

    def __init__(self, endpoint: MemoryEndpoint, peer_addrs: list[str], peer_port: int) -> None:
        self.endpoint = endpoint
        self.network = endpoint._network
        self.id = next(endpoint._ids)
        self.peer: _Assoc | None = None
        self.peer_addrs = peer_addrs
        self.peer_port = peer_port
        self.primary = peer_addrs[0]
        self.unreachable: set[str] = set()
        self.streams = endpoint.params.streams
        self.dead = False
        self.closing = False  # no more user sends
        self.shutdown_received = False
        self.shutdown_sent = False
        self.outstanding = 0  # bytes sent, not yet acknowledged
        self._unacked: dict[int, tuple[bytes, int, int]] = {}  # key -> data, ppid, stream
        self._keys = itertools.count()
        self._ssn: dict[int, int] = {}
        self._rx_next: dict[int, int] = {}
        self._rx_held: dict[tuple[int, int], tuple[bytes, int]] = {}
        self._pending: list[Callable[[], None]] = []  # packets waiting for the handshake
        self._early: list[Callable[[], None]] = []  # arrivals before our handshake finished
        self._control: deque[Callable[[_Assoc], None]] = deque()
        self._control_busy = False
        self._lost_timer: Timer | None = None
        self.writers: list[asyncio.Future[None]] = []
        self.up_waiters: list[asyncio.Future[None]] = []

    # -- handshake ---------------------------------------------------------------------------

    def establish(self, peer: _Assoc) -> None:
        self.peer = peer
        self.streams = min(self.streams, peer.endpoint.params.streams)
        self.endpoint._emit(
            AssociationChange(
                self.id, AssociationState.UP, tuple(self.peer_addrs), self.peer_port
            )
        )
        for waiter in self.up_waiters:
            if not waiter.done():
                waiter.set_result(None)
        self.up_waiters.clear()
        pending, self._pending = self._pending, []
        for arrive in pending:
            self.network._transmit(self, arrive)
        early, self._early = self._early, []
        for arrive in early:
            arrive()
        self._pump_control()
        self._maybe_shut()

    def init_acked(self, peer: _Assoc, dst: str) -> None:
        if self.dead:
            peer.lose()
            return
        self.peer_addrs = [dst, *(a for a in peer.endpoint._addresses if a != dst)]
        self.primary = dst
        self.establish(peer)

    def fail_to_start(self, error: int, address: str) -> None:
        if self.dead or self.peer is not None:
            return
        self._end(AssociationState.CANT_START, error)
        failure = TransportError(error, "association could not start", address)
        for waiter in self.up_waiters:
            if not waiter.done():
                waiter.set_exception(failure)
        self.up_waiters.clear()

    # -- data --------------------------------------------------------------------------------

    def send(self, data: bytes, ppid: int, stream: int, unordered: bool) -> None:
        ssn = -1
        if not unordered:
            ssn = self._ssn.get(stream, 0)
            self._ssn[stream] = ssn + 1
        key = next(self._keys)
        self._unacked[key] = (data, ppid, stream)
        self.outstanding += len(data)

        def arrive() -> None:
            peer = self.peer
            if peer is not None:
                peer.on_data(self, key, data, ppid, stream, ssn)

        if self.peer is None:
            self._pending.append(arrive)
        else:
            self.network._transmit(self, arrive)

    def on_data(
        self, sender: _Assoc, key: int, data: bytes, ppid: int, stream: int, ssn: int
    ) -> None:
        if self.dead:
            sender.lose()  # an ABORT answers data for an association that is gone
            return
        if self.peer is None:
            self._early.append(lambda: self.on_data(sender, key, data, ppid, stream, ssn))
            return
        ep = self.endpoint
        if ep._full():
            ep._backlog.append(lambda: self.on_data(sender, key, data, ppid, stream, ssn))
            return
        sender.acked(key)
        self.network.stats.delivered += 1
        if ssn < 0:
            ep._emit(Message(self.id, data, ppid, stream, True))
            return
        expected = self._rx_next.get(stream, 0)
        if ssn != expected:
            self._rx_held[(stream, ssn)] = (data, ppid)
            return
        ep._emit(Message(self.id, data, ppid, stream))
        expected += 1
        while (stream, expected) in self._rx_held:
            data, ppid = self._rx_held.pop((stream, expected))
            ep._emit(Message(self.id, data, ppid, stream))
            expected += 1
        self._rx_next[stream] = expected

    def acked(self, key: int) -> None:
        message = self._unacked.pop(key, None)
        if message is None:  # arrived after this end gave up (and reported it failed)
            return
        self.outstanding -= len(message[0])
        self.wake_writers()
        self._maybe_shut()

    def wake_writers(self) -> None:
        for waiter in self.writers:
            if not waiter.done():
                waiter.set_result(None)
        self.writers.clear()

    # -- paths -------------------------------------------------------------------------------

    def destination(self, last: str | None) -> str:
        """The primary while reachable; for a retransmission, another reachable address."""
        if last is None and self.primary not in self.unreachable:
            return self.primary
        reachable = [a for a in self.peer_addrs if a not in self.unreachable]
        for address in reachable:
            if address != last:
                return address
        if last is not None and last in self.peer_addrs:
            return last
        return (reachable or self.peer_addrs)[0]

    def schedule_check(self, failure: bool) -> None:
        params = self.endpoint.params
        if failure:
            delay = params.rto_min_ms / 1000 * (params.pf_threshold + 1)
        else:
            delay = params.heartbeat_interval_ms / 1000
        clock = self.network.clock
        clock.call_at(clock.now() + delay, lambda: self._check(failure))

    def _check(self, failure: bool) -> None:
        if self.dead or self.peer is None:
            return
        for address in self.peer_addrs:
            ok = self.network._reachable(self, address)
            if failure and not ok and address not in self.unreachable:
                self.unreachable.add(address)
                self._address_event(address, PeerAddressState.UNREACHABLE)
            elif not failure and ok and address in self.unreachable:
                self.unreachable.discard(address)
                self._address_event(address, PeerAddressState.AVAILABLE)
        if all(a in self.unreachable for a in self.peer_addrs):
            if self._lost_timer is None:
                params = self.endpoint.params
                wait = params.rto_max_ms / 1000 * params.association_max_retransmissions
                clock = self.network.clock
                self._lost_timer = clock.call_at(clock.now() + wait, self._lost_check)
        elif self._lost_timer is not None:
            self._lost_timer.cancel()
            self._lost_timer = None

    def _lost_check(self) -> None:
        self._lost_timer = None
        if all(a in self.unreachable for a in self.peer_addrs):
            self.lose()

    def _address_event(self, address: str, state: PeerAddressState) -> None:
        self.endpoint._emit(PeerAddressChange(self.id, address, state))

    # -- ASCONF ------------------------------------------------------------------------------

    def control(self, action: Callable[[_Assoc], None]) -> None:
        """Queue a control chunk; ``action`` runs on the peer's end when it arrives."""
        self._control.append(action)
        self._pump_control()

    def _pump_control(self) -> None:
        if self._control_busy or not self._control or self.peer is None or self.dead:
            return
        action = self._control.popleft()
        self._control_busy = True

        def arrive() -> None:
            self._control_busy = False
            peer = self.peer
            if peer is None or peer.dead:
                self.lose()
                return
            action(peer)
            self._pump_control()

        self.network._transmit(self, arrive)

    def peer_added(self, address: str) -> None:
        if address not in self.peer_addrs:
            self.peer_addrs.append(address)
            if not self.network._reachable(self, address):
                self.unreachable.add(address)
            self._address_event(address, PeerAddressState.ADDED)

    def peer_removed(self, address: str) -> None:
        if address in self.peer_addrs and len(self.peer_addrs) > 1:
            self.peer_addrs.remove(address)
            self.unreachable.discard(address)
            if self.primary == address:
                self.primary = self.peer_addrs[0]
            self._address_event(address, PeerAddressState.REMOVED)

    def peer_set_primary(self, address: str) -> None:
        if address in self.peer_addrs:
            self.primary = address
            self._address_event(address, PeerAddressState.MADE_PRIMARY)

    # -- ending ------------------------------------------------------------------------------

    def shutdown(self) -> None:
        if self.peer is None:
            self.abort()
            return
        self.closing = True
        self._maybe_shut()

    def _maybe_shut(self) -> None:
        if not self.closing or self.outstanding or self.shutdown_sent or self.peer is None:
            return
        self.shutdown_sent = True
        if self.shutdown_received:  # all our data is acknowledged: SHUTDOWN-ACK, done
            self._end(AssociationState.SHUTDOWN)
            self.dead = False  # keep sending until the SHUTDOWN-ACK has arrived
            self.control(_Assoc._shutdown_completed)
        else:
            self.control(_Assoc._shutdown_arrived)

    def _shutdown_arrived(self) -> None:
        self.closing = True
        self.shutdown_received = True
        self.wake_writers()
        self._maybe_shut()

    def _shutdown_completed(self) -> None:
        self._end(AssociationState.SHUTDOWN)
        if self.peer is not None:
            self.peer.dead = True

    def abort(self) -> None:
        peer = self.peer
        self.lose(_USER_ABORT)
        if peer is not None:  # one ABORT packet, not retransmitted
            net = self.network
            src, dst = self.endpoint._source(), self.destination(None)
            if net._passes(net._link(src), net._link(dst), dst, peer.endpoint):
                when = net.clock.now() + net._delay(src, dst)
                net.clock.call_at(when, lambda: peer.lose(_USER_ABORT))

    def lose(self, error: int = 0) -> None:
        if self.dead:
            return
        if self.peer is None:
            self.fail_to_start(error or errno.ECONNRESET, self.primary)
            return
        self._end(AssociationState.LOST, error)

    def _end(self, state: AssociationState, error: int = 0) -> None:
        self.dead = True
        if self._lost_timer is not None:
            self._lost_timer.cancel()
            self._lost_timer = None
        ep = self.endpoint
        if ep._assocs.get(self.id) is self:
            del ep._assocs[self.id]
            peers = tuple(self.peer_addrs)
            ep._emit(AssociationChange(self.id, state, peers, self.peer_port, error))
            for data, ppid, stream in self._unacked.values():  # what never got through
                ep._emit(SendFailed(self.id, data, ppid, stream, error))
        self._unacked.clear()
        self.outstanding = 0
        self.wake_writers()


class MemoryEndpoint(Endpoint):
    """A one-to-many SCTP endpoint on a ``MemoryNetwork``."""

    def __init__(
        self,
        addresses: Sequence[str],
        port: int = 0,
        params: SctpParameters | None = None,
        *,
        network: MemoryNetwork,
    ) -> None:
        self.params = params if params is not None else SctpParameters()
        self._network = network
        self._addresses: list[str] = []
        for address in addresses:
            address = _norm(address)
            if address in ("0.0.0.0", "::"):
                raise TransportError(errno.EINVAL, "bind explicit addresses", address)
            if address not in self._addresses:
                self._addresses.append(address)
        if not self._addresses:
            raise TransportError(errno.EINVAL, "an endpoint needs at least one address")
        self._port = port
        self._opened = False
        self._closed = False
        self._ids = itertools.count(1)
        self._assocs: dict[int, _Assoc] = {}
        self._queue: deque[Event] = deque()
        self._backlog: deque[Callable[[], None]] = deque()
        self._readers: list[asyncio.Future[None]] = []

    @property
    def network(self) -> MemoryNetwork:
        return self._network

    @property
    def port(self) -> int:
        return self._port

    # -- without waiting ---------------------------------------------------------------------

    def open_nowait(self) -> None:
        if self._opened:
            raise TransportError(errno.EISCONN, "endpoint already open")
        self._port = self._network._bind(self)
        self._opened = True

    def close_nowait(self) -> None:
        """Shut every association down gracefully (the network finishes the handshakes) and
        release the addresses."""
        if self._closed:
            return
        for assoc in list(self._assocs.values()):
            assoc.shutdown()
        if self._opened:
            for address in self._addresses:
                self._network._unbind_address(self, address)
        self._closed = True
        self._queue.clear()
        backlog, self._backlog = self._backlog, deque()
        for accept in backlog:  # acknowledge what waited, so the peers' shutdowns finish
            accept()
        for waiter in self._readers:
            if not waiter.done():
                waiter.set_exception(TransportError(errno.EBADF, "endpoint closed"))
        self._readers.clear()

    def connect_nowait(self, addresses: Sequence[str], port: int) -> int:
        """Start an association (connectx) and return its id; AssociationChange UP follows.
        Messages sent before then wait for the handshake."""
        self._check_open()
        peer_addrs = list(dict.fromkeys(_norm(a) for a in addresses))
        if not peer_addrs or not 0 < port < 65536:
            raise TransportError(errno.EINVAL, "connect needs addresses and a port")
        for assoc in self._assocs.values():
            if assoc.peer_port == port and set(peer_addrs) & set(assoc.peer_addrs):
                raise TransportError(errno.EISCONN, "already associated", peer_addrs[0])
        assoc = _Assoc(self, peer_addrs, port)
        self._assocs[assoc.id] = assoc
        self._network._send_init(assoc)
        return assoc.id

    def send_nowait(
        self, assoc: int, data: bytes, ppid: int, stream: int = 0, unordered: bool = False
    ) -> None:
        """Send one message, or raise TransportError(EAGAIN) while the send buffer is full."""
        a = self._assoc(assoc)
        if a.closing:
            raise TransportError(errno.EPIPE, f"association {assoc} is shutting down")
        if not 0 <= stream < a.streams:
            raise TransportError(errno.EINVAL, f"stream {stream} out of range 0..{a.streams - 1}")
        if not data:
            raise TransportError(errno.EINVAL, "empty message")
        if a.outstanding and a.outstanding + len(data) > self.params.send_buffer:
            raise TransportError(errno.EAGAIN, "send buffer full")
        a.send(bytes(data), ppid, stream, unordered)

    def receive_nowait(self) -> Event | None:
        """The next event, or None when none is waiting."""
        if self._closed:
            raise TransportError(errno.EBADF, "endpoint closed")
        if not self._queue:
            return None
        event = self._queue.popleft()
        while self._backlog and not self._full():
            self._backlog.popleft()()
        return event

    def bindx_add_nowait(self, address: str) -> None:
        self._check_open()
        address = _norm(address)
        if address in self._addresses:
            raise TransportError(errno.EINVAL, "address already bound", address)
        if (address, self._port) in self._network._bound:
            raise TransportError(errno.EADDRINUSE, "address in use", f"{address}:{self._port}")
        self._addresses.append(address)
        self._network._bind_address(self, address, self._port)
        for assoc in list(self._assocs.values()):
            assoc.control(functools.partial(_Assoc.peer_added, address=address))
            assoc.schedule_check(failure=False)

    def bindx_remove_nowait(self, address: str) -> None:
        self._check_open()
        address = _norm(address)
        if address not in self._addresses:
            raise TransportError(errno.EINVAL, "address not bound", address)
        if len(self._addresses) == 1:
            raise TransportError(errno.EINVAL, "cannot remove the last address", address)
        self._addresses.remove(address)
        self._network._unbind_address(self, address)
        for assoc in list(self._assocs.values()):
            assoc.control(functools.partial(_Assoc.peer_removed, address=address))
            assoc.schedule_check(failure=True)

    # -- the Endpoint interface --------------------------------------------------------------

    async def open(self) -> None:
        self.open_nowait()

    async def close(self) -> None:
        self.close_nowait()

    def local_addresses(self, assoc: int | None = None) -> list[str]:
        if assoc is not None:
            self._assoc(assoc)
        return list(self._addresses)

    def peer_addresses(self, assoc: int) -> list[str]:
        return list(self._assoc(assoc).peer_addrs)

    async def connect(self, addresses: Sequence[str], port: int) -> int:
        assoc_id = self.connect_nowait(addresses, port)
        assoc = self._assocs.get(assoc_id)
        if assoc is not None and assoc.peer is None:
            waiter = asyncio.get_running_loop().create_future()
            assoc.up_waiters.append(waiter)
            await waiter
        return assoc_id

    async def send(
        self, assoc: int, data: bytes, ppid: int, stream: int = 0, unordered: bool = False
    ) -> None:
        while True:
            try:
                self.send_nowait(assoc, data, ppid, stream, unordered)
                return
            except TransportError as exc:
                if exc.errno != errno.EAGAIN:
                    raise
            waiter = asyncio.get_running_loop().create_future()
            self._assoc(assoc).writers.append(waiter)
            await waiter

    async def receive(self) -> Event:
        while True:
            event = self.receive_nowait()
            if event is not None:
                return event
            waiter = asyncio.get_running_loop().create_future()
            self._readers.append(waiter)
            await waiter

    async def bindx_add(self, address: str) -> None:
        self.bindx_add_nowait(address)

    async def bindx_remove(self, address: str) -> None:
        self.bindx_remove_nowait(address)

    def set_primary(self, assoc: int, peer_address: str) -> None:
        a = self._assoc(assoc)
        peer_address = _norm(peer_address)
        if peer_address not in a.peer_addrs:
            raise TransportError(errno.EINVAL, "not a peer address", peer_address)
        a.primary = peer_address

    def set_peer_primary(self, assoc: int, local_address: str) -> None:
        a = self._assoc(assoc)
        local_address = _norm(local_address)
        if local_address not in self._addresses:
            raise TransportError(errno.EINVAL, "not a local address", local_address)
        a.control(lambda peer: peer.peer_set_primary(local_address))

    def shutdown(self, assoc: int) -> None:
        self._assoc(assoc).shutdown()

    def abort(self, assoc: int) -> None:
        self._assoc(assoc).abort()

    # -- internals ---------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed or not self._opened:
            raise TransportError(errno.EBADF, "endpoint not open")

    def _assoc(self, assoc: int) -> _Assoc:
        self._check_open()
        found = self._assocs.get(assoc)
        if found is None:
            raise TransportError(errno.EINVAL, f"no association {assoc}")
        return found

    def _source(self) -> str:
        """The source address: the first one whose link is up, as routing would pick."""
        for address in self._addresses:
            if self._network._link(address).up:
                return address
        return self._addresses[0]

    def _full(self) -> bool:
        return not self._closed and len(self._queue) >= self.params.receive_queue

    def _emit(self, event: Event) -> None:
        if self._closed:
            return
        self._queue.append(event)
        for waiter in self._readers:
            if not waiter.done():
                waiter.set_result(None)
        self._readers.clear()

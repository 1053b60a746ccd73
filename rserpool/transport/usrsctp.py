"""The usrsctp backend: userland SCTP over UDP encapsulation (RFC 6951), asyncio-native.

usrsctp's threads only poke an eventfd; every socket call runs here, on the event loop.
One usrsctp stack serves the whole process; its UDP port is chosen by ``configure()``,
by ``RSERPOOL_USRSCTP_UDP_PORT``, or else is a free ephemeral port.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import logging
import os
import socket
import weakref
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from rserpool.transport.base import (
    AssociationChange,
    AssociationState,
    Endpoint,
    Event,
    PeerAddressChange,
    PeerAddressState,
    SctpParameters,
    SendFailed,
    TransportError,
    deliver_event,
)
from rserpool.transport.usrsctp_addresses import AddressMonitor, Interface, Listener

try:
    from rserpool._core import usrsctp as _lib
except ImportError:  # built without libusrsctp-dev
    _lib = None  # type: ignore[assignment]

AVAILABLE = _lib is not None
_monitor = AddressMonitor(
    _lib.add_local_address if _lib else None, _lib.del_local_address if _lib else None
)

_ASSOC_STATES = {
    1: AssociationState.UP,
    2: AssociationState.LOST,
    3: AssociationState.RESTARTED,
    4: AssociationState.SHUTDOWN,
    5: AssociationState.CANT_START,
}
_ADDR_STATES = {
    1: PeerAddressState.AVAILABLE,
    2: PeerAddressState.UNREACHABLE,
    3: PeerAddressState.REMOVED,
    4: PeerAddressState.ADDED,
    5: PeerAddressState.MADE_PRIMARY,
    6: PeerAddressState.CONFIRMED,
}
_T = TypeVar("_T")
_BATCH = 256  # messages handed to a sink per wake-up before other tasks and timers run
log = logging.getLogger(__name__)
_WHO = "usrsctp endpoint"  # how its log lines name the endpoint


def _norm(address: str) -> str:
    return str(ipaddress.ip_address(address))


_OPEN: weakref.WeakSet[UsrsctpEndpoint] = weakref.WeakSet()  # this process's open endpoints
_ASCONF_POLL_S = 0.01
_MAX_INIT_RETRANSMITS = 8
_SEND_RETRY_MIN_S = 0.0005
_SEND_RETRY_MAX_S = 0.002
_MAX_LEARNT_UDP_PORTS = 4096  # peers' UDP ports remembered from their associations


def _free_udp_port() -> int:
    """A UDP port free on both IPv4 and IPv6 wildcard addresses."""
    for _ in range(32):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as v4:
            v4.bind(("0.0.0.0", 0))
            port = int(v4.getsockname()[1])
            try:
                with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as v6:
                    v6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                    v6.bind(("::", port))
            except OSError:
                continue
            return port
    raise TransportError(errno.EADDRINUSE, "no free UDP port for usrsctp encapsulation")


def configure(udp_port: int | None = None) -> int:
    """Start the process-wide usrsctp stack (once) and return its UDP encapsulation port."""
    if _lib is None:
        raise TransportError(errno.ENOPROTOOPT, "rserpool was built without libusrsctp")
    if _lib.udp_port() >= 0:
        if udp_port not in (None, 0, _lib.udp_port()):
            raise TransportError(
                errno.EADDRINUSE, f"usrsctp already runs on UDP port {_lib.udp_port()}"
            )
        return _lib.udp_port()
    if udp_port is None:
        env = os.environ.get("RSERPOOL_USRSCTP_UDP_PORT")
        udp_port = int(env) if env else 0
    if udp_port:
        # usrsctp_init would carry on silently without its UDP socket: check first.
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
                probe.bind(("0.0.0.0", udp_port))
        except OSError as exc:
            raise TransportError(
                exc.errno or errno.EADDRINUSE, f"UDP port {udp_port} is not available"
            ) from exc
    return _lib.init(udp_port or _free_udp_port())


def _wake(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


class UsrsctpEndpoint(Endpoint):
    """A one-to-many SCTP endpoint on the process's usrsctp stack.

    The UDP encapsulation port a ``connect`` sends to is, first match wins: our own for an
    endpoint of this process's stack (a PU reaches a PE of the same process); the port a peer
    last used on an association with this endpoint (learnt when it comes up, so a peer that
    called us can be called back); ``peer_udp_ports`` ((address, SCTP port) -> UDP port, and
    ``set_peer_udp_port``); else ``remote_udp_port`` (default: our own, right when every
    host runs one stack on the same port)."""

    def __init__(
        self,
        addresses: Sequence[str],
        port: int = 0,
        params: SctpParameters | None = None,
        *,
        remote_udp_port: int | None = None,
        peer_udp_ports: Mapping[tuple[str, int], int] | None = None,
    ) -> None:
        if not addresses:
            raise ValueError("an endpoint needs at least one local address")
        self.params = params or SctpParameters()
        self._busy_poll_s = max(0, self.params.busy_poll_us) * 1e-6
        self._addresses = list(addresses)
        self._requested_port = port
        self._remote_udp_port = remote_udp_port
        self._configured_udp: dict[tuple[str, int], int] = {}
        self._learnt_udp: dict[tuple[str, int], int] = {}
        for (address, sctp_port), udp_port in (peer_udp_ports or {}).items():
            self.set_peer_udp_port([address], sctp_port, udp_port)
        self._port = 0
        self._sock: _lib.Socket | None = None
        self._efd = -1
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: deque[Event] = deque()
        self._readers: list[asyncio.Future[None]] = []
        self._paused = False
        self._writers: list[asyncio.Future[None]] = []
        self._connecting: dict[int, asyncio.Future[int]] = {}
        self._peers: dict[int, tuple[list[str], int]] = {}
        self._closing = False
        self._monitoring = False
        self._sink: Callable[[Event], None] | None = None
        self._scale, self._offset = 1, 0

    # -- life cycle

    async def open(self) -> None:
        if self._sock is not None:
            raise TransportError(errno.EISCONN, "endpoint is already open")
        configure()
        p = self.params
        try:
            try:
                versions = {ipaddress.ip_address(a).version for a in self._addresses}
            except ValueError as exc:
                raise TransportError(errno.EINVAL, str(exc), ",".join(self._addresses)) from None
            _lib.set_defaults(
                p.rto_initial_ms, p.rto_min_ms, p.rto_max_ms, p.heartbeat_interval_ms,
                p.path_max_retransmissions, p.association_max_retransmissions, p.pf_threshold,
                p.send_buffer, p.receive_buffer,
            )
            await _monitor.acquire()
            self._monitoring = True
            self._loop = asyncio.get_running_loop()
            self._efd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
            family = socket.AF_INET6 if 6 in versions else socket.AF_INET
            self._sock = _lib.Socket(family, self._efd, self._default_remote_udp_port())
            self._sock.configure(
                p.rto_initial_ms, p.rto_min_ms, p.rto_max_ms, p.heartbeat_interval_ms,
                p.path_max_retransmissions, p.association_max_retransmissions,
                p.send_buffer, p.receive_buffer, p.streams,
            )
            self._port = await self._bind_first()
            for address in self._addresses[1:]:
                await self._bindx_add(address)
            self._sock.listen()
            self._sock.sink, self._sock.scale, self._sock.offset = (
                self._sink, self._scale, self._offset
            )
            self._loop.add_reader(self._efd, self._on_wakeup)
            _OPEN.add(self)
        except OSError as exc:
            self._release()
            if isinstance(exc, TransportError):
                raise
            raise TransportError(exc.errno or 0, f"cannot open endpoint: {exc.strerror}",
                                 ",".join(self._addresses)) from exc
        except BaseException:
            self._release()
            raise

    async def close(self) -> None:
        if self._sock is None:
            return
        self._closing = True
        live = [a for a in self._peers if a not in self._connecting]
        for assoc in live:
            with contextlib.suppress(OSError):
                self._sock.end(assoc, False)
        # Let the graceful shutdowns finish (bounded), then release the socket.
        deadline = asyncio.get_running_loop().time() + 2 * self.params.rto_max_ms / 1000
        while self._peers and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(_ASCONF_POLL_S)
            self._pump()
        self._release()
        err = TransportError(errno.EBADF, "endpoint closed")
        pending: list[asyncio.Future[Any]] = [*self._connecting.values(), *self._writers]
        for fut in pending:
            if not fut.done():
                fut.set_exception(err)
        self._connecting.clear()
        for reader in self._readers:
            if not reader.done():
                reader.set_result(None)

    def _default_remote_udp_port(self) -> int:
        return self._remote_udp_port or _lib.udp_port()

    def set_peer_udp_port(self, addresses: Sequence[str], port: int, udp_port: int) -> None:
        """Reach the SCTP endpoint ``addresses:port`` on UDP encapsulation port ``udp_port``."""
        if not 0 < udp_port < 65536:
            raise ValueError(f"bad UDP port {udp_port}")
        for address in addresses:
            self._configured_udp[(_norm(address), port)] = udp_port

    def peer_udp_port(self, addresses: Sequence[str], port: int) -> int:
        """The UDP encapsulation port that ``connect(addresses, port)`` sends to."""
        wanted = [_norm(a) for a in addresses]
        for endpoint in list(_OPEN):
            if endpoint._port == port and endpoint._sock is not None and set(wanted) & {
                    _norm(a) for a in endpoint.local_addresses()}:
                return int(_lib.udp_port())
        for table in (self._learnt_udp, self._configured_udp):
            for address in wanted:
                udp_port = table.get((address, port))
                if udp_port is not None:
                    return udp_port
        return self._default_remote_udp_port()

    def _learn_udp_port(self, assoc: int, addresses: Sequence[str], port: int) -> None:
        """Remember the UDP port the peer of a new association uses (bounded, oldest out)."""
        if not addresses or not port:
            return
        try:
            udp_port = self._live().peer_udp_port(assoc, addresses[0], port)
        except (OSError, ValueError):
            return
        if not udp_port:
            return
        learnt = self._learnt_udp
        for address in addresses:
            key = (_norm(address), port)
            learnt.pop(key, None)
            if len(learnt) >= _MAX_LEARNT_UDP_PORTS:
                del learnt[next(iter(learnt))]
            learnt[key] = udp_port

    def _release(self) -> None:
        _OPEN.discard(self)
        if self._monitoring:
            _monitor.release()
            self._monitoring = False
        if self._loop is not None and self._efd >= 0:
            self._loop.remove_reader(self._efd)
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        if self._efd >= 0:
            os.close(self._efd)
            self._efd = -1

    # -- addresses

    @property
    def port(self) -> int:
        return self._port

    def local_addresses(self, assoc: int | None = None) -> list[str]:
        return [a for a, _ in self._call(lambda s: s.local_addresses(assoc or 0), "getladdrs")]

    def peer_addresses(self, assoc: int) -> list[str]:
        return [a for a, _ in self._call(lambda s: s.peer_addresses(assoc), "getpaddrs")]

    async def bindx_add(self, address: str, *, wait: bool = True) -> None:
        """Add a local address; with ``wait``, return once every association's peer
        acknowledged the ADD-IP (``acknowledged()`` tells it per association)."""
        await self._bindx_add(address)
        if wait:
            await self._wait_asconf(address, present=True)

    async def _bind_first(self) -> int:
        address, port = self._addresses[0], self._requested_port
        return await self._bind_call(address, lambda s: s.bind(address, port),
                                     f"cannot bind port {port}")

    async def _bindx_add(self, address: str) -> None:
        await self._bind_call(address, lambda s: s.bindx(address, self._port, True),
                              "bindx add failed")

    async def _bind_call(self, address: str, fn: Callable[[_lib.Socket], _T], what: str) -> _T:
        """Run a bind call; if usrsctp does not know the address yet, tell it and retry."""
        sock = self._live()
        try:
            try:
                return fn(sock)
            except OSError as exc:
                if exc.errno != errno.EADDRNOTAVAIL:
                    raise
                # The address monitor may not have seen it yet: tell usrsctp now.
                if not await _monitor.learn(address):
                    raise TransportError(
                        errno.EADDRNOTAVAIL, f"{what}: not a local address", address
                    ) from exc
            return fn(sock)
        except TransportError:
            raise
        except OSError as exc:
            raise TransportError(exc.errno or 0, what, address) from exc
        except ValueError as exc:
            raise TransportError(errno.EINVAL, f"{what}: {exc}", address) from exc

    async def bindx_remove(self, address: str, *, wait: bool = True) -> None:
        """Remove a local address; with ``wait``, return once no association uses it any
        more. usrsctp stops using it at once and sends the DELETE-IP afterwards, so this does
        not mean the peer acknowledged it (nothing in usrsctp's API tells); the peer refuses
        a DELETE-IP that comes from the address it deletes, which over UDP is the one the
        route gives as source."""
        self._call(lambda s: s.bindx(address, self._port, False), "bindx remove", address)
        if wait:
            await self._wait_asconf(address, present=False)

    def acknowledged(self, assoc: int, address: str, present: bool) -> bool:
        """Whether the address is (``present``: the peer acknowledged our ADD-IP), or is no
        longer, in use on the association (usrsctp drops it before the DELETE-IP is acked)."""
        want = ipaddress.ip_address(address)
        used = {ipaddress.ip_address(a) for a in self.local_addresses(assoc)}
        return (want in used) == present

    def associations(self) -> list[int]:
        """The ids of the associations that are up."""
        return [a for a in self._peers if a not in self._connecting]

    def watch_addresses(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(added, address, ifindex, ifname)`` on the event loop whenever the
        host gains or loses an address (after usrsctp was told of it); returns the function
        that stops it. The endpoint must be open (its netlink monitor runs meanwhile)."""
        self._live()
        return _monitor.subscribe(listener)

    def host_addresses(self) -> dict[str, Interface]:
        """The host's addresses as usrsctp knows them: address -> (ifindex, ifname)."""
        return _monitor.addresses()

    async def _wait_asconf(self, address: str, present: bool) -> None:
        """Wait until every association's peer acknowledged the ADD-IP or DELETE-IP (the
        address is in use, or no longer in use, on the association)."""
        loop = asyncio.get_running_loop()
        p = self.params
        deadline = loop.time() + p.association_max_retransmissions * p.rto_max_ms / 1000
        for assoc in list(self._peers):
            while True:
                try:
                    if self.acknowledged(assoc, address, present):
                        break
                except TransportError:
                    break  # the association went away meanwhile
                if loop.time() > deadline:
                    raise TransportError(
                        errno.ETIMEDOUT, f"association {assoc}: peer did not acknowledge ASCONF",
                        address,
                    )
                await asyncio.sleep(_ASCONF_POLL_S)

    def set_primary(self, assoc: int, peer_address: str) -> None:
        port = self._peer_port(assoc)
        self._call(lambda s: s.set_primary(assoc, peer_address, port), "set primary",
                   peer_address)

    def set_peer_primary(self, assoc: int, local_address: str) -> None:
        self._call(lambda s: s.set_peer_primary(assoc, local_address, self._port),
                   "set peer primary", local_address)

    def heartbeat(self, assoc: int, peer_address: str) -> None:
        """Probe one peer address now (SPP_HB_DEMAND): confirms a new path quickly."""
        port = self._peer_port(assoc)
        self._call(lambda s: s.heartbeat(assoc, peer_address, port), "heartbeat", peer_address)

    def _peer_port(self, assoc: int) -> int:
        try:
            return self._peers[assoc][1]
        except KeyError:
            raise TransportError(errno.ENOENT, f"no association {assoc}") from None

    # -- associations

    async def connect(self, addresses: Sequence[str], port: int) -> int:
        sock = self._live()
        default = self._default_remote_udp_port()
        try:
            remote = self.peer_udp_port(addresses, port)
            if remote != default:
                sock.set_remote_udp_port(remote)
            try:
                assoc = sock.connectx(list(addresses), port)
            finally:
                if remote != default:
                    sock.set_remote_udp_port(default)
        except (OSError, ValueError) as exc:
            code = exc.errno if isinstance(exc, OSError) and exc.errno else errno.EINVAL
            raise TransportError(code, f"connect failed: {exc}", ",".join(addresses)) from exc
        fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._connecting[assoc] = fut
        self._peers.setdefault(assoc, (list(addresses), port))
        self._pump()
        # usrsctp in blackhole mode may retransmit INIT forever to a closed port: bound it
        # by what RFC 4960 would allow (Max.Init.Retransmits RTO.max-long waits).
        p = self.params
        limit = (p.rto_initial_ms + _MAX_INIT_RETRANSMITS * p.rto_max_ms) / 1000
        try:
            return await asyncio.wait_for(asyncio.shield(fut), limit)
        except TimeoutError:
            with contextlib.suppress(OSError):
                self._live().end(assoc, True)
            self._peers.pop(assoc, None)
            raise TransportError(
                errno.ETIMEDOUT, f"association did not come up in {limit:.1f} s",
                ",".join(addresses),
            ) from None
        finally:
            self._connecting.pop(assoc, None)

    def shutdown(self, assoc: int) -> None:
        self._call(lambda s: s.end(assoc, False), "shutdown")

    def abort(self, assoc: int) -> None:
        self._call(lambda s: s.end(assoc, True), "abort")
        # usrsctp queues the LOST notification at once but may not call the upcall for it:
        # read it now, or an endpoint with no other traffic would never report it.
        self._pump()

    # -- data

    async def send(
        self, assoc: int, data: bytes, ppid: int, stream: int = 0, unordered: bool = False
    ) -> None:
        sock = self._sock
        if sock is not None and type(data) is bytes:  # the common case, kept short
            try:
                if sock.send(assoc, data, ppid, stream, unordered) == 0:
                    return
            except OSError as exc:
                raise TransportError(
                    exc.errno or 0, f"send on association {assoc} failed",
                    self._address_of(assoc),
                ) from exc
        await self._send_waiting(assoc, bytes(data), ppid, stream, unordered)

    def try_send(
        self, assoc: int, data: bytes, ppid: int, stream: int = 0, unordered: bool = False
    ) -> bool:
        sock = self._sock
        if sock is None or type(data) is not bytes:
            return False
        try:
            return bool(sock.send(assoc, data, ppid, stream, unordered) == 0)
        except OSError as exc:
            raise TransportError(
                exc.errno or 0, f"send on association {assoc} failed", self._address_of(assoc),
            ) from exc

    async def _send_waiting(
        self, assoc: int, data: bytes, ppid: int, stream: int, unordered: bool
    ) -> None:
        sock = self._live()
        delay = _SEND_RETRY_MIN_S
        while True:
            try:
                if sock.send(assoc, data, ppid, stream, unordered) == 0:
                    return
            except OSError as exc:
                raise TransportError(
                    exc.errno or 0, f"send on association {assoc} failed",
                    self._address_of(assoc),
                ) from exc
            # Send buffer full. usrsctp does not reliably call the upcall when SACKs free
            # space on a one-to-many socket, so retry on the next upcall or after a short,
            # growing delay, whichever comes first.
            loop = asyncio.get_running_loop()
            fut: asyncio.Future[None] = loop.create_future()
            self._writers.append(fut)
            timer = loop.call_later(delay, _wake, fut)
            try:
                await fut
            finally:
                timer.cancel()
                with contextlib.suppress(ValueError):
                    self._writers.remove(fut)
            delay = min(delay * 2, _SEND_RETRY_MAX_S)
            sock = self._live()

    def deliver_to(self, sink: Callable[[Event], None] | None, scale: int = 1,
                   offset: int = 0) -> None:
        """Hand every event to ``sink(event)`` as soon as it is read, in order, instead of
        queueing it for ``receive()``: no queue, future or task switch per message, and
        up to a batch of messages per wake-up. Events carry the association id
        ``assoc * scale + offset`` (the numbering of an EndpointMux); calls still take the
        endpoint's own ids. Events already queued go to the sink first; ``None`` queues them
        for ``receive()`` again. While a sink is set, ``receive()`` gets nothing."""
        self._sink, self._scale, self._offset = sink, scale, offset
        queue = self._queue
        while sink is not None and queue:
            deliver_event(sink, queue.popleft(), scale, offset, log=log, who=_WHO)
        if self._sock is not None:
            self._sock.sink, self._sock.scale, self._sock.offset = sink, scale, offset
            if self._loop is not None:  # what usrsctp holds already: read it soon
                self._loop.call_soon(self._pump)

    async def receive(self) -> Event:
        queue = self._queue
        if not queue and self._sink is None and (sock := self._sock) is not None:
            # usrsctp's thread has often queued the answer already: with nothing queued
            # before it, hand it over straight from the socket, without a round through the
            # event loop or the queue (the eventfd stays set and covers the rest).
            try:
                while (item := sock.take()) is not None:
                    if type(item) is not tuple:
                        return item  # type: ignore[return-value]
                    if (event := self._notification(item)) is not None:
                        return event
            except OSError as exc:
                raise TransportError(exc.errno or 0, "receive failed") from exc
        while not queue:
            if (sock := self._sock) is None:
                raise TransportError(errno.EBADF, "endpoint closed")
            # Eager reads leave the eventfd set: consume that wake-up now (as the loop would),
            # so that the loop sleeps until usrsctp has something new instead of waking us
            # for nothing first. No upcall since the last reset: nothing to consume or read
            # (unless one comes while busy-polling, when that is asked for).
            if self._sink is None and (
                sock.rearm(False)
                or (self._busy_poll_s and sock.await_upcall(self._busy_poll_s)
                    and sock.rearm(False))
            ):
                self._pump()
                if queue:
                    break
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._readers.append(fut)
            await fut
        event = queue.popleft()
        if self._paused:
            self._pump()  # reading had stopped at the queue limit: resume
        return event

    # -- the event loop side

    def _on_wakeup(self) -> None:
        sock = self._sock
        if sock is None:
            return
        if sock.sink is None:
            sock.rearm()
            self._pump()
            return
        try:  # the hot path of a sink: rearm, and every message to it, in C
            note = sock.wake(_BATCH)
        except OSError:
            note = False  # _read_to_sink meets the error again and reports it
        except Exception:
            log.exception("%s: the event consumer failed", _WHO)
            note = False
        if note is not None:
            self._read_to_sink(sock, note)
        if self._writers:
            self._wake_writers()

    def _pump(self) -> None:
        """Read whatever usrsctp has (to the sink, or up to the queue limit) and wake
        blocked senders."""
        sock = self._sock
        if sock is None:
            return
        if sock.sink is not None:
            self._read_to_sink(sock, False)
        else:
            self._read_to_queue(sock)
        self._wake_writers()

    def _wake_writers(self) -> None:
        writers, self._writers = self._writers, []
        for fut in writers:
            if not fut.done():
                fut.set_result(None)

    def _read_to_sink(self, sock: _lib.Socket, note: tuple[Any, ...] | bool | None) -> None:
        """Go on from ``note`` (what ``Socket.deliver`` returned; False: nothing read yet):
        messages straight from usrsctp to the sink (numbered in C), notifications through
        ``_notification``, up to a batch; if more wait, the rest is read on the loop's next
        turn (usrsctp will not poke the eventfd for them again)."""
        sink = sock.sink
        while sink is not None and note is not None:
            if note is True:
                if self._loop is not None:
                    self._loop.call_soon(self._pump)
                return
            if note is not False:
                event = self._notification(note)
                if event is not None:
                    deliver_event(sink, event, self._scale, self._offset, log=log, who=_WHO)
                if sock.sink is not sink:  # changed by the sink: deliver_to reads the rest
                    return
            try:
                note = sock.deliver(_BATCH)
            except OSError as exc:
                self._fail_all(TransportError(exc.errno or 0, "receive failed"))
                return
            except Exception:  # the sink failed on one message: go on with the next
                log.exception("%s: the event consumer failed", _WHO)
                note = False

    def _read_to_queue(self, sock: _lib.Socket) -> None:
        queue = self._queue
        before = len(queue)
        limit = 1 << 62 if self._closing else self.params.receive_queue
        try:
            while (note := sock.pump(queue, limit)) is not None:
                event = self._notification(note)
                if event is not None:
                    queue.append(event)
        except OSError as exc:
            self._fail_all(TransportError(exc.errno or 0, "receive failed"))
            return
        self._paused = len(queue) >= limit
        if len(queue) > before and self._readers:
            readers, self._readers = self._readers, []
            for fut in readers:
                if not fut.done():
                    fut.set_result(None)

    def _fail_all(self, err: TransportError) -> None:
        pending: list[asyncio.Future[Any]] = [
            *self._connecting.values(), *self._writers, *self._readers
        ]
        for fut in pending:
            if not fut.done():
                fut.set_exception(err)

    def _notification(self, item: tuple[Any, ...]) -> Event | None:
        kind = item[0]
        if kind == _lib.ASSOC_CHANGE:
            _, assoc, code, error = item
            state = _ASSOC_STATES.get(code)
            if state is None:
                return None
            if state in (AssociationState.UP, AssociationState.RESTARTED):
                self._peers[assoc] = self._peer_info(assoc)
                addrs, port = self._peers[assoc]
                self._learn_udp_port(assoc, addrs, port)
                if state is AssociationState.RESTARTED:
                    self._probe_paths(assoc, addrs, port)
            else:
                addrs, port = self._peers.pop(assoc, ([], 0))
            fut = self._connecting.get(assoc)
            if fut is not None and not fut.done():
                if state is AssociationState.UP:
                    fut.set_result(assoc)
                else:
                    fut.set_exception(TransportError(
                        error or errno.ECONNREFUSED, f"association {state.value}",
                        ",".join(addrs),
                    ))
            return AssociationChange(assoc, state, tuple(addrs), port, error)
        if kind == _lib.PEER_ADDR_CHANGE:
            _, assoc, code, error, address = item
            addr_state = _ADDR_STATES.get(code)
            if addr_state is None or address is None:
                return None
            known = self._peers.get(assoc)
            if known is not None:
                if addr_state is PeerAddressState.ADDED and address not in known[0]:
                    known[0].append(address)
                elif addr_state is PeerAddressState.REMOVED and address in known[0]:
                    known[0].remove(address)
            return PeerAddressChange(assoc, address, addr_state, error)
        if kind == _lib.SEND_FAILED:
            _, assoc, error, data, ppid, stream = item
            return SendFailed(assoc, data, ppid, stream, error)
        return None  # SHUTDOWN_EVENT: the SHUTDOWN association change follows

    def _probe_paths(self, assoc: int, addresses: Sequence[str], port: int) -> None:
        """Heartbeat every path of a restarted association now: the peer restarted, so the
        paths that timed out while it was down are back, but usrsctp would not send on them
        before its next periodic heartbeat (a second or more of silence)."""
        sock = self._live()
        for address in addresses:
            with contextlib.suppress(OSError, ValueError):
                sock.heartbeat(assoc, address, port)

    def _peer_info(self, assoc: int) -> tuple[list[str], int]:
        assert self._sock is not None
        try:
            pairs = self._sock.peer_addresses(assoc)
        except OSError:
            return self._peers.get(assoc, ([], 0))
        return [a for a, _ in pairs], (pairs[0][1] if pairs else 0)

    # -- helpers

    def _live(self) -> _lib.Socket:
        if self._sock is None:
            raise TransportError(errno.EBADF, "endpoint is not open")
        return self._sock

    def _address_of(self, assoc: int) -> str | None:
        known = self._peers.get(assoc)
        return ",".join(known[0]) if known else None

    def _call(
        self, fn: Callable[[_lib.Socket], _T], what: str, address: str | None = None
    ) -> _T:
        try:
            return fn(self._live())
        except TransportError:
            raise
        except OSError as exc:
            raise TransportError(exc.errno or 0, f"{what} failed", address) from exc
        except ValueError as exc:
            raise TransportError(errno.EINVAL, f"{what} failed: {exc}", address) from exc

"""Linux kernel SCTP behind the Endpoint interface.

One non-blocking one-to-many (SOCK_SEQPACKET) socket per endpoint, driven by the event
loop's ``add_reader`` / ``add_writer``; no threads. pysctp (the ``kernel`` extra) provides
``connectx`` and the peer/local address lists, the calls that need a getsockopt with input.
Messages go in and out through ``rserpool._core.sctpmsg`` (``sendmsg`` with an SCTP_SNDINFO
cmsg: association, stream, PPID, unordered; ``recvmsg`` with SCTP_RCVINFO, parsed in C);
everything else uses the socket module directly: notifications
subscribed per type with SCTP_EVENT, and the SCTP socket options for bindx, primary
addresses and the timers of ``SctpParameters``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import errno
import ipaddress
import logging
import os
import socket
import struct
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

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
    deliver_event,
)

try:
    import sctp as _pysctp
except ImportError:  # the optional ``kernel`` extra
    _pysctp = None
try:
    from rserpool._core.sctpmsg import receive as _receive
    from rserpool._core.sctpmsg import receive_messages as _receive_messages
    from rserpool._core.sctpmsg import send as _send
    from rserpool._core.sctpmsg import send_batch as _send_batch
except ImportError:  # built only on Linux
    _receive = _receive_messages = _send = _send_batch = None  # type: ignore[assignment]

__all__ = ["KernelEndpoint", "kernel_sctp_available"]

log = logging.getLogger(__name__)
_WHO = "kernel endpoint"  # how its log lines name the endpoint

IPPROTO_SCTP = 132
SOL_SCTP = 132
# Socket options and constants of <linux/sctp.h>.
SCTP_RTOINFO = 0
SCTP_ASSOCINFO = 1
SCTP_INITMSG = 2
SCTP_SET_PEER_PRIMARY_ADDR = 5
SCTP_PRIMARY_ADDR = 6
SCTP_PEER_ADDR_PARAMS = 9
SCTP_EVENTS = 11
SCTP_I_WANT_MAPPED_V4_ADDR = 12
SCTP_GET_ASSOC_ID_LIST = 29
SCTP_PEER_ADDR_THLDS = 31
SCTP_RECVRCVINFO = 32
SCTP_SOCKOPT_BINDX_ADD = 100
SCTP_SOCKOPT_BINDX_REM = 101
SCTP_EVENT = 127
SCTP_ASCONF_SUPPORTED = 128
SCTP_AUTH_SUPPORTED = 129
SCTP_SNDINFO = 2  # cmsg types
SCTP_RCVINFO = 3
SCTP_UNORDERED = 1  # snd_flags / rcv_flags
SCTP_ABORT = 4
SCTP_EOF = 0x200
MSG_NOTIFICATION = 0x8000
MSG_EOR = int(socket.MSG_EOR)  # a plain int: IntFlag arithmetic costs per message
SPP_HB_ENABLE = 1
SCTP_ASSOC_CHANGE = 0x8001
SCTP_PEER_ADDR_CHANGE = 0x8002
SCTP_SEND_FAILED_EVENT = 0x800D

_SNDINFO = struct.Struct("=HHIIi")  # sid, flags, ppid (network order), context, assoc
_NOTIFY = struct.Struct("=HHI")  # type, flags, length
_ASSOC_CHANGE = struct.Struct("=8xHHHHi")  # state, error, out, in streams, assoc
_PADDR_CHANGE = struct.Struct("=8x128siii")  # address, state, error, assoc
_SEND_FAILED = struct.Struct("=8xI16si")  # error, sndinfo, assoc; data follows

_ASSOC_STATES = {
    0: AssociationState.UP,
    1: AssociationState.LOST,
    2: AssociationState.RESTARTED,
    3: AssociationState.SHUTDOWN,
    4: AssociationState.CANT_START,
}
_ADDRESS_STATES = {
    0: PeerAddressState.AVAILABLE,
    1: PeerAddressState.UNREACHABLE,
    2: PeerAddressState.REMOVED,
    3: PeerAddressState.ADDED,
    4: PeerAddressState.MADE_PRIMARY,
    5: PeerAddressState.CONFIRMED,
    6: PeerAddressState.POTENTIALLY_FAILED,
}
_BATCH = 256  # messages read per wake-up when they go straight to a sink, then other work runs
_CLOSE_TIMEOUT = 5.0


def kernel_sctp_available() -> tuple[bool, str]:
    """Whether this kernel can open SCTP sockets, and if not, why."""
    try:
        socket.socket(socket.AF_INET, socket.SOCK_SEQPACKET, IPPROTO_SCTP).close()
    except OSError as exc:
        return False, f"no kernel SCTP here: socket(IPPROTO_SCTP) failed: {exc}"
    if _pysctp is None:
        return False, "pysctp is not installed (pip install 'rserpool[kernel]')"
    if _send is None:
        return False, "rserpool was built without rserpool._core.sctpmsg (Linux only)"
    return True, "kernel SCTP available"


def _sockaddr(address: str, port: int) -> bytes:
    """A struct sockaddr_in / sockaddr_in6."""
    ip = ipaddress.ip_address(address)
    if ip.version == 4:
        return struct.pack("=H", socket.AF_INET) + struct.pack("!H4s8x", port, ip.packed)
    return struct.pack("=H", socket.AF_INET6) + struct.pack("!HI16sI", port, 0, ip.packed, 0)


def _storage(address: str, port: int) -> bytes:
    """A struct sockaddr_storage (128 bytes)."""
    return _sockaddr(address, port).ljust(128, b"\0")


def _wildcard(family: int) -> bytes:
    return _storage("0.0.0.0" if family == socket.AF_INET else "::", 0)


def _parse_sockaddr(raw: bytes) -> str:
    (family,) = struct.unpack_from("=H", raw)
    if family == socket.AF_INET:
        return str(ipaddress.IPv4Address(raw[4:8]))
    if family == socket.AF_INET6:
        ip = ipaddress.IPv6Address(raw[8:24])
        return str(ip.ipv4_mapped or ip)
    return ""


def _error(exc: OSError, what: str, address: str | None = None) -> TransportError:
    return TransportError(exc.errno or errno.EIO, f"{what}: {exc.strerror}", address)


def _norm(address: str) -> str:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        raise TransportError(errno.EINVAL, "not an IP address", address) from None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        return str(ip.ipv4_mapped)
    return str(ip)


class KernelEndpoint(Endpoint):
    """A one-to-many SCTP endpoint on the Linux kernel's SCTP."""

    def __init__(
        self, addresses: Sequence[str], port: int = 0, params: SctpParameters | None = None
    ) -> None:
        self.params = params if params is not None else SctpParameters()
        self._addresses = list(dict.fromkeys(_norm(a) for a in addresses))
        if not self._addresses:
            raise TransportError(errno.EINVAL, "an endpoint needs at least one address")
        any_v6 = any(ipaddress.ip_address(a).version == 6 for a in self._addresses)
        self._family = socket.AF_INET6 if any_v6 else socket.AF_INET
        self._port = port
        self._sock: socket.socket | None = None
        self._fd = -1  # the socket's, for rserpool._core.sctpmsg
        self._sk: Any = None  # the pysctp wrapper of _sock
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: deque[Event] = deque()
        self._reading = False
        self._readers: list[asyncio.Future[None]] = []
        self._writers: list[asyncio.Future[None]] = []
        self._error: TransportError | None = None
        self._partial = bytearray()
        self._peers: dict[int, tuple[tuple[str, ...], int]] = {}  # assoc -> addresses, port
        self._connects: dict[int, tuple[asyncio.Future[int], str]] = {}  # waiter, target
        self._ended: dict[int, asyncio.Future[None]] = {}
        self._sink: Callable[[Event], None] | None = None
        # Replies to a batch read for the sink go out together once it is handled (one
        # sendmmsg), not one system call between every two messages: (data, assoc, ppid,
        # stream, flags), in order; kept when the socket cannot take them all at once.
        self._pending: list[tuple[bytes | None, int, int, int, int]] = []
        self._batching = False
        self._scale, self._offset = 1, 0  # ids in delivered events: assoc * scale + offset

    # -- life cycle --------------------------------------------------------------------------

    async def open(self) -> None:
        available, why = kernel_sctp_available()
        if not available:
            raise TransportError(errno.EPROTONOSUPPORT, why)
        assert _pysctp is not None
        self._loop = asyncio.get_running_loop()
        sock = socket.socket(self._family, socket.SOCK_SEQPACKET, IPPROTO_SCTP)
        try:
            sock.setblocking(False)
            self._configure(sock)
            self._setopt_bindx(sock, SCTP_SOCKOPT_BINDX_ADD, self._addresses, self._port)
            sock.listen(128)
        except BaseException:
            sock.close()
            raise
        self._sock, self._fd = sock, sock.fileno()
        self._sk = _pysctp.sctpsocket_udp(self._family, sock)
        self._port = sock.getsockname()[1]
        self._resume_reading()

    async def close(self) -> None:
        """Shut every association down (SHUTDOWN, not ABORT), wait for them to end (at most
        a few seconds), then close the socket."""
        if self._sock is None:
            return
        self._flush()
        if self._peers:
            waits = []
            for assoc in list(self._peers):
                with contextlib.suppress(TransportError):
                    self.shutdown(assoc)
                    waits.append(self._ended_future(assoc))
            self._resume_reading()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.gather(*waits), _CLOSE_TIMEOUT)
        self._pause_reading()
        if self._loop is not None:
            self._loop.remove_writer(self._sock.fileno())
        self._sock.close()
        self._sock = None
        self._pending.clear()
        self._fail_waiters(TransportError(errno.EBADF, "endpoint closed"))

    def _configure(self, sock: socket.socket) -> None:
        p = self.params
        if self._family == socket.AF_INET6:
            sock.setsockopt(SOL_SCTP, SCTP_I_WANT_MAPPED_V4_ADDR, 0)
        for option, force, value in (
            (socket.SO_SNDBUF, 32, p.send_buffer),  # SO_SNDBUFFORCE
            (socket.SO_RCVBUF, 33, p.receive_buffer),  # SO_RCVBUFFORCE
        ):
            try:
                sock.setsockopt(socket.SOL_SOCKET, force, value)
            except OSError:
                sock.setsockopt(socket.SOL_SOCKET, option, value)
        sock.setsockopt(SOL_SCTP, SCTP_INITMSG, struct.pack("=HHHH", p.streams, p.streams, 0, 0))
        sock.setsockopt(
            SOL_SCTP, SCTP_RTOINFO, struct.pack("=iIII", 0, p.rto_initial_ms, p.rto_max_ms,
                                                p.rto_min_ms)
        )
        sock.setsockopt(
            SOL_SCTP, SCTP_ASSOCINFO,
            struct.pack("=iHHIII", 0, p.association_max_retransmissions, 0, 0, 0, 0),
        )
        any_address = _wildcard(self._family)
        sock.setsockopt(
            SOL_SCTP, SCTP_PEER_ADDR_PARAMS,
            struct.pack("=i128sIHIIIIB", 0, any_address, p.heartbeat_interval_ms,
                        p.path_max_retransmissions, 0, 0, SPP_HB_ENABLE, 0, 0).ljust(156, b"\0"),
        )
        # SCTP-PF threshold (Linux >= 3.8); older kernels go without.
        with contextlib.suppress(OSError):
            sock.setsockopt(
                SOL_SCTP, SCTP_PEER_ADDR_THLDS,
                struct.pack("=i4x128sHH4x", 0, any_address, p.path_max_retransmissions,
                            p.pf_threshold),
            )
        # ASCONF (and the AUTH it requires) for this socket, whatever the sysctl defaults
        # (Linux >= 5.4; older kernels need net.sctp.addip_enable=1 and auth_enable=1).
        for option in (SCTP_AUTH_SUPPORTED, SCTP_ASCONF_SUPPORTED):
            with contextlib.suppress(OSError):
                sock.setsockopt(SOL_SCTP, option, struct.pack("=iI", 0, 1))
        sock.setsockopt(SOL_SCTP, SCTP_RECVRCVINFO, 1)
        kinds = (SCTP_ASSOC_CHANGE, SCTP_PEER_ADDR_CHANGE, SCTP_SEND_FAILED_EVENT)
        try:
            for kind in kinds:
                sock.setsockopt(SOL_SCTP, SCTP_EVENT, struct.pack("=iHBx", 0, kind, 1))
        except OSError:  # before Linux 5.0: the older all-in-one subscription
            subscribe = bytearray(14)
            subscribe[1] = subscribe[2] = subscribe[13] = 1  # association, address, send fail
            sock.setsockopt(SOL_SCTP, SCTP_EVENTS, bytes(subscribe))

    # -- addresses ---------------------------------------------------------------------------

    @property
    def port(self) -> int:
        return self._port

    def local_addresses(self, assoc: int | None = None) -> list[str]:
        sk = self._wrapper()
        try:
            found = sk.getladdrs(assoc or 0)
        except OSError as exc:
            raise _error(exc, f"local addresses of {assoc}") from exc
        return [_norm(address) for address, _port in found]

    def peer_addresses(self, assoc: int) -> list[str]:
        return list(self._peer_list(assoc)[0])

    def _peer_list(self, assoc: int) -> tuple[tuple[str, ...], int]:
        sk = self._wrapper()
        try:
            found = sk.getpaddrs(assoc)
        except OSError as exc:
            raise _error(exc, f"no association {assoc}") from exc
        if not found:
            raise TransportError(errno.EINVAL, f"no association {assoc}")
        return tuple(_norm(address) for address, _port in found), found[0][1]

    async def bindx_add(self, address: str) -> None:
        self._setopt_bindx(self._socket(), SCTP_SOCKOPT_BINDX_ADD, [_norm(address)], self._port)

    async def bindx_remove(self, address: str) -> None:
        self._setopt_bindx(self._socket(), SCTP_SOCKOPT_BINDX_REM, [_norm(address)], self._port)

    def _setopt_bindx(self, sock: socket.socket, option: int, addresses: list[str], port: int
                      ) -> None:
        packed = b"".join(_sockaddr(a, port) for a in addresses)
        try:
            sock.setsockopt(SOL_SCTP, option, packed)
        except OSError as exc:
            what = "bindx add" if option == SCTP_SOCKOPT_BINDX_ADD else "bindx remove"
            raise _error(exc, what, ",".join(f"{a}:{port}" for a in addresses)) from exc

    def set_primary(self, assoc: int, peer_address: str) -> None:
        peer_address = _norm(peer_address)
        port = self._peers.get(assoc, ((), 0))[1]
        self._setopt(SCTP_PRIMARY_ADDR, struct.pack("=i128s", assoc, _storage(peer_address, port)),
                     "set primary", peer_address)

    def set_peer_primary(self, assoc: int, local_address: str) -> None:
        local_address = _norm(local_address)
        self._setopt(
            SCTP_SET_PEER_PRIMARY_ADDR,
            struct.pack("=i128s", assoc, _storage(local_address, self._port)),
            "set peer primary", local_address,
        )

    def _setopt(self, option: int, value: bytes, what: str, address: str | None) -> None:
        try:
            self._socket().setsockopt(SOL_SCTP, option, value)
        except OSError as exc:
            raise _error(exc, what, address) from exc

    # -- associations ------------------------------------------------------------------------

    async def connect(self, addresses: Sequence[str], port: int) -> int:
        sk = self._wrapper()
        targets = [_norm(a) for a in addresses]
        if not targets:
            raise TransportError(errno.EINVAL, "connect needs addresses")
        before = set(self._assoc_ids())
        try:
            sk.connectx([(a, port) for a in targets])
        except OSError as exc:
            if exc.errno != errno.EINPROGRESS:
                raise _error(exc, "connectx", f"{targets[0]}:{port}") from exc
        target = f"{targets[0]}:{port}"
        assoc = self._new_association(before, set(targets))
        if assoc is None:
            # Refused at once (loopback): the association is gone, its CANT_START queued.
            self._on_readable()
            raise TransportError(errno.ECONNREFUSED, "association could not start", target)
        waiter = asyncio.get_running_loop().create_future()
        self._connects[assoc] = (waiter, target)
        self._resume_reading()
        return await waiter

    def _assoc_ids(self) -> list[int]:
        sock = self._socket()
        size = 4 * (len(self._peers) + len(self._connects) + 64)
        while True:
            try:
                raw = sock.getsockopt(SOL_SCTP, SCTP_GET_ASSOC_ID_LIST, size)
                break
            except OSError as exc:
                if exc.errno != errno.EINVAL or size > 1 << 22:
                    raise _error(exc, "list associations") from exc
                size *= 4
        (count,) = struct.unpack_from("=I", raw)
        return list(struct.unpack_from(f"={count}i", raw, 4))

    def _new_association(self, before: set[int], targets: set[str]) -> int | None:
        """connectx's association id (pysctp cannot return it from a non-blocking call):
        the new id whose peer addresses are the ones asked for."""
        for assoc in self._assoc_ids():
            if assoc in before:
                continue
            with contextlib.suppress(TransportError):
                if targets & set(self._peer_list(assoc)[0]):
                    return assoc
        return None

    async def send(
        self, assoc: int, data: bytes, ppid: int, stream: int = 0, unordered: bool = False
    ) -> None:
        flags = SCTP_UNORDERED if unordered else 0
        while True:
            fd = self._socket().fileno()
            if not self._pending:  # replies of a batch that the socket could not take go first
                try:
                    _send(fd, data, assoc, ppid, stream, flags)
                    return
                except BlockingIOError:
                    pass
                except OSError as exc:
                    raise _error(exc, f"send on association {assoc}") from exc
            await self._writable()

    def try_send(
        self, assoc: int, data: bytes, ppid: int, stream: int = 0, unordered: bool = False
    ) -> bool:
        if self._sock is None:
            return False
        if self._batching:  # sent with the batch's other replies once it is handled
            self._pending.append((data, assoc, ppid, stream, SCTP_UNORDERED if unordered else 0))
            return True
        if self._writers or self._pending:  # senders already wait: keep their order
            return False
        try:
            _send(self._fd, data, assoc, ppid, stream, SCTP_UNORDERED if unordered else 0)
        except BlockingIOError:
            return False
        except OSError as exc:
            raise _error(exc, f"send on association {assoc}") from exc
        return True

    def shutdown(self, assoc: int) -> None:
        self._send_flag(assoc, SCTP_EOF, "shutdown")

    def abort(self, assoc: int) -> None:
        self._send_flag(assoc, SCTP_ABORT, "abort")

    def _send_flag(self, assoc: int, flag: int, what: str) -> None:
        if self._batching or self._pending:  # after the replies queued before it
            self._socket()
            self._pending.append((None, assoc, 0, 0, flag))
            if not self._batching:
                self._flush()
            return
        try:
            _send(self._socket().fileno(), None, assoc, 0, 0, flag)
        except OSError as exc:
            raise _error(exc, f"{what} association {assoc}") from exc

    # -- receiving ---------------------------------------------------------------------------

    def deliver_to(self, sink: Callable[[Event], None] | None, scale: int = 1,
                   offset: int = 0) -> None:
        """Hand every event to ``sink(event)`` as soon as it is read, in order, instead of
        queueing it for ``receive()``: no queue, task switch or coroutine per message, and up
        to a batch of messages per wake-up. Events carry the association id
        ``assoc * scale + offset`` (the numbering of an EndpointMux); calls still take the
        endpoint's own ids. Events already queued go to the sink first; ``None`` queues them
        for ``receive()`` again."""
        self._sink, self._scale, self._offset = sink, scale, offset
        queue = self._queue
        while sink is not None and queue:
            deliver_event(sink, queue.popleft(), scale, offset, log=log, who=_WHO)
        self._resume_reading()

    async def receive(self) -> Event:
        while not self._queue:
            if self._error is not None:
                raise self._error
            self._socket()
            waiter = asyncio.get_running_loop().create_future()
            self._readers.append(waiter)
            await waiter
        event = self._queue.popleft()
        self._resume_reading()
        return event

    def _on_readable(self) -> None:
        if self._sink is not None:
            self._read_to_sink()
            return
        sock = self._sock
        while sock is not None and len(self._queue) < self.params.receive_queue:
            try:
                read = _receive(self._fd)
            except BlockingIOError:
                return
            except OSError as exc:
                self._receive_failed(exc)
                return
            self._on_read(*read)
        self._pause_reading()

    def _on_read(self, data: bytes, flags: int, assoc: int, ppid: int, sid: int,
                 rflags: int) -> None:
        """One read as ``sctpmsg.receive`` returns it: a notification, a piece of a message
        delivered in parts, or the last piece or whole of a message (to the events)."""
        if flags & MSG_NOTIFICATION:
            self._on_notification(data)
        elif not flags & MSG_EOR:
            self._partial += data  # partial delivery of a large message
        else:
            if self._partial:
                data, self._partial = bytes(self._partial + data), bytearray()
            self._emit(self._message(data, assoc, ppid, sid, rflags))

    def _receive_failed(self, exc: OSError) -> None:
        """Reading failed: stop reading and hand the error to whoever waits for events."""
        self._error = _error(exc, "receive")
        self._pause_reading()
        self._wake(self._readers)

    def _read_to_sink(self) -> None:
        """A batch of messages (read together) to the sink, then their replies together.
        Reading stays on, so the loop calls again while more wait (after its other ready
        callbacks and timers)."""
        sock, sink = self._sock, self._sink
        if sock is None or sink is None:
            return
        scale, offset = self._scale, self._offset
        try:  # whole messages come as Message already, numbered for the sink
            batch = _receive_messages(self._fd, _BATCH, scale, offset, bool(self._partial))
        except BlockingIOError:
            return
        except OSError as exc:
            self._receive_failed(exc)
            return
        self._batching = True
        try:
            for item in batch:
                if isinstance(item, Message):  # the usual case
                    if self._sink is sink:
                        try:
                            sink(item)
                        except Exception:
                            log.exception("%s: the event consumer failed", _WHO)
                    else:  # the sink changed during the batch: the endpoint's own numbering
                        self._emit(dataclasses.replace(item, assoc=(item.assoc - offset) // scale))
                    continue
                self._on_read(*item)
        finally:
            self._batching = False
            self._flush()

    def _flush(self) -> None:
        """Send the replies kept back, in order, as far as the socket takes them; the rest
        go when it is writable again."""
        pending = self._pending
        if not pending or self._sock is None:
            return
        taken, failed = _send_batch(self._fd, pending)
        for index, code in failed:  # the association is going away: its event follows
            log.debug("send on association %d failed: %s", pending[index][1],
                      os.strerror(code))
        del pending[:taken]
        if pending and self._loop is not None:
            self._loop.add_writer(self._fd, self._on_writable)

    @staticmethod
    def _message(data: bytes, assoc: int, ppid: int, sid: int, rflags: int) -> Message:
        if assoc < 0:
            raise TransportError(errno.EPROTO, "data without SCTP_RCVINFO")
        return Message(assoc, data, ppid, sid, bool(rflags & SCTP_UNORDERED))

    def _on_notification(self, raw: bytes) -> None:
        kind, _flags, length = _NOTIFY.unpack_from(raw)
        if kind == SCTP_ASSOC_CHANGE:
            state, error, _out, _in, assoc = _ASSOC_CHANGE.unpack_from(raw)
            # sac_error carries the SCTP error cause in network byte order
            state_ = _ASSOC_STATES.get(state, AssociationState.LOST)
            self._on_assoc_change(assoc, state_, socket.ntohs(error))
        elif kind == SCTP_PEER_ADDR_CHANGE:
            address, state, error, assoc = _PADDR_CHANGE.unpack_from(raw)
            peer = _parse_sockaddr(address)
            if assoc in self._peers:
                with contextlib.suppress(TransportError):
                    self._peers[assoc] = self._peer_list(assoc)
            self._emit(PeerAddressChange(assoc, peer, _ADDRESS_STATES[state], error))
        elif kind == SCTP_SEND_FAILED_EVENT:
            error, info, assoc = _SEND_FAILED.unpack_from(raw)
            sid, _flags, ppid, _context, _assoc = _SNDINFO.unpack(info)
            data = raw[_SEND_FAILED.size : length]
            self._emit(SendFailed(assoc, data, socket.ntohl(ppid), sid, error))

    def _on_assoc_change(self, assoc: int, state: AssociationState, error: int) -> None:
        if state in (AssociationState.UP, AssociationState.RESTARTED):
            try:
                self._peers[assoc] = self._peer_list(assoc)
            except TransportError:
                self._peers[assoc] = ((), 0)
            peers, port = self._peers[assoc]
            self._emit(AssociationChange(assoc, state, peers, port, error))
            waiter, _target = self._connects.pop(assoc, (None, ""))
            if waiter is not None and not waiter.done():
                waiter.set_result(assoc)
            return
        peers, port = self._peers.pop(assoc, ((), 0))
        self._emit(AssociationChange(assoc, state, peers, port, error))
        waiter, target = self._connects.pop(assoc, (None, ""))
        if waiter is not None and not waiter.done():
            refused = state is AssociationState.CANT_START
            reason = errno.ECONNREFUSED if refused else errno.ECONNRESET
            waiter.set_exception(TransportError(reason, f"association {state.value}", target))
        ended = self._ended.pop(assoc, None)
        if ended is not None and not ended.done():
            ended.set_result(None)

    def _emit(self, event: Event) -> None:
        if self._sink is not None:
            deliver_event(self._sink, event, self._scale, self._offset, log=log,
                          who=_WHO)
            return
        self._queue.append(event)
        self._wake(self._readers)

    # -- event loop plumbing -----------------------------------------------------------------

    def _resume_reading(self) -> None:
        if (
            self._sock is not None
            and self._loop is not None
            and not self._reading
            and len(self._queue) < self.params.receive_queue
        ):
            self._loop.add_reader(self._sock.fileno(), self._on_readable)
            self._reading = True

    def _pause_reading(self) -> None:
        if self._reading and self._sock is not None and self._loop is not None:
            self._loop.remove_reader(self._sock.fileno())
        self._reading = False

    async def _writable(self) -> None:
        loop = asyncio.get_running_loop()
        waiter = loop.create_future()
        if not self._writers and not self._pending:  # with replies kept, _flush waits already
            loop.add_writer(self._socket().fileno(), self._on_writable)
        self._writers.append(waiter)
        await waiter

    def _on_writable(self) -> None:
        if self._sock is not None and self._loop is not None:
            self._loop.remove_writer(self._sock.fileno())
        self._flush()  # waits for writability again if it could not send them all
        if not self._pending:
            self._wake(self._writers)

    def _ended_future(self, assoc: int) -> asyncio.Future[None]:
        assert self._loop is not None
        return self._ended.setdefault(assoc, self._loop.create_future())

    @staticmethod
    def _wake(waiters: list[asyncio.Future[Any]]) -> None:
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)
        waiters.clear()

    def _fail_waiters(self, error: TransportError) -> None:
        self._error = error
        futures: list[asyncio.Future[Any]] = [*self._readers, *self._writers]
        futures += [waiter for waiter, _target in self._connects.values()]
        for waiter in futures:
            if not waiter.done():
                waiter.set_exception(error)
        self._readers.clear()
        self._writers.clear()
        self._connects.clear()

    def _socket(self) -> socket.socket:
        if self._sock is None:
            raise TransportError(errno.EBADF, "endpoint not open")
        return self._sock

    def _wrapper(self) -> Any:
        self._socket()
        return self._sk


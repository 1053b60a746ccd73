"""The one SCTP endpoint interface that every backend (usrsctp, kernel, memory) implements.

An endpoint is one-to-many (SOCK_SEQPACKET style): one local port and address set, many
associations, each named by an integer association id. Everything that arrives, data and
notifications alike, comes out of ``receive()`` in order, so protocol code sees the same
sequence of events whatever the backend.
"""

from __future__ import annotations

import abc
import dataclasses
import enum
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import TracebackType

from rserpool._slots import quick_init


class AssociationState(enum.Enum):
    """SCTP_ASSOC_CHANGE states (RFC 6458 6.1.1)."""

    UP = "up"
    LOST = "lost"  # COMM_LOST: the peer is gone (timeouts or ABORT)
    RESTARTED = "restarted"
    SHUTDOWN = "shutdown"  # SHUTDOWN_COMP: graceful close
    CANT_START = "cant_start"


class PeerAddressState(enum.Enum):
    """SCTP_PEER_ADDR_CHANGE states (RFC 6458 6.1.2)."""

    AVAILABLE = "available"
    UNREACHABLE = "unreachable"
    REMOVED = "removed"
    ADDED = "added"
    MADE_PRIMARY = "made_primary"
    CONFIRMED = "confirmed"
    POTENTIALLY_FAILED = "potentially_failed"


@quick_init  # one per message received: the frozen dataclass's own __init__ is slow
@dataclass(frozen=True, slots=True)
class Message:
    """User data received on an association."""

    assoc: int
    data: bytes
    ppid: int
    stream: int
    unordered: bool = False


@dataclass(frozen=True, slots=True)
class AssociationChange:
    """An association came up, was lost, restarted or shut down."""

    assoc: int
    state: AssociationState
    peer_addresses: tuple[str, ...]
    peer_port: int
    error: int = 0


@dataclass(frozen=True, slots=True)
class PeerAddressChange:
    """One of the peer's transport addresses changed state."""

    assoc: int
    address: str
    state: PeerAddressState
    error: int = 0


@dataclass(frozen=True, slots=True)
class SendFailed:
    """The stack gave up on a message (SCTP_SEND_FAILED_EVENT): it comes back, never dropped."""

    assoc: int
    data: bytes
    ppid: int
    stream: int
    error: int = 0


Event = Message | AssociationChange | PeerAddressChange | SendFailed


def deliver_event(sink: Callable[[Event], None], event: Event, scale: int = 1,
                  offset: int = 0, *, log: logging.Logger, who: str) -> None:
    """Hand ``event`` to a ``deliver_to`` consumer, its association numbered
    ``assoc * scale + offset`` (an EndpointMux's numbering); a consumer that raises is
    logged as ``who``'s and not propagated: one bad event must not stop the reading."""
    if scale != 1 or offset:
        event = dataclasses.replace(event, assoc=event.assoc * scale + offset)
    try:
        sink(event)
    except Exception:
        log.exception("%s: the event consumer failed", who)


@dataclass(frozen=True, slots=True)
class SctpParameters:
    """Per-endpoint SCTP tuning. Defaults favour fast failover (see shared/usrsctp.md):
    RFC defaults took 64 s to fail over after a link loss; these take about 100 ms."""

    rto_initial_ms: int = 500
    rto_min_ms: int = 100
    rto_max_ms: int = 1000
    heartbeat_interval_ms: int = 1000
    path_max_retransmissions: int = 2
    association_max_retransmissions: int = 30
    pf_threshold: int = 0  # SCTP-PF: switch paths on the first timeout
    send_buffer: int = 4 * 1024 * 1024
    receive_buffer: int = 4 * 1024 * 1024
    streams: int = 16
    receive_queue: int = 1024  # events buffered before reading stops (back-pressure)
    # usrsctp only: receive() busy-waits up to this long for usrsctp's thread before it
    # sleeps in the event loop (0: never). Trades CPU for latency; see README, Speed.
    busy_poll_us: int = 0


class TransportError(OSError):
    """A transport call failed: carries the errno and the address involved."""

    def __init__(self, errno: int, message: str, address: str | None = None) -> None:
        super().__init__(errno, message if address is None else f"{message} ({address})")
        self.address = address


class Endpoint(abc.ABC):
    """A one-to-many SCTP endpoint. Use as ``async with``; all calls run on the event loop."""

    params: SctpParameters

    async def __aenter__(self) -> Endpoint:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @abc.abstractmethod
    async def open(self) -> None:
        """Bind to the local addresses and port and start listening."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Shut down every association gracefully and release the endpoint."""

    @property
    @abc.abstractmethod
    def port(self) -> int:
        """The bound local port (the one chosen when 0 was asked for)."""

    @abc.abstractmethod
    def local_addresses(self, assoc: int | None = None) -> list[str]:
        """Local addresses of the endpoint, or those in use on one association."""

    @abc.abstractmethod
    def peer_addresses(self, assoc: int) -> list[str]:
        """The peer's current transport addresses on an association."""

    @abc.abstractmethod
    async def connect(self, addresses: Sequence[str], port: int) -> int:
        """Open an association to all of a peer's addresses (connectx); return its id once up."""

    @abc.abstractmethod
    async def send(
        self, assoc: int, data: bytes, ppid: int, stream: int = 0, unordered: bool = False
    ) -> None:
        """Send one message; waits while the send buffer is full (back-pressure)."""

    def try_send(
        self, assoc: int, data: bytes, ppid: int, stream: int = 0, unordered: bool = False
    ) -> bool:
        """Send one message now if the stack takes it without waiting: False (nothing sent)
        when it would have to wait (then use ``send``); raises TransportError like ``send``.
        Backends without a synchronous path always answer False."""
        return False

    @abc.abstractmethod
    async def receive(self) -> Event:
        """The next message or notification, in arrival order."""

    def __aiter__(self) -> Endpoint:
        return self

    async def __anext__(self) -> Event:
        return await self.receive()

    @abc.abstractmethod
    async def bindx_add(self, address: str) -> None:
        """Add a local address to the live endpoint; peers learn it by ASCONF add-ip."""

    @abc.abstractmethod
    async def bindx_remove(self, address: str) -> None:
        """Remove a local address; peers learn it by ASCONF delete-ip."""

    @abc.abstractmethod
    def set_primary(self, assoc: int, peer_address: str) -> None:
        """Choose which of the peer's addresses this side sends to."""

    @abc.abstractmethod
    def set_peer_primary(self, assoc: int, local_address: str) -> None:
        """Ask the peer to send to one of our addresses (ASCONF set-primary)."""

    @abc.abstractmethod
    def shutdown(self, assoc: int) -> None:
        """Close one association gracefully."""

    @abc.abstractmethod
    def abort(self, assoc: int) -> None:
        """Abort one association."""

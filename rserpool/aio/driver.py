"""Run one sans-I/O core over one transport endpoint on the asyncio event loop.

The driver reads the endpoint's events, decodes ASAP/ENRP messages with ``rserpool.wire``
and feeds them to the core with the loop's time; it carries out the actions the core returns
(in order: a Send goes out at once when nothing is queued before it and the socket takes it
without waiting; otherwise sends and closes go through one queue, drained by one writer
task) and keeps one
timer, set to the core's ``next_timer()``. Everything that is not for the core (user data,
association changes) goes to the owner's callbacks.
"""

from __future__ import annotations

import asyncio
import errno
import inspect
import ipaddress
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

from rserpool import wire
from rserpool.actions import Action, Announce, Close, Connect, Notify, Send
from rserpool.aio.announce import AnnounceSocket
from rserpool.transport.base import (
    AssociationChange,
    AssociationState,
    Endpoint,
    Event,
    Message,
    PeerAddressChange,
    TransportError,
)
from rserpool.transport.clock import Clock, Timer

log = logging.getLogger(__name__)

_CORE_PPIDS = (wire.PPID_ASAP, wire.PPID_ENRP)
_ASAP, _ENRP = _CORE_PPIDS
_decode = wire.decode


class Core(Protocol):
    """The sans-I/O core interface of docs/contracts.md."""

    def association_up(self, assoc: int, peer_addresses: Sequence[str], now: float,
                       key: Any = None) -> list[Action]: ...
    def association_lost(self, assoc: int, now: float) -> list[Action]: ...
    def receive(self, assoc: int, message: Any, now: float) -> list[Action]: ...
    def receive_error(self, assoc: int, error: wire.ParseError, now: float) -> list[Action]: ...
    def handle_timer(self, now: float) -> list[Action]: ...
    def next_timer(self) -> float | None: ...
    # Optional: ``timer_serial() -> int`` changes whenever a deadline was set; while it
    # stays the same the driver does not ask for next_timer() again.


def _norm(address: str) -> str:
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return address


@dataclass(slots=True)
class _Connecting:
    key: Any
    addresses: frozenset[str]
    port: int


class _Encoded(NamedTuple):
    """A Send already encoded, waiting for the socket."""

    assoc: int
    data: bytes
    ppid: int
    stream: int


_Item = Send | Close | _Encoded | Callable[[], Awaitable[None]]


class CoreDriver:
    """Drives ``core`` over ``endpoint`` (already open). Call ``start()``, then feed the core
    through ``call()``; ``aclose()`` stops the driver (the endpoint stays open).

    Callbacks: ``on_notify(Notify)``; ``on_data(Message)`` for messages whose PPID is not
    ASAP/ENRP; ``on_association(AssociationChange)`` for every association change (after the
    core saw it); ``on_announce(Announce)`` for announces the core wants sent;
    ``on_send_failed(SendFailed)`` for user data the transport gave back (backends that
    report it); ``on_peer_address(PeerAddressChange)`` for every change of a peer's
    addresses (ASCONF add/delete/set-primary, path state). ``clock`` (e.g. the memory
    network's VirtualClock) replaces the loop's time.
    ``connect(action)`` opens the association of a ``Connect`` (default: ``endpoint.connect``).
    """

    def __init__(
        self,
        core: Any,
        endpoint: Endpoint,
        *,
        on_notify: Callable[[Notify], None] | None = None,
        on_data: Callable[[Message], None] | None = None,
        on_association: Callable[[AssociationChange], None] | None = None,
        on_announce: Callable[[Announce], None] | None = None,
        on_send_failed: Callable[[Any], None] | None = None,
        on_peer_address: Callable[[PeerAddressChange], None] | None = None,
        clock: Clock | None = None,
        connect: Callable[[Connect], Awaitable[int]] | None = None,
    ) -> None:
        self.core = core
        self.endpoint = endpoint
        self._on_notify = on_notify
        self._on_data = on_data
        self._on_association = on_association
        self._on_announce = on_announce
        self._on_send_failed = on_send_failed
        self._on_peer_address = on_peer_address
        self._loop = asyncio.get_running_loop()
        self._clock = clock
        self._open = connect or (lambda a: self.endpoint.connect(a.addresses, a.port))
        # Send/Close actions and user sends, in order; a deque and an Event cost less per
        # message than an asyncio.Queue (the registrar's hot path: one Send per request).
        self._out: deque[_Item] = deque()
        self._queued = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._waiting: set[asyncio.Future[None]] = set()  # callers of send()
        self._connecting: dict[int, _Connecting] = {}
        self._held: dict[int, list[Event]] = {}  # UPs that may answer one of our connects
        self._up: set[int] = set()
        self._listeners: list[AnnounceSocket] = []
        self._timer: Timer | None = None
        self._timer_at: float | None = None
        self._timer_serial: Callable[[], int] | None = getattr(core, "timer_serial", None)
        self._armed_serial: int | None = None  # timer_serial() when the timer was last set
        self._time = self._loop.time if clock is None else clock.now
        self._read_at: float | None = None  # loop time of the messages of this loop iteration
        self._serial = 0
        self._peer_port = "peer_port" in inspect.signature(core.association_up).parameters
        self._error_ppid = "ppid" in inspect.signature(core.receive_error).parameters
        self.closed = False

    def now(self) -> float:
        return self._time()

    def start(self) -> None:
        deliver = getattr(self.endpoint, "deliver_to", None)  # an EndpointMux: no queue hop
        if deliver is not None:
            deliver(self._event)
        else:
            self._spawn(self._read())
        self._spawn(self._write())
        self._arm_timer()  # a core may want its first timer at once (the registrar's start)

    async def aclose(self) -> None:
        """Send what is queued, then stop reading, writing and the timer."""
        if self.closed:
            return
        deadline = self._loop.time() + 2.0
        while self._out and self._loop.time() < deadline:
            await asyncio.sleep(0.01)
        self.closed = True
        deliver = getattr(self.endpoint, "deliver_to", None)
        if deliver is not None:
            deliver(None)
        for listener in self._listeners:
            listener.close()
        if self._timer is not None:
            self._timer.cancel()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for waiter in self._waiting:
            if not waiter.done():
                waiter.set_exception(TransportError(errno.EBADF, "client driver closed"))

    async def listen_announces(self, group: tuple[str, int], interface: str = "127.0.0.1") -> None:
        """Feed the Server Announces heard on a UDP multicast group to ``receive_announce``."""

        def heard(data: bytes, source: str) -> None:
            try:
                message = wire.decode(data, wire.PPID_ASAP)
            except wire.ParseError as exc:
                log.debug("ignoring an undecodable announce from %s: %s", source, exc)
                return
            if isinstance(message, wire.ServerAnnounce):
                self.call(lambda now: self.core.receive_announce(message, source, now))

        self._listeners.append(await AnnounceSocket(group, interface, heard).open())

    def call(self, method: Callable[[float], Iterable[Action]]) -> None:
        """Run ``method(now)`` on the core and carry out its actions."""
        if not self.closed:
            self.apply(method(self.now()))

    async def send(self, assoc: int, data: bytes, ppid: int, stream: int = 0) -> None:
        """Send user data, in order after the core's queued messages; raises TransportError."""
        if self.closed:
            raise TransportError(errno.EBADF, "client driver closed")
        done: asyncio.Future[None] = self._loop.create_future()

        async def op() -> None:
            try:
                await self.endpoint.send(assoc, data, ppid, stream)
            except Exception as exc:
                if not done.done():
                    done.set_exception(exc)
            else:
                if not done.done():
                    done.set_result(None)

        self._waiting.add(done)
        self._enqueue(op)
        try:
            await done
        finally:
            self._waiting.discard(done)

    # ----- carrying out actions

    def apply(self, actions: Iterable[Action]) -> None:
        for action in actions:
            if type(action) is Send:  # the hot path: one reply per request
                self._send_now(action)
            elif isinstance(action, Send | Close):
                self._enqueue(action)
            elif isinstance(action, Connect):
                self._connect(action)
            elif isinstance(action, Notify):
                log.debug("%s: %s %s", type(self.core).__name__, action.event, action.detail)
                if self._on_notify is not None:
                    self._on_notify(action)
            elif isinstance(action, Announce) and self._on_announce is not None:
                self._on_announce(action)
        serial_of = self._timer_serial
        if serial_of is None or serial_of() != self._armed_serial:
            self._arm_timer()

    def _send_now(self, action: Send) -> None:
        """Send at once when nothing is queued before it and the socket does not make us
        wait (no writer-task hop); otherwise queue it, in order."""
        if self._out:
            self._enqueue(action)
            return
        try:
            data = action.message.encode()
            if self.endpoint.try_send(action.assoc, data, action.ppid, action.stream):
                return
        except TransportError as exc:  # the association is going away: its event follows
            log.debug("send on association %d failed: %s", action.assoc, exc)
            return
        except Exception:
            log.exception("client driver: a send failed")
            return
        self._enqueue(_Encoded(action.assoc, data, action.ppid, action.stream))

    def _enqueue(self, item: _Item) -> None:
        self._out.append(item)
        if not self._queued.is_set():
            self._queued.set()

    async def _carry_out(self, item: _Item) -> None:
        if isinstance(item, _Encoded):
            try:
                await self.endpoint.send(item.assoc, item.data, item.ppid, item.stream)
            except TransportError as exc:  # the association is going away: its event follows
                log.debug("send on association %d failed: %s", item.assoc, exc)
        elif isinstance(item, Send):
            try:
                data = item.message.encode()
                await self.endpoint.send(item.assoc, data, item.ppid, item.stream)
            except TransportError as exc:  # the association is going away: its event follows
                log.debug("send on association %d failed: %s", item.assoc, exc)
        elif isinstance(item, Close):
            try:
                (self.endpoint.abort if item.abort else self.endpoint.shutdown)(item.assoc)
            except TransportError as exc:
                log.debug("close of association %d: %s", item.assoc, exc)
        else:
            await item()

    def _connect(self, action: Connect) -> None:
        self._serial += 1
        serial = self._serial
        self._connecting[serial] = _Connecting(
            action.key, frozenset(_norm(a) for a in action.addresses), action.port)

        async def connect() -> None:
            try:
                assoc = await self._open(action)
            except (TransportError, OSError) as exc:
                log.debug("connect to %s port %d failed: %s", action.addresses, action.port, exc)
                del self._connecting[serial]
                if hasattr(self.core, "connect_failed"):
                    self.call(lambda now: self.core.connect_failed(action.key, now))
                self._release_held()
                return
            del self._connecting[serial]
            self._deliver_up(assoc, action.key, port=action.port)
            self._release_held()

        self._spawn(connect())

    def _arm_timer(self) -> None:
        serial_of = self._timer_serial
        if serial_of is not None:  # no deadline set since the timer was: it stands
            serial = serial_of()
            if serial == self._armed_serial:
                return
            self._armed_serial = serial
        when = None if self.closed else self.core.next_timer()
        if when == self._timer_at:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = when
        if when is None:
            self._timer = None
        elif self._clock is None:
            self._timer = self._loop.call_at(when, self._fire)
        else:
            self._timer = self._clock.call_at(when, self._fire)

    def _fire(self) -> None:
        self._timer = self._timer_at = self._armed_serial = None
        self.call(self.core.handle_timer)

    # ----- events from the endpoint

    async def _read(self) -> None:
        while True:
            try:
                event = await self.endpoint.receive()
            except TransportError as exc:
                log.debug("endpoint closed: %s", exc)
                return
            self._event(event)

    def _event(self, event: Event) -> None:
        if type(event) is Message and not self._held:  # the hot path
            self._message(event)
            return
        assoc = getattr(event, "assoc", None)
        if assoc is not None and assoc in self._held:
            self._held[assoc].append(event)
        elif isinstance(event, AssociationChange):
            self._association(event)
        elif isinstance(event, Message):
            self._message(event)
        elif isinstance(event, PeerAddressChange):
            self._peer_address(event)
        elif (type(event).__name__ == "SendFailed" and self._on_send_failed is not None
              and getattr(event, "ppid", None) not in _CORE_PPIDS):
            self._on_send_failed(event)

    def _association(self, event: AssociationChange) -> None:
        if event.state in (AssociationState.UP, AssociationState.RESTARTED):
            if event.assoc in self._up:
                return
            if self._may_answer_connect(event):
                self._held[event.assoc] = [event]
                return
            self._deliver_up(event.assoc, None, event)
            return
        if event.assoc in self._up:
            self._up.discard(event.assoc)
            self.call(lambda now: self.core.association_lost(event.assoc, now))
        if self._on_association is not None and event.state is not AssociationState.CANT_START:
            self._on_association(event)

    def _peer_address(self, event: PeerAddressChange) -> None:
        """Tell a core that tracks peer addresses (the registrar) about ASCONF changes."""
        if self._on_peer_address is not None:
            self._on_peer_address(event)
        changed = getattr(self.core, "peer_addresses_changed", None)
        if changed is None or event.assoc not in self._up:
            return
        try:
            peers = self.endpoint.peer_addresses(event.assoc)
        except TransportError:
            return
        self.call(lambda now: changed(event.assoc, peers, now))

    def _may_answer_connect(self, event: AssociationChange) -> bool:
        peers = {_norm(a) for a in event.peer_addresses}
        return any(c.port == event.peer_port and (not peers or c.addresses & peers)
                   for c in self._connecting.values())

    def _deliver_up(self, assoc: int, key: Any, event: AssociationChange | None = None,
                    port: int = 0) -> None:
        if assoc in self._up:
            return
        held = self._held.pop(assoc, [])
        if event is None and held and isinstance(held[0], AssociationChange):
            event = held[0]
        if event is not None and held and held[0] is event:
            held = held[1:]
        try:
            peers: Sequence[str] = (event.peer_addresses if event is not None
                                    else self.endpoint.peer_addresses(assoc))
        except TransportError:
            return  # gone already; its LOST event follows
        self._up.add(assoc)
        if event is not None:
            port = event.peer_port
        if self._peer_port:  # a core that wants it (the registrar)
            self.call(lambda now: self.core.association_up(assoc, peers, now, key,
                                                           peer_port=port))
        else:
            self.call(lambda now: self.core.association_up(assoc, peers, now, key))
        if self._on_association is not None:
            self._on_association(event or AssociationChange(
                assoc, AssociationState.UP, tuple(peers), port))
        for later in held:
            self._event(later)

    def _release_held(self) -> None:
        """UPs held while connects were pending that no connect claimed are incoming ones."""
        for assoc in list(self._held):
            event = self._held[assoc][0]
            if isinstance(event, AssociationChange) and not self._may_answer_connect(event):
                self._deliver_up(assoc, None, event)

    def _message(self, event: Message) -> None:
        ppid = event.ppid
        if ppid != _ASAP and ppid != _ENRP:
            if self._on_data is not None:
                self._on_data(event)
            return
        try:
            message = _decode(event.data, ppid)
        except wire.ParseError as exc:
            log.warning("undecodable message on association %d: %s", event.assoc, exc)
            error = exc
            if self._error_ppid:  # a core serving ASAP and ENRP (the registrar)
                self.call(lambda now: self.core.receive_error(event.assoc, error, now,
                                                              ppid=event.ppid))
            else:
                self.call(lambda now: self.core.receive_error(event.assoc, error, now))
            return
        if not self.closed:
            self.apply(self.core.receive(event.assoc, message, self._arrival()))

    def _arrival(self) -> float:
        """The time messages arrived: one reading of the loop's clock for every message
        handled in one loop iteration (a batch read in one wake-up), not one each (a
        system call per message where the clock has no vDSO, e.g. an emulated guest)."""
        if self._clock is not None:
            return self._clock.now()
        now = self._read_at
        if now is None:
            now = self._read_at = self._loop.time()
            self._loop.call_soon(self._forget_arrival)
        return now

    def _forget_arrival(self) -> None:
        self._read_at = None

    # ----- tasks

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("client driver task failed", exc_info=task.exception())

    async def _write(self) -> None:
        out = self._out
        while True:
            await self._queued.wait()
            while out:
                try:
                    await self._carry_out(out[0])
                except Exception:
                    log.exception("client driver: a send or close failed")
                finally:
                    out.popleft()  # only now: aclose() waits until the deque is empty
            self._queued.clear()

"""asyncio pool element: registers under a pool handle and serves PUs on its own endpoint.

One endpoint carries both the association to the registrar and the PUs' associations, so
the addresses registered are the ones PUs reach, and a mobility change (bindx) moves both.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from rserpool import wire
from rserpool.actions import Notify
from rserpool.aio.driver import CoreDriver
from rserpool.asap.pool_element import PoolElementCore
from rserpool.transport.base import AssociationChange, AssociationState, Endpoint, Message
from rserpool.transport.clock import Clock


class RegistrationError(Exception):
    """The registrar rejected the PE (``cause``: RFC 5354 cause code), or none answered."""

    def __init__(self, cause: int | None, message: str) -> None:
        super().__init__(message)
        self.cause = cause


class SessionClosed(ConnectionError):
    """The peer's association is gone."""


class PeerSession:
    """A PU's association to this PE, created when the PU first sends data or a Cookie Echo.

    ``cookie_echo`` is set (before any data is delivered) when the PU restores a session it
    had with another PE of the pool.
    """

    def __init__(self, owner: PoolElement, assoc: int) -> None:
        self._owner = owner
        self.assoc = assoc
        self.cookie_echo: bytes | None = None
        self.closed = False
        self._inbox: asyncio.Queue[bytes | None] = asyncio.Queue()

    async def receive(self) -> bytes:
        """The next message from the PU; raises SessionClosed once it is gone."""
        if self.closed and self._inbox.empty():
            raise SessionClosed(f"association {self.assoc} closed")
        data = await self._inbox.get()
        if data is None:
            raise SessionClosed(f"association {self.assoc} closed")
        return data

    async def send(self, data: bytes, *, stream: int = 0) -> None:
        await self._owner.driver.send(self.assoc, data, self._owner.data_ppid, stream)

    def send_cookie(self, cookie: bytes) -> None:
        """Give the PU the state to echo if it has to fail over to another PE."""
        self._owner.driver.apply(self._owner.core.send_cookie(self.assoc, cookie))

    def send_business_card(self, pool_elements: Sequence[Any] = ()) -> None:
        self._owner.driver.apply(
            self._owner.core.send_business_card(self.assoc, pool_elements))

    def close(self) -> None:
        """Close the association gracefully."""
        with contextlib.suppress(OSError):
            self._owner.endpoint.shutdown(self.assoc)

    def _end(self) -> None:
        if not self.closed:
            self.closed = True
            self._inbox.put_nowait(None)


Handler = Callable[[PeerSession], Awaitable[None]]


class PoolElement:
    """``async with PoolElement(b"pool", endpoint, registrars=[(["127.0.0.1"], 3863)])``.

    ``endpoint`` must be open; it is not closed here. ``registrars``: static (addresses,
    port) list; ``announces``: a UDP group such as ``ASAP_ANNOUNCE_GROUP`` to learn more
    registrars from, joined on ``announce_interface``. ``addresses`` (default: the endpoint's
    local addresses) and the endpoint's port are registered as the user transport. With a
    ``handler``, each PU session runs ``handler(session)`` in its own task; without one,
    ``accept()`` returns the sessions. Other keyword arguments go to ``PoolElementCore``.
    """

    def __init__(
        self,
        pool_handle: bytes | str,
        endpoint: Endpoint,
        *,
        registrars: Sequence[tuple[Sequence[str], int]] = (),
        announces: tuple[str, int] | None = None,
        announce_interface: str = "127.0.0.1",
        clock: Clock | None = None,
        policy: Any = None,
        addresses: Sequence[str] | None = None,
        data_ppid: int = 0,
        handler: Handler | None = None,
        register_timeout: float | None = 30.0,
        **core_options: Any,
    ) -> None:
        self.pool_handle = pool_handle.encode() if isinstance(pool_handle, str) else pool_handle
        self.endpoint = endpoint
        self.data_ppid = data_ppid
        self._registrars = list(registrars)
        self._announces = (announces, announce_interface)
        self._clock = clock
        self._policy = policy if policy is not None else wire.Policy(wire.PolicyType.ROUND_ROBIN)
        self._addresses = list(addresses) if addresses is not None else None
        self._handler = handler
        self._register_timeout = register_timeout
        self._core_options = core_options
        self._sessions: dict[int, PeerSession] = {}
        self._accepted: asyncio.Queue[PeerSession] = asyncio.Queue()
        self._tasks: set[asyncio.Task[None]] = set()
        self._registered = asyncio.Event()
        self._closed = asyncio.Event()
        self._rejection: RegistrationError | None = None
        self.core: PoolElementCore
        self.driver: CoreDriver

    # ----- lifecycle

    async def __aenter__(self) -> PoolElement:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self) -> None:
        """Register; waits for the first accepted registration (``register_timeout``)."""
        addresses = self._addresses or self.endpoint.local_addresses()
        transport = wire.SctpTransport(self.endpoint.port, addresses)
        options = {"asap_transport": transport, **self._core_options}
        self.core = PoolElementCore(self.pool_handle, self._policy, transport,
                                    registrars=self._registrars, **options)
        self.driver = CoreDriver(self.core, self.endpoint, clock=self._clock,
                                 on_notify=self._notify,
                                 on_data=self._data, on_association=self._association)
        self.driver.start()
        group, interface = self._announces
        if group is not None:
            await self.driver.listen_announces(group, interface)
        self.driver.call(self.core.start)
        try:
            await self.wait_registered(self._register_timeout)
        except BaseException:
            await self.close()
            raise

    async def wait_registered(self, timeout: float | None = None) -> None:
        """Wait until the registrar accepts the PE; RegistrationError if it refuses."""
        try:
            await asyncio.wait_for(self._registered.wait(), timeout)
        except TimeoutError:
            raise RegistrationError(None, "no registrar accepted the registration") from None
        if self._rejection is not None:
            raise self._rejection

    async def close(self) -> None:
        """Deregister, close the PU sessions, stop."""
        if self.driver.closed:
            return
        self.driver.call(self.core.close)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closed.wait(), self.core.request_timeout + 1.0)
        for session in list(self._sessions.values()):
            session.close()
            session._end()
        await self.driver.aclose()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # ----- what the application asks

    @property
    def pe_identifier(self) -> int:
        return self.core.pe_identifier

    @property
    def registered(self) -> bool:
        return self.core.registered

    @property
    def home_registrar(self) -> int | None:
        return self.core.home_registrar

    def update(self, *, load: int | None = None, policy: Any = None) -> None:
        """Change the load value (or the whole policy) and re-register at once."""
        self.driver.call(lambda now: self.core.update(now, load=load, policy=policy))

    def set_addresses(self, addresses: Sequence[str], port: int | None = None) -> None:
        """Re-register with new user addresses (after a mobility change)."""
        transport = wire.SctpTransport(port or self.endpoint.port, list(addresses))
        self.core.asap_transport = transport
        self.driver.call(lambda now: self.core.update(now, user_transport=transport))

    async def accept(self) -> PeerSession:
        """The next PU session (when no handler was given)."""
        return await self._accepted.get()

    # ----- driver callbacks

    def _session(self, assoc: int) -> PeerSession:
        session = self._sessions.get(assoc)
        if session is None:
            session = self._sessions[assoc] = PeerSession(self, assoc)
            if self._handler is None:
                self._accepted.put_nowait(session)
            else:
                task = asyncio.ensure_future(self._handler(session))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        return session

    def _notify(self, note: Notify) -> None:
        if note.event == "registered":
            self._rejection = None
            self._registered.set()
        elif note.event == "registration-rejected" and not self._registered.is_set():
            self._rejection = RegistrationError(note.detail.cause, f"registration rejected "
                                                f"(cause {note.detail.cause})")
            self._registered.set()
        elif note.event == "cookie-echo" and note.detail.assoc != self.core.registrar_assoc:
            self._session(note.detail.assoc).cookie_echo = bytes(note.detail.message.cookie)
        elif note.event == "closed":
            self._closed.set()

    def _data(self, message: Message) -> None:
        if message.assoc != self.core.registrar_assoc:
            self._session(message.assoc)._inbox.put_nowait(message.data)

    def _association(self, change: AssociationChange) -> None:
        if change.state not in (AssociationState.UP, AssociationState.RESTARTED):
            session = self._sessions.pop(change.assoc, None)
            if session is not None:
                session._end()

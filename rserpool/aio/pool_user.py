"""asyncio pool user: handle resolution and sessions that fail over between PEs.

A ``Session`` is an association to some PE of a pool. When that PE fails the session reports
it unreachable, re-resolves the pool handle, connects to another PE and restores its state
there with a Cookie Echo of the last Cookie received; ``send`` waits meanwhile and
``receive`` goes on with the new PE's data. Messages the dying association had accepted but
not delivered come back from the transport (``SendFailed``) and are sent again to the new PE
after the Cookie Echo; a message sent during the failover may overtake them.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from typing import Any

from rserpool.actions import Notify
from rserpool.aio.driver import CoreDriver
from rserpool.asap.pool_user import PoolUserCore
from rserpool.transport.base import Endpoint, Message, PeerAddressChange, TransportError
from rserpool.transport.clock import Clock


class ResolutionError(Exception):
    """A handle resolution failed: ``cause`` is the registrar's cause code, or None."""

    def __init__(self, pool_handle: bytes, cause: int | None) -> None:
        super().__init__(f"cannot resolve {pool_handle!r}"
                         + ("" if cause is None else f" (cause {cause})"))
        self.pool_handle = pool_handle
        self.cause = cause


class SessionError(ConnectionError):
    """The session could not reach any PE of its pool, or was closed."""


class Session:
    """A PU's session with a pool (see the module docstring)."""

    def __init__(self, user: PoolUser, session_id: int, pool_handle: bytes) -> None:
        self._user = user
        self.id = session_id
        self.pool_handle = pool_handle
        self.failovers = 0
        self._up = asyncio.Event()
        self._returned: list[tuple[bytes, int]] = []  # given back by the transport: resend
        self._inbox: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._error: SessionError | None = None

    @property
    def assoc(self) -> int | None:
        return self._user.core.session_assoc(self.id)

    @property
    def pe_identifier(self) -> int | None:
        pe = self._user.core.session_pe(self.id)
        return None if pe is None else int(pe.pe_identifier)

    @property
    def cookie(self) -> bytes | None:
        """The last Cookie the PE sent (what a failover echoes)."""
        return self._user.core.session_cookie(self.id)

    async def wait_up(self) -> None:
        """Wait until the session has a PE; SessionError if it never will."""
        await self._up.wait()
        if self._error is not None:
            raise self._error

    async def send(self, data: bytes, *, stream: int = 0) -> None:
        """Send to the current PE; waits through a failover and sends to the new PE."""
        while True:
            await self.wait_up()
            assoc = self.assoc
            if assoc is None:
                self._up.clear()
                continue
            try:
                await self._user.driver.send(assoc, data, self._user.data_ppid, stream)
                return
            except TransportError:
                if self.assoc == assoc:
                    if self._user._alive(assoc):
                        raise  # a real send error (bad stream, ...), not a lost PE
                    self._up.clear()  # lost: its event will start the failover

    async def receive(self) -> bytes:
        """The next message from whichever PE serves the session."""
        if self._error is not None and self._inbox.empty():
            raise self._error
        data = await self._inbox.get()
        if data is None:
            assert self._error is not None
            raise self._error
        return data

    async def close(self) -> None:
        self._user._drop(self.id)
        self._user.driver.call(lambda now: self._user.core.close_session(self.id, now))
        self._fail(SessionError("session closed"))

    async def __aenter__(self) -> Session:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _resend(self) -> None:
        returned, self._returned = self._returned, []
        with contextlib.suppress(SessionError):
            for data, stream in returned:
                await self.send(data, stream=stream)

    def _fail(self, error: SessionError) -> None:
        if self._error is None:
            self._error = error
            self._up.set()
            self._inbox.put_nowait(None)


class PoolUser:
    """``async with PoolUser(endpoint, registrars=[(["127.0.0.1"], 3863)]) as pu``.

    ``endpoint`` must be open and is not closed here. ``registrars``: static (addresses,
    port) list; ``announces``: a UDP group such as ``ASAP_ANNOUNCE_GROUP`` to learn more
    registrars from, joined on ``announce_interface``. ``on_peer_address(session, change)``
    sees a session's PE change its addresses (SCTP Add-IP: a mobile PE moving). Other
    keyword arguments go to ``PoolUserCore`` (``cache_ttl``, ``request_timeout``, ...).
    """

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        registrars: Sequence[tuple[Sequence[str], int]] = (),
        announces: tuple[str, int] | None = None,
        announce_interface: str = "127.0.0.1",
        clock: Clock | None = None,
        data_ppid: int = 0,
        on_peer_address: Callable[[Session, PeerAddressChange], None] | None = None,
        **core_options: Any,
    ) -> None:
        self.endpoint = endpoint
        self.data_ppid = data_ppid
        self._on_peer_address = on_peer_address
        self._registrars = list(registrars)
        self._announces = (announces, announce_interface)
        self._clock = clock
        self._core_options = core_options
        self._sessions: dict[int, Session] = {}
        self._resolving: dict[bytes, list[asyncio.Future[tuple[Any, ...]]]] = {}
        self._assoc_session: dict[int, int] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.core: PoolUserCore
        self.driver: CoreDriver

    async def __aenter__(self) -> PoolUser:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self) -> None:
        self.core = PoolUserCore(registrars=self._registrars, **self._core_options)
        self.driver = CoreDriver(self.core, self.endpoint, clock=self._clock,
                                 on_notify=self._notify,
                                 on_data=self._data, on_send_failed=self._send_failed,
                                 on_peer_address=self._peer_address)
        self.driver.start()
        group, interface = self._announces
        if group is not None:
            await self.driver.listen_announces(group, interface)

    async def close(self) -> None:
        if self.driver.closed:
            return
        self.driver.call(self.core.close)
        for session in list(self._sessions.values()):
            session._fail(SessionError("pool user closed"))
        self._sessions.clear()
        await self.driver.aclose()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def resolve(self, pool_handle: bytes | str, *, fresh: bool = False) -> tuple[Any, ...]:
        """The pool's PEs (wire.PoolElement) in selection order; ResolutionError if none."""
        handle = pool_handle.encode() if isinstance(pool_handle, str) else pool_handle
        future: asyncio.Future[tuple[Any, ...]] = asyncio.get_running_loop().create_future()
        self._resolving.setdefault(handle, []).append(future)
        self.driver.call(lambda now: self.core.resolve(handle, now, fresh=fresh))
        return await future

    def report_unreachable(self, pool_handle: bytes, pe_identifier: int) -> None:
        self.driver.call(lambda now: self.core.report_unreachable(pool_handle, pe_identifier,
                                                                  now))

    async def connect(self, pool_handle: bytes | str) -> Session:
        """Open a session with a PE of the pool; waits until one is reached (or SessionError)."""
        handle = pool_handle.encode() if isinstance(pool_handle, str) else pool_handle
        opened: list[Session] = []

        def open_session(now: float) -> Any:
            sid, actions = self.core.open_session(handle, now)
            opened.append(Session(self, sid, handle))
            self._sessions[sid] = opened[0]
            return actions

        self.driver.call(open_session)
        session = opened[0]
        try:
            await session.wait_up()
        except SessionError:
            self._drop(session.id)
            raise
        return session

    # ----- driver callbacks

    def _drop(self, session_id: int) -> None:
        self._sessions.pop(session_id, None)

    def _notify(self, note: Notify) -> None:
        detail = note.detail
        if note.event in ("resolved", "resolution-failed"):
            for future in self._resolving.pop(detail.pool_handle, []):
                if future.done():
                    continue
                if note.event == "resolved":
                    future.set_result(detail.pool_elements)
                else:
                    future.set_exception(ResolutionError(detail.pool_handle, detail.cause))
        elif note.event == "session-up":
            session = self._sessions.get(detail.session)
            if session is not None:
                self._assoc_session[detail.assoc] = detail.session
                session._up.set()
                if session._returned:
                    self._spawn(session._resend())
        elif note.event == "session-failover":
            session = self._sessions.get(detail.session)
            if session is not None:
                session.failovers += 1
                session._up.clear()
        elif note.event == "session-failed":
            session = self._sessions.pop(detail.session, None)
            if session is not None:
                session._fail(SessionError(f"no PE of {session.pool_handle!r} reachable: "
                                           f"{detail.reason}"))

    def _send_failed(self, event: Any) -> None:
        session = self._sessions.get(self._assoc_session.get(event.assoc, 0))
        if session is None:
            return
        session._returned.append((bytes(event.data), event.stream))
        if session.assoc is not None and session.assoc != event.assoc:
            self._spawn(session._resend())  # the new PE is already there

    def _peer_address(self, change: PeerAddressChange) -> None:
        sid = self.core.session_of(change.assoc)
        session = None if sid is None else self._sessions.get(sid)
        if session is not None and self._on_peer_address is not None:
            self._on_peer_address(session, change)

    def _alive(self, assoc: int) -> bool:
        try:
            self.endpoint.peer_addresses(assoc)
        except TransportError:
            return False
        return True

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _data(self, message: Message) -> None:
        sid = self.core.session_of(message.assoc)
        session = None if sid is None else self._sessions.get(sid)
        if session is not None:
            session._inbox.put_nowait(message.data)


"""Sans-I/O pool user (PU) side of ASAP (RFC 5352 3.5, 3.7-3.8, 3.11; RFC 5351 failover).

The core finds a registrar, resolves pool handles (answers are cached for ``cache_ttl``),
reports unreachable PEs, retries a request that times out at another registrar, and keeps
sessions: a session is an association to a PE of a pool. When its PE fails the core reports
it unreachable, re-resolves the handle, connects to another PE (or the same PE at its new
addresses) and first sends a Cookie Echo with the last Cookie that PE gave. Application data
on a session's association is the runtime's business, not the core's. The Notify events are
listed in ``asap.events``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from rserpool import wire
from rserpool.actions import Action, Close, Connect, Notify, Send
from rserpool.asap.deadlines import Deadlines
from rserpool.asap.events import (
    Received,
    ResolutionFailed,
    Resolved,
    SessionFailed,
    SessionFailover,
    SessionUp,
)
from rserpool.asap.hunt import RegistrarHunt
from rserpool.asap.pool_element import error_reply, first_cause

_SESSION = "session"


def pe_address(pe: Any) -> tuple[tuple[str, ...], int] | None:
    """The SCTP addresses and port of a PE's user transport (None if it is not SCTP)."""
    t = pe.user_transport
    if not isinstance(t, wire.SctpTransport) or not t.addresses:
        return None
    return tuple(str(a) for a in t.addresses), int(t.port)


def _pe_key(pe: Any) -> tuple[int, Any]:
    return pe.pe_identifier, pe_address(pe)


@dataclass(slots=True)
class _Cached:
    elements: list[Any]
    expires: float
    turn: int = 0


@dataclass(slots=True)
class _Resolution:
    attempts: int = 0
    sent_on: int | None = None


@dataclass(slots=True)
class _Session:
    sid: int
    pool_handle: bytes
    pe: Any = None
    assoc: int | None = None
    key: tuple[str, int, int] | None = None
    waiting: bool = False  # a connect timeout or a pause before resolving again is running
    cookie: bytes | None = None
    card: tuple[Any, ...] = ()
    candidates: list[Any] = field(default_factory=list)
    failed: set[tuple[int, Any]] = field(default_factory=set)
    rounds: int = 0
    resolving: bool = False
    failovers: int = 0


class PoolUserCore:
    """A PU: handle resolution with a cache, unreachable reports and PE sessions."""

    def __init__(
        self,
        *,
        registrars: Iterable[tuple[Sequence[str], int]] = (),
        cache_ttl: float = 30.0,
        items: int | None = None,
        request_timeout: float = 5.0,
        max_request_attempts: int = 3,
        connect_timeout: float = 5.0,
        retry_interval: float = 1.0,
        announce_timeout: float = 30.0,
        max_failover_rounds: int = 3,
        max_pending_reports: int = 64,
    ) -> None:
        self.hunt = RegistrarHunt(registrars, connect_timeout=connect_timeout,
                                  retry_interval=retry_interval,
                                  announce_timeout=announce_timeout)
        self.cache_ttl = cache_ttl
        self.items = items
        self.request_timeout = request_timeout
        self.max_request_attempts = max_request_attempts
        self.connect_timeout = connect_timeout
        self.retry_interval = retry_interval
        self.max_failover_rounds = max_failover_rounds
        self._cache: dict[bytes, _Cached] = {}
        self._resolutions: dict[bytes, _Resolution] = {}
        self._reports: deque[Any] = deque(maxlen=max_pending_reports)
        self._sessions: dict[int, _Session] = {}
        self._resolving: dict[bytes, dict[int, _Session]] = {}  # sessions awaiting an answer
        self._deadlines = Deadlines()  # ("resolution", handle) and ("session", sid)
        self._by_assoc: dict[int, int] = {}
        self._next_sid = 1
        self._attempt = 0

    # ----- handle resolution and cache

    def resolve(self, pool_handle: bytes, now: float, *, fresh: bool = False) -> list[Action]:
        """Resolve a pool handle: answered from the cache unless ``fresh`` or stale."""
        pool_handle = bytes(pool_handle)
        if not fresh:
            cached = self.cached(pool_handle, now)
            if cached is not None:
                return self._deliver(pool_handle, cached, now)
        if pool_handle in self._resolutions:
            return []  # already asked
        request = self._resolutions[pool_handle] = _Resolution()
        self._deadlines.schedule(("resolution", pool_handle), now + self.request_timeout)
        if not self.hunt.connected:
            return self.hunt.start(now)
        return [self._send_resolution(pool_handle, request, now)]

    def cached(self, pool_handle: bytes, now: float) -> tuple[Any, ...] | None:
        """The cached PEs of a pool, or None when nothing (fresh) is cached."""
        entry = self._cache.get(pool_handle)
        if entry is None or now >= entry.expires or not entry.elements:
            self._cache.pop(pool_handle, None)
            return None
        return tuple(entry.elements)

    def select(self, pool_handle: bytes, now: float) -> Any:
        """The next cached PE of a pool, round-robin over the registrar's answer (or None)."""
        if self.cached(pool_handle, now) is None:
            return None
        entry = self._cache[pool_handle]
        pe = entry.elements[entry.turn % len(entry.elements)]
        entry.turn += 1
        return pe

    def invalidate(self, pool_handle: bytes, pe_identifier: int | None = None) -> None:
        """Forget a pool's cached answer, or one PE of it."""
        entry = self._cache.get(pool_handle)
        if entry is None:
            return
        if pe_identifier is None:
            del self._cache[pool_handle]
        else:
            entry.elements = [pe for pe in entry.elements if pe.pe_identifier != pe_identifier]

    def report_unreachable(self, pool_handle: bytes, pe_identifier: int,
                           now: float) -> list[Action]:
        """Tell the registrar a PE failed (queued until a registrar is reachable)."""
        self.invalidate(pool_handle, pe_identifier)
        message = wire.EndpointUnreachable(pool_handle, pe_identifier)
        if self.hunt.assoc is not None:
            return [Send(self.hunt.assoc, wire.PPID_ASAP, message)]
        self._reports.append(message)
        return self.hunt.start(now)

    # ----- sessions

    def open_session(self, pool_handle: bytes, now: float) -> tuple[int, list[Action]]:
        """Start a session with some PE of a pool; ``session-up`` tells when it is reached."""
        s = _Session(self._next_sid, bytes(pool_handle))
        self._next_sid += 1
        self._sessions[s.sid] = s
        return s.sid, self._session_next(s, now)

    def close_session(self, session: int, now: float) -> list[Action]:
        s = self._sessions.pop(session, None)
        if s is None:
            return []
        self._forget(s)
        if s.assoc is None:
            return []
        self._by_assoc.pop(s.assoc, None)
        return [Close(s.assoc)]

    def session_of(self, assoc: int) -> int | None:
        return self._by_assoc.get(assoc)

    def session_assoc(self, session: int) -> int | None:
        s = self._sessions.get(session)
        return None if s is None else s.assoc

    def session_pe(self, session: int) -> Any:
        """The PoolElement the session is connected (or connecting) to."""
        s = self._sessions.get(session)
        return None if s is None else s.pe

    def session_cookie(self, session: int) -> bytes | None:
        """The last Cookie the session's PE sent (echoed on failover)."""
        s = self._sessions.get(session)
        return None if s is None else s.cookie

    def close(self, now: float) -> list[Action]:
        """Close every session and the registrar association."""
        actions: list[Action] = []
        for sid in list(self._sessions):
            actions += self.close_session(sid, now)
        self._resolutions.clear()
        self._resolving.clear()
        self._deadlines = Deadlines()
        return [*actions, *self.hunt.stop(), Notify("closed")]

    # ----- runtime inputs

    def association_up(self, assoc: int, peer_addresses: Sequence[str], now: float,
                       key: object = None) -> list[Action]:
        if self.hunt.owns_key(key):
            actions = self.hunt.up(assoc, key, now)
            if self.hunt.assoc == assoc:
                actions += [Send(assoc, wire.PPID_ASAP, m) for m in self._reports]
                self._reports.clear()
                actions += [self._send_resolution(ph, r, now)
                            for ph, r in self._resolutions.items() if r.sent_on != assoc]
            return actions
        if not (isinstance(key, tuple) and len(key) == 3 and key[0] == _SESSION):
            return []
        s = self._sessions.get(key[1])
        if s is None or s.key != key:
            return [Close(assoc)]  # closed meanwhile, or a connect we gave up on
        s.assoc, s.key, s.rounds = assoc, None, 0
        self._wait(s, None)
        s.failed.clear()
        self._by_assoc[assoc] = s.sid
        actions = []
        if s.failovers and s.cookie is not None:
            actions.append(Send(assoc, wire.PPID_ASAP, wire.CookieEcho(s.cookie)))
        actions.append(Notify("session-up",
                              SessionUp(s.sid, assoc, s.pe.pe_identifier, s.failovers > 0)))
        return actions

    def connect_failed(self, key: object, now: float) -> list[Action]:
        if self.hunt.owns_key(key):
            return self.hunt.connect_failed(key, now)
        s = self._sessions.get(key[1]) if isinstance(key, tuple) and len(key) == 3 else None
        return self._pe_failed(s, now) if s is not None and s.key == key else []

    def association_lost(self, assoc: int, now: float) -> list[Action]:
        if assoc == self.hunt.assoc:
            for r in self._resolutions.values():
                r.sent_on = None
            return self.hunt.lost(assoc, now)
        sid = self._by_assoc.pop(assoc, None)
        if sid is None:
            return []
        s = self._sessions[sid]
        s.assoc = None
        s.failovers += 1
        s.candidates.clear()  # re-resolve: the pool (or the PE's addresses) may have changed
        return [Notify("session-failover", SessionFailover(sid, s.pe.pe_identifier)),
                *self._pe_failed(s, now)]

    def receive(self, assoc: int, message: Any, now: float) -> list[Action]:
        if isinstance(message, wire.HandleResolutionResponse):
            return self._resolution_response(assoc, message, now) if (
                assoc == self.hunt.assoc) else []
        if isinstance(message, wire.AsapError):
            return [Notify("asap-error", Received(assoc, message))]
        s = self._sessions.get(self._by_assoc.get(assoc, 0))
        if s is None:
            return []
        if isinstance(message, wire.Cookie):
            s.cookie = bytes(message.cookie)
        elif isinstance(message, wire.BusinessCard):
            s.card = tuple(message.pool_elements)
            return [Notify("business-card", Received(assoc, message))]
        return []

    def receive_error(self, assoc: int, error: wire.ParseError, now: float) -> list[Action]:
        return [Send(assoc, wire.PPID_ASAP, error_reply(error))]

    def receive_announce(self, message: Any, source_address: str, now: float) -> list[Action]:
        if not isinstance(message, wire.ServerAnnounce):
            return []
        return self.hunt.announced(message, source_address, now)

    def handle_timer(self, now: float) -> list[Action]:
        actions = self.hunt.handle_timer(now)
        abandon = False
        for kind, key in self._deadlines.pop_due(now):
            if kind == "resolution":
                abandon = self._resolution_timeout(key, now, actions) or abandon
                continue
            s = self._sessions.get(key)
            if s is None:
                continue
            s.waiting = False
            if s.key is not None:
                s.key = None  # connect timed out
                actions += self._pe_failed(s, now)
            else:
                actions += self._session_next(s, now)  # the pause after an empty round
        if abandon:
            for r in self._resolutions.values():
                r.sent_on = None
            actions += self.hunt.abandon(now)
        return actions

    def next_timer(self) -> float | None:
        times = [t for t in (self.hunt.next_timer(), self._deadlines.next_deadline())
                 if t is not None]
        return min(times, default=None)

    # ----- internals

    def _resolution_timeout(self, ph: bytes, now: float, actions: list[Action]) -> bool:
        """Retry or give up a resolution; True when the registrar should be abandoned."""
        r = self._resolutions.get(ph)
        if r is None:
            return False
        r.attempts += 1
        if r.attempts >= self.max_request_attempts:
            del self._resolutions[ph]
            actions += self._deliver(ph, None, now)
            return False
        self._deadlines.schedule(("resolution", ph), now + self.request_timeout)
        # The registrar did not answer: ask another one.
        return r.sent_on is not None and r.sent_on == self.hunt.assoc

    def _send_resolution(self, pool_handle: bytes, request: _Resolution, now: float) -> Send:
        assert self.hunt.assoc is not None
        request.sent_on = self.hunt.assoc
        self._deadlines.schedule(("resolution", pool_handle), now + self.request_timeout)
        return Send(self.hunt.assoc, wire.PPID_ASAP,
                    wire.HandleResolution(pool_handle, self.items))

    def _resolution_response(self, assoc: int, message: Any, now: float) -> list[Action]:
        ph = bytes(message.pool_handle)
        if self._resolutions.pop(ph, None) is None:
            return []
        self._deadlines.cancel(("resolution", ph))
        elements = list(message.pool_elements)
        if message.error is not None and not elements:
            self._cache.pop(ph, None)
            return self._deliver(ph, None, now, first_cause(message.error))
        self._cache[ph] = _Cached(elements, now + self.cache_ttl)
        return self._deliver(ph, tuple(elements), now)

    def _deliver(self, ph: bytes, elements: tuple[Any, ...] | None, now: float,
                 cause: int | None = None) -> list[Action]:
        """Announce a resolution's result and hand it to the sessions waiting for it."""
        actions: list[Action] = [
            Notify("resolved", Resolved(ph, elements)) if elements is not None
            else Notify("resolution-failed", ResolutionFailed(ph, cause))]
        entry = self._cache.get(ph)
        ordered = list(elements or ())
        if entry is not None and ordered:
            turn = entry.turn % len(ordered)
            ordered = ordered[turn:] + ordered[:turn]
        for s in list(self._resolving.pop(ph, {}).values()):
            if entry is not None:
                entry.turn += 1
            actions += self._feed(s, ordered, now)
        return actions

    def _feed(self, s: _Session, elements: list[Any], now: float) -> list[Action]:
        s.resolving = False
        usable = [pe for pe in elements if _pe_key(pe) not in s.failed]
        if not usable:
            usable = [pe for pe in s.card if _pe_key(pe) not in s.failed]
        if usable:
            s.candidates = usable
            return self._session_next(s, now)
        s.rounds += 1
        if s.rounds >= self.max_failover_rounds:
            del self._sessions[s.sid]
            self._forget(s)
            return [Notify("session-failed", SessionFailed(s.sid, "no reachable pool element"))]
        s.failed.clear()
        self._wait(s, now + self.retry_interval)
        return []

    def _session_next(self, s: _Session, now: float) -> list[Action]:
        while s.candidates:
            pe = s.candidates.pop(0)
            address = pe_address(pe)
            if address is None or _pe_key(pe) in s.failed:
                continue
            self._attempt += 1
            s.pe, s.key = pe, (_SESSION, s.sid, self._attempt)
            self._wait(s, now + self.connect_timeout)
            return [Connect(s.key, address[0], address[1])]
        if s.resolving or s.waiting:
            return []
        s.resolving = True
        self._resolving.setdefault(s.pool_handle, {})[s.sid] = s
        fresh = bool(s.failed) or s.rounds > 0 or s.failovers > 0
        return self.resolve(s.pool_handle, now, fresh=fresh)

    def _pe_failed(self, s: _Session, now: float) -> list[Action]:
        """The session's PE failed (lost, or never reached): report it, try another."""
        actions: list[Action] = []
        if s.pe is not None:
            s.failed.add(_pe_key(s.pe))
            actions += self.report_unreachable(s.pool_handle, s.pe.pe_identifier, now)
        s.key = None
        self._wait(s, None)
        return actions + self._session_next(s, now)

    def _wait(self, s: _Session, until: float | None) -> None:
        """Start (or with None, stop) the session's connect timeout or pause."""
        s.waiting = until is not None
        if until is None:
            self._deadlines.cancel(("session", s.sid))
        else:
            self._deadlines.schedule(("session", s.sid), until)

    def _forget(self, s: _Session) -> None:
        self._wait(s, None)
        waiting = self._resolving.get(s.pool_handle)
        if waiting is not None:
            waiting.pop(s.sid, None)

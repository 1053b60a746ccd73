"""Registrar hunt: choosing a registrar and keeping one association to it (RFC 5352 3.2).

Shared by the PE and PU cores. Candidates come from a static list and from Server Announces
(which expire when no longer heard). A hunt round tries each candidate once, the home
registrar and announced ones first; after a round without success it waits
``retry_interval`` and starts over.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rserpool import wire
from rserpool.actions import Action, Close, Connect, Notify

ASAP_PORT = 3863
"""The ASAP port: the default for a registrar announced without a transport parameter."""

Candidate = tuple[tuple[str, ...], int]
"""A registrar's SCTP addresses and port."""


@dataclass(slots=True)
class _Heard:
    candidates: tuple[Candidate, ...]
    last_heard: float


class RegistrarHunt:
    """Which registrar a client talks to, and the association to it.

    ``tag`` names this hunt's Connect keys: ``(tag, attempt)``.
    """

    def __init__(
        self,
        static: Iterable[tuple[Sequence[str], int]] = (),
        *,
        tag: str = "registrar",
        connect_timeout: float = 5.0,
        retry_interval: float = 1.0,
        announce_timeout: float = 30.0,
    ) -> None:
        self._static: list[Candidate] = [(tuple(a), int(p)) for a, p in static]
        self._announced: dict[int, _Heard] = {}
        self._tag = tag
        self.connect_timeout = connect_timeout
        self.retry_interval = retry_interval
        self.announce_timeout = announce_timeout
        self.assoc: int | None = None
        """The association to the current registrar, once up."""
        self.server_id: int | None = None
        """The current registrar's server identifier, if known (announces, keep-alives)."""
        self.home: int | None = None
        """A registrar to prefer when hunting (the PE's home registrar)."""
        self._active = False
        self._attempt = 0
        self._key: tuple[str, int] | None = None
        self._target: tuple[Candidate, int | None] | None = None
        self._current: Candidate | None = None
        self._tried: set[Candidate] = set()
        self._deadline: float | None = None

    @property
    def connected(self) -> bool:
        return self.assoc is not None

    def candidates(self, now: float) -> list[tuple[Candidate, int | None]]:
        """Known registrars in the order a hunt tries them, with their server ids if known."""
        for sid in [s for s, h in self._announced.items()
                    if now - h.last_heard > self.announce_timeout]:
            del self._announced[sid]
        heard = sorted(self._announced.items(), key=lambda item: -item[1].last_heard)
        heard.sort(key=lambda item: item[0] != self.home)
        out: list[tuple[Candidate, int | None]] = []
        seen: set[Candidate] = set()
        for sid, h in heard:
            for c in h.candidates:
                if c not in seen:
                    seen.add(c)
                    out.append((c, sid))
        for c in self._static:
            if c not in seen:
                seen.add(c)
                out.append((c, None))
        return out

    def start(self, now: float) -> list[Action]:
        """Want a registrar: start hunting unless connected or already hunting."""
        self._active = True
        if self.assoc is not None or self._key is not None or self._deadline is not None:
            return []
        return self._next(now)

    def stop(self) -> list[Action]:
        """No registrar wanted any more: close the association, stop hunting."""
        self._active = False
        self._key = self._deadline = self._target = None
        assoc, self.assoc = self.assoc, None
        return [] if assoc is None else [Close(assoc)]

    def _next(self, now: float) -> list[Action]:
        self._key = self._target = None
        if not self._active:
            self._deadline = None
            return []
        for cand, sid in self.candidates(now):
            if cand not in self._tried:
                self._tried.add(cand)
                self._attempt += 1
                self._key = (self._tag, self._attempt)
                self._target = (cand, sid)
                self._deadline = now + self.connect_timeout
                return [Connect(self._key, cand[0], cand[1])]
        # Every candidate failed this round (or none is known yet): pause, then start over.
        self._tried.clear()
        self._deadline = now + self.retry_interval
        return []

    def handle_timer(self, now: float) -> list[Action]:
        if self._deadline is None or now < self._deadline:
            return []
        self._deadline = None
        return self._next(now)  # a connect timed out, or the pause after a round is over

    def next_timer(self) -> float | None:
        return self._deadline

    def owns_key(self, key: object) -> bool:
        return isinstance(key, tuple) and len(key) == 2 and key[0] == self._tag

    def up(self, assoc: int, key: object, now: float) -> list[Action]:
        """An association opened by one of our Connects came up (``owns_key(key)``)."""
        if key != self._key or self._target is None:
            return [Close(assoc)]  # a late answer to a connect we gave up on
        (self._current, self.server_id), self.assoc = self._target, assoc
        self._key = self._target = self._deadline = None
        self._tried.clear()
        return [Notify("registrar-up", assoc)]

    def connect_failed(self, key: object, now: float) -> list[Action]:
        return self._next(now) if key == self._key and key is not None else []

    def lost(self, assoc: int, now: float) -> list[Action]:
        """The registrar association is gone: hunt for another one."""
        if assoc != self.assoc:
            return []
        return self._drop(now, [])

    def abandon(self, now: float) -> list[Action]:
        """The registrar stopped answering: abort the association and hunt for another."""
        if self.assoc is None:
            return []
        return self._drop(now, [Close(self.assoc, abort=True)])

    def _drop(self, now: float, actions: list[Action]) -> list[Action]:
        actions.append(Notify("registrar-down", self.assoc))
        self.assoc = self.server_id = None
        if self._current is not None:
            self._tried.add(self._current)
        self._current = None
        return actions + self._next(now)

    def adopt(self, assoc: int, server_id: int) -> list[Action]:
        """Make ``assoc`` (opened by registrar ``server_id``) the registrar association."""
        self.home = self.server_id = server_id
        if assoc == self.assoc:
            return []
        old, self.assoc = self.assoc, assoc
        self._key = self._target = self._deadline = self._current = None
        self._tried.clear()
        return [] if old is None else [Close(old)]

    def announced(self, message: wire.ServerAnnounce, source: str, now: float) -> list[Action]:
        """Learn a registrar from a Server Announce; start connecting if we were waiting."""
        cands: list[Candidate] = []
        for t in message.transports:
            if isinstance(t, wire.SctpTransport):
                addrs = tuple(str(a) for a in t.addresses) or (source,)
                cands.append((addrs, int(t.port)))
        if not cands:
            cands.append(((source,), ASAP_PORT))
        new = message.server_identifier not in self._announced
        self._announced[message.server_identifier] = _Heard(tuple(cands), now)
        if new and self._active and self.assoc is None and self._key is None:
            self._tried.difference_update(cands)
            return self._next(now)
        return []

"""Sans-I/O pool element (PE) side of ASAP (RFC 5352 3.1-3.4, 3.6, 3.9-3.10).

The core finds a registrar (static list or Server Announces), registers the PE with it,
re-registers every ``reregistration_interval`` (lifetime three times that) and on demand
(new load, new addresses), answers Endpoint Keep-Alives (adopting a new home registrar on
the H flag), fails over to another registrar when the association is lost or a request
times out, and deregisters on close. The Notify events are listed in ``asap.events``.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from typing import Any

from rserpool import wire
from rserpool.actions import Action, Notify, Send
from rserpool.asap.events import Received, Rejected
from rserpool.asap.hunt import RegistrarHunt


def first_cause(error: Any) -> int:
    """The first cause code of an OperationError (UNSPECIFIED when there is none)."""
    causes = getattr(error, "causes", ()) or ()
    return int(causes[0].code) if causes else int(wire.Cause.UNSPECIFIED)


def error_reply(error: wire.ParseError) -> wire.AsapError:
    """The ASAP Error that answers an undecodable message."""
    return wire.AsapError(wire.OperationError((wire.ErrorCause(error.cause),)))


def _with_load(policy: Any, load: int) -> Any:
    return wire.Policy(policy.policy_type, policy.weight, policy.priority, load,
                       policy.load_degradation, policy.load_dpf, policy.weight_dpf,
                       policy.distance)


def random_pe_identifier(rng: random.Random) -> int:
    """A PE identifier drawn from ``rng`` (non-zero u32)."""
    return rng.randrange(1, 1 << 32)


class PoolElementCore:
    """One PE registered under one pool handle.

    ``registrars``: static ``(addresses, port)`` list; more are learnt by
    ``receive_announce``. ``rng`` (a ``random.Random`` or an int seed) draws the PE
    identifier when ``pe_identifier`` is not given.
    """

    def __init__(
        self,
        pool_handle: bytes,
        policy: Any,
        user_transport: Any,
        *,
        registrars: Iterable[tuple[Sequence[str], int]] = (),
        pe_identifier: int | None = None,
        rng: random.Random | int | None = None,
        reregistration_interval: float = 30.0,
        request_timeout: float = 5.0,
        connect_timeout: float = 5.0,
        retry_interval: float = 1.0,
        announce_timeout: float = 30.0,
        asap_transport: Any = None,
    ) -> None:
        self._rng = rng if isinstance(rng, random.Random) else random.Random(rng)
        self.pool_handle = bytes(pool_handle)
        self.policy = policy
        self.user_transport = user_transport
        self.asap_transport = asap_transport
        self._fixed_id = pe_identifier is not None
        self.pe_identifier = (pe_identifier if pe_identifier is not None
                              else random_pe_identifier(self._rng))
        self.reregistration_interval = reregistration_interval
        self.request_timeout = request_timeout
        self.hunt = RegistrarHunt(registrars, connect_timeout=connect_timeout,
                                  retry_interval=retry_interval,
                                  announce_timeout=announce_timeout)
        self.registered = False
        """True while the current registrar holds the PE: set by an accepted registration,
        cleared by a rejection, a deregistration, or the loss of the registrar (which drops
        the PEs registered over that association); ``registered`` is notified each time it
        becomes True."""
        self.closed = False
        self._started = False
        self._closing = False
        self._request: str | None = None  # "register" | "deregister", awaiting a response
        self._request_deadline: float | None = None
        self._reregister_at: float | None = None
        self._retry_interval = retry_interval
        self._reject_delay = retry_interval  # doubles per rejection in a row

    # ----- what the PE registers

    @property
    def element(self) -> Any:
        """The wire.PoolElement sent in the next Registration."""
        return wire.PoolElement(
            self.pe_identifier, self.hunt.home or 0,
            round(3 * self.reregistration_interval * 1000),
            self.user_transport, self.policy, self.asap_transport,
        )

    @property
    def registrar_assoc(self) -> int | None:
        return self.hunt.assoc

    @property
    def home_registrar(self) -> int | None:
        return self.hunt.home

    # ----- application calls

    def start(self, now: float) -> list[Action]:
        """Find a registrar and register."""
        self._started = True
        return self._register(now)

    def update(self, now: float, *, load: int | None = None, policy: Any = None,
               user_transport: Any = None) -> list[Action]:
        """Change the policy, its load value or the user addresses, and re-register now."""
        if policy is not None:
            self.policy = policy
        if load is not None:
            self.policy = _with_load(self.policy, load)
        if user_transport is not None:
            self.user_transport = user_transport
        if not self._started or self._closing:
            return []
        return self._register(now)

    def close(self, now: float) -> list[Action]:
        """Deregister (if a registrar is reachable) and close the registrar association."""
        if self._closing or self.closed:
            return []
        self._closing = True
        self._reregister_at = None
        if not self.hunt.connected or not self._started:
            return self._finish()
        return self._send_request(now, "deregister")

    def send_cookie(self, assoc: int, cookie: bytes) -> list[Action]:
        """Send a Cookie (the session state a PU echoes on failover) to a PU."""
        return [Send(assoc, wire.PPID_ASAP, wire.Cookie(bytes(cookie)))]

    def send_business_card(self, assoc: int, pool_elements: Sequence[Any] = ()) -> list[Action]:
        """Send our Business Card (pool handle and failover candidates) to a peer."""
        return [Send(assoc, wire.PPID_ASAP,
                     wire.BusinessCard(self.pool_handle, tuple(pool_elements)))]

    # ----- runtime inputs

    def association_up(self, assoc: int, peer_addresses: Sequence[str], now: float,
                       key: object = None) -> list[Action]:
        if not self.hunt.owns_key(key):
            return []  # a PU (or a registrar that will send keep-alives) connected to us
        actions = self.hunt.up(assoc, key, now)
        if self.hunt.assoc == assoc:
            actions += self._send_request(now, "deregister" if self._closing else "register")
        return actions

    def connect_failed(self, key: object, now: float) -> list[Action]:
        return self.hunt.connect_failed(key, now)

    def association_lost(self, assoc: int, now: float) -> list[Action]:
        if assoc != self.hunt.assoc:
            return []
        self._request = self._request_deadline = None
        if self._closing:
            return self._finish()
        self.registered = False
        return self.hunt.lost(assoc, now)

    def receive(self, assoc: int, message: Any, now: float) -> list[Action]:
        if isinstance(message, wire.EndpointKeepAlive):
            return self._keep_alive(assoc, message, now)
        if isinstance(message, wire.RegistrationResponse):
            return self._registration_response(assoc, message, now)
        if isinstance(message, wire.DeregistrationResponse):
            if assoc == self.hunt.assoc and self._request == "deregister":
                self.registered = False
                return [Notify("deregistered", self.pe_identifier), *self._finish()]
            return []
        if isinstance(message, wire.CookieEcho):
            return [Notify("cookie-echo", Received(assoc, message))]
        if isinstance(message, wire.BusinessCard):
            return [Notify("business-card", Received(assoc, message))]
        if isinstance(message, wire.AsapError):
            return [Notify("asap-error", Received(assoc, message))]
        return []

    def receive_error(self, assoc: int, error: wire.ParseError, now: float) -> list[Action]:
        return [Send(assoc, wire.PPID_ASAP, error_reply(error))]

    def receive_announce(self, message: Any, source_address: str, now: float) -> list[Action]:
        if not isinstance(message, wire.ServerAnnounce) or self._closing:
            return []
        return self.hunt.announced(message, source_address, now)

    def handle_timer(self, now: float) -> list[Action]:
        actions = self.hunt.handle_timer(now)
        if self._request_deadline is not None and now >= self._request_deadline:
            self._request = self._request_deadline = None
            if self._closing:
                return actions + self._finish()
            self.registered = False
            actions += self.hunt.abandon(now)  # no answer: try another registrar
        if self._reregister_at is not None and now >= self._reregister_at:
            actions += self._register(now)
        return actions

    def next_timer(self) -> float | None:
        times = [t for t in (self.hunt.next_timer(), self._request_deadline,
                             self._reregister_at) if t is not None]
        return min(times, default=None)

    # ----- internals

    def _register(self, now: float) -> list[Action]:
        self._reregister_at = None
        if not self.hunt.connected:
            return self.hunt.start(now)  # registers once the association is up
        return self._send_request(now, "register")

    def _send_request(self, now: float, kind: str) -> list[Action]:
        assoc = self.hunt.assoc
        assert assoc is not None
        self._request, self._request_deadline = kind, now + self.request_timeout
        if kind == "deregister":
            return [Send(assoc, wire.PPID_ASAP,
                         wire.Deregistration(self.pool_handle, self.pe_identifier))]
        self._reregister_at = now + self.reregistration_interval
        return [Send(assoc, wire.PPID_ASAP, wire.Registration(self.pool_handle, self.element))]

    def _registration_response(self, assoc: int, message: Any, now: float) -> list[Action]:
        if (assoc != self.hunt.assoc or self._request != "register"
                or message.pool_handle != self.pool_handle):
            return []
        self._request = self._request_deadline = None
        if message.reject:
            # Try again soon (the registrar may not know a new address yet), backing off to
            # the re-registration interval while it keeps refusing.
            self.registered = False
            self._reregister_at = now + min(self._reject_delay, self.reregistration_interval)
            self._reject_delay *= 2
            cause = first_cause(message.error)
            rejected = Rejected(self.pool_handle, self.pe_identifier, cause)
            if cause == wire.Cause.NON_UNIQUE_PE_IDENTIFIER and not self._fixed_id:
                self.pe_identifier = random_pe_identifier(self._rng)
            return [Notify("registration-rejected", rejected)]
        self._reject_delay = self._retry_interval
        if self.hunt.server_id is not None:
            self.hunt.home = self.hunt.server_id
        if self.registered:
            return []
        self.registered = True
        return [Notify("registered", self.pe_identifier)]

    def _keep_alive(self, assoc: int, message: Any, now: float) -> list[Action]:
        if message.pool_handle != self.pool_handle or message.pe_identifier not in (
                None, self.pe_identifier):
            return []
        actions: list[Action] = [Send(assoc, wire.PPID_ASAP, wire.EndpointKeepAliveAck(
            self.pool_handle, self.pe_identifier))]
        if assoc == self.hunt.assoc and not message.home:
            self.hunt.server_id = message.server_identifier  # now we know who it is
            if self.registered:
                self.hunt.home = message.server_identifier
        if self.closed or not message.home or (
                assoc == self.hunt.assoc and self.hunt.home == message.server_identifier):
            return actions
        moved = assoc != self.hunt.assoc
        actions += self.hunt.adopt(assoc, message.server_identifier)
        actions.append(Notify("home-registrar", message.server_identifier))
        if moved and (self._request is not None or not self._closing):
            # Whatever was under way with the old registrar now goes to the new home; a PE
            # that was still hunting registers there at once.
            actions += self._send_request(now, self._request or "register")
        return actions

    def _finish(self) -> list[Action]:
        self._request = self._request_deadline = self._reregister_at = None
        self.closed = True
        return [*self.hunt.stop(), Notify("closed")]

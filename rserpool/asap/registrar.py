"""The registrar core (ENRP server, "PR"): registrar-side ASAP (RFC 5352) composed with ENRP.

One ``Registrar`` object is everything a registrar daemon runs: it answers PEs and PUs over
ASAP associations and talks to peer registrars over ENRP associations (``rserpool.enrp``),
keeps the handlespace, supervises its own PEs with keep-alives and enforces the threat
mitigations of RFC 5355. It is sans-I/O: every input takes ``now`` (float seconds) and
returns the actions (``rserpool.actions``) the runtime must carry out, in order.

ASAP and ENRP associations are told apart by what arrives on them (an ASAP or an ENRP
message) and by the key of the ``Connect`` that opened them: keys are tuples whose first
item is ``"asap"`` (open from the ASAP endpoint) or ``"enrp"`` (from the ENRP endpoint).
Association ids must be unique across both endpoints.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from rserpool import wire
from rserpool.actions import Action, Announce, Connect, Send
from rserpool.asap.deadlines import Deadlines
from rserpool.asap.ratelimit import TokenBucket, make_bucket
from rserpool.asap.registrar_config import (
    MAX_HANDLE_RESOLUTION_ITEMS_CAP,
    RegistrarConfig,
    RegistrarStats,
)
from rserpool.asap.sizes import ALWAYS_FITTING, fitting
from rserpool.enrp.server import EnrpServer
from rserpool.handlespace import Handlespace, HandlespaceError, TimerCode

log = logging.getLogger(__name__)

PeKey = tuple[bytes, int]

_ERROR_INFO_LIMIT = 1024  # bytes of an offending message echoed back in an Error cause
_ASAP, _ENRP = wire.PPID_ASAP, wire.PPID_ENRP
_HandleResolutionResponse = wire.HandleResolutionResponse


def operation_error(cause: int, info: bytes = b"") -> wire.OperationError:
    """An Operation Error parameter holding one cause."""
    return wire.OperationError((wire.ErrorCause(cause, info),))


@dataclass(slots=True, eq=False)
class _Assoc:
    """What the core knows about one association."""

    peer_addresses: frozenset[bytes]  # packed (4 or 16 bytes), as wire's packed_addresses
    peer_port: int
    key: Any = None
    asap_transport: Any = None  # what its PEs' ASAP transport parameter says (made once)
    role: int = 0  # 0 until the first message: wire.PPID_ASAP or wire.PPID_ENRP
    registered: set[PeKey] = field(default_factory=set)  # PEs that registered over it
    keep_alive: set[PeKey] = field(default_factory=set)  # taken-over PEs reached over it
    limited: bool = False  # the rate buckets below are made (None: that rate has no limit)
    hr_bucket: TokenBucket | None = None
    eu_bucket: TokenBucket | None = None


@dataclass(slots=True, eq=False)
class _OwnPe:
    """Supervision state of a PE this registrar is home for."""

    reg_assoc: int | None  # the association it registered over; None after a takeover
    ka_assoc: int | None  # where keep-alives go
    ka_pending: bool = False  # a keep-alive is out and its timeout is running
    ka_due: float = 0.0  # next keep-alive (or, while one is pending, its timeout)
    life_until: float = math.inf  # the registration's lifetime ends


def _parse_addresses(addresses: Iterable[Any], limit: int) -> frozenset[bytes]:
    parsed: set[bytes] = set()
    for text in addresses:
        try:
            parsed.add(ipaddress.ip_address(text).packed)
        except ValueError:
            log.warning("ignoring unparsable peer address %r", text)
        if len(parsed) >= limit:
            break
    return frozenset(parsed)


def _filtered_transport(transport: Any, allowed: frozenset[bytes]) -> Any | None:
    """The transport parameter with only the addresses the association really has.

    None when no address is left. An unchanged parameter is returned as it is.
    """
    addresses = transport.packed_addresses
    if allowed.issuperset(addresses):
        return transport if addresses else None
    kept = tuple(a for a in addresses if a in allowed)
    if not kept:
        return None
    if isinstance(transport, wire.SctpTransport | wire.TcpTransport):
        return type(transport)(transport.port, kept, transport.transport_use)
    if isinstance(transport, wire.DccpTransport):
        return wire.DccpTransport(transport.port, kept, transport.service_code)
    return type(transport)(transport.port, kept)


class Registrar:
    """The registrar core. See the module docstring and ``docs/registrar-core.md``.

    ``rng`` supplies every random choice (server id when the config has none, timer jitter):
    a seeded ``random.Random`` makes a run reproducible. ``handlespace`` defaults to a new
    ``rserpool.handlespace.Handlespace``.
    """

    def __init__(
        self,
        config: RegistrarConfig,
        *,
        rng: random.Random,
        handlespace: Handlespace | None = None,
    ) -> None:
        self.config = config
        self.rng = rng
        self.server_id = self.config.server_id or self.rng.randrange(1, 1 << 32)
        self.handlespace = handlespace if handlespace is not None else \
            Handlespace(self.rng.getrandbits(64))  # its random policies draw from our rng
        self.stats = RegistrarStats()
        self.deadlines = Deadlines()
        self._started = False
        self._assocs: dict[int, _Assoc] = {}
        self._own: dict[PeKey, _OwnPe] = {}
        self._reports: dict[PeKey, int] = {}
        self._peer_pe_count: dict[int, int] = {}  # foreign PEs per owning registrar
        self._pending_home: dict[tuple[str, bytes, int], bool] = {}  # keep-alive Connects
        self.enrp = EnrpServer(self)
        self._asap_handlers: dict[type, Callable[[int, _Assoc, Any, float], list[Action]]] = {
            wire.Registration: self._on_registration,
            wire.Deregistration: self._on_deregistration,
            wire.HandleResolution: self._on_handle_resolution,
            wire.EndpointKeepAliveAck: self._on_keep_alive_ack,
            wire.EndpointUnreachable: self._on_endpoint_unreachable,
            wire.AsapError: self._on_asap_error,
        }

    # ------------------------------------------------------------------ core interface

    def association_up(
        self,
        assoc: int,
        peer_addresses: Iterable[str],
        now: float,
        key: Any = None,
        *,
        peer_port: int = 0,
    ) -> list[Action]:
        """An association came up (``key``: the ``Connect.key`` that opened it, if any).

        Reported again for a live association (SCTP restart), it only refreshes the peer's
        addresses: the PEs registered over it stay."""
        addresses = _parse_addresses(peer_addresses, self.config.max_peer_addresses)
        st = self._assocs.get(assoc)
        if st is not None:
            st.peer_addresses, st.peer_port = addresses, peer_port or st.peer_port
            st.asap_transport = None
            return []
        st = self._assocs[assoc] = _Assoc(addresses, peer_port, key)
        if isinstance(key, tuple) and key and key[0] == "enrp":
            st.role = wire.PPID_ENRP
            return self.enrp.association_up(assoc, key, now)
        if isinstance(key, tuple) and key and key[0] == "asap":
            st.role = wire.PPID_ASAP
            return self._on_pe_connected(assoc, st, key, now)
        return []

    def peer_addresses_changed(
        self, assoc: int, peer_addresses: Iterable[str], now: float
    ) -> list[Action]:
        """The peer of an association added or removed addresses (SCTP Add-IP, mobility)."""
        st = self._assocs.get(assoc)
        if st is not None:
            st.peer_addresses = _parse_addresses(peer_addresses, self.config.max_peer_addresses)
            st.asap_transport = None
        return []

    def association_lost(self, assoc: int, now: float) -> list[Action]:
        """An association is gone: its PEs are removed, an ENRP peer loses a path."""
        st = self._assocs.pop(assoc, None)
        if st is None:
            return []
        actions: list[Action] = []
        if st.role == wire.PPID_ENRP:
            actions += self.enrp.association_lost(assoc, now)
        if st.key is not None:
            self._pending_home.pop(st.key, None)
        for pe_key in st.keep_alive:
            own = self._own.get(pe_key)
            if own is not None and own.ka_assoc == assoc:
                own.ka_assoc = None
        if st.registered:
            log.info("association %d lost: removing its %d PE(s)", assoc, len(st.registered))
        for pool_handle, pe_id in list(st.registered):
            actions += self._remove(pool_handle, pe_id, "association lost", now)
        return actions

    def connect_failed(self, key: Any, now: float) -> list[Action]:
        """Optional: a ``Connect`` could not be carried out (else the core retries later)."""
        if isinstance(key, tuple) and key and key[0] == "enrp":
            return self.enrp.connect_failed(key, now)
        self._pending_home.pop(key, None)
        return []

    def receive(self, assoc: int, message: Any, now: float) -> list[Action]:
        """A decoded ASAP or ENRP message arrived on an association."""
        st = self._assocs.get(assoc)
        if st is None:  # the runtime missed association_up: serve it all the same
            st = self._assocs[assoc] = _Assoc(frozenset(), 0)
        handler = self._asap_handlers.get(type(message))
        if handler is not None:
            if st.role != _ASAP:
                if st.role == _ENRP:
                    return self._unexpected(assoc, st, message,
                                            "an ASAP message on an ENRP association")
                st.role = _ASAP
            if not message.unrecognized:  # the usual case: no list to join
                return handler(assoc, st, message, now)
            return self._report_unrecognized(assoc, st, message) + \
                handler(assoc, st, message, now)
        actions: list[Action] = []
        if isinstance(message, EnrpServer.MESSAGE_TYPES):
            if st.role == wire.PPID_ASAP:
                return self._unexpected(assoc, st, message,
                                        "an ENRP message on an ASAP association")
            st.role = wire.PPID_ENRP
            if getattr(message, "unrecognized", ()):
                actions += self._report_unrecognized(assoc, st, message)
            return actions + self.enrp.receive(assoc, message, now)
        return self._unexpected(assoc, st, message, "a message a registrar does not take")

    def receive_error(
        self, assoc: int, error: wire.ParseError, now: float, *, ppid: int = 0
    ) -> list[Action]:
        """Undecodable bytes arrived: answer with an Error carrying the parser's cause.

        ``ppid`` (11 or 12) picks ASAP or ENRP for an association that has sent nothing
        decodable yet; without it such an association is answered in ASAP.
        """
        st = self._assocs.get(assoc)
        if st is None:
            st = self._assocs[assoc] = _Assoc(frozenset(), 0)
        log.warning("association %d: undecodable message (cause %d at offset %d): %s",
                    assoc, error.cause, error.offset, error)
        if not getattr(error, "report", True):
            return []  # an unknown parameter whose action bits say "do not report"
        info = getattr(error, "info", b"")[:_ERROR_INFO_LIMIT]
        return [self._error_to(assoc, st.role or ppid or wire.PPID_ASAP,
                               operation_error(error.cause, info))]

    def receive_announce(self, message: Any, source_address: str, now: float) -> list[Action]:
        """A UDP announce arrived (ENRP Presence from a peer; other registrars' ASAP announces
        are ignored)."""
        if isinstance(message, wire.Presence):
            return self.enrp.receive_announce(message, source_address, now)
        if not isinstance(message, wire.ServerAnnounce):
            log.info("ignoring announce %s from %s", type(message).__name__, source_address)
        return []

    def handle_timer(self, now: float) -> list[Action]:
        """Run every timer that is due. The first call starts the registrar."""
        actions: list[Action] = []
        if not self._started:
            self._started = True
            self.deadlines.schedule(("announce",), now)
            actions += self.enrp.start(now)
        for pool_handle, element, code in self.handlespace.expire(now):
            if code == TimerCode.LIFETIME:  # the handlespace has removed it already
                log.info("registration of PE $%08x in pool %r expired",
                         element.pe_identifier, pool_handle)
                actions += self._removed(pool_handle, element.pe_identifier, element, now)
            else:
                actions += self._pe_timer(pool_handle, element.pe_identifier, now)
        for key in self.deadlines.pop_due(now):
            if key[0] == "announce":
                actions += self._announce_timer(now)
            else:
                actions += self.enrp.handle_timer(key, now)
        return actions

    def next_timer(self) -> float | None:
        """When ``handle_timer`` must run next (0.0 before the first call starts the core)."""
        if not self._started:
            return 0.0
        pe_timer = self.handlespace.next_deadline()
        other = self.deadlines.next_deadline()
        if pe_timer is None or other is None:
            return other if pe_timer is None else pe_timer
        return min(pe_timer, other)

    def timer_serial(self) -> int:
        """Changes whenever a deadline was set (so ``next_timer()`` may be earlier): a
        runtime may skip asking for ``next_timer()`` while it stays the same."""
        return self.handlespace.timer_serial + self.deadlines.serial

    # ------------------------------------------------------------------ introspection

    def statistics(self) -> dict[str, int]:
        """RSPLIB's statsfile columns: gauges (pools, PEs, owned PEs, peers) and counters."""
        hs = self.handlespace
        return {
            "pools": len(hs.pools()),
            "pool_elements": len(hs),
            "owned_pool_elements": len(self._own),
            "peers": len(self.enrp.peers),
            **self.stats.as_dict(),
        }

    def jitter(self, interval: float) -> float:
        """A timer cycle randomised to 75-100 % of its nominal length (never longer)."""
        return interval * self.rng.uniform(0.75, 1.0)

    # ------------------------------------------------------------------ ASAP messages

    def _on_registration(self, assoc: int, st: _Assoc, msg: Any, now: float) -> list[Action]:
        pool_handle: bytes = msg.pool_handle
        pe = msg.pool_element
        pe_id: int = pe.pe_identifier
        pe_key = (pool_handle, pe_id)

        def reject(cause: int, why: str) -> list[Action]:
            log.warning("registration of PE $%08x in pool %r refused: %s", pe_id, pool_handle, why)
            return [Send(assoc, wire.PPID_ASAP, wire.RegistrationResponse(
                pool_handle, pe_id, reject=True, error=operation_error(cause)))]

        own = self._own.get(pe_key)
        if own is not None and own.reg_assoc not in (None, assoc):
            return reject(wire.Cause.REJECTED_SECURITY,
                          f"registered over association {own.reg_assoc}, not {assoc}")
        if pe.registration_life <= 0:
            return reject(wire.Cause.INVALID_VALUES,
                          f"a registration life of {pe.registration_life} ms")
        if pe_key not in st.registered and \
                len(st.registered) >= self.config.max_pes_per_association:
            return reject(wire.Cause.LACK_OF_RESOURCES, "too many PEs on one association")
        user_transport = _filtered_transport(pe.user_transport, st.peer_addresses)
        if user_transport is None:
            return reject(wire.Cause.REJECTED_SECURITY,
                          "none of its addresses belongs to the association")
        if st.asap_transport is None:
            port = st.peer_port or (pe.asap_transport.port if pe.asap_transport else 0)
            st.asap_transport = wire.SctpTransport(port, sorted(st.peer_addresses))
        stored = wire.PoolElement(pe_id, self.server_id, pe.registration_life, user_transport,
                                  pe.member_selection_policy, st.asap_transport)
        previous = self.handlespace.get(pool_handle, pe_id)
        try:
            new = self.handlespace.register(pool_handle, stored, now=now, owner=self.server_id,
                                            assoc=assoc)
        except HandlespaceError as exc:
            return reject(exc.cause, str(exc))
        if previous is not None and own is None:
            self._forget_foreign(previous.home_enrp_server_identifier)
        if new:
            self.stats.registrations += 1
        else:
            self.stats.reregistrations += 1
        if own is None:
            own = self._own[pe_key] = _OwnPe(assoc, assoc)
        elif own.reg_assoc is None:
            self._unbind_keep_alive(pe_key, own)
            own.reg_assoc = own.ka_assoc = assoc
        st.registered.add(pe_key)
        own.ka_pending = False
        own.ka_due = now + self.config.endpoint_keep_alive_transmission_interval
        own.life_until = now + stored.registration_life / 1000.0
        self._arm(pool_handle, pe_id, own)
        log.debug("%s PE $%08x in pool %r over association %d",
                  "registered" if new else "re-registered", pe_id, pool_handle, assoc)
        actions: list[Action] = [Send(assoc, wire.PPID_ASAP,
                                      wire.RegistrationResponse(pool_handle, pe_id))]
        return actions + self.enrp.handle_update(wire.UpdateAction.ADD_PE, pool_handle, stored,
                                                 now)

    def _on_deregistration(self, assoc: int, st: _Assoc, msg: Any, now: float) -> list[Action]:
        pool_handle: bytes = msg.pool_handle
        pe_id: int = msg.pe_identifier
        pe_key = (pool_handle, pe_id)
        existing = self.handlespace.get(pool_handle, pe_id)
        if existing is not None and not self._may_deregister(pe_key, existing, assoc, st):
            log.warning("deregistration of PE $%08x in pool %r over association %d refused: "
                        "not the association that registered it", pe_id, pool_handle, assoc)
            return [Send(assoc, wire.PPID_ASAP, wire.DeregistrationResponse(
                pool_handle, pe_id, reject=True,
                error=operation_error(wire.Cause.REJECTED_SECURITY)))]
        actions: list[Action] = [Send(assoc, wire.PPID_ASAP,
                                      wire.DeregistrationResponse(pool_handle, pe_id))]
        if existing is None:  # already gone: report success, as RSPLIB does
            return actions
        self.stats.deregistrations += 1
        log.info("deregistered PE $%08x in pool %r", pe_id, pool_handle)
        return actions + self._remove(pool_handle, pe_id, "deregistered", now)

    def _may_deregister(self, pe_key: PeKey, existing: Any, assoc: int, st: _Assoc) -> bool:
        own = self._own.get(pe_key)
        if own is None:
            return False  # another registrar's PE: only its home may remove it
        if own.reg_assoc is not None:
            return own.reg_assoc == assoc
        # Taken over and not re-registered yet: the PE's own addresses must be the caller's.
        return _filtered_transport(existing.user_transport, st.peer_addresses) is \
            existing.user_transport

    def _on_handle_resolution(
        self, assoc: int, st: _Assoc, msg: Any, now: float
    ) -> list[Action]:
        pool_handle: bytes = msg.pool_handle
        if not st.limited:
            self._make_buckets(st, now)
        bucket = st.hr_bucket
        if bucket is not None and not bucket.take(now):
            log.warning("association %d exceeds the handle resolution rate", assoc)
            return [Send(assoc, wire.PPID_ASAP, wire.HandleResolutionResponse(
                pool_handle, error=operation_error(wire.Cause.REJECTED_SECURITY)))]
        self.stats.handle_resolutions += 1
        items = msg.items or self.config.max_handle_resolution_items
        selected = self.handlespace.select(pool_handle, items if
                                           items < MAX_HANDLE_RESOLUTION_ITEMS_CAP else
                                           MAX_HANDLE_RESOLUTION_ITEMS_CAP)
        if not selected:
            return [Send(assoc, _ASAP, wire.HandleResolutionResponse(
                pool_handle, error=operation_error(wire.Cause.UNKNOWN_POOL_HANDLE)))]
        if len(selected) > ALWAYS_FITTING:
            del selected[fitting(selected):]
        return [Send(assoc, _ASAP, _HandleResolutionResponse(
            pool_handle, tuple(selected), selected[0].member_selection_policy))]

    def _on_keep_alive_ack(self, assoc: int, st: _Assoc, msg: Any, now: float) -> list[Action]:
        pe_key = (msg.pool_handle, msg.pe_identifier)
        own = self._own.get(pe_key)
        if own is None:
            log.info("keep-alive ack for PE $%08x in pool %r that is not ours",
                     msg.pe_identifier, msg.pool_handle)
            return []
        if own.ka_assoc is None:
            own.ka_assoc = assoc
            st.keep_alive.add(pe_key)
        elif own.ka_assoc != assoc and own.reg_assoc != assoc:
            log.warning("keep-alive ack for PE $%08x from foreign association %d",
                        msg.pe_identifier, assoc)
            return []
        own.ka_pending = False
        own.ka_due = now + self.config.endpoint_keep_alive_transmission_interval
        self._arm(msg.pool_handle, msg.pe_identifier, own)
        return []

    def _on_endpoint_unreachable(
        self, assoc: int, st: _Assoc, msg: Any, now: float
    ) -> list[Action]:
        pool_handle: bytes = msg.pool_handle
        pe_id: int = msg.pe_identifier
        if not st.limited:
            self._make_buckets(st, now)
        bucket = st.eu_bucket
        if bucket is not None and not bucket.take(now):
            log.warning("association %d exceeds the endpoint unreachable rate: report ignored",
                        assoc)
            return []
        self.stats.failure_reports += 1
        if self.handlespace.get(pool_handle, pe_id) is None:
            return []
        pe_key = (pool_handle, pe_id)
        reports = self._reports.get(pe_key, 0) + 1
        if reports < self.config.max_bad_pe_reports:
            self._reports[pe_key] = reports
            return []
        log.info("PE $%08x in pool %r reported unreachable %d times: removing it",
                 pe_id, pool_handle, reports)
        return self._remove(pool_handle, pe_id, "unreachable", now)

    def _make_buckets(self, st: _Assoc, now: float) -> None:
        config = self.config
        st.hr_bucket = make_bucket(config.max_hr_rate, config.rate_burst, now)
        st.eu_bucket = make_bucket(config.max_eu_rate, config.rate_burst, now)
        st.limited = True

    def _on_asap_error(self, assoc: int, st: _Assoc, msg: Any, now: float) -> list[Action]:
        log.warning("association %d reports an ASAP error: %r", assoc, msg.error)
        return []

    def _unexpected(self, assoc: int, st: _Assoc, message: Any, why: str) -> list[Action]:
        log.warning("association %d sent %s (%s): answering with an Error",
                    assoc, type(message).__name__, why)
        ppid = wire.PPID_ENRP if isinstance(message, EnrpServer.MESSAGE_TYPES) else wire.PPID_ASAP
        info = message.encode()[:_ERROR_INFO_LIMIT]
        return [self._error_to(assoc, ppid, operation_error(wire.Cause.UNRECOGNIZED_MESSAGE, info))]

    def _report_unrecognized(self, assoc: int, st: _Assoc, message: Any) -> list[Action]:
        causes = tuple(wire.ErrorCause(wire.Cause.UNRECOGNIZED_PARAMETER, raw[:_ERROR_INFO_LIMIT])
                       for raw in message.unrecognized)
        log.info("association %d: %d unrecognized parameter(s) in %s", assoc, len(causes),
                 type(message).__name__)
        ppid = wire.PPID_ENRP if isinstance(message, EnrpServer.MESSAGE_TYPES) else wire.PPID_ASAP
        return [self._error_to(assoc, ppid, wire.OperationError(causes))]

    def _error_to(self, assoc: int, ppid: int, error: wire.OperationError) -> Send:
        if ppid == wire.PPID_ENRP:
            return Send(assoc, wire.PPID_ENRP,
                        wire.EnrpError(self.server_id, self.enrp.peer_of(assoc), error))
        return Send(assoc, wire.PPID_ASAP, wire.AsapError(error))

    # ------------------------------------------------------------------ timers

    def _announce_timer(self, now: float) -> list[Action]:
        self.deadlines.schedule(("announce",), now + self.jitter(self.config.server_announce_cycle))
        if not self.config.asap_announces or self.enrp.in_startup:
            return []
        transports = (wire.SctpTransport(self.config.asap_port, self.config.asap_addresses),) \
            if self.config.asap_addresses else ()  # PUs then use the announce's source
        return [Announce(wire.PPID_ASAP, wire.ServerAnnounce(self.server_id, transports))]

    def _arm(self, pool_handle: bytes, pe_id: int, own: _OwnPe) -> None:
        """The handlespace keeps one timer per PE. A foreign PE's is its lifetime (set by
        every registration); an own PE's is its next keep-alive event or the end of its
        lifetime, whichever comes first, and this core checks which."""
        code = TimerCode.KEEPALIVE_TIMEOUT if own.ka_pending else \
            TimerCode.KEEPALIVE_TRANSMISSION
        self.handlespace.set_timer(pool_handle, pe_id, min(own.ka_due, own.life_until), code)

    def _pe_timer(self, pool_handle: bytes, pe_id: int, now: float) -> list[Action]:
        own = self._own.get((pool_handle, pe_id))
        if own is None:
            return []
        if now >= own.life_until:
            log.info("registration of PE $%08x in pool %r expired", pe_id, pool_handle)
            return self._remove(pool_handle, pe_id, "lifetime expired", now)
        if now < own.ka_due:
            self._arm(pool_handle, pe_id, own)
            return []
        if own.ka_pending:
            log.info("PE $%08x in pool %r did not answer its keep-alive: removing it",
                     pe_id, pool_handle)
            return self._remove(pool_handle, pe_id, "keep-alive timeout", now)
        own.ka_pending = True
        own.ka_due = now + self.config.endpoint_keep_alive_timeout_interval
        self._arm(pool_handle, pe_id, own)
        return self._keep_alive(pool_handle, pe_id, home=False)

    # ------------------------------------------------------------------ keep-alives

    def _keep_alive(self, pool_handle: bytes, pe_id: int, *, home: bool) -> list[Action]:
        """An Endpoint Keep-Alive to a PE: over its association, or a new one to its ASAP
        transport address (taken-over PEs, takeover suggestions)."""
        own = self._own.get((pool_handle, pe_id))
        message = wire.EndpointKeepAlive(self.server_id, pool_handle, pe_id, home)
        if own is not None and own.ka_assoc is not None:
            self.stats.endpoint_keep_alives += 1
            return [Send(own.ka_assoc, wire.PPID_ASAP, message)]
        key = ("asap", pool_handle, pe_id)
        if key in self._pending_home:
            self._pending_home[key] = self._pending_home[key] or home
            return []
        pe = self.handlespace.get(pool_handle, pe_id)
        transport = pe.asap_transport if pe is not None else None
        if transport is None or not transport.addresses or not transport.port:
            log.warning("PE $%08x in pool %r has no ASAP transport address to reach it",
                        pe_id, pool_handle)
            return []
        self._pending_home[key] = home
        return [Connect(key, tuple(str(a) for a in transport.addresses), transport.port)]

    def _on_pe_connected(self, assoc: int, st: _Assoc, key: Any, now: float) -> list[Action]:
        home = self._pending_home.pop(key, None)
        if home is None or len(key) != 3:
            return []
        pool_handle, pe_id = key[1], key[2]
        if self.handlespace.get(pool_handle, pe_id) is None:
            return []
        own = self._own.get((pool_handle, pe_id))
        if own is not None and own.ka_assoc is None:
            own.ka_assoc = assoc
            st.keep_alive.add((pool_handle, pe_id))
        self.stats.endpoint_keep_alives += 1
        return [Send(assoc, wire.PPID_ASAP,
                     wire.EndpointKeepAlive(self.server_id, pool_handle, pe_id, home))]

    def _unbind_keep_alive(self, pe_key: PeKey, own: _OwnPe) -> None:
        if own.ka_assoc is not None:
            st = self._assocs.get(own.ka_assoc)
            if st is not None:
                st.keep_alive.discard(pe_key)

    # ------------------------------------------------------------------ handlespace changes

    def _remove(self, pool_handle: bytes, pe_id: int, reason: str, now: float) -> list[Action]:
        """Remove a PE; if it was ours, tell every peer (Handle Update DEL_PE)."""
        removed = self.handlespace.deregister(pool_handle, pe_id)
        if removed is not None:
            log.debug("removed PE $%08x in pool %r: %s", pe_id, pool_handle, reason)
        return self._removed(pool_handle, pe_id, removed, now)

    def _removed(self, pool_handle: bytes, pe_id: int, removed: Any,
                 now: float) -> list[Action]:
        """Forget a PE the handlespace no longer has (``removed``: its element, if it had
        it until now); if it was ours, tell every peer."""
        pe_key = (pool_handle, pe_id)
        self._reports.pop(pe_key, None)
        self._pending_home.pop(("asap", pool_handle, pe_id), None)
        own = self._own.pop(pe_key, None)
        if own is not None:
            self._unbind_keep_alive(pe_key, own)
            if own.reg_assoc is not None:
                st = self._assocs.get(own.reg_assoc)
                if st is not None:
                    st.registered.discard(pe_key)
        if removed is None:
            return []
        if own is None:
            self._forget_foreign(removed.home_enrp_server_identifier)
            return []
        return self.enrp.handle_update(wire.UpdateAction.DEL_PE, pool_handle, removed, now)

    def _forget_foreign(self, owner: int) -> None:
        count = self._peer_pe_count.get(owner, 0) - 1
        if count > 0:
            self._peer_pe_count[owner] = count
        else:
            self._peer_pe_count.pop(owner, None)

    # Calls from the ENRP side -------------------------------------------------

    def store_foreign(self, pool_handle: bytes, pe: Any, now: float) -> bool:
        """Store a PE another registrar is home for (Handle Update, Handle Table Response)."""
        pe_id: int = pe.pe_identifier
        pe_key = (pool_handle, pe_id)
        owner: int = pe.home_enrp_server_identifier
        previous = self.handlespace.get(pool_handle, pe_id)
        previous_owner = previous.home_enrp_server_identifier if previous is not None else None
        if previous_owner != owner and self._peer_pe_count.get(owner, 0) >= \
                self.config.max_pes_per_peer:
            log.warning("registrar $%08x is home for too many PEs: PE $%08x refused",
                        owner, pe_id)
            return False
        try:
            self.handlespace.register(pool_handle, pe, now=now, owner=owner)
        except HandlespaceError as exc:
            log.warning("PE $%08x in pool %r from registrar $%08x refused: %s",
                        pe_id, pool_handle, owner, exc)
            return False
        own = self._own.pop(pe_key, None)
        if own is not None:  # the PE moved from us to another registrar
            log.info("PE $%08x in pool %r moved to registrar $%08x", pe_id, pool_handle, owner)
            self._unbind_keep_alive(pe_key, own)
            if own.reg_assoc is not None:
                st = self._assocs.get(own.reg_assoc)
                if st is not None:
                    st.registered.discard(pe_key)
        elif previous_owner is not None and previous_owner != owner:
            self._forget_foreign(previous_owner)
        if previous_owner != owner:
            self._peer_pe_count[owner] = self._peer_pe_count.get(owner, 0) + 1
        return True  # the handlespace runs its lifetime timer

    def remove_foreign(self, pool_handle: bytes, pe_id: int, now: float) -> list[Action]:
        """Remove a PE on its home registrar's word (Handle Update DEL_PE, resync purge)."""
        return self._remove(pool_handle, pe_id, "removed by its home registrar", now)

    def association_addresses(self, assoc: int) -> frozenset[bytes]:
        """The peer addresses an association really has (packed, 4 or 16 bytes)."""
        st = self._assocs.get(assoc)
        return st.peer_addresses if st is not None else frozenset()

    def owned_keys(self, owner: int) -> list[PeKey]:
        """(pool handle, PE id) of every PE whose home is ``owner``."""
        return [(pool_handle, pe.pe_identifier)
                for pool_handle, pe in self.handlespace.owned_by(owner)]

    def adopt(self, pool_handle: bytes, pe_id: int, now: float) -> list[Action]:
        """Become home of a dead peer's PE: H-flag keep-alive, then supervise it."""
        previous = self.handlespace.get(pool_handle, pe_id)
        if previous is None or not self._rehome(pool_handle, previous, self.server_id, now):
            return []
        self._forget_foreign(previous.home_enrp_server_identifier)
        own = self._own[(pool_handle, pe_id)] = _OwnPe(
            None, None, ka_pending=True,
            ka_due=now + self.config.endpoint_keep_alive_timeout_interval,
            life_until=now + previous.registration_life / 1000.0)  # as the peers count it
        self._arm(pool_handle, pe_id, own)
        return self._keep_alive(pool_handle, pe_id, home=True)

    def transfer(self, pool_handle: bytes, pe_id: int, new_owner: int, now: float) -> None:
        """Another registrar took over this PE's dead home (Takeover Server)."""
        previous = self.handlespace.get(pool_handle, pe_id)
        if previous is None or (pool_handle, pe_id) in self._own or \
                not self._rehome(pool_handle, previous, new_owner, now):
            return
        self._forget_foreign(previous.home_enrp_server_identifier)
        self._peer_pe_count[new_owner] = self._peer_pe_count.get(new_owner, 0) + 1

    def _rehome(self, pool_handle: bytes, pe: Any, owner: int, now: float) -> bool:
        """Store the PE again with a new home, so that the element itself (what handle table
        pages and updates carry) names its home, not only the ownership index."""
        moved = wire.PoolElement(pe.pe_identifier, owner, pe.registration_life, pe.user_transport,
                                 pe.member_selection_policy, pe.asap_transport)
        try:
            self.handlespace.register(pool_handle, moved, now=now, owner=owner)
        except HandlespaceError as exc:  # it was accepted before: only a limit can refuse it
            log.error("could not re-home PE $%08x in pool %r: %s", pe.pe_identifier,
                      pool_handle, exc)
            return False
        return True

    def suggest_home(self, pool_handle: bytes, pe_id: int) -> list[Action]:
        """Offer to become a PE's home (takeover suggestion): an H-flag keep-alive."""
        log.info("taking over PE $%08x in pool %r on its home's suggestion", pe_id, pool_handle)
        return self._keep_alive(pool_handle, pe_id, home=True)

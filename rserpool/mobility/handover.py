"""``Mobility``: keep a usrsctp endpoint (and the pool element on it) on the host's addresses.

When the host gains an address the user allows, the endpoint binds it (SCTP Add-IP: an
ASCONF add-ip to every peer), waits per association for the peer's acknowledgement and
asks that peer to send to it (set-primary). When the host loses an address the endpoint is
bound to, the endpoint unbinds it (ASCONF delete-ip), unless it is the last one: then it
waits for the next address (break-before-make). After each change the pool element
re-registers its live addresses, as soon as its registrar association acknowledged the
change, so that a peer whose association died (both ends moved at once: no ASCONF could
arrive) finds the new addresses by handle resolution (draft-dreibholz-rserpool-applic-mobility).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rserpool.transport.base import TransportError

if TYPE_CHECKING:
    from rserpool.aio.pool_element import PoolElement
    from rserpool.transport.usrsctp import UsrsctpEndpoint

log = logging.getLogger("rserpool.mobility")

_POLL_S = 0.01  # usrsctp signals no ASCONF acknowledgement on the sender: poll for it

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class MobilityEvent:
    """Something ``Mobility`` saw or did; ``time`` is the event loop's clock.

    ``kind``: ``address-up`` (the host gained an allowed address), ``address-down`` (it lost
    a bound one), ``bound`` / ``unbound`` (bindx add / remove issued), ``acknowledged`` /
    ``removed`` (the peer of ``assoc`` acknowledged the ADD-IP / DELETE-IP), ``peer-primary``
    (the peer of ``assoc`` was asked to send to ``address``), ``timeout`` (the peer of
    ``assoc`` did not acknowledge in time: it moved too, or is gone), ``deferred`` (vanished
    addresses stay bound until the associations that did not confirm the new ones are gone),
    ``re-registered`` (the pool element re-registered; ``detail`` lists its addresses),
    ``handover`` (a change is complete; ``detail``: the addresses now in use),
    ``error`` (a transport call failed; ``detail`` says which).
    """

    kind: str
    address: str | None
    assoc: int | None = None
    time: float = 0.0
    detail: str = ""


class Mobility:
    """``async with Mobility(endpoint, pe, interfaces=["wlan0"], prefixes=["10.2.0.0/16"])``.

    ``endpoint``: an open ``UsrsctpEndpoint`` bound to specific addresses (not a wildcard);
    ``pool_element``: the ``PoolElement`` on it to re-register, or None (a mobile pool user).
    Only addresses on one of ``interfaces`` (names; None: any) and inside one of
    ``prefixes`` (None: any) are added; loopback and link-local addresses never are. Any
    bound address the host loses is removed. ``asconf_timeout``: how long to wait for one
    peer's acknowledgement. ``on_event(MobilityEvent)`` is called for everything done (also
    logged on ``rserpool.mobility``).
    """

    def __init__(
        self,
        endpoint: UsrsctpEndpoint,
        pool_element: PoolElement | None = None,
        *,
        interfaces: Iterable[str] | None = None,
        prefixes: Iterable[str] | None = None,
        asconf_timeout: float = 1.0,
        on_event: Callable[[MobilityEvent], None] | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.pool_element = pool_element
        self.interfaces = None if interfaces is None else frozenset(interfaces)
        self.prefixes: tuple[Network, ...] | None = (
            None if prefixes is None
            else tuple(ipaddress.ip_network(p, strict=False) for p in prefixes))
        self.asconf_timeout = asconf_timeout
        self._on_event = on_event
        self._dirty = asyncio.Event()
        self._idle = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._registered: list[str] = []
        self._waiting: list[int] = []  # associations a deferred removal waits for

    # ----- life cycle

    async def __aenter__(self) -> Mobility:
        self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def start(self) -> None:
        """Follow the host's addresses from now on (and catch up with changes so far)."""
        if self._task is not None:
            return
        self._unsubscribe = self.endpoint.watch_addresses(self._host_changed)
        self._task = asyncio.get_running_loop().create_task(self._run(), name="mobility")
        self._dirty.set()

    async def close(self) -> None:
        """Stop following (the endpoint stays open and bound as it is)."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def settled(self) -> None:
        """Wait until every address change seen so far has been handled."""
        while self._dirty.is_set() or not self._idle.is_set():
            await self._idle.wait()
            await asyncio.sleep(0)

    # ----- what is in use

    @property
    def addresses(self) -> list[str]:
        """The endpoint's bound addresses that the host still has (what is registered)."""
        host = self.endpoint.host_addresses()
        return [a for a in self._bound() if a in host]

    def allowed(self, address: str, interface: str) -> bool:
        """Whether a host address on ``interface`` may be added to the endpoint."""
        ip = ipaddress.ip_address(address)
        if ip.is_loopback or ip.is_link_local:
            return False
        if self.interfaces is not None and interface not in self.interfaces:
            return False
        if self.prefixes is not None and not any(ip in net for net in self.prefixes):
            return False
        return ip.version == 4 or any(ipaddress.ip_address(a).version == 6
                                      for a in self._bound())

    # ----- the work

    def _host_changed(self, added: bool, address: str, ifindex: int, ifname: str) -> None:
        if added and self.allowed(address, ifname):
            self._emit("address-up", address, detail=ifname)
        elif not added and address in self._bound():
            self._emit("address-down", address, detail=ifname)
        else:
            return
        self._idle.clear()
        self._dirty.set()

    async def _run(self) -> None:
        while True:
            self._idle.set()
            await self._dirty.wait()
            self._idle.clear()
            self._dirty.clear()
            try:
                await self._reconcile()
            except TransportError as exc:
                self._emit("error", exc.address, detail=str(exc))

    def _bound(self) -> list[str]:
        return [str(ipaddress.ip_address(a)) for a in self.endpoint.local_addresses()]

    async def _reconcile(self) -> None:
        """Bring the endpoint's addresses in line with the host's: add, then remove."""
        ep = self.endpoint
        host = ep.host_addresses()
        bound = self._bound()
        added = [a for a, (_, name) in sorted(host.items())
                 if a not in bound and self.allowed(a, name)]
        vanished = [a for a in bound if a not in host]
        if not added and vanished and len(vanished) == len(bound):
            self._strand()
            return
        if not added and not vanished:
            return
        started = asyncio.get_running_loop().time()
        for address in added:
            await ep.bindx_add(address, wait=False)
            self._emit("bound", address)
        if added:
            await asyncio.gather(*(self._adopt(assoc, added) for assoc in ep.associations()))
        live = [a for a in bound if a not in vanished] + added
        changed = bool(added)
        if vanished:
            # usrsctp crashes when a DELETE-IP meets an association whose peer never
            # acknowledged our ADD-IP (a peer that moved too): keep the vanished address
            # bound until such associations are gone, and try again later.
            waiting = [assoc for assoc in ep.associations() if not self._confirmed(assoc, live)]
            if waiting:
                if waiting != self._waiting:
                    self._emit("deferred", ",".join(vanished),
                               detail=f"associations {waiting} have not confirmed {live}")
                asyncio.get_running_loop().call_later(self.asconf_timeout, self._dirty.set)
            else:
                for address in vanished:
                    await ep.bindx_remove(address, wait=False)
                    self._emit("unbound", address)
                await asyncio.gather(*(self._release(assoc, vanished)
                                       for assoc in ep.associations()))
                changed = True
            self._waiting = waiting
        if live != self._registered:
            self._reregister(live)
        if changed:
            elapsed = asyncio.get_running_loop().time() - started
            self._emit("handover", None, detail=f"{','.join(live)} in {elapsed:.3f} s")

    def _strand(self) -> None:
        """The endpoint lost its last address: abort its associations."""
        for assoc in self.endpoint.associations():
            try:
                self.endpoint.abort(assoc)
                self._emit("aborted", None, assoc)
            except TransportError as exc:
                self._emit("error", None, assoc, detail=str(exc))

    def _confirmed(self, assoc: int, addresses: Sequence[str]) -> bool:
        try:
            return all(self.endpoint.acknowledged(assoc, a, True) for a in addresses)
        except TransportError:
            return True  # gone meanwhile

    async def _adopt(self, assoc: int, added: Sequence[str]) -> None:
        """Wait for the peer's ADD-IP acknowledgements, then point it at the new address."""
        for address in added:
            if not await self._acknowledged(assoc, address, present=True):
                return
            self._emit("acknowledged", address, assoc)
        try:
            self.endpoint.set_peer_primary(assoc, added[0])
            self._emit("peer-primary", added[0], assoc)
        except TransportError as exc:
            self._emit("error", added[0], assoc, detail=str(exc))

    async def _release(self, assoc: int, vanished: Sequence[str]) -> None:
        """Wait for the peer's DELETE-IP acknowledgements."""
        for address in vanished:
            if await self._acknowledged(assoc, address, present=False):
                self._emit("removed", address, assoc)

    async def _acknowledged(self, assoc: int, address: str, *, present: bool,
                            wait: bool = True) -> bool:
        """Whether the peer of ``assoc`` acknowledged the change (within the timeout)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (self.asconf_timeout if wait else 0.0)
        while True:
            try:
                if self.endpoint.acknowledged(assoc, address, present):
                    return True
            except TransportError:
                return False  # the association is gone
            if loop.time() >= deadline:
                if wait:
                    self._emit("timeout", address, assoc)
                return False
            await asyncio.sleep(_POLL_S)

    def _reregister(self, addresses: list[str]) -> None:
        self._registered = list(addresses)
        if self.pool_element is not None and addresses:
            self.pool_element.set_addresses(addresses)
            self._emit("re-registered", None, detail=",".join(addresses))

    def _emit(self, kind: str, address: str | None, assoc: int | None = None, *,
              detail: str = "") -> None:
        event = MobilityEvent(kind, address, assoc, asyncio.get_running_loop().time(), detail)
        log.info("%s %s%s%s", kind, address or "",
                 "" if assoc is None else f" assoc {assoc}", f" {detail}" if detail else "")
        if self._on_event is not None:
            self._on_event(event)

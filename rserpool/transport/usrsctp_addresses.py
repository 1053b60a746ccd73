"""Keep usrsctp's list of local addresses in step with the host (Linux, netlink).

usrsctp reads the host's addresses once, in ``usrsctp_init``; on Linux its own address
monitor is off, so it never hears of addresses added or removed later, and then
``bindx(ADD)`` of a new address fails and a removed one stays usable in its eyes. While at
least one endpoint is open, ``AddressMonitor`` listens to rtnetlink address events on the
event loop and tells usrsctp (``sctp_add_addr_to_vrf`` / ``sctp_del_addr_from_vrf``).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
from collections.abc import Callable
from typing import Any

# usrsctp deletes an address only when told the interface it was added with: remember it.
Interface = tuple[int, str]
# (added, address, ifindex, ifname): called on the event loop after usrsctp was told.
Listener = Callable[[bool, str, int, str], None]


def _address_of(msg: Any) -> str | None:
    """The address of an RTM_NEWADDR/DELADDR message, None for ones usrsctp cannot use."""
    text = msg.get("IFA_LOCAL") or msg.get("IFA_ADDRESS")
    if text is None:
        return None
    address = ipaddress.ip_address(text)
    if address.version == 6 and address.is_link_local:
        return None  # needs a scope id; SCTP over UDP here uses global addresses
    return str(address)


async def host_addresses() -> dict[str, Interface]:
    """Every usable local address of the host: address -> (ifindex, ifname)."""
    from pyroute2 import AsyncIPRoute

    found: dict[str, Interface] = {}
    async with AsyncIPRoute() as ipr:
        async for msg in await ipr.get_addr():
            address = _address_of(msg)
            if address is not None:
                index = int(msg["index"])
                found[address] = (index, socket.if_indextoname(index))
    return found


class AddressMonitor:
    """Tells one process's usrsctp stack about local address changes while endpoints run."""

    def __init__(self, add: Any, delete: Any) -> None:
        self._add = add  # (address, ifindex, ifname) -> None
        self._delete = delete
        self._known: dict[str, Interface] = {}
        self._users = 0
        self._task: asyncio.Task[None] | None = None
        self._listeners: list[Listener] = []

    def addresses(self) -> dict[str, Interface]:
        """The local addresses usrsctp has been told about: address -> (ifindex, ifname)."""
        return dict(self._known)

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` for every address usrsctp is told about from now on (after
        telling it, so a ``bindx`` of an added address succeeds); returns the unsubscriber."""
        self._listeners.append(listener)

        def unsubscribe() -> None:
            with contextlib.suppress(ValueError):
                self._listeners.remove(listener)

        return unsubscribe

    async def acquire(self) -> None:
        """Start listening (on the running loop) unless already; returns once in sync."""
        self._users += 1
        loop = asyncio.get_running_loop()
        if self._task is not None and not self._task.done() and self._task.get_loop() is loop:
            return
        ready: asyncio.Future[None] = loop.create_future()
        self._task = loop.create_task(self._run(ready), name="usrsctp-address-monitor")
        try:
            await ready
        except BaseException:
            self.release()
            raise

    def release(self) -> None:
        """Stop listening when the last endpoint is gone."""
        self._users = max(0, self._users - 1)
        if self._users == 0 and self._task is not None:
            self._task.cancel()
            self._task = None

    async def learn(self, address: str) -> bool:
        """Tell usrsctp about ``address`` now if the host has it (an event may still be on
        its way); False if the host does not have it."""
        where = (await host_addresses()).get(str(ipaddress.ip_address(address)))
        if where is None:
            return False
        self._added(str(ipaddress.ip_address(address)), where)
        return True

    def _added(self, address: str, where: Interface) -> None:
        if self._known.get(address) != where:
            self._add(address, *where)
            self._known[address] = where
            self._tell(True, address, where)

    def _removed(self, address: str) -> None:
        where = self._known.pop(address, None)
        if where is not None:
            self._delete(address, *where)
            self._tell(False, address, where)

    def _tell(self, added: bool, address: str, where: Interface) -> None:
        for listener in list(self._listeners):
            listener(added, address, *where)

    async def _run(self, ready: asyncio.Future[None]) -> None:
        from pyroute2 import AsyncIPRoute
        from pyroute2.netlink.rtnl import RTMGRP_IPV4_IFADDR, RTMGRP_IPV6_IFADDR

        try:
            async with AsyncIPRoute() as ipr:
                # Subscribe first, then compare with a dump: no change falls in between.
                await ipr.bind(groups=RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR)
                current = await host_addresses()
                for address in set(self._known) - set(current):
                    self._removed(address)
                for address, where in current.items():
                    self._added(address, where)
                ready.set_result(None)
                while True:
                    async for msg in ipr.get():
                        self._event(msg)
        except BaseException as exc:
            if not ready.done():
                ready.set_exception(exc)
            raise

    def _event(self, msg: Any) -> None:
        address = _address_of(msg)
        if address is None:
            return
        if msg["event"] == "RTM_NEWADDR":
            index = int(msg["index"])
            with contextlib.suppress(OSError):  # interface already gone again
                self._added(address, (index, socket.if_indextoname(index)))
        elif msg["event"] == "RTM_DELADDR":
            self._removed(address)

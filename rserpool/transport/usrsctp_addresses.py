"""Keep usrsctp's list of local addresses in step with the host (Linux, netlink).

usrsctp reads the host's addresses once, in ``usrsctp_init``; on Linux its own address
monitor is off, so it never hears of addresses added or removed later, and then
``bindx(ADD)`` of a new address fails and a removed one stays usable in its eyes. While at
least one endpoint is open, ``AddressMonitor`` listens to rtnetlink address events on the
event loop and tells usrsctp (``sctp_add_addr_to_vrf`` / ``sctp_del_addr_from_vrf``).
The netlink sockets are plain sockets read with ``loop.sock_recv`` (pyroute2 only builds
and parses the messages), so any asyncio loop serves, uvloop included.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import logging
import socket
from collections.abc import Callable
from typing import Any

from pyroute2.netlink import NLM_F_DUMP, NLM_F_REQUEST, NLMSG_DONE, NLMSG_ERROR
from pyroute2.netlink.rtnl import RTM_GETADDR, RTMGRP_IPV4_IFADDR, RTMGRP_IPV6_IFADDR
from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg
from pyroute2.netlink.rtnl.marshal import MarshalRtnl

log = logging.getLogger(__name__)

# usrsctp deletes an address only when told the interface it was added with: remember it.
Interface = tuple[int, str]
# (added, address, ifindex, ifname): called on the event loop after usrsctp was told.
Listener = Callable[[bool, str, int, str], None]
_RECV_SIZE = 1 << 16


def _netlink_socket(groups: int = 0) -> socket.socket:
    """A non-blocking rtnetlink socket, subscribed to ``groups``."""
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC,
                         socket.NETLINK_ROUTE)
    try:
        sock.bind((0, groups))
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


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
    loop = asyncio.get_running_loop()
    request = ifaddrmsg()
    request["header"]["type"] = RTM_GETADDR
    request["header"]["flags"] = NLM_F_REQUEST | NLM_F_DUMP
    request["header"]["sequence_number"] = 1
    request.encode()
    found: dict[str, Interface] = {}
    marshal = MarshalRtnl()
    with _netlink_socket() as sock:
        await loop.sock_sendall(sock, request.data)
        while True:
            for msg in marshal.parse(await loop.sock_recv(sock, _RECV_SIZE)):
                kind = msg["header"]["type"]
                if kind == NLMSG_DONE:
                    return found
                if kind == NLMSG_ERROR:
                    code = -msg["error"] if msg["error"] else errno.EIO
                    raise OSError(code, f"netlink address dump failed: {errno.errorcode.get(code)}")
                address = _address_of(msg)
                if address is not None:
                    index = int(msg["index"])
                    found[address] = (index, socket.if_indextoname(index))


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
        loop = asyncio.get_running_loop()
        marshal = MarshalRtnl()
        try:
            with _netlink_socket(RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR) as sock:
                # Subscribe first, then compare with a dump: no change falls in between.
                await self._resync()
                ready.set_result(None)
                while True:
                    try:
                        data = await loop.sock_recv(sock, _RECV_SIZE)
                    except OSError as exc:
                        if exc.errno != errno.ENOBUFS:
                            raise
                        log.warning("netlink address events were lost: reading them again")
                        await self._resync()
                        continue
                    for msg in marshal.parse(data):
                        self._event(msg)
        except BaseException as exc:
            if not ready.done():
                ready.set_exception(exc)
            raise

    async def _resync(self) -> None:
        """Make usrsctp's list the host's addresses (a dump)."""
        current = await host_addresses()
        for address in set(self._known) - set(current):
            self._removed(address)
        for address, where in current.items():
            self._added(address, where)

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

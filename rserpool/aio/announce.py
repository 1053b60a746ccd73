"""UDP multicast announces: ASAP Server Announce (239.0.0.50:3863) and ENRP Presence
(239.0.0.51:9901). One socket both sends to the group and receives from it."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Callable

ASAP_ANNOUNCE_GROUP = ("239.0.0.50", 3863)
ENRP_ANNOUNCE_GROUP = ("239.0.0.51", 9901)

Receiver = Callable[[bytes, str], None]


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, receiver: Receiver | None) -> None:
        self._receiver = receiver

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if self._receiver is not None:
            self._receiver(data, addr[0])


class AnnounceSocket:
    """A UDP socket joined to a multicast group on one local interface address.

    ``interface`` is the local IPv4 address whose interface carries the group
    (127.0.0.1 for loopback-only deployments and tests).
    """

    def __init__(
        self,
        group: tuple[str, int],
        interface: str = "127.0.0.1",
        receiver: Receiver | None = None,
        ttl: int = 1,
    ) -> None:
        self.group = group
        self.interface = interface
        self._receiver = receiver
        self._ttl = ttl
        self._transport: asyncio.DatagramTransport | None = None

    def _make_socket(self) -> socket.socket:
        if not ipaddress.ip_address(self.group[0]).is_multicast:
            raise ValueError(f"{self.group[0]} is not a multicast address")
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(self.group)
        local = socket.inet_aton(self.interface)
        sock.setsockopt(
            socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, socket.inet_aton(self.group[0]) + local
        )
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, local)
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, self._ttl)
        sock.setblocking(False)
        return sock

    async def open(self) -> AnnounceSocket:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _Protocol(self._receiver), sock=self._make_socket()
        )
        self._transport = transport
        return self

    def send(self, data: bytes) -> None:
        if self._transport is None:
            raise RuntimeError("announce socket is not open")
        self._transport.sendto(data, self.group)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    async def __aenter__(self) -> AnnounceSocket:
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        self.close()

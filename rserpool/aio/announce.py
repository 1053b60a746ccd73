"""Listening for registrar Server Announces by UDP multicast (RFC 5352 3.2).

Registrars announce themselves to 239.0.0.50:3863 (ASAP). A listener joins the group on
one interface (by its IPv4 address) and hands each decoded ServerAnnounce, with the
sender's address, to a callback; anything else that arrives is ignored.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
from collections.abc import Callable
from typing import Any

from rserpool import wire

log = logging.getLogger(__name__)

ASAP_ANNOUNCE_GROUP = ("239.0.0.50", 3863)


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, callback: Callable[[Any, str], None]) -> None:
        self._callback = callback

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        try:
            message = wire.decode(data, wire.PPID_ASAP)
        except wire.ParseError as exc:
            log.debug("ignoring an undecodable announce from %s: %s", addr[0], exc)
            return
        if isinstance(message, wire.ServerAnnounce):
            self._callback(message, str(addr[0]))


async def listen_announces(
    callback: Callable[[Any, str], None],
    group: tuple[str, int] = ASAP_ANNOUNCE_GROUP,
    interface: str = "0.0.0.0",
) -> asyncio.DatagramTransport:
    """Join ``group`` on ``interface`` and call ``callback(announce, source_address)``.

    Close the returned transport to stop listening."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if hasattr(socket, "SO_REUSEPORT"):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(("", group[1]))
        membership = struct.pack("4s4s", socket.inet_aton(group[0]), socket.inet_aton(interface))
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, membership)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(lambda: _Protocol(callback), sock=sock)
    return transport

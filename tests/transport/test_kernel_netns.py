"""Kernel SCTP between two network namespaces joined by two veth links: failover when the
primary link dies, and make-before-break mobility (ASCONF add-ip / set-primary /
delete-ip) with no loss. Run in the VM with ``make vm-test``.

One process holds both endpoints: each socket is created while the thread is inside its
namespace (setns) and stays there."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import errno
import itertools
import os
import subprocess
import time
import uuid
from collections.abc import Callable, Coroutine, Iterator

import pytest

from rserpool.transport import (
    AssociationChange,
    Event,
    Message,
    PeerAddressChange,
    PeerAddressState,
    TransportError,
)
from rserpool.transport.kernel import KernelEndpoint, kernel_sctp_available

pytestmark = [pytest.mark.kernel_sctp, pytest.mark.netns]
CLONE_NEWNET = 0x40000000
INTERVAL = 0.005  # 200 messages/s: the VM emulates its CPU


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


@contextlib.contextmanager
def inside(ns: str) -> Iterator[None]:
    """Run the enclosed (synchronous) code in network namespace ``ns``."""
    libc = ctypes.CDLL(None, use_errno=True)
    with open("/proc/thread-self/ns/net") as home, open(f"/run/netns/{ns}") as there:
        if libc.setns(there.fileno(), CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns", ns)
        try:
            yield
        finally:
            libc.setns(home.fileno(), CLONE_NEWNET)


class Net:
    """Namespaces A (client) and B (server); link 1: 10.1.0.0/24, link 2: 10.2.0.0/24."""

    def __init__(self, client_link2_address: bool) -> None:
        tag = uuid.uuid4().hex[:8]
        self.a, self.b = f"rsp-{tag}-a", f"rsp-{tag}-b"
        self.client_link2_address = client_link2_address

    def create(self) -> None:
        for ns in (self.a, self.b):
            ip("netns", "add", ns)
            ip("-n", ns, "link", "set", "lo", "up")
        for link in ("1", "2"):
            ip("link", "add", f"va{link}", "netns", self.a, "type", "veth",
               "peer", "name", f"vb{link}", "netns", self.b)
            ip("-n", self.b, "addr", "add", f"10.{link}.0.2/24", "dev", f"vb{link}")
            if link == "1" or self.client_link2_address:
                ip("-n", self.a, "addr", "add", f"10.{link}.0.1/24", "dev", f"va{link}")
            for ns, dev in ((self.a, f"va{link}"), (self.b, f"vb{link}")):
                ip("-n", ns, "link", "set", dev, "up")

    def remove(self) -> None:
        for ns in (self.a, self.b):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


@pytest.fixture
def net(request: pytest.FixtureRequest) -> Iterator[Net]:
    available, why = kernel_sctp_available()
    if not available:
        pytest.skip(why)
    if os.geteuid() != 0:
        pytest.skip("creating network namespaces needs root")
    net = Net(client_link2_address=request.param)
    try:
        net.create()
    except (subprocess.CalledProcessError, FileNotFoundError) as exc:
        net.remove()
        pytest.skip(f"cannot create network namespaces here: {exc}")
    yield net
    net.remove()


class Recorder:
    """Reads one endpoint: message sequence numbers with arrival times, and other events."""

    def __init__(self, ep: KernelEndpoint) -> None:
        self.ep = ep
        self.arrivals: list[tuple[int, float]] = []
        self.events: list[Event] = []
        self.changed = asyncio.Event()
        self.task = asyncio.create_task(self.run())

    async def run(self) -> None:
        while True:
            try:
                event = await self.ep.receive()
            except TransportError:  # closed
                return
            if isinstance(event, Message):
                self.arrivals.append((int.from_bytes(event.data[:8], "big"), time.monotonic()))
            else:
                self.events.append(event)
            self.changed.set()

    async def until(self, done: Callable[[], bool], timeout: float = 60) -> None:
        async def wait() -> None:
            while not done():
                self.changed.clear()
                await self.changed.wait()

        await asyncio.wait_for(wait(), timeout)

    def address_events(self) -> list[tuple[PeerAddressState, str]]:
        return [(e.state, e.address) for e in self.events if isinstance(e, PeerAddressChange)]

    def largest_gap(self) -> float:
        times = sorted(t for _, t in self.arrivals)
        return max((b - a for a, b in itertools.pairwise(times)), default=0.0)


async def stream(ep: KernelEndpoint, assoc: int, count: int) -> None:
    start = time.monotonic()
    for seq in range(count):
        delay = start + seq * INTERVAL - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        await ep.send(assoc, seq.to_bytes(8, "big") + b"." * 92, 77, seq % 4)


def run(coro: Coroutine[None, None, None]) -> None:
    asyncio.run(asyncio.wait_for(coro, 240))


@pytest.mark.parametrize("net", [True], indirect=True)
def test_primary_link_down_keeps_delivering(net: Net) -> None:
    async def main() -> None:
        server = KernelEndpoint(["10.1.0.2", "10.2.0.2"])
        client = KernelEndpoint(["10.1.0.1", "10.2.0.1"])
        with inside(net.b):
            await server.open()
        with inside(net.a):
            await client.open()
        try:
            received, watched = Recorder(server), Recorder(client)
            assoc = await client.connect(["10.1.0.2", "10.2.0.2"], server.port)
            count = 600
            sender = asyncio.create_task(stream(client, assoc, count))
            await received.until(lambda: len(received.arrivals) >= 100)
            ip("-n", net.a, "link", "set", "va1", "down")  # the primary path dies
            await sender
            await received.until(lambda: len(received.arrivals) >= count)
            await watched.until(
                lambda: (PeerAddressState.UNREACHABLE, "10.1.0.2") in watched.address_events()
            )
            print(f"\nkernel failover: largest delivery gap {received.largest_gap() * 1000:.0f} ms"
                  f" at {1 / INTERVAL:.0f} msg/s; client saw {watched.address_events()}")
            assert sorted(seq for seq, _ in received.arrivals) == list(range(count))
        finally:
            await client.close()
            await server.close()

    run(main())


@pytest.mark.parametrize("net", [False], indirect=True)
def test_make_before_break_moves_the_association(net: Net) -> None:
    async def main() -> None:
        server = KernelEndpoint(["10.1.0.2", "10.2.0.2"])
        client = KernelEndpoint(["10.1.0.1"])
        with inside(net.b):
            await server.open()
        with inside(net.a):
            await client.open()
        try:
            received = Recorder(server)
            assoc = await client.connect(["10.1.0.2", "10.2.0.2"], server.port)
            count = 1000
            sender = asyncio.create_task(stream(client, assoc, count))
            await received.until(lambda: len(received.arrivals) >= 100)

            # A new address appears: announce it, move both directions over, drop the old.
            ip("-n", net.a, "addr", "add", "10.2.0.1/24", "dev", "va2")
            await client.bindx_add("10.2.0.1")
            added = (PeerAddressState.ADDED, "10.2.0.1")
            await received.until(lambda: added in received.address_events())
            for _ in range(100):  # EINVAL until the ADD-IP is acknowledged
                try:
                    client.set_peer_primary(assoc, "10.2.0.1")
                    break
                except TransportError as exc:
                    assert exc.errno == errno.EINVAL
                    await asyncio.sleep(0.05)
            client.set_primary(assoc, "10.2.0.2")
            await client.bindx_remove("10.1.0.1")
            ip("-n", net.a, "addr", "del", "10.1.0.1/24", "dev", "va1")
            assert client.local_addresses() == ["10.2.0.1"]

            await sender
            await received.until(lambda: len(received.arrivals) >= count)
            removed = (PeerAddressState.REMOVED, "10.1.0.1")
            await received.until(lambda: removed in received.address_events())
            seen = received.address_events()
            print(f"\nkernel make-before-break: largest delivery gap "
                  f"{received.largest_gap() * 1000:.0f} ms at {1 / INTERVAL:.0f} msg/s; "
                  f"server saw {seen}")
            assert sorted(seq for seq, _ in received.arrivals) == list(range(count))
            assert (PeerAddressState.MADE_PRIMARY, "10.2.0.1") in seen
            assert seen.index(added) < seen.index(removed)
            up = next(e for e in received.events if isinstance(e, AssociationChange))
            assert server.peer_addresses(up.assoc) == ["10.2.0.1"]
        finally:
            await client.close()
            await server.close()

    run(main())

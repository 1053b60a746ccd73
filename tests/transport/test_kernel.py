"""The kernel SCTP backend: the usrsctp loopback behaviours, on Linux SCTP.

Needs a kernel with SCTP and pysctp: run them with ``make vm-test`` (in the VM of
shared/tools/vm). Elsewhere they skip and say why."""

from __future__ import annotations

import asyncio
import errno
from collections.abc import Awaitable, Callable

import pytest

from rserpool.transport import (
    AssociationChange,
    AssociationState,
    Event,
    Message,
    PeerAddressChange,
    PeerAddressState,
    SctpParameters,
    TransportError,
)
from rserpool.transport.kernel import KernelEndpoint, kernel_sctp_available

pytestmark = pytest.mark.kernel_sctp

AVAILABLE, WHY = kernel_sctp_available()


@pytest.fixture(autouse=True)
def _kernel_sctp() -> None:
    if not AVAILABLE:
        pytest.skip(WHY)


def run(coro: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(coro(), 60))


async def next_of(ep: KernelEndpoint, kind: type, timeout: float = 20) -> Event:
    """The next event of one kind (others of the same endpoint are skipped)."""

    async def wait() -> Event:
        while True:
            event = await ep.receive()
            if isinstance(event, kind):
                return event

    return await asyncio.wait_for(wait(), timeout)


async def connected(
    server: KernelEndpoint, client: KernelEndpoint, addresses: list[str]
) -> tuple[int, int]:
    assoc = await client.connect(addresses, server.port)
    up = await next_of(server, AssociationChange)
    assert isinstance(up, AssociationChange) and up.state is AssociationState.UP
    client_up = await next_of(client, AssociationChange)
    assert isinstance(client_up, AssociationChange) and client_up.assoc == assoc
    # the UP events carry the peer's addresses and port
    assert sorted(up.peer_addresses) == sorted(client.local_addresses())
    assert up.peer_port == client.port
    assert set(addresses) <= set(client_up.peer_addresses)
    assert client_up.peer_port == server.port
    return assoc, up.assoc


def test_streams_ppids_ordered_and_unordered() -> None:
    async def main() -> None:
        async with (
            KernelEndpoint(["127.0.0.1"]) as server,
            KernelEndpoint(["127.0.0.2"]) as client,
        ):
            assert isinstance(server, KernelEndpoint) and isinstance(client, KernelEndpoint)
            assoc, server_assoc = await connected(server, client, ["127.0.0.1"])
            assert client.peer_addresses(assoc) == ["127.0.0.1"]
            assert server.peer_addresses(server_assoc) == ["127.0.0.2"]
            sent = []
            for i in range(60):
                stream, ppid, unordered = i % 4, 11 + i % 2, i % 3 == 0
                data = f"{stream}:{i}".encode()
                await client.send(assoc, data, ppid, stream, unordered)
                sent.append((stream, data, ppid, unordered))
            got = [await next_of(server, Message) for _ in sent]
            assert all(isinstance(m, Message) and m.assoc == server_assoc for m in got)
            assert sorted((m.stream, m.data, m.ppid, m.unordered) for m in got  # type: ignore[union-attr]
                          ) == sorted(sent)
            for stream in range(4):
                ordered = [d for s, d, _, u in sent if s == stream and not u]
                assert [m.data for m in got if isinstance(m, Message) and m.stream == stream
                        and not m.unordered] == ordered
            await server.send(server_assoc, b"pong", 12, 3)
            reply = await next_of(client, Message)
            assert reply == Message(assoc, b"pong", 12, 3)

    run(main)


def test_large_message_is_reassembled() -> None:
    async def main() -> None:
        async with (
            KernelEndpoint(["127.0.0.1"]) as server,
            KernelEndpoint(["127.0.0.1"]) as client,
        ):
            assert isinstance(server, KernelEndpoint) and isinstance(client, KernelEndpoint)
            assoc, _ = await connected(server, client, ["127.0.0.1"])
            big = bytes(range(256)) * 4096  # 1 MiB, far above the MTU and the recv size
            await client.send(assoc, big, 11, 1)
            got = await next_of(server, Message)
            assert isinstance(got, Message) and got.data == big and got.stream == 1

    run(main)


def test_multihomed_endpoint_and_primary_changes() -> None:
    async def main() -> None:
        async with (
            KernelEndpoint(["127.0.0.1", "127.0.0.3"]) as server,
            KernelEndpoint(["127.0.0.2"]) as client,
        ):
            assert isinstance(server, KernelEndpoint) and isinstance(client, KernelEndpoint)
            assert sorted(server.local_addresses()) == ["127.0.0.1", "127.0.0.3"]
            assoc, _server_assoc = await connected(server, client, ["127.0.0.1", "127.0.0.3"])
            assert sorted(client.peer_addresses(assoc)) == ["127.0.0.1", "127.0.0.3"]
            client.set_primary(assoc, "127.0.0.3")
            await client.send(assoc, b"via .3", 11)
            got = await next_of(server, Message)
            assert isinstance(got, Message) and got.data == b"via .3"
            with pytest.raises(TransportError) as err:
                client.set_primary(assoc, "127.0.0.9")
            assert err.value.errno == errno.EINVAL and err.value.address == "127.0.0.9"

    run(main)


def test_bindx_add_is_announced_by_asconf() -> None:
    async def main() -> None:
        async with (
            KernelEndpoint(["127.0.0.1"]) as server,
            KernelEndpoint(["127.0.0.2"]) as client,
        ):
            assert isinstance(server, KernelEndpoint) and isinstance(client, KernelEndpoint)
            assoc, server_assoc = await connected(server, client, ["127.0.0.1"])
            await client.bindx_add("127.0.0.4")
            added = await next_of(server, PeerAddressChange)
            assert added == PeerAddressChange(server_assoc, "127.0.0.4", PeerAddressState.ADDED)
            assert sorted(server.peer_addresses(server_assoc)) == ["127.0.0.2", "127.0.0.4"]
            await asyncio.sleep(0.5)  # SET_PEER_PRIMARY needs the ADD-IP acknowledged
            client.set_peer_primary(assoc, "127.0.0.4")
            states = set()
            while PeerAddressState.MADE_PRIMARY not in states:
                event = await next_of(server, PeerAddressChange)
                assert isinstance(event, PeerAddressChange) and event.address == "127.0.0.4"
                states.add(event.state)
            await client.bindx_remove("127.0.0.2")
            removed = await next_of(server, PeerAddressChange)
            assert removed == PeerAddressChange(server_assoc, "127.0.0.2",
                                                PeerAddressState.REMOVED)
            await server.send(server_assoc, b"to the new address", 11)
            got = await next_of(client, Message)
            assert isinstance(got, Message) and got.data == b"to the new address"

    run(main)


def test_shutdown_abort_and_refused() -> None:
    async def main() -> None:
        params = SctpParameters(streams=4)
        async with (
            KernelEndpoint(["127.0.0.1"], 0, params) as server,
            KernelEndpoint(["127.0.0.2"], 0, params) as client,
        ):
            assert isinstance(server, KernelEndpoint) and isinstance(client, KernelEndpoint)
            assoc, _ = await connected(server, client, ["127.0.0.1"])
            with pytest.raises(TransportError) as err:
                await client.send(assoc, b"x", 11, stream=9)
            assert err.value.errno == errno.EINVAL
            await client.send(assoc, b"last words", 11)
            client.shutdown(assoc)
            got = await next_of(server, Message)
            assert isinstance(got, Message) and got.data == b"last words"
            down = await next_of(server, AssociationChange)
            assert isinstance(down, AssociationChange)
            assert down.state is AssociationState.SHUTDOWN and down.peer_addresses == ("127.0.0.2",)
            down = await next_of(client, AssociationChange)
            assert isinstance(down, AssociationChange) and down.state is AssociationState.SHUTDOWN

            assoc, _server_assoc = await connected(server, client, ["127.0.0.1"])
            client.abort(assoc)
            for ep in (client, server):  # the aborting side sees its association end too
                lost = await next_of(ep, AssociationChange)
                assert isinstance(lost, AssociationChange) and lost.state is AssociationState.LOST
                assert lost.error == 12  # SCTP cause: user-initiated abort

            with pytest.raises(TransportError) as err:
                await client.connect(["127.0.0.1"], 9)  # nobody listens there
            assert err.value.errno == errno.ECONNREFUSED and err.value.address == "127.0.0.1:9"
            failed = await next_of(client, AssociationChange)
            assert isinstance(failed, AssociationChange)
            assert failed.state is AssociationState.CANT_START

    run(main)


def test_errors_carry_errno_and_address() -> None:
    async def main() -> None:
        async with KernelEndpoint(["127.0.0.1"]) as server:
            assert isinstance(server, KernelEndpoint)
            other = KernelEndpoint(["127.0.0.1"], server.port)
            with pytest.raises(TransportError) as err:
                await other.open()
            assert err.value.errno == errno.EADDRINUSE
            assert err.value.address == f"127.0.0.1:{server.port}"
            with pytest.raises(TransportError) as err:
                await server.bindx_add("192.0.2.1")  # not an address of this host
            assert err.value.errno == errno.EADDRNOTAVAIL
            with pytest.raises(TransportError) as err:
                server.peer_addresses(12345)
            assert err.value.errno == errno.EINVAL

    run(main)


def test_back_pressure_loses_nothing() -> None:
    """A reader that stops reading stalls the sender (kernel buffers fill, send() waits)
    instead of an unbounded queue growing; everything arrives once it reads again."""

    async def main() -> None:
        params = SctpParameters(receive_queue=8, send_buffer=65536, receive_buffer=65536)
        async with (
            KernelEndpoint(["127.0.0.1"], 0, params) as server,
            KernelEndpoint(["127.0.0.2"], 0, params) as client,
        ):
            assert isinstance(server, KernelEndpoint) and isinstance(client, KernelEndpoint)
            assoc, _ = await connected(server, client, ["127.0.0.1"])
            count = 1000  # 1 MB: far more than both buffers hold
            sent = 0

            async def produce() -> None:
                nonlocal sent
                for i in range(count):
                    await client.send(assoc, i.to_bytes(4, "big") * 250, 11, i % 2)
                    sent += 1

            producer = asyncio.create_task(produce())
            previous = -1
            while sent != previous:  # until the sender makes no more progress
                previous = sent
                await asyncio.sleep(0.5)
            assert 0 < sent < count  # stalled while nobody reads
            got = [await next_of(server, Message) for _ in range(count)]
            await producer
            sequence = [int.from_bytes(m.data[:4], "big") for m in got if isinstance(m, Message)]
            assert sorted(sequence) == list(range(count))
            for stream in range(2):
                ordered = [int.from_bytes(m.data[:4], "big") for m in got
                           if isinstance(m, Message) and m.stream == stream]
                assert ordered == sorted(ordered)

    run(main)


def test_ipv6_and_dual_stack() -> None:
    async def main() -> None:
        async with (
            KernelEndpoint(["::1", "127.0.0.1"]) as server,
            KernelEndpoint(["::1"]) as client,
        ):
            assert isinstance(server, KernelEndpoint) and isinstance(client, KernelEndpoint)
            assert sorted(server.local_addresses()) == ["127.0.0.1", "::1"]
            assoc, server_assoc = await connected(server, client, ["::1"])
            assert "::1" in client.peer_addresses(assoc)
            assert server.peer_addresses(server_assoc) == ["::1"]
            await client.send(assoc, b"over IPv6", 11, 2)
            assert await next_of(server, Message) == Message(server_assoc, b"over IPv6", 11, 2)

    run(main)

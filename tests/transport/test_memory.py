"""The in-memory SCTP network: what an Endpoint user sees (delivery, order, loss, failover,
address changes, shutdown, back-pressure), on a virtual clock and on asyncio's."""

from __future__ import annotations

import asyncio
import errno
import itertools
import math

import pytest

from rserpool.transport import (
    AssociationChange,
    AssociationState,
    Event,
    Message,
    PeerAddressChange,
    PeerAddressState,
    SctpParameters,
    SendFailed,
    TransportError,
)
from rserpool.transport.memory import MemoryEndpoint, MemoryNetwork, VirtualClock

SERVER = ["10.0.0.1", "10.1.0.1"]
CLIENT = ["10.0.0.2", "10.1.0.2"]
PORT = 3863


def drain(ep: MemoryEndpoint) -> list[Event]:
    events = []
    while (event := ep.receive_nowait()) is not None:
        events.append(event)
    return events


def messages(events: list[Event]) -> list[Message]:
    return [e for e in events if isinstance(e, Message)]


def address_events(events: list[Event]) -> list[tuple[str, PeerAddressState]]:
    return [(e.address, e.state) for e in events if isinstance(e, PeerAddressChange)]


def assoc_states(events: list[Event]) -> list[AssociationState]:
    return [e.state for e in events if isinstance(e, AssociationChange)]


class Pair:
    """A two-homed server and client with one association, on a virtual clock."""

    def __init__(self, params: SctpParameters | None = None, seed: int = 0, delay: float = 0.005):
        self.clock = VirtualClock()
        self.net = MemoryNetwork(self.clock, seed=seed, delay=delay)
        self.server = self.net.endpoint(SERVER, PORT, params)
        self.client = self.net.endpoint(CLIENT, 0, params)
        self.server.open_nowait()
        self.client.open_nowait()
        self.assoc = self.client.connect_nowait(SERVER, PORT)
        self.clock.advance(1.0)
        up = drain(self.server)
        assert assoc_states(up) == [AssociationState.UP]
        assert isinstance(up[0], AssociationChange)
        self.server_assoc = up[0].assoc
        assert assoc_states(drain(self.client)) == [AssociationState.UP]


def test_association_up_carries_both_address_lists() -> None:
    clock = VirtualClock()
    net = MemoryNetwork(clock, delay=0.01)
    server = net.endpoint(SERVER, PORT)
    client = net.endpoint(CLIENT)
    server.open_nowait()
    client.open_nowait()
    assoc = client.connect_nowait(["10.1.0.1", "10.0.0.1"], PORT)
    clock.advance(0.025)  # the INIT has crossed two 10 ms links
    (up,) = drain(server)
    assert up == AssociationChange(up.assoc, AssociationState.UP, tuple(CLIENT), client.port)
    assert drain(client) == []  # INIT-ACK still on its way
    clock.advance(0.02)
    (up,) = drain(client)
    assert up == AssociationChange(assoc, AssociationState.UP, ("10.1.0.1", "10.0.0.1"), PORT)
    assert client.peer_addresses(assoc) == ["10.1.0.1", "10.0.0.1"]
    assert client.local_addresses(assoc) == CLIENT
    assert 49152 <= client.port < 65536


def test_streams_ppids_and_order_survive_loss() -> None:
    pair = Pair(seed=7)
    pair.net.set_link("10.0.0.1", loss=0.3)
    sent = []
    for i in range(400):
        stream, ppid = i % 4, 11 + i % 2
        data = f"{stream}:{i}".encode()
        pair.client.send_nowait(pair.assoc, data, ppid, stream)
        sent.append((stream, data, ppid))
    pair.clock.advance(30)
    got = messages(drain(pair.server))
    assert pair.net.stats.lost > 50  # the loss happened ...
    assert len(got) == 400  # ... and was repaired
    for stream in range(4):
        want = [(d, p) for s, d, p in sent if s == stream]
        assert [(m.data, m.ppid) for m in got if m.stream == stream] == want
    assert {m.assoc for m in got} == {pair.server_assoc}
    assert not any(m.unordered for m in got)


def test_unordered_messages_may_overtake_ordered_never() -> None:
    pair = Pair(seed=3)
    pair.net.set_link("10.0.0.1", loss=0.3)
    for i in range(100):
        pair.client.send_nowait(pair.assoc, b"o%03d" % i, 11, 0)
        pair.client.send_nowait(pair.assoc, b"u%03d" % i, 11, 1, unordered=True)
    pair.clock.advance(30)
    got = messages(drain(pair.server))
    ordered = [m.data for m in got if m.stream == 0]
    unordered = [m.data for m in got if m.stream == 1]
    assert all(m.unordered for m in got if m.stream == 1)
    assert ordered == sorted(ordered) and len(ordered) == 100
    assert sorted(unordered) == [b"u%03d" % i for i in range(100)]
    assert unordered != sorted(unordered)  # retransmitted ones arrived late


def run_lossy(seed: int, loss: float) -> tuple[int, int, int, list[float]]:
    clock = VirtualClock()
    net = MemoryNetwork(clock, seed=seed, delay=0.001)
    net.set_link("10.0.0.1", loss=loss)
    server = net.endpoint(["10.0.0.1"], PORT)
    client = net.endpoint(["10.0.0.2"])
    server.open_nowait()
    client.open_nowait()
    assoc = client.connect_nowait(["10.0.0.1"], PORT)
    clock.advance(5)  # the INIT may need retries
    drain(server)
    arrivals = []
    for i in range(2000):
        client.send_nowait(assoc, i.to_bytes(4, "big"), 11)
    while (deadline := clock.next_deadline()) is not None:
        clock.run_until(deadline)
        arrivals += [clock.now() for _ in messages(drain(server))]
    stats = net.stats
    return stats.packets, stats.lost, stats.retransmissions, arrivals


def test_loss_statistics_follow_the_seed() -> None:
    packets, lost, retransmissions, arrivals = run_lossy(seed=11, loss=0.1)
    assert len(arrivals) == 2000
    # Each transmission is lost with probability 0.1: stay within 4 sigma of the binomial.
    assert abs(lost - 0.1 * packets) < 4 * math.sqrt(packets * 0.1 * 0.9)
    assert retransmissions == lost  # every loss is repaired by exactly one more packet
    assert packets == 1 + 2000 + retransmissions  # the INIT, the data, the repairs
    assert run_lossy(seed=11, loss=0.1) == (packets, lost, retransmissions, arrivals)
    assert run_lossy(seed=12, loss=0.1)[1] != lost
    assert run_lossy(seed=11, loss=0.0)[1:3] == (0, 0)


def test_failover_to_the_second_path_and_back() -> None:
    params = SctpParameters(rto_min_ms=100, heartbeat_interval_ms=1000)
    pair = Pair(params)
    clock, client, server = pair.clock, pair.client, pair.server
    arrivals: list[float] = []

    def tick(seconds: float) -> list[Event]:
        events: list[Event] = []
        for _ in range(round(seconds / 0.01)):
            client.send_nowait(pair.assoc, b"x", 11)
            clock.advance(0.01)
            got = drain(server)
            arrivals.extend(clock.now() for _ in messages(got))
            events += drain(client)
        return events

    tick(0.5)
    failed_at = clock.now()
    pair.net.fail("10.0.0.1")  # the server's primary address
    events = tick(1.0)
    assert address_events(events) == [("10.0.0.1", PeerAddressState.UNREACHABLE)]
    pair.net.restore("10.0.0.1")
    events = tick(2.0)
    assert address_events(events) == [("10.0.0.1", PeerAddressState.AVAILABLE)]
    assert len(arrivals) == 350  # nothing lost
    gap = max(b - a for a, b in itertools.pairwise(arrivals) if a >= failed_at - 0.02)
    print(f"failover gap {gap * 1000:.0f} ms (virtual time)")
    assert 0.09 <= gap <= 0.25  # about one RTO (rto_min), not the 64 s of RFC defaults


def test_association_lost_when_every_path_fails() -> None:
    params = SctpParameters(rto_max_ms=500, association_max_retransmissions=4)
    pair = Pair(params)
    pair.client.send_nowait(pair.assoc, b"before", 11)
    pair.clock.advance(0.1)
    assert [m.data for m in messages(drain(pair.server))] == [b"before"]
    pair.net.fail("10.0.0.1")
    pair.net.fail("10.1.0.1")
    pair.clock.advance(1.0)
    client_events = drain(pair.client)
    assert assoc_states(client_events) == []
    pair.clock.advance(2.0)  # 0.1 s detection + 4 x 0.5 s
    client_events += drain(pair.client)
    assert sorted(address_events(client_events)) == [
        ("10.0.0.1", PeerAddressState.UNREACHABLE),
        ("10.1.0.1", PeerAddressState.UNREACHABLE),
    ]
    assert assoc_states(client_events) == [AssociationState.LOST]
    assert assoc_states(drain(pair.server)) == [AssociationState.LOST]
    with pytest.raises(TransportError) as err:
        pair.client.send_nowait(pair.assoc, b"after", 11)
    assert err.value.errno == errno.EINVAL


def test_a_lost_association_returns_undelivered_messages() -> None:
    params = SctpParameters(rto_max_ms=200, association_max_retransmissions=3)
    pair = Pair(params)
    pair.net.fail("10.0.0.1")
    pair.net.fail("10.1.0.1")
    for i in range(3):
        pair.client.send_nowait(pair.assoc, b"m%d" % i, 11, stream=i)
    pair.clock.advance(5)
    events = drain(pair.client)
    assert assoc_states(events) == [AssociationState.LOST]
    lost_at = next(i for i, e in enumerate(events) if isinstance(e, AssociationChange))
    assert events[lost_at + 1:] == [
        SendFailed(pair.assoc, b"m%d" % i, 11, i) for i in range(3)
    ]
    assert messages(drain(pair.server)) == []


def test_add_ip_set_primary_delete_ip_make_before_break() -> None:
    pair = Pair()
    clock, client, server = pair.clock, pair.client, pair.server
    sent = 0
    echoes: list[Event] = []

    def pump(seconds: float) -> list[Event]:
        nonlocal sent
        events: list[Event] = []
        for _ in range(round(seconds / 0.01)):
            client.send_nowait(pair.assoc, sent.to_bytes(4, "big"), 11)
            server.send_nowait(pair.server_assoc, sent.to_bytes(4, "big"), 11)
            sent += 1
            clock.advance(0.01)
            events += drain(server)
            echoes.extend(drain(client))
        return events

    events = pump(0.2)
    client.bindx_add_nowait("10.2.0.2")  # the client moves onto a new network
    events += pump(0.2)
    client.set_peer_primary(pair.assoc, "10.2.0.2")
    events += pump(0.2)
    client.bindx_remove_nowait("10.0.0.2")
    events += pump(0.2)
    pair.net.fail("10.0.0.2")  # the old link goes away: nothing depends on it any more
    events += pump(0.5)
    assert address_events(events) == [
        ("10.2.0.2", PeerAddressState.ADDED),
        ("10.2.0.2", PeerAddressState.MADE_PRIMARY),
        ("10.0.0.2", PeerAddressState.REMOVED),
    ]
    assert all(e.assoc == pair.server_assoc for e in events)
    clock.advance(0.1)
    got = [int.from_bytes(m.data, "big") for m in messages(events + drain(server))]
    assert got == list(range(sent))  # no loss, in order
    echoes += drain(client)
    assert [int.from_bytes(m.data, "big") for m in messages(echoes)] == list(range(sent))
    assert address_events(echoes) == []  # the client never lost sight of the server
    assert server.peer_addresses(pair.server_assoc) == ["10.1.0.2", "10.2.0.2"]
    assert client.local_addresses() == ["10.1.0.2", "10.2.0.2"]


def test_set_primary_and_address_errors() -> None:
    pair = Pair()
    pair.client.set_primary(pair.assoc, "10.1.0.1")
    with pytest.raises(TransportError) as err:
        pair.client.set_primary(pair.assoc, "10.9.9.9")
    assert err.value.errno == errno.EINVAL and err.value.address == "10.9.9.9"
    with pytest.raises(TransportError) as err:
        pair.client.set_peer_primary(pair.assoc, "10.0.0.1")  # not ours
    assert err.value.errno == errno.EINVAL
    with pytest.raises(TransportError) as err:
        pair.client.send_nowait(pair.assoc, b"x", 11, stream=16)
    assert err.value.errno == errno.EINVAL
    pair.client.bindx_remove_nowait("10.0.0.2")
    with pytest.raises(TransportError) as err:
        pair.client.bindx_remove_nowait("10.1.0.2")
    assert err.value.errno == errno.EINVAL
    other = pair.net.endpoint(["10.0.0.1"], PORT)
    with pytest.raises(TransportError) as err:
        other.open_nowait()
    assert err.value.errno == errno.EADDRINUSE and err.value.address == f"10.0.0.1:{PORT}"
    other = pair.net.endpoint(["10.5.0.1"], PORT)
    other.open_nowait()
    with pytest.raises(TransportError) as err:
        other.bindx_add_nowait("10.1.0.1")
    assert err.value.errno == errno.EADDRINUSE and err.value.address == f"10.1.0.1:{PORT}"


def test_graceful_shutdown_delivers_everything_first() -> None:
    pair = Pair(seed=5)
    pair.net.set_link("10.0.0.2", loss=0.3)
    pair.server.send_nowait(pair.server_assoc, b"hello", 11)
    for i in range(50):
        pair.client.send_nowait(pair.assoc, b"%d" % i, 11)
    pair.client.shutdown(pair.assoc)
    with pytest.raises(TransportError) as err:
        pair.client.send_nowait(pair.assoc, b"late", 11)
    assert err.value.errno == errno.EPIPE
    pair.clock.advance(30)
    server_events = drain(pair.server)
    assert [m.data for m in messages(server_events)] == [b"%d" % i for i in range(50)]
    assert isinstance(server_events[-1], AssociationChange)
    assert server_events[-1].state is AssociationState.SHUTDOWN
    client_events = drain(pair.client)
    assert [m.data for m in messages(client_events)] == [b"hello"]
    assert assoc_states(client_events) == [AssociationState.SHUTDOWN]


def test_abort_is_seen_by_both_sides() -> None:
    pair = Pair()
    pair.client.abort(pair.assoc)
    pair.clock.advance(1)
    (lost,) = drain(pair.client)
    assert isinstance(lost, AssociationChange) and lost.state is AssociationState.LOST
    assert lost.error == 12  # SCTP cause: user-initiated abort
    assert assoc_states(drain(pair.server)) == [AssociationState.LOST]


def test_connect_refused_and_timed_out() -> None:
    clock = VirtualClock()
    net = MemoryNetwork(clock)
    client = net.endpoint(["10.0.0.2"])
    client.open_nowait()
    assoc = client.connect_nowait(["10.0.0.1"], PORT)
    clock.advance(1)
    (event,) = drain(client)
    assert event == AssociationChange(assoc, AssociationState.CANT_START, ("10.0.0.1",), PORT,
                                      errno.ECONNREFUSED)
    net.fail("10.0.0.3")
    assoc = client.connect_nowait(["10.0.0.3"], PORT)
    clock.advance(60)
    (event,) = drain(client)
    assert event.state is AssociationState.CANT_START and event.error == errno.ETIMEDOUT
    assert net.stats.lost == 8  # the INIT and its 7 retransmissions


def test_back_pressure_when_the_reader_is_slow() -> None:
    params = SctpParameters(receive_queue=4, send_buffer=1000)
    pair = Pair(params)
    blocked_after = None
    for i in range(100):
        try:
            pair.client.send_nowait(pair.assoc, bytes(100), 11)
        except TransportError as exc:
            assert exc.errno == errno.EAGAIN
            blocked_after = i
            break
        pair.clock.advance(0.02)
    # 4 messages sit in the reader's queue; 10 more fill the sender's 1000-byte buffer.
    assert blocked_after == 14
    assert isinstance(pair.server.receive_nowait(), Message)
    pair.client.send_nowait(pair.assoc, bytes(100), 11)  # reading one made room for one
    with pytest.raises(TransportError):
        pair.client.send_nowait(pair.assoc, bytes(100), 11)
    pair.clock.advance(0.1)
    assert len(messages(drain(pair.server))) == 14  # nothing was dropped


def test_async_api_on_asyncio_time() -> None:
    async def main() -> None:
        net = MemoryNetwork(delay=0.001)
        params = SctpParameters(receive_queue=2, send_buffer=300)
        async with (
            net.endpoint(["127.0.0.1"], PORT, params) as server,
            net.endpoint(["127.0.0.2"], 0, params) as client,
        ):
            assert isinstance(client, MemoryEndpoint)
            assoc = await client.connect(["127.0.0.1"], PORT)
            up = await server.receive()
            assert isinstance(up, AssociationChange) and up.state is AssociationState.UP

            async def producer() -> None:
                for i in range(20):
                    await client.send(assoc, b"%02d" % i * 50, 11, stream=i % 2)

            task = asyncio.create_task(producer())
            await asyncio.sleep(0.05)
            assert not task.done()  # blocked: the server reads nothing
            got = [await server.receive() for _ in range(20)]
            await task
            assert [m.data for m in messages(got)] == [b"%02d" % i * 50 for i in range(20)]
            with pytest.raises(TransportError) as err:
                await client.connect(["127.0.0.3"], PORT)
            assert err.value.errno == errno.ECONNREFUSED and err.value.address == "127.0.0.3"
        with pytest.raises(TransportError):
            await server.receive()

    asyncio.run(main())


def test_many_associations_on_a_virtual_clock() -> None:
    clock = VirtualClock()
    net = MemoryNetwork(clock, delay=0.002)
    server = net.endpoint(["10.0.0.1"], PORT)
    server.open_nowait()
    clients = []
    for i in range(500):
        client = net.endpoint([f"10.3.{i // 250}.{i % 250 + 1}"])
        client.open_nowait()
        clients.append((client, client.connect_nowait(["10.0.0.1"], PORT)))
    clock.advance(0.01)
    for client, assoc in clients:
        client.send_nowait(assoc, client.local_addresses()[0].encode(), 11)
    clock.advance(0.01)
    events = drain(server)
    assert assoc_states(events).count(AssociationState.UP) == 500
    senders = {m.data.decode() for m in messages(events)}
    assert len(senders) == 500
    assert {server.peer_addresses(m.assoc)[0] for m in messages(events)} == senders

"""The memory transport's cost per message on a virtual clock, for sizing simulations.

Baseline, same run: the least a timer-driven simulated network does per message (one
VirtualClock callback that queues the message for the reader). Reported as a ratio."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from pytest_benchmark.fixture import BenchmarkFixture

from rserpool.transport.memory import MemoryNetwork, VirtualClock

COUNT = 20000
ROUNDS = 5


def memory_transport(count: int) -> None:
    clock = VirtualClock()
    net = MemoryNetwork(clock, delay=0.001)
    server = net.endpoint(["10.0.0.1"], 3863)
    client = net.endpoint(["10.0.0.2"])
    server.open_nowait()
    client.open_nowait()
    assoc = client.connect_nowait(["10.0.0.1"], 3863)
    clock.advance(0.01)
    server.receive_nowait()
    payload = bytes(100)
    received = 0
    for _ in range(count // 100):
        for _ in range(100):
            client.send_nowait(assoc, payload, 11)
        clock.advance(0.01)
        while server.receive_nowait() is not None:
            received += 1
    assert received == count


def baseline(count: int) -> None:
    clock = VirtualClock()
    queue: deque[bytes] = deque()
    payload = bytes(100)
    received = 0
    for _ in range(count // 100):
        for _ in range(100):
            clock.call_at(clock.now() + 0.002, lambda: queue.append(payload))
        clock.advance(0.01)
        while queue:
            queue.popleft()
            received += 1
    assert received == count


def best(fn: Callable[[int], None], count: int) -> float:
    times = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        fn(count)
        times.append(time.perf_counter() - start)
    return min(times)


def test_memory_transport_message_rate(benchmark: BenchmarkFixture) -> None:
    benchmark.pedantic(memory_transport, args=(COUNT,), rounds=ROUNDS)
    ours, floor = best(memory_transport, COUNT), best(baseline, COUNT)
    ratio = ours / floor
    benchmark.extra_info.update(
        messages_per_second=COUNT / ours, baseline_per_second=COUNT / floor, ratio=ratio
    )
    print(f"\nmemory transport: {COUNT / ours:,.0f} messages/s on a virtual clock; "
          f"bare timer callbacks {COUNT / floor:,.0f}/s; cost ratio {ratio:.1f}x")

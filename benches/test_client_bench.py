"""What the client cores add to the codec, same run: answering a keep-alive and serving a
handle resolution from the PU cache, each against decode + encode of the same messages.

Read the ratios in the table: core path / codec-only baseline (near 1 = the core is cheap).
"""

from __future__ import annotations

from typing import Any

from rserpool import wire
from rserpool.asap.pool_element import PoolElementCore
from rserpool.asap.pool_user import PoolUserCore

POOL = b"bench-pool"
POLICY = wire.Policy(wire.PolicyType.LEAST_USED)
USER = wire.SctpTransport(7000, ["10.1.0.1", "10.2.0.1"])


def registered_pe() -> PoolElementCore:
    pe = PoolElementCore(POOL, POLICY, USER, registrars=[(["10.0.0.1"], 3863)], rng=1)
    connect = pe.start(0.0)[0]
    pe.association_up(1, ["10.0.0.1"], 0.0, getattr(connect, "key", None))
    pe.receive(1, wire.RegistrationResponse(POOL, pe.pe_identifier), 0.0)
    return pe


def test_keep_alive_codec_baseline(benchmark: Any) -> None:
    pe = registered_pe()
    data = wire.EndpointKeepAlive(7, POOL, pe.pe_identifier).encode()
    ack = wire.EndpointKeepAliveAck(POOL, pe.pe_identifier)

    def codec_only() -> bytes:
        wire.decode(data, wire.PPID_ASAP)
        return bytes(ack.encode())

    benchmark(codec_only)


def test_keep_alive_answered_by_pe_core(benchmark: Any) -> None:
    pe = registered_pe()
    data = wire.EndpointKeepAlive(7, POOL, pe.pe_identifier).encode()

    def answer() -> bytes:
        [send] = pe.receive(1, wire.decode(data, wire.PPID_ASAP), 1.0)
        return bytes(send.message.encode())

    benchmark(answer)


def test_cached_resolution_by_pu_core(benchmark: Any) -> None:
    pu = PoolUserCore(registrars=[(["10.0.0.1"], 3863)], cache_ttl=1e9)
    connect = pu.resolve(POOL, 0.0)[0]
    pu.association_up(1, [], 0.0, getattr(connect, "key", None))
    pes = tuple(wire.PoolElement(i, 1, 90000, USER, POLICY) for i in range(1, 4))
    pu.receive(1, wire.HandleResolutionResponse(POOL, pes), 0.0)
    benchmark(lambda: pu.resolve(POOL, 1.0))


def test_resolution_response_codec_baseline(benchmark: Any) -> None:
    pes = tuple(wire.PoolElement(i, 1, 90000, USER, POLICY) for i in range(1, 4))
    data = wire.HandleResolutionResponse(POOL, pes).encode()
    benchmark(lambda: wire.decode(data, wire.PPID_ASAP))

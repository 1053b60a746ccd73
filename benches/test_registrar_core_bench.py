"""Throughput of the registrar core itself: bytes in, bytes out, no transport.

Each benchmark runs the whole per-message path a daemon runs (``wire.decode``, the core,
``encode()`` of every message it sends) and, in the same run, the codec alone on the same
messages (decode the request, encode the same reply): ``extra_info["core_overhead"]`` is the
ratio of the two, i.e. what the protocol logic and the handlespace add to the codec's cost.
"""

from __future__ import annotations

import random
import timeit
from typing import Any

import pytest

from rserpool import wire
from rserpool.actions import Send
from rserpool.asap.registrar import Registrar
from rserpool.asap.registrar_config import RegistrarConfig

POOL = b"bench-pool"
PES_PER_ASSOC = 1000


def _registrar(pes: int) -> tuple[Registrar, list[tuple[int, bytes]]]:
    """A started registrar with ``pes`` PEs; returns it and each PE's Registration bytes."""
    core = Registrar(RegistrarConfig(server_id=1, asap_announces=False, enrp_announces=False),
                     rng=random.Random(1))
    core.handle_timer(0.0)
    registrations = []
    for pe_id in range(1, pes + 1):
        assoc = 1000 + pe_id // PES_PER_ASSOC
        address = f"10.{assoc // 256 % 256}.{assoc % 256}.1"
        if pe_id == 1 or pe_id % PES_PER_ASSOC == 0:
            core.association_up(assoc, (address,), 0.0, peer_port=5000)
        element = wire.PoolElement(pe_id, 0, 300_000, wire.SctpTransport(6000, (address,)),
                                   wire.Policy(wire.PolicyType.ROUND_ROBIN))
        data = wire.Registration(POOL, element).encode()
        core.receive(assoc, wire.decode(data, wire.PPID_ASAP), 0.0)
        registrations.append((assoc, data))
    assert len(core.handlespace) == pes
    return core, registrations


def _through_core(core: Registrar, assoc: int, data: bytes) -> None:
    for action in core.receive(assoc, wire.decode(data, wire.PPID_ASAP), 1.0):
        if isinstance(action, Send):
            action.message.encode()


def _codec_only(data: bytes, reply: Any) -> None:
    wire.decode(data, wire.PPID_ASAP)
    reply.encode()


def _overhead(core_path: Any, codec_path: Any) -> float:
    core_time = min(timeit.repeat(core_path, number=2000, repeat=5))
    codec_time = min(timeit.repeat(codec_path, number=2000, repeat=5))
    return core_time / codec_time


@pytest.mark.parametrize("pes", [1000, 100_000])
def test_handle_resolution(benchmark: Any, pes: int) -> None:
    core, _ = _registrar(pes)
    core.association_up(1, ("10.200.0.1",), 0.0, peer_port=5001)
    request = wire.HandleResolution(POOL).encode()
    (reply,) = [a.message for a in core.receive(1, wire.decode(request, wire.PPID_ASAP), 1.0)]
    assert len(reply.pool_elements) == 3

    benchmark(_through_core, core, 1, request)
    benchmark.extra_info["core_overhead"] = _overhead(
        lambda: _through_core(core, 1, request), lambda: _codec_only(request, reply))


@pytest.mark.parametrize("pes", [1000, 100_000])
def test_reregistration(benchmark: Any, pes: int) -> None:
    core, registrations = _registrar(pes)
    assoc, data = registrations[pes // 2]
    reply = wire.RegistrationResponse(POOL, pes // 2 + 1)

    benchmark(_through_core, core, assoc, data)
    benchmark.extra_info["core_overhead"] = _overhead(
        lambda: _through_core(core, assoc, data), lambda: _codec_only(data, reply))
    assert core.stats.reregistrations > 0


def _table_transfer(source: Registrar, sink: Registrar) -> int:
    """A full handle table from ``source`` into ``sink`` page by page, through the codec."""
    request = wire.HandleTableRequest(sink.server_id, source.server_id)
    pages = 0
    while True:
        (send,) = source.receive(7, wire.decode(request.encode(), wire.PPID_ENRP), 2.0)
        response = wire.decode(send.message.encode(), wire.PPID_ENRP)
        pages += 1
        follow = [a for a in sink.receive(8, response, 2.0) if isinstance(a, Send)]
        if not response.more_to_send:
            return pages
        request = follow[-1].message


def test_handle_table_transfer_100k(benchmark: Any) -> None:
    source, _ = _registrar(100_000)
    presence = wire.Presence(2, 1, 0, wire.ServerInformation(
        2, wire.SctpTransport(9901, ("10.250.0.2",))))

    def setup() -> tuple[tuple[Registrar, Registrar], dict[str, Any]]:
        sink = Registrar(RegistrarConfig(server_id=2, enrp_announces=False),
                         rng=random.Random(2))
        sink.handle_timer(0.0)
        source.association_up(7, ("10.250.0.2",), 1.0)
        source.receive(7, presence, 1.0)  # the sink is a known peer
        sink.association_up(8, ("10.250.0.1",), 1.0)
        sink.receive(8, wire.Presence(1, 2, 0), 1.0)
        return (source, sink), {}

    pages = benchmark.pedantic(_table_transfer, setup=setup, rounds=3)
    benchmark.extra_info["pages"] = pages
    benchmark.extra_info["pes_per_second"] = 100_000 / benchmark.stats.stats.min

"""A PE whose registrar dies is taken over by a peer registrar: the peer's Endpoint
Keep-Alive with the H flag makes it the PE's home, and re-registrations go there."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from typing import Any

from rserpool.aio.pool_element import PoolElement
from rserpool.aio.pool_user import PoolUser
from rserpool.aio.registrar import RegistrarServer
from rserpool.asap.registrar_config import RegistrarConfig, StaticPeer
from rserpool.transport.base import SctpParameters
from rserpool.transport.memory import MemoryNetwork

POOL = b"takeover"
FAST = SctpParameters(rto_initial_ms=50, rto_min_ms=20, rto_max_ms=50,
                      heartbeat_interval_ms=50, association_max_retransmissions=3)


def registrar(network: MemoryNetwork, server_id: int, address: str, peer: str) -> Any:
    config = RegistrarConfig(
        server_id=server_id, static_peers=(StaticPeer((peer,), 9901),),
        peer_heartbeat_cycle=0.05, peer_max_time_last_heard=0.2,
        peer_max_time_no_response=0.2, takeover_expiry_interval=0.2,
        mentor_discovery_timeout=0.2, connect_retry_interval=0.1,
        endpoint_keep_alive_transmission_interval=0.1, endpoint_keep_alive_timeout_interval=0.5)
    return RegistrarServer(config, network.endpoint([address], 3863, FAST),
                           network.endpoint([address], 9901, FAST), announce_interface=None)


async def until(condition: Any) -> None:
    while not condition():
        await asyncio.sleep(0.01)


def test_peer_registrar_takes_over_the_pe_with_the_home_flag() -> None:
    async def main() -> None:
        network = MemoryNetwork()
        reg_a = registrar(network, 1, "10.0.0.1", "10.0.0.2")
        reg_b = registrar(network, 2, "10.0.0.2", "10.0.0.1")
        async with AsyncExitStack() as stack:
            await reg_a.start()
            await stack.enter_async_context(reg_b)
            pe_ep = await stack.enter_async_context(network.endpoint(["10.1.0.1"], 0, FAST))
            pe = await stack.enter_async_context(PoolElement(
                POOL, pe_ep, registrars=[(["10.0.0.1"], 3863)], rng=9,
                reregistration_interval=0.5))
            await until(lambda: reg_b.core.handlespace.get(POOL, pe.pe_identifier) is not None)
            await until(lambda: pe.home_registrar == 1)  # told by A's keep-alives
            await reg_a.stop()  # registrar A dies; B notices and takes its PEs over
            await until(lambda: pe.home_registrar == 2)
            registrations = reg_b.core.stats.reregistrations
            await until(lambda: reg_b.core.stats.reregistrations > registrations)
            pu_ep = await stack.enter_async_context(network.endpoint(["10.2.0.1"], 0, FAST))
            pu = await stack.enter_async_context(
                PoolUser(pu_ep, registrars=[(["10.0.0.2"], 3863)]))
            [found] = await pu.resolve(POOL)
            assert found.pe_identifier == pe.pe_identifier
            assert found.home_enrp_server_identifier == 2
    asyncio.run(asyncio.wait_for(main(), 20.0))

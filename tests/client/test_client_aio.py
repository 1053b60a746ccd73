"""The asyncio PoolElement / PoolUser over the memory transport, with a registrar behind a
CoreDriver: registration, resolution, data, updates, PE failover with cookie echo."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import pytest
from clientkit import echo
from registrar_host import serving, stored

from rserpool import wire
from rserpool.aio.pool_element import PoolElement, RegistrationError
from rserpool.aio.pool_user import PoolUser, ResolutionError
from rserpool.transport.base import SctpParameters
from rserpool.transport.memory import MemoryNetwork

POOL = b"echo"
REGISTRAR_PORT = 3863
FAST = SctpParameters(rto_initial_ms=50, rto_min_ms=20, rto_max_ms=50,
                      heartbeat_interval_ms=50, association_max_retransmissions=3)


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 20.0))


@asynccontextmanager
async def registrar(network: MemoryNetwork, address: str, **config: Any) -> AsyncIterator[Any]:
    async with network.endpoint([address], REGISTRAR_PORT, FAST) as endpoint, \
            serving(endpoint, server_id=int(address.split(".")[-1]), **config) as core:
        yield core


async def pool_element(stack: AsyncExitStack, network: MemoryNetwork, address: str,
                       registrars: list[tuple[list[str], int]], **kwargs: Any) -> PoolElement:
    endpoint = await stack.enter_async_context(network.endpoint([address], 0, FAST))
    return await stack.enter_async_context(PoolElement(
        POOL, endpoint, registrars=registrars, handler=echo, rng=hash(address) & 0xffff,
        **kwargs))


async def failed_over(session: Any, count: int = 1) -> None:
    """Wait until the session has moved to another PE ``count`` times."""
    while session.failovers < count:
        await asyncio.sleep(0.01)
    await session.wait_up()


def test_registered_pe_is_resolved_and_serves_a_session() -> None:
    async def main() -> None:
        network = MemoryNetwork()
        regs = [(["10.0.0.1"], REGISTRAR_PORT)]
        async with AsyncExitStack() as stack:
            await stack.enter_async_context(registrar(network, "10.0.0.1"))
            pe = await pool_element(stack, network, "10.1.0.1", regs)
            assert pe.registered
            pu_ep = await stack.enter_async_context(network.endpoint(["10.2.0.1"], 0, FAST))
            pu = await stack.enter_async_context(PoolUser(pu_ep, registrars=regs))
            [found] = await pu.resolve(POOL)
            assert found.pe_identifier == pe.pe_identifier
            assert [str(a) for a in found.user_transport.addresses] == ["10.1.0.1"]
            assert found.user_transport.port == pe.endpoint.port
            session = await pu.connect(POOL)
            await session.send(b"hello")
            assert await session.receive() == b"-|hello"
            with pytest.raises(ResolutionError):
                await pu.resolve(b"no-such-pool")
    run(main())


def test_pe_failure_fails_over_and_restores_the_session_by_cookie() -> None:
    async def main() -> None:
        network = MemoryNetwork()
        regs = [(["10.0.0.1"], REGISTRAR_PORT)]
        async with AsyncExitStack() as stack:
            await stack.enter_async_context(registrar(network, "10.0.0.1"))
            first = await pool_element(stack, network, "10.1.0.1", regs)
            pu_ep = await stack.enter_async_context(network.endpoint(["10.2.0.1"], 0, FAST))
            pu = await stack.enter_async_context(PoolUser(pu_ep, registrars=regs))
            session = await pu.connect(POOL)
            assert session.pe_identifier == first.pe_identifier
            await session.send(b"a")
            assert await session.receive() == b"-|a"
            await session.send(b"b")
            assert await session.receive() == b"-|b"
            second = await pool_element(stack, network, "10.1.0.2", regs)
            network.fail("10.1.0.1")  # the first PE's host goes dark
            await failed_over(session)
            await session.send(b"c")
            assert await session.receive() == b"seen:2|c"  # restored from the last cookie
            assert session.pe_identifier == second.pe_identifier and session.failovers == 1
    run(main())


def test_load_and_address_updates_reach_the_registrar() -> None:
    async def main() -> None:
        network = MemoryNetwork()
        regs = [(["10.0.0.1"], REGISTRAR_PORT)]
        async with AsyncExitStack() as stack:
            reg = await stack.enter_async_context(registrar(network, "10.0.0.1"))
            pe = await pool_element(stack, network, "10.1.0.1", regs,
                                    policy=wire.Policy(wire.PolicyType.LEAST_USED))
            pe.update(load=0x40000000)
            while stored(reg, POOL, pe.pe_identifier).member_selection_policy.load != 0x40000000:
                await asyncio.sleep(0.01)
            await pe.endpoint.bindx_add("10.1.9.1")
            pe.set_addresses(["10.1.0.1", "10.1.9.1"])
            while len(stored(reg, POOL, pe.pe_identifier).user_transport.addresses) != 2:
                await asyncio.sleep(0.01)
            assert [str(a) for a in stored(reg, POOL, pe.pe_identifier).user_transport.addresses] \
                == ["10.1.0.1", "10.1.9.1"]
            await pe.close()
            assert stored(reg, POOL, pe.pe_identifier) is None
    run(main())


def test_pe_moves_to_another_registrar_when_its_registrar_dies() -> None:
    async def main() -> None:
        network = MemoryNetwork()
        a, b = (["10.0.0.1"], REGISTRAR_PORT), (["10.0.0.2"], REGISTRAR_PORT)
        async with AsyncExitStack() as stack:
            first = AsyncExitStack()
            reg_a = await first.enter_async_context(registrar(network, "10.0.0.1"))
            reg_b = await stack.enter_async_context(registrar(network, "10.0.0.2"))
            pe = await pool_element(stack, network, "10.1.0.1", [a, b])
            assert stored(reg_a, POOL, pe.pe_identifier) is not None
            await first.aclose()  # registrar A shuts down
            while stored(reg_b, POOL, pe.pe_identifier) is None:
                await asyncio.sleep(0.01)
            pu_ep = await stack.enter_async_context(network.endpoint(["10.2.0.1"], 0, FAST))
            pu = await stack.enter_async_context(PoolUser(pu_ep, registrars=[b]))
            assert [e.pe_identifier for e in await pu.resolve(POOL)] == [pe.pe_identifier]
    run(main())


def test_pe_without_a_registrar_gives_up_after_its_timeout() -> None:
    async def main() -> None:
        network = MemoryNetwork()
        async with network.endpoint(["10.1.0.1"], 0, FAST) as endpoint:
            element = PoolElement(POOL, endpoint, registrars=[(["10.0.0.9"], REGISTRAR_PORT)],
                                  register_timeout=0.3, connect_timeout=0.1)
            with pytest.raises(RegistrationError) as caught:
                await element.start()
            assert caught.value.cause is None
    run(main())


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_pool_user_finds_its_registrar_by_multicast_announce() -> None:
    async def main() -> None:
        network = MemoryNetwork()
        group = ("239.0.0.50", free_udp_port())
        announce = wire.ServerAnnounce(5, (wire.SctpTransport(REGISTRAR_PORT, ["10.0.0.1"]),))
        sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sender.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF,
                          socket.inet_aton("127.0.0.1"))
        async with AsyncExitStack() as stack:
            stack.callback(sender.close)
            await stack.enter_async_context(registrar(network, "10.0.0.1"))
            pe = await pool_element(stack, network, "10.1.0.1", [(["10.0.0.1"], REGISTRAR_PORT)])
            pu_ep = await stack.enter_async_context(network.endpoint(["10.2.0.1"], 0, FAST))
            pu = await stack.enter_async_context(
                PoolUser(pu_ep, announces=group, announce_interface="127.0.0.1"))
            resolving = asyncio.ensure_future(pu.resolve(POOL))
            while not resolving.done():
                sender.sendto(announce.encode(), group)  # the registrar's announce cycle
                await asyncio.sleep(0.05)
            assert [e.pe_identifier for e in resolving.result()] == [pe.pe_identifier]
            assert pu.core.hunt.server_id == 5
    run(main())


def test_pe_without_handler_accepts_sessions_and_sees_the_echoed_cookie() -> None:
    async def main() -> None:
        network = MemoryNetwork()
        regs = [(["10.0.0.1"], REGISTRAR_PORT)]
        async with AsyncExitStack() as stack:
            await stack.enter_async_context(registrar(network, "10.0.0.1"))
            pe_ep = await stack.enter_async_context(network.endpoint(["10.1.0.1"], 0, FAST))
            pe = await stack.enter_async_context(PoolElement(POOL, pe_ep, registrars=regs,
                                                             data_ppid=63))
            pu_ep = await stack.enter_async_context(network.endpoint(["10.2.0.1"], 0, FAST))
            pu = await stack.enter_async_context(PoolUser(pu_ep, registrars=regs, data_ppid=63))
            session = await pu.connect(POOL)
            await session.send(b"ping")
            served = await pe.accept()
            assert await served.receive() == b"ping" and served.cookie_echo is None
            served.send_cookie(b"state")
            await served.send(b"pong")
            assert await session.receive() == b"pong"
            assert session.cookie == b"state"
            await session.close()
            with pytest.raises(ConnectionError):
                await served.receive()
    run(main())


def test_pe_answers_keep_alives_and_stays_registered() -> None:
    async def main() -> None:
        network = MemoryNetwork()
        regs = [(["10.0.0.1"], REGISTRAR_PORT)]
        async with AsyncExitStack() as stack:
            reg = await stack.enter_async_context(registrar(
                network, "10.0.0.1", endpoint_keep_alive_transmission_interval=0.02,
                endpoint_keep_alive_timeout_interval=0.05))
            pe = await pool_element(stack, network, "10.1.0.1", regs)
            while reg.stats.endpoint_keep_alives < 10:
                await asyncio.sleep(0.01)
            assert stored(reg, POOL, pe.pe_identifier) is not None
    run(main())


def test_unreachable_report_makes_the_registrar_drop_the_pe() -> None:
    async def main() -> None:
        network = MemoryNetwork()
        regs = [(["10.0.0.1"], REGISTRAR_PORT)]
        async with AsyncExitStack() as stack:
            reg = await stack.enter_async_context(registrar(network, "10.0.0.1",
                                                            max_bad_pe_reports=1))
            pe = await pool_element(stack, network, "10.1.0.1", regs)
            pu_ep = await stack.enter_async_context(network.endpoint(["10.2.0.1"], 0, FAST))
            pu = await stack.enter_async_context(PoolUser(pu_ep, registrars=regs))
            await pu.resolve(POOL)
            pu.report_unreachable(POOL, pe.pe_identifier)
            while stored(reg, POOL, pe.pe_identifier) is not None:
                await asyncio.sleep(0.01)
            with pytest.raises(ResolutionError) as caught:
                await pu.resolve(POOL, fresh=True)
            assert caught.value.cause == wire.Cause.UNKNOWN_POOL_HANDLE
    run(main())


def test_message_sent_as_the_pe_dies_is_given_back_and_resent_to_the_next_pe() -> None:
    async def main() -> None:
        network = MemoryNetwork()
        regs = [(["10.0.0.1"], REGISTRAR_PORT)]
        async with AsyncExitStack() as stack:
            await stack.enter_async_context(registrar(network, "10.0.0.1"))
            await pool_element(stack, network, "10.1.0.1", regs)
            pu_ep = await stack.enter_async_context(network.endpoint(["10.2.0.1"], 0, FAST))
            pu = await stack.enter_async_context(PoolUser(pu_ep, registrars=regs))
            session = await pu.connect(POOL)
            await session.send(b"a")
            assert await session.receive() == b"-|a"
            second = await pool_element(stack, network, "10.1.0.2", regs)
            network.fail("10.1.0.1")
            await session.send(b"lost-in-flight")  # accepted by the dying association
            assert await session.receive() == b"seen:1|lost-in-flight"
            assert session.pe_identifier == second.pe_identifier
    run(main())


def test_both_ends_move_at_once_and_the_session_finds_the_pe_through_the_registrar() -> None:
    async def main() -> None:
        network = MemoryNetwork()
        regs = [(["10.0.0.1"], REGISTRAR_PORT)]
        async with AsyncExitStack() as stack:
            reg = await stack.enter_async_context(registrar(network, "10.0.0.1"))
            pe = await pool_element(stack, network, "10.1.0.1", regs)
            pu_ep = await stack.enter_async_context(network.endpoint(["10.2.0.1"], 0, FAST))
            pu = await stack.enter_async_context(PoolUser(pu_ep, registrars=regs))
            session = await pu.connect(POOL)
            await session.send(b"a")
            assert await session.receive() == b"-|a"
            # Both hosts change networks at the same moment: neither can tell the other.
            network.fail("10.1.0.1")
            network.fail("10.2.0.1")
            await pe.endpoint.bindx_add("10.1.7.1")
            await pu_ep.bindx_add("10.2.7.1")
            pe.set_addresses(["10.1.7.1"])  # retried soon if the registrar refuses it
            while [str(a) for a in stored(reg, POOL, pe.pe_identifier)
                   .user_transport.addresses] != ["10.1.7.1"]:
                await asyncio.sleep(0.01)
            await session.send(b"b")
            assert await session.receive() == b"seen:1|b"  # same PE, new address, cookie
            assert session.pe_identifier == pe.pe_identifier and session.failovers == 1
    run(main())

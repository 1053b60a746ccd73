"""The client API over real SCTP on loopback (usrsctp here; kernel SCTP where the kernel has
it, as in the VM of shared/tools/vm): register, resolve, exchange data, and fail over to a
second PE with the session restored by Cookie Echo when the first one dies."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from typing import Any

import pytest
from clientkit import echo
from registrar_host import serving

from rserpool import _build_config
from rserpool.aio.pool_element import PoolElement
from rserpool.aio.pool_user import PoolUser
from rserpool.transport import SctpParameters, open_endpoint

LOCAL = "127.0.0.1"
POOL = b"usrsctp-echo"
FAST = SctpParameters(rto_initial_ms=100, rto_min_ms=50, rto_max_ms=200,
                      heartbeat_interval_ms=100, association_max_retransmissions=4)


def require(backend: str) -> None:
    if backend == "kernel":
        from rserpool.transport.kernel import kernel_sctp_available
        available, why = kernel_sctp_available()
        if not available:
            pytest.skip(why)
    elif not _build_config.HAVE_USRSCTP:
        pytest.skip("rserpool was built without libusrsctp (install libusrsctp-dev, rebuild)")


@pytest.mark.parametrize("backend", [pytest.param("usrsctp", marks=pytest.mark.usrsctp),
                                     pytest.param("kernel", marks=pytest.mark.kernel_sctp)])
def test_failover_between_two_pes(backend: str) -> None:
    require(backend)

    async def main() -> None:
        async with AsyncExitStack() as stack:
            reg_ep = await stack.enter_async_context(open_endpoint(backend, [LOCAL], 0, FAST))
            await stack.enter_async_context(serving(reg_ep, server_id=1))
            registrars = [([LOCAL], reg_ep.port)]

            async def pool_element(seed: int) -> tuple[Any, PoolElement]:
                ep = open_endpoint(backend, [LOCAL], 0, FAST)
                await ep.open()
                pe = PoolElement(POOL, ep, registrars=registrars, handler=echo, rng=seed)
                await pe.start()
                return ep, pe

            first_ep, first = await pool_element(1)
            pu_ep = await stack.enter_async_context(open_endpoint(backend, [LOCAL], 0, FAST))
            pu = await stack.enter_async_context(PoolUser(pu_ep, registrars=registrars))
            [found] = await pu.resolve(POOL)
            assert found.pe_identifier == first.pe_identifier
            session = await pu.connect(POOL)
            for word in (b"a", b"b"):
                await session.send(word)
                assert await session.receive() == b"-|" + word
            second_ep, second = await pool_element(2)
            stack.push_async_callback(second_ep.close)
            stack.push_async_callback(second.close)
            # The first PE dies as a killed process would: its associations are aborted,
            # no deregistration.
            await first.driver.aclose()
            for assoc in [*first._sessions, first.core.registrar_assoc]:
                if assoc is not None:
                    first_ep.abort(assoc)
            await first_ep.close()
            while session.failovers < 1:
                await asyncio.sleep(0.01)
            await session.send(b"c")
            assert await session.receive() == b"seen:2|c"
            assert session.pe_identifier == second.pe_identifier

    asyncio.run(asyncio.wait_for(main(), 60))

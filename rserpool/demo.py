"""The main job: a registrar, a pool of echo servers and a client on loopback, with a handover.

Run ``python -m rserpool.demo`` (``make demo``). Everything speaks real SCTP over usrsctp on
127.0.0.1 (the in-memory network when the build has no usrsctp). The client's server is
then stopped without deregistering; the client fails over to another server of the pool
and restores its session from the last cookie that server gave it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import logging
import random
import time
from collections.abc import Sequence
from contextlib import AsyncExitStack
from typing import Any

from rich.console import Console
from rich.table import Table

from rserpool import HAVE_USRSCTP, wire
from rserpool.aio import PeerSession, PoolElement, PoolUser
from rserpool.aio.registrar import RegistrarServer
from rserpool.asap.registrar_config import RegistrarConfig
from rserpool.transport import Endpoint, SctpParameters, open_endpoint

POOL = b"EchoPool"
LOADS = (0.10, 0.40, 0.70)  # fractions of full load; Least Used picks the lowest
PARAMS = SctpParameters(rto_initial_ms=200, rto_min_ms=50, rto_max_ms=400,
                        heartbeat_interval_ms=200)


async def echo_service(session: PeerSession, pe_id: int) -> None:
    """Answer each request with a running count; the count travels in the cookie."""
    count = 0
    while True:
        try:
            data = await session.receive()
        except ConnectionError:
            return
        if count == 0 and session.cookie_echo:
            count = int(session.cookie_echo.decode().split("=")[1])
        count += 1
        session.send_cookie(f"count={count}".encode())
        await session.send(f"PE ${pe_id:08x} answers #{count}: {data.decode()}".encode())


def handlespace_table(server: RegistrarServer, title: str) -> Table:
    assert server.core is not None
    hs = server.core.handlespace
    table = Table(title=title)
    for column in ("pool", "PE id", "addresses", "port", "policy", "load", "home registrar"):
        table.add_column(column)
    for pool in hs.pools():
        for pe in hs.elements(pool):
            policy = pe.member_selection_policy
            table.add_row(
                pool.decode(), f"${pe.pe_identifier:08x}",
                ", ".join(str(a) for a in pe.user_transport.addresses),
                str(pe.user_transport.port), wire.PolicyType(policy.policy_type).name,
                f"{policy.load / 0xFFFFFFFF:.0%}", f"${pe.home_enrp_server_identifier:08x}",
            )
    return table


class Demo:
    def __init__(self, backend: str, requests: int, console: Console) -> None:
        self.backend = backend
        self.requests = requests
        self.console = console
        self.network: Any = None
        if backend == "memory":
            from rserpool.transport.memory import MemoryNetwork

            self.network = MemoryNetwork()

    def endpoint(self) -> Endpoint:
        options = {"network": self.network} if self.network is not None else {}
        return open_endpoint(self.backend, ["127.0.0.1"], 0, PARAMS, **options)

    async def run(self) -> dict[str, Any]:
        say = self.console.print
        result: dict[str, Any] = {}
        async with AsyncExitStack() as stack:
            config = RegistrarConfig(mentor_discovery_timeout=0.5)
            server = await stack.enter_async_context(
                RegistrarServer(config, self.endpoint(), self.endpoint(),
                                announce_interface=None))
            say(f"[bold]registrar[/] ${server.server_id:08x}: ASAP 127.0.0.1:{server.asap_port}"
                f", ENRP 127.0.0.1:{server.enrp_port} over {self.backend}")
            registrars: Sequence[tuple[Sequence[str], int]] = [(["127.0.0.1"], server.asap_port)]

            pes: list[tuple[PoolElement, Endpoint]] = []
            for load in LOADS:
                endpoint = await stack.enter_async_context(self.endpoint())
                pe_id = random.randrange(1, 1 << 32)
                pe = PoolElement(
                    POOL, endpoint, registrars=registrars, pe_identifier=pe_id,
                    handler=functools.partial(echo_service, pe_id=pe_id),
                    policy=wire.Policy(wire.PolicyType.LEAST_USED, load=int(load * 0xFFFFFFFF)))
                await pe.start()
                stack.push_async_callback(self._quietly_close, pe)
                pes.append((pe, endpoint))
            say(f"[bold]pool[/] {POOL.decode()}: {len(pes)} echo PEs registered "
                "with policy Least Used")
            say(handlespace_table(server, "handlespace after registration"))

            user_endpoint = await stack.enter_async_context(self.endpoint())
            user = await stack.enter_async_context(PoolUser(user_endpoint, registrars=registrars))
            session = await user.connect(POOL)
            first = session.pe_identifier
            assert first is not None
            say(f"[bold]client[/]: session to pool {POOL.decode()} uses PE ${first:08x}")
            for n in range(1, self.requests + 1):
                await session.send(f"request {n}".encode())
                say("  " + (await session.receive()).decode())

            victim = next(endpoint for pe, endpoint in pes if pe.pe_identifier == first)
            say(f"[bold red]PE ${first:08x} stops[/] (its host shuts down; no deregistration)")
            started = time.perf_counter()
            await victim.close()
            while session.failovers < 1:  # the client notices the loss and fails over
                await asyncio.sleep(0.001)
            await session.wait_up()
            await session.send(f"request {self.requests + 1}".encode())
            answer = (await session.receive()).decode()
            handover_ms = (time.perf_counter() - started) * 1000
            say("  " + answer)
            say(f"[bold green]handover[/]: session moved to PE ${session.pe_identifier:08x} in "
                f"{handover_ms:.1f} ms, state restored from the cookie "
                f"(failovers: {session.failovers})")
            for _ in range(200):  # the registrar notices the lost association
                assert server.core is not None
                if server.core.handlespace.get(POOL, first) is None:
                    break
                await asyncio.sleep(0.01)
            say(handlespace_table(server, "handlespace after the handover"))
            stats = server.statistics()
            say("registrar statistics: " + ", ".join(f"{k}={v}" for k, v in stats.items()))
            result = {"first_pe": first, "second_pe": session.pe_identifier,
                      "answer": answer, "handover_ms": handover_ms, "statistics": stats}
        return result

    @staticmethod
    async def _quietly_close(pe: PoolElement) -> None:
        with contextlib.suppress(Exception):
            await pe.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rserpool.demo", description=__doc__)
    parser.add_argument("--transport", choices=("usrsctp", "memory"),
                        default="usrsctp" if HAVE_USRSCTP else "memory")
    parser.add_argument("--requests", type=int, default=3)
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    console = Console()
    asyncio.run(Demo(args.transport, args.requests, console).run())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

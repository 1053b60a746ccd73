"""A pool element or a pool user in its own process (own usrsctp stack), for netns tests.

``pe REGISTRAR POOL``: register, print ``{"pe_id": n}``, serve until stdin closes.
``resolve REGISTRAR POOL COUNT TIMEOUT``: resolve until COUNT PEs are seen, print them.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

from rserpool.aio import PoolElement, PoolUser
from rserpool.transport import open_endpoint, usrsctp

UDP_PORT = 9899  # RFC 6951's port: every host of the test LAN uses it, as deployments do


async def pool_element(registrar: str, pool: bytes) -> None:
    usrsctp.configure(UDP_PORT)  # a PE must be reachable: PUs and registrars connect to it
    async with open_endpoint("usrsctp", ["0.0.0.0"], 0) as ep, PoolElement(
            pool, ep, registrars=[([registrar], 3863)]) as pe:
        print(json.dumps({"pe_id": pe.pe_identifier}), flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


async def resolve(registrar: str, pool: bytes, count: int, timeout: float) -> None:
    started = time.monotonic()
    found: tuple = ()
    async with open_endpoint("usrsctp", ["0.0.0.0"], 0, remote_udp_port=UDP_PORT) as ep, PoolUser(
            ep, registrars=[([registrar], 3863)]) as pu:
        while time.monotonic() - started < timeout:
            try:
                found = await pu.resolve(pool, fresh=True)
            except Exception:  # not registered there yet: keep asking
                found = ()
            if len(found) >= count:
                break
            await asyncio.sleep(0.05)
    print(json.dumps({
        "elapsed": time.monotonic() - started,
        "pes": [{"id": pe.pe_identifier, "home": pe.home_enrp_server_identifier}
                for pe in found],
    }), flush=True)


def main() -> None:
    command, registrar, pool = sys.argv[1], sys.argv[2], sys.argv[3].encode()
    if command == "pe":
        asyncio.run(pool_element(registrar, pool))
    else:
        asyncio.run(resolve(registrar, pool, int(sys.argv[4]), float(sys.argv[5])))


if __name__ == "__main__":
    main()

"""PEs, PUs and hsdump in one process with its own usrsctp stack, driven over stdin/stdout.

``python -m tests.registrar.client ADDRESS UDP_PORT``; then one JSON command per line on
stdin, one JSON answer per line on stdout (``{"error": ...}`` if the command failed).
Registrars are named by their ``addr:port[@udp:PORT]`` (ASAP) or ENRP endpoint.

- ``{"cmd": "pe", "pool": P, "registrars": [spec, ...]}``: register a PE (the first
  registrar is tried first) -> ``{"pe_id", "at"}`` (``at``: time.monotonic()).
- ``{"cmd": "homes"}``: each PE's home registrar, as the PE knows it -> ``{"homes": [...]}``.
- ``{"cmd": "users", "registrars": [spec, ...]}``: open one PU per registrar -> ``{}``.
- ``{"cmd": "await", "pool": P, "pe_id": N, "home": H|null, "within": T}``: resolve at
  every PU's registrar until it lists the PE (with home H if given) -> ``{"seen": {spec:
  monotonic time or null}, "homes": {spec: home or null}}``.
- ``{"cmd": "dump", "registrar": enrp_spec}``: the registrar's handlespace as hsdump gets it
  -> ``{"server_id", "entries": [[pool, pe_id, home], ...]}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from typing import Any

from rserpool.aio import PoolElement, PoolUser
from rserpool.cli.addresses import parse_peer
from rserpool.cli.hsdump import fetch
from rserpool.transport import Endpoint, open_endpoint, usrsctp

POLL_S = 0.02


class Client:
    def __init__(self, address: str, stack: contextlib.AsyncExitStack) -> None:
        self.address = address
        self.stack = stack
        self.users: dict[str, PoolUser] = {}
        self.pes: list[PoolElement] = []

    def unopened(self, specs: list[str]) -> Endpoint:
        """An endpoint that reaches every registrar named on its UDP port."""
        ports = {}
        for spec in specs:
            addresses, port, udp = parse_peer(spec)
            if udp is not None:
                ports.update({(a, port): udp for a in addresses})
        return open_endpoint("usrsctp", [self.address], 0, peer_udp_ports=ports)

    async def endpoint(self, specs: list[str]) -> Endpoint:
        """``unopened(specs)``, opened until the client ends."""
        return await self.stack.enter_async_context(self.unopened(specs))

    async def pe(self, pool: str, registrars: list[str]) -> dict[str, Any]:
        endpoint = await self.endpoint(registrars)
        statics = [parse_peer(spec)[:2] for spec in registrars]
        pe = await self.stack.enter_async_context(
            PoolElement(pool, endpoint, registrars=statics))
        self.pes.append(pe)
        return {"pe_id": pe.pe_identifier, "at": time.monotonic()}

    async def open_users(self, registrars: list[str]) -> dict[str, Any]:
        for spec in registrars:
            endpoint = await self.endpoint([spec])
            self.users[spec] = await self.stack.enter_async_context(
                PoolUser(endpoint, registrars=[parse_peer(spec)[:2]]))
        return {}

    async def wait_for_pe(self, pool: str, pe_id: int, home: int | None,
                          timeout: float) -> dict[str, Any]:
        seen: dict[str, float | None] = {}
        homes: dict[str, int | None] = {}

        async def watch(spec: str, user: PoolUser) -> None:
            seen[spec] = homes[spec] = None
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                with contextlib.suppress(Exception):  # not there yet: keep asking
                    for pe in await asyncio.wait_for(user.resolve(pool, fresh=True), 2.0):
                        if pe.pe_identifier == pe_id:
                            homes[spec] = pe.home_enrp_server_identifier
                            if home in (None, homes[spec]):
                                seen[spec] = time.monotonic()
                                return
                await asyncio.sleep(POLL_S)

        await asyncio.gather(*(watch(spec, user) for spec, user in self.users.items()))
        return {"seen": seen, "homes": homes}

    async def dump(self, spec: str) -> dict[str, Any]:
        addresses, port, _ = parse_peer(spec)
        async with self.unopened([spec]) as endpoint:
            server_id, entries, _ = await fetch(endpoint, addresses, port, 5.0)
        return {"server_id": server_id, "entries": sorted(
            [handle.decode(), pe.pe_identifier, pe.home_enrp_server_identifier]
            for handle, pe in entries)}

    async def run(self, command: dict[str, Any]) -> dict[str, Any]:
        match command["cmd"]:
            case "pe":
                return await self.pe(command["pool"], command["registrars"])
            case "homes":
                return {"homes": [pe.home_registrar for pe in self.pes]}
            case "users":
                return await self.open_users(command["registrars"])
            case "await":
                return await self.wait_for_pe(command["pool"], command["pe_id"],
                                              command.get("home"), command["within"])
            case "dump":
                return await self.dump(command["registrar"])
        raise ValueError(f"unknown command {command['cmd']!r}")


async def main(address: str, udp_port: int) -> None:
    usrsctp.configure(udp_port)  # registrars reach our PEs on it (their --remote-udp-port)
    loop = asyncio.get_running_loop()
    async with contextlib.AsyncExitStack() as stack:
        client = Client(address, stack)
        while line := await loop.run_in_executor(None, sys.stdin.readline):
            try:
                answer = await client.run(json.loads(line))
            except Exception as exc:  # reported to the test, which fails with it
                answer = {"error": f"{type(exc).__name__}: {exc}"}
            print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))

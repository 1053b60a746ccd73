"""One usrsctp endpoint in its own process (usrsctp is one stack per process), driven by a
test over a pipe: JSON commands on stdin, one JSON answer per command on stdout.

Run it as is or inside a network namespace (``ip netns exec NS python usrsctp_peer.py``).
Commands (``op``): open, connect, stream, wait_sent, report, bindx_add, bindx_remove,
set_primary, set_peer_primary, heartbeat, peer_addresses, local, probe, udp_port, echo,
close. Everything received is recorded: messages as (sequence number, arrival time), other
events as (kind, state, address, assoc).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import sys
import time
from typing import Any

from rserpool.transport import (
    AssociationChange,
    Message,
    PeerAddressChange,
    SendFailed,
    open_endpoint,
)
from rserpool.transport.usrsctp import UsrsctpEndpoint, configure


class Peer:
    def __init__(self) -> None:
        self.endpoint: UsrsctpEndpoint | None = None
        self.arrivals: list[tuple[int, float]] = []
        self.events: list[tuple[str, str, str, int]] = []
        self.sender: asyncio.Task[int] | None = None
        self.tasks: list[asyncio.Task[None]] = []

    @property
    def ep(self) -> UsrsctpEndpoint:
        assert self.endpoint is not None
        return self.endpoint

    async def listen(self) -> None:
        while True:
            event = await self.ep.receive()
            if isinstance(event, Message):
                self.arrivals.append((int.from_bytes(event.data[:8], "big"), time.monotonic()))
            elif isinstance(event, AssociationChange):
                self.events.append(
                    ("assoc", event.state.value, ",".join(event.peer_addresses), event.assoc)
                )
            elif isinstance(event, PeerAddressChange):
                self.events.append(("peer_addr", event.state.value, event.address, event.assoc))
            elif isinstance(event, SendFailed):
                self.events.append(("send_failed", str(event.error), "", event.assoc))

    async def echo(self) -> None:
        self.tasks[0].cancel()  # the recorder would compete for the messages
        while True:
            event = await self.ep.receive()
            if isinstance(event, Message):
                await self.ep.send(event.assoc, event.data, event.ppid, event.stream)

    async def stream(self, assoc: int, count: int, interval: float) -> int:
        start = time.monotonic()
        for seq in range(count):
            delay = start + seq * interval - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            await self.ep.send(assoc, seq.to_bytes(8, "big") + b"." * 92, 77, seq % 4)
        return count

    async def handle(self, cmd: dict[str, Any]) -> Any:
        op = cmd["op"]
        if op == "open":
            endpoint = open_endpoint("usrsctp", cmd["addresses"], cmd.get("port", 0),
                                     peer_udp_ports={(a, p): u for a, p, u in
                                                     cmd.get("peer_udp_ports", [])})
            assert isinstance(endpoint, UsrsctpEndpoint)
            self.endpoint = endpoint
            await endpoint.open()
            self.tasks.append(asyncio.create_task(self.listen()))
            return endpoint.port
        if op == "connect":
            return await self.ep.connect(cmd["addresses"], cmd["port"])
        if op == "stream":
            self.sender = asyncio.create_task(
                self.stream(cmd["assoc"], cmd["count"], cmd["interval"])
            )
            return None
        if op == "wait_sent":
            assert self.sender is not None
            return await self.sender
        if op == "report":
            deadline = time.monotonic() + cmd.get("wait", 0)
            while len(self.arrivals) < cmd.get("expect", 0) and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            times = [t for _, t in self.arrivals]
            gaps = [b - a for a, b in itertools.pairwise(times)]
            return {
                "sequence": [s for s, _ in self.arrivals],
                "max_gap": max(gaps, default=0.0),
                "arrivals": self.arrivals,
                "events": self.events,
            }
        if op == "bindx_add":
            await self.ep.bindx_add(cmd["address"])
            return self.ep.local_addresses(cmd.get("assoc"))
        if op == "bindx_remove":
            await self.ep.bindx_remove(cmd["address"])
            return self.ep.local_addresses(cmd.get("assoc"))
        if op == "set_primary":
            self.ep.set_primary(cmd["assoc"], cmd["address"])
            return None
        if op == "set_peer_primary":
            self.ep.set_peer_primary(cmd["assoc"], cmd["address"])
            return None
        if op == "heartbeat":
            self.ep.heartbeat(cmd["assoc"], cmd["address"])
            return None
        if op == "peer_addresses":
            return self.ep.peer_addresses(cmd["assoc"])
        if op == "udp_port":
            return configure()
        if op == "echo":  # answer every message (after open), same stream and PPID
            self.tasks.append(asyncio.create_task(self.echo()))
            return None
        if op == "local":
            return self.ep.local_addresses(cmd.get("assoc"))
        if op == "probe":  # can a second endpoint bind this address right now?
            async with open_endpoint("usrsctp", [cmd["address"]]):
                return None
        if op == "close":
            for task in self.tasks:
                task.cancel()
            await self.ep.close()
            return None
        raise ValueError(f"unknown op {op!r}")


async def main() -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    peer = Peer()
    while line := await reader.readline():
        cmd = json.loads(line)
        try:
            answer = {"ok": await peer.handle(cmd)}
        except Exception as exc:
            answer = {"error": f"{type(exc).__name__}: {exc}", "errno": getattr(exc, "errno", 0)}
        print(json.dumps(answer), flush=True)
        if cmd["op"] == "close":
            break


if __name__ == "__main__":
    asyncio.run(main())

"""A mobile pool element, a (mobile) pool user or a one-shot resolver in its own process
(own usrsctp stack, UDP encapsulation port 9899 like every host of the test), driven by JSON
lines on stdin; each answer is one JSON line on stdout.

``pe REGISTRAR POOL ADDRESS PORT PREFIX``: an echo PE on ADDRESS:PORT under ``Mobility``
  (addresses in PREFIX). Each reply is ``"SEQ COUNT RESTORED"``: COUNT messages seen in the
  session (restored from the Cookie the PE sends after each one), RESTORED 1 once a Cookie
  Echo started the session.
``pu REGISTRAR POOL ADDRESS PREFIX``: a PU under ``Mobility`` with one session.
``resolve REGISTRAR POOL``: print the PEs' addresses once, from a fresh PU, and exit.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
from typing import Any

from rserpool.aio import PoolElement, PoolUser
from rserpool.aio.pool_element import PeerSession, SessionClosed
from rserpool.aio.pool_user import Session
from rserpool.mobility import Mobility, MobilityEvent
from rserpool.transport import SctpParameters, open_endpoint, usrsctp
from rserpool.transport.base import PeerAddressChange

UDP_PORT = 9899
ASAP_PORT = 3863
# The PU notices a dead association after about 4 s (RTO.max 1 s, 4 retransmissions).
PU_PARAMS = SctpParameters(association_max_retransmissions=4)


class Host:
    """What every role records: mobility events, with monotonic wall-clock times."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def mobility_event(self, event: MobilityEvent) -> None:
        self.events.append({"kind": event.kind, "address": event.address,
                            "assoc": event.assoc, "detail": event.detail,
                            "time": time.monotonic()})

    async def commands(self, handlers: dict[str, Any]) -> None:
        loop = asyncio.get_running_loop()
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line:
                return
            request = json.loads(line)
            op = request.pop("op")
            if op == "stop":
                answer({"ok": None})
                return
            try:
                result = await handlers[op](**request)
            except Exception as exc:  # reported to the test, which fails with it
                answer({"error": f"{type(exc).__name__}: {exc}"})
            else:
                answer({"ok": result})


def answer(value: dict[str, Any]) -> None:
    print(json.dumps(value), flush=True)


async def echo(session: PeerSession) -> None:
    restored = session.cookie_echo is not None
    count = int(session.cookie_echo or b"0")
    while True:
        try:
            data = await session.receive()
        except SessionClosed:
            return
        count += 1
        session.send_cookie(str(count).encode())
        await session.send(f"{data.decode()} {count} {int(restored)}".encode())


async def pool_element(registrar: str, pool: str, address: str, port: int,
                       prefix: str) -> None:
    host = Host()
    usrsctp.configure(UDP_PORT)
    ep = open_endpoint("usrsctp", [address], port)
    async with ep, PoolElement(pool, ep, registrars=[([registrar], ASAP_PORT)],
                               handler=echo) as pe:
        assert isinstance(ep, usrsctp.UsrsctpEndpoint)
        async with Mobility(ep, pe, prefixes=prefix.split(","),
                            on_event=host.mobility_event) as mob:

            async def events() -> list[dict[str, Any]]:
                return host.events

            async def settled() -> list[str]:
                await mob.settled()
                return mob.addresses

            answer({"ok": {"pe_id": pe.pe_identifier}})
            await host.commands({"events": events, "settled": settled})


class Pinger:
    """Request/response over one session: one request in flight, replies recorded."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.replies: list[tuple[int, int, int, float]] = []  # seq, count, restored, time
        self.resent = 0
        self.task: asyncio.Task[None] | None = None

    async def run(self, count: int, interval: float, timeout: float) -> None:
        for seq in range(count):
            await self.session.send(str(seq).encode())
            while True:
                try:
                    data = await asyncio.wait_for(self.session.receive(), timeout)
                except TimeoutError:  # request or reply lost with a dead association
                    self.resent += 1
                    await self.session.send(str(seq).encode())
                    continue
                got, total, restored = (int(x) for x in data.split())
                if got == seq:
                    self.replies.append((got, total, restored, time.monotonic()))
                    break
            await asyncio.sleep(interval)


async def pool_user(registrar: str, pool: str, address: str, prefix: str) -> None:
    host = Host()
    peer_events: list[dict[str, Any]] = []

    def peer_address(session: Session, change: PeerAddressChange) -> None:
        peer_events.append({"state": change.state.value, "address": change.address,
                            "time": time.monotonic()})

    usrsctp.configure(UDP_PORT)
    ep = open_endpoint("usrsctp", [address], 0, PU_PARAMS)
    async with ep, PoolUser(ep, registrars=[([registrar], ASAP_PORT)],
                            on_peer_address=peer_address, connect_timeout=1.0,
                            max_failover_rounds=40, retry_interval=0.5) as pu:
        assert isinstance(ep, usrsctp.UsrsctpEndpoint)
        async with Mobility(ep, prefixes=prefix.split(","), on_event=host.mobility_event) as mob:
            session = await pu.connect(pool)
            pinger = Pinger(session)

            async def start(count: int, interval: float, timeout: float) -> None:
                pinger.task = asyncio.ensure_future(pinger.run(count, interval, timeout))

            async def wait_replies(count: int, wait: float) -> int:
                deadline = time.monotonic() + wait
                while len(pinger.replies) < count and time.monotonic() < deadline:
                    if pinger.task is not None and pinger.task.done():
                        pinger.task.result()  # raises what stopped it
                    await asyncio.sleep(0.01)
                return len(pinger.replies)

            async def report() -> dict[str, Any]:
                return {"replies": pinger.replies, "resent": pinger.resent,
                        "failovers": session.failovers, "peer": peer_events,
                        "events": host.events, "assoc": session.assoc}

            async def settled() -> list[str]:
                await mob.settled()
                return mob.addresses

            answer({"ok": None})
            await host.commands({"start": start, "wait_replies": wait_replies,
                                 "report": report, "settled": settled})


async def resolve(registrar: str, pool: str) -> None:
    ep = open_endpoint("usrsctp", ["0.0.0.0"], 0, remote_udp_port=UDP_PORT)
    async with ep, PoolUser(ep, registrars=[([registrar], ASAP_PORT)]) as pu:
        found = await pu.resolve(pool, fresh=True)
    answer({"ok": [sorted(str(a) for a in pe.user_transport.addresses) for pe in found]})


def main() -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(relativeCreated)8.0f %(name)s %(message)s")
    role, *args = sys.argv[1:]
    if role == "pe":
        asyncio.run(pool_element(args[0], args[1], args[2], int(args[3]), args[4]))
    elif role == "pu":
        asyncio.run(pool_user(*args))
    else:
        asyncio.run(resolve(*args))


if __name__ == "__main__":
    main()

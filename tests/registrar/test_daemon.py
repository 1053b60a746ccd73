"""``rserpool-registrar`` as a user runs it: a separate process over usrsctp on loopback."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import pytest

from registrar.daemon import Daemon, free_udp_port, running
from rserpool import HAVE_USRSCTP, wire
from rserpool.aio import PoolElement, PoolUser
from rserpool.transport import Endpoint, Message, open_endpoint

pytestmark = [pytest.mark.usrsctp, pytest.mark.skipif(
    not HAVE_USRSCTP, reason="built without libusrsctp-dev: no usrsctp transport")]

POOL = b"EchoPool"


@pytest.fixture
def registrar(tmp_path: Path) -> object:
    udp = free_udp_port()
    args = ["--asap", "127.0.0.1:3863", "--enrp", "127.0.0.1:9901", "--udp-port", str(udp),
            "--announce-interface", "off", "--mentor-discovery-timeout", "0.2",
            "--stats-file", str(tmp_path / "stats.txt"), "--stats-interval", "0.2",
            "--max-hr-rate", "1000", "--rate-burst", "1000"]
    with running(args, tmp_path / "registrar.log") as daemon:
        daemon.udp_port = udp  # type: ignore[attr-defined]
        yield daemon


@asynccontextmanager
async def endpoint(udp_port: int) -> AsyncIterator[Endpoint]:
    async with open_endpoint("usrsctp", ["127.0.0.1"], 0, remote_udp_port=udp_port) as ep:
        yield ep


async def asap_reply(ep: Endpoint, assoc: int, data: bytes) -> object:
    await ep.send(assoc, data, wire.PPID_ASAP)
    while True:
        event = await asyncio.wait_for(ep.receive(), 5)
        if isinstance(event, Message) and event.assoc == assoc:
            return wire.decode(event.data, event.ppid)


def test_garbage_gets_errors_while_a_concurrent_user_keeps_being_served(registrar: Daemon,
                                                                        tmp_path: Path) -> None:
    udp = registrar.udp_port  # type: ignore[attr-defined]
    regs = [(["127.0.0.1"], 3863)]
    valid = wire.HandleResolution(POOL).encode()
    garbage = {
        "unknown message type": b"\x7f\x00\x00\x04",
        "truncated": valid[:-3],
        "length past the end": valid[:2] + b"\x00\xff" + valid[4:],
        "oversized parameter": b"\x05\x00\x00\x0c" + b"\x00\x09\xff\xff" + b"abcd",
        "ENRP sent to ASAP": wire.ListRequest(1, 0).encode(),
    }

    async def main() -> None:
        async with AsyncExitStack() as stack:
            pes = []
            for _ in range(3):
                ep = await stack.enter_async_context(endpoint(udp))
                pes.append(await stack.enter_async_context(
                    PoolElement(POOL, ep, registrars=regs)))
            user_ep = await stack.enter_async_context(endpoint(udp))
            user = await stack.enter_async_context(PoolUser(user_ep, registrars=regs))
            resolutions = 0

            async def keep_resolving() -> None:
                nonlocal resolutions
                while True:
                    found = await user.resolve(POOL, fresh=True)
                    assert {pe.pe_identifier for pe in found} <= {p.pe_identifier for p in pes}
                    resolutions += 1

            resolver = asyncio.create_task(keep_resolving())
            attacker = await stack.enter_async_context(endpoint(udp))
            assoc = await attacker.connect(["127.0.0.1"], 3863)
            for name, data in garbage.items():
                reply = await asap_reply(attacker, assoc, data)
                assert isinstance(reply, wire.AsapError), name
                causes = [c.code for c in reply.error.causes]
                assert causes and all(c != wire.Cause.UNSPECIFIED for c in causes), name
            # The attacker's association still works for a proper request.
            reply = await asap_reply(attacker, assoc, valid)
            assert isinstance(reply, wire.HandleResolutionResponse)
            assert len(reply.pool_elements) == 3
            before = resolutions
            await asyncio.sleep(0.3)
            resolver.cancel()
            assert resolutions > before  # the concurrent user was never held up
            found = await user.resolve(POOL, fresh=True)
            assert len(found) == 3  # no registration was lost

    asyncio.run(main())
    log = registrar.text()
    assert log.count("WARNING") >= len(garbage)  # each one left a log line


def test_hsdump_stats_and_clean_shutdown(registrar: Daemon, tmp_path: Path) -> None:
    udp = registrar.udp_port  # type: ignore[attr-defined]

    async def register_and_dump() -> str:
        async with AsyncExitStack() as stack:
            ids = []
            for weight in (1, 2):
                ep = await stack.enter_async_context(endpoint(udp))
                pe = await stack.enter_async_context(PoolElement(
                    POOL, ep, registrars=[(["127.0.0.1"], 3863)],
                    policy=wire.Policy(wire.PolicyType.WEIGHTED_RANDOM, weight=weight)))
                ids.append(pe.pe_identifier)
            dump = await asyncio.to_thread(subprocess.run, [
                sys.executable, "-m", "rserpool.cli.hsdump", "127.0.0.1:9901",
                "--remote-udp-port", str(udp)], capture_output=True, text=True, timeout=30)
            assert dump.returncode == 0, dump.stderr
            for pe_id in ids:
                assert f"${pe_id:08x}" in dump.stdout
            return dump.stdout

    out = asyncio.run(register_and_dump())
    assert "1 pools, 2 PEs" in out and "WEIGHTED_RANDOM" in out and "weight=2" in out
    registrar.wait_for("registrar-ready")
    stats = (tmp_path / "stats.txt").read_text().splitlines()
    header = stats[0].split()
    assert header[:5] == ["AbsTime", "RelTime", "Runtime", "UserTime", "SystemTime"]
    rows = [dict(zip(header, line.split(), strict=True)) for line in stats[1:]]
    assert rows and max(int(r["Registrations"]) for r in rows) == 2
    assert registrar.stop() == 0  # SIGTERM: a clean shutdown
    assert "shutting down" in registrar.text()

"""Interop with RSPLIB 3.4.4 on kernel SCTP (in the VM of shared/tools/vm: ``make vm-interop``).

- RSPLIB's ``rspserver -echo`` registers with our registrar, and RSPLIB's ``rspterminal``
  reaches it through our registrar: the echo comes back.
- Our registrar and RSPLIB's ``rspregistrar`` peer over ENRP (static peers): each resolves
  the PE registered at the other, RSPLIB's ``hsdump`` and our ``rserpool-hsdump`` show it,
  and an ``rspterminal`` using RSPLIB's registrar echoes through a PE registered at ours.

Elsewhere (no kernel SCTP, no RSPLIB) they skip and say why."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from registrar import rsplib
from rserpool import wire
from rserpool.transport import Message

pytestmark = pytest.mark.kernel_sctp

WHY = rsplib.why_not_here()


@pytest.fixture(autouse=True)
def _need_rsplib() -> None:
    if WHY is not None:
        pytest.skip(WHY)


@pytest.fixture
def address() -> str:
    return rsplib.site_address()


@pytest.fixture
def processes() -> Iterator[list[rsplib.Process]]:
    started: list[rsplib.Process] = []
    yield started
    for process in reversed(started):
        process.stop()


def _pool(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:6]}"


def resolve(address: str, port: int, pool: str) -> list[wire.PoolElement]:
    """A raw ASAP Handle Resolution at a registrar over kernel SCTP: the PEs it returns."""
    from rserpool.transport.kernel import KernelEndpoint

    async def ask() -> list[wire.PoolElement]:
        async with KernelEndpoint([address]) as ep:
            assoc = await ep.connect([address], port)
            await ep.send(assoc, wire.HandleResolution(pool.encode()).encode(), wire.PPID_ASAP)
            while True:
                event = await ep.receive()
                if isinstance(event, Message) and event.ppid == wire.PPID_ASAP:
                    reply = wire.decode(event.data, wire.PPID_ASAP)
                    if isinstance(reply, wire.HandleResolutionResponse):
                        return list(reply.pool_elements)

    return asyncio.run(asyncio.wait_for(ask(), 20))


def resolved(address: str, port: int, pool: str, timeout: float = 60) -> list[wire.PoolElement]:
    """Poll until the registrar resolves ``pool`` to at least one PE."""
    deadline = time.monotonic() + timeout
    while True:
        elements = resolve(address, port, pool)
        if elements or time.monotonic() > deadline:
            return elements
        time.sleep(1)


def echo_through(terminal: rsplib.Process, text: str, timeout: float = 60) -> str:
    """Type ``text`` into rspterminal until a PE's echo of it comes back (printed by
    rspterminal as ``from PE $<id>> text``)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        terminal.write(text + "\n")
        time.sleep(2)
        replies = [line for line in terminal.text().splitlines()
                   if text in line and "from PE $" in line]
        if replies:
            return replies[0]
    raise AssertionError(f"no echo of {text!r} within {timeout} s:\n{terminal.text()}")


def test_rspserver_registers_with_us_and_rspterminal_reaches_it(
        address: str, processes: list[rsplib.Process], tmp_path: Path) -> None:
    asap, enrp = rsplib.free_sctp_port(address), rsplib.free_sctp_port(address)
    pool = _pool("EchoPool")
    processes.append(rsplib.our_registrar(address, asap, enrp, tmp_path / "ours.log"))
    pe = rsplib.rsp_server(pool, f"{address}:{asap}", address, tmp_path / "rspserver.log")
    processes.append(pe)

    elements = resolved(address, asap, pool)
    assert elements, f"rspserver did not register:\n{pe.text()}\n{processes[0].text()}"
    assert all(str(a) == address for e in elements for a in e.user_transport.addresses)
    assert pool in rsplib.our_hsdump(f"{address}:{enrp}")

    terminal = rsplib.rsp_terminal(pool, f"{address}:{asap}", tmp_path / "rspterminal.log")
    processes.append(terminal)
    reply = echo_through(terminal, "hello-rserpool")
    print("rspterminal via our registrar:", reply)


def test_enrp_peering_with_rspregistrar(
        address: str, processes: list[rsplib.Process], tmp_path: Path) -> None:
    ours_asap, ours_enrp = rsplib.free_sctp_port(address), rsplib.free_sctp_port(address)
    theirs_asap, theirs_enrp = rsplib.free_sctp_port(address), rsplib.free_sctp_port(address)
    ours = rsplib.our_registrar(address, ours_asap, ours_enrp, tmp_path / "ours.log",
                                [f"{address}:{theirs_enrp}"])
    processes.append(ours)
    theirs = rsplib.rsp_registrar(address, theirs_asap, theirs_enrp, tmp_path / "theirs.log",
                                  [f"{address}:{ours_enrp}"])
    processes.append(theirs)
    at_ours, at_theirs = _pool("AtOurs"), _pool("AtRsplib")
    processes.append(rsplib.rsp_server(at_ours, f"{address}:{ours_asap}", address,
                                       tmp_path / "pe-ours.log"))
    processes.append(rsplib.rsp_server(at_theirs, f"{address}:{theirs_asap}", address,
                                       tmp_path / "pe-theirs.log"))

    # each registrar resolves the PE registered at the other
    assert resolved(address, ours_asap, at_ours), ours.text()
    assert resolved(address, theirs_asap, at_theirs), theirs.text()
    assert resolved(address, theirs_asap, at_ours), \
        f"RSPLIB does not resolve our PE:\n{theirs.text()}\n{ours.text()}"
    assert resolved(address, ours_asap, at_theirs), \
        f"we do not resolve RSPLIB's PE:\n{ours.text()}\n{theirs.text()}"

    # both handlespace dumps show both pools
    theirs_dump = rsplib.rsp_hsdump(f"{address}:{theirs_enrp}")
    ours_dump = rsplib.our_hsdump(f"{address}:{ours_enrp}")
    assert at_ours in theirs_dump and at_theirs in theirs_dump, theirs_dump
    assert at_ours in ours_dump and at_theirs in ours_dump, ours_dump

    # a PU of RSPLIB, using RSPLIB's registrar, reaches the PE registered at ours
    terminal = rsplib.rsp_terminal(at_ours, f"{address}:{theirs_asap}",
                                   tmp_path / "rspterminal.log")
    processes.append(terminal)
    print("rspterminal via RSPLIB's registrar to a PE of ours:",
          echo_through(terminal, "hello-peer"))

"""usrsctp through rserpool.transport against the same libusrsctp driven from C, same run.

Both sides: two endpoints in one process on 127.0.0.1, UDP encapsulation, an upcall that
writes an eventfd, one thread doing every socket call. Reported as a ratio to the C rate
(target: the Python binding keeps >= 80% of it)."""

from __future__ import annotations

import asyncio
import shutil
import statistics
import subprocess
import time
from pathlib import Path

import pytest

from rserpool import _build_config
from rserpool.transport import Message, open_endpoint

pytestmark = pytest.mark.usrsctp
C_SOURCE = Path(__file__).parent / "c" / "usrsctp_pingpong.c"
LOCAL = "127.0.0.1"
RTT_COUNT, RTT_SIZE = 5000, 100
BULK_COUNT, BULK_SIZE = 40000, 1024
ROUNDS = 5


@pytest.fixture(scope="module")
def c_pingpong(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not _build_config.HAVE_USRSCTP:
        pytest.skip("rserpool was built without libusrsctp")
    cc = shutil.which("cc")
    if cc is None:
        pytest.skip("no C compiler (cc) for the baseline")
    flags = subprocess.run(
        ["pkg-config", "--cflags", "--libs", "usrsctp"], capture_output=True, text=True
    )
    if flags.returncode != 0:
        pytest.skip("pkg-config does not know usrsctp")
    binary = tmp_path_factory.mktemp("c") / "usrsctp_pingpong"
    subprocess.run([cc, "-O2", "-o", str(binary), str(C_SOURCE), *flags.stdout.split()],
                   check=True)
    return binary


def c_rate(binary: Path, mode: str, count: int, size: int) -> float:
    """One run of the C baseline in a fresh process."""
    out = subprocess.run([str(binary), mode, str(count), str(size)], check=True,
                         capture_output=True, text=True, timeout=120).stdout
    return float(out)


async def _pair_rate(mode: str, count: int, size: int) -> float:
    async with open_endpoint("usrsctp", [LOCAL]) as server, open_endpoint(
        "usrsctp", [LOCAL]
    ) as client:
        assoc = await client.connect([LOCAL], server.port)
        payload = bytes(size)
        if mode == "rtt":
            await client.send(assoc, payload, 1)
            first = await _next_message(server)
            start = time.perf_counter()
            for _ in range(count):
                await server.send(first.assoc, payload, 1)
                await _next_message(client)
                await client.send(assoc, payload, 1)
                await _next_message(server)
            return count / (time.perf_counter() - start)

        async def produce() -> None:
            for _ in range(count):
                await client.send(assoc, payload, 1)

        start = time.perf_counter()
        producer = asyncio.create_task(produce())
        for _ in range(count):
            await _next_message(server)
        await producer
        return count * size / (time.perf_counter() - start) / 1e6


async def _next_message(endpoint) -> Message:  # type: ignore[no-untyped-def]
    while True:
        event = await endpoint.receive()
        if isinstance(event, Message):
            return event


@pytest.mark.parametrize(
    ("mode", "count", "size", "unit"),
    [("rtt", RTT_COUNT, RTT_SIZE, "round trips/s"), ("bulk", BULK_COUNT, BULK_SIZE, "MB/s")],
)
def test_usrsctp_vs_c(benchmark, c_pingpong: Path, mode: str, count: int, size: int,  # type: ignore[no-untyped-def]
                      unit: str) -> None:
    # C and Python rounds alternate so that load from other processes hits both alike.
    c_rates: list[float] = []
    rates: list[float] = []
    benchmark.pedantic(
        lambda: rates.append(asyncio.run(_pair_rate(mode, count, size))),
        setup=lambda: c_rates.append(c_rate(c_pingpong, mode, count, size)),
        rounds=ROUNDS, iterations=1,
    )
    python, c = statistics.median(rates), statistics.median(c_rates)
    ratio = python / c
    benchmark.extra_info.update({"unit": unit, "python": python, "c": c, "ratio": ratio})
    print(f"\nusrsctp {mode} ({size} B): rserpool {python:,.0f} {unit}, "
          f"C {c:,.0f} {unit}, ratio {ratio:.0%} (target >= 80%); "
          f"rounds python {[round(r) for r in rates]}, C {[round(r) for r in c_rates]}")

"""usrsctp through rserpool.transport against the same libusrsctp driven from C, same run.

Both sides: two endpoints in one process on 127.0.0.1, UDP encapsulation, an upcall that
writes an eventfd, one thread doing every socket call. Reported as a ratio to the C rate
(target: the Python binding keeps >= 80% of it).

Round trips are measured with both ways of waiting for the answer, each the same on both
sides: ``sleep`` (block in poll()/the event loop at once: the default) and ``busy-poll``
(spin up to BUSY_POLL_US for usrsctp's upcall first: ``SctpParameters.busy_poll_us``, and
``BUSY_POLL_US`` for the C program); and with both ways of taking messages: awaiting
``receive()`` (a coroutine per message), or a callback that ``deliver_to`` hands each
message as it is read and that answers with ``try_send``: what the C program does, and what
rserpool's own drivers (registrar, PE, PU) use."""

from __future__ import annotations

import asyncio
import os
import shutil
import statistics
import subprocess
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest

from rserpool import _build_config
from rserpool.transport import Endpoint, Event, Message, SctpParameters, open_endpoint

pytestmark = pytest.mark.usrsctp
_T = TypeVar("_T")
C_SOURCE = Path(__file__).parent / "c" / "usrsctp_pingpong.c"
LOCAL = "127.0.0.1"
RTT_COUNT, RTT_SIZE = 5000, 100
BUSY_POLL_US = 20
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


def c_rate(binary: Path, mode: str, count: int, size: int, busy_poll_us: int
           ) -> tuple[float, float]:
    """One run of the C baseline in a fresh process: (per wall second, per CPU second)."""
    out = subprocess.run([str(binary), mode, str(count), str(size)], check=True,
                         env={**os.environ, "BUSY_POLL_US": str(busy_poll_us)},
                         capture_output=True, text=True, timeout=120).stdout.split()
    return float(out[0]), float(out[1])


async def _pair_rate(mode: str, count: int, size: int, busy_poll_us: int
                     ) -> tuple[float, float]:
    """(per wall second, per CPU second of the process, usrsctp's threads included)."""
    params = SctpParameters(busy_poll_us=busy_poll_us)
    async with open_endpoint("usrsctp", [LOCAL], params=params) as server, open_endpoint(
        "usrsctp", [LOCAL], params=params
    ) as client:
        assoc = await client.connect([LOCAL], server.port)
        payload = bytes(size)
        if mode == "rtt-callback":
            return await _callback_rate(server, client, assoc, count, payload)
        if mode == "rtt":
            await client.send(assoc, payload, 1)
            first = await _next_message(server)
            start, cpu = time.perf_counter(), time.process_time()
            for _ in range(count):
                await server.send(first.assoc, payload, 1)
                await _next_message(client)
                await client.send(assoc, payload, 1)
                await _next_message(server)
            return count / (time.perf_counter() - start), count / (time.process_time() - cpu)

        async def produce() -> None:
            for _ in range(count):
                await client.send(assoc, payload, 1)

        start, cpu = time.perf_counter(), time.process_time()
        producer = asyncio.create_task(produce())
        for _ in range(count):
            await _next_message(server)
        await producer
        work = count * size / 1e6
        return work / (time.perf_counter() - start), work / (time.process_time() - cpu)


async def _callback_rate(server: Endpoint, client: Endpoint, assoc: int, count: int,
                         payload: bytes) -> tuple[float, float]:
    """Round trips between two ``deliver_to`` callbacks answering with ``try_send``."""
    done = asyncio.get_running_loop().create_future()
    left = count

    def server_sink(event: Event) -> None:
        if type(event) is Message and not server.try_send(event.assoc, payload, 1):
            done.set_exception(RuntimeError("server send buffer full"))

    def client_sink(event: Event) -> None:
        nonlocal left
        if type(event) is not Message:
            return
        left -= 1
        if left == 0:
            done.set_result(None)
        elif not client.try_send(assoc, payload, 1):
            done.set_exception(RuntimeError("client send buffer full"))

    server.deliver_to(server_sink)  # type: ignore[attr-defined]
    client.deliver_to(client_sink)  # type: ignore[attr-defined]
    start, cpu = time.perf_counter(), time.process_time()
    client.try_send(assoc, payload, 1)
    await done
    return count / (time.perf_counter() - start), count / (time.process_time() - cpu)


async def _next_message(endpoint: Endpoint) -> Message:
    while not isinstance(event := await endpoint.receive(), Message):
        pass
    return event


def _runner(loop: str) -> Callable[[Coroutine[Any, Any, _T]], _T]:
    """asyncio.run, or uvloop.run for ``loop == "uvloop"`` (skips if it is missing)."""
    if loop == "asyncio":
        return asyncio.run
    uvloop = pytest.importorskip("uvloop", reason="uvloop is not installed (a test extra)")
    return uvloop.run  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("mode", "count", "size", "unit", "busy_poll_us", "loop"),
    [("rtt", RTT_COUNT, RTT_SIZE, "round trips/s", 0, "asyncio"),
     ("rtt-callback", RTT_COUNT, RTT_SIZE, "round trips/s", 0, "asyncio"),
     ("rtt-callback", RTT_COUNT, RTT_SIZE, "round trips/s", 0, "uvloop"),
     ("rtt", RTT_COUNT, RTT_SIZE, "round trips/s", BUSY_POLL_US, "asyncio"),
     ("bulk", BULK_COUNT, BULK_SIZE, "MB/s", 0, "asyncio")],
    ids=["rtt-sleep", "rtt-callback-sleep", "rtt-callback-sleep-uvloop", "rtt-busy-poll",
         "bulk"],
)
def test_usrsctp_vs_c(  # type: ignore[no-untyped-def]
    benchmark, c_pingpong: Path, mode: str, count: int, size: int, unit: str, busy_poll_us: int,
    loop: str,
) -> None:
    # C and Python rounds alternate so that load from other processes hits both alike.
    run = _runner(loop)
    c_rates: list[tuple[float, float]] = []
    rates: list[tuple[float, float]] = []
    benchmark.pedantic(
        lambda: rates.append(run(_pair_rate(mode, count, size, busy_poll_us))),
        setup=lambda: c_rates.append(
            c_rate(c_pingpong, mode.removesuffix("-callback"), count, size, busy_poll_us)),
        rounds=ROUNDS, iterations=1,
    )
    python, c = statistics.median(r[0] for r in rates), statistics.median(r[0] for r in c_rates)
    python_cpu = statistics.median(r[1] for r in rates)
    c_cpu = statistics.median(r[1] for r in c_rates)
    benchmark.extra_info.update({
        "unit": unit, "python": python, "c": c, "ratio": python / c,
        "python_per_cpu_s": python_cpu, "c_per_cpu_s": c_cpu, "cpu_ratio": python_cpu / c_cpu,
    })
    waiting = f"busy-poll {busy_poll_us} us" if busy_poll_us else "sleep"
    benchmark.extra_info.update(waiting=waiting, loop=loop)
    print(f"\nusrsctp {mode} ({size} B, waiting: {waiting}, {loop} loop), target >= 80% of C:\n"
          f"  wall: rserpool {python:,.0f} {unit}, C {c:,.0f}, ratio {python / c:.0%}"
          f" (rounds {[round(r[0]) for r in rates]} vs {[round(r[0]) for r in c_rates]})\n"
          f"  per CPU second: rserpool {python_cpu:,.0f}, C {c_cpu:,.0f}, "
          f"ratio {python_cpu / c_cpu:.0%}")

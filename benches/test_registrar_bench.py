"""Registrations and handle resolutions per second of one ``rserpool-registrar`` over SCTP.

The registrar runs as its own process on usrsctp (loopback, UDP encapsulation); the
multi-process load generator of ``registrar_load.py`` drives it with pipelined raw ASAP
requests, with 1,000 and 100,000 PEs registered. Baseline in the same run: the same
requests through the registrar core in this process, without any transport (decode, core,
encode of every reply), so ``extra_info["sctp_vs_core"]`` is the share of the core's rate
that the daemon keeps once SCTP, the event loop and the process boundary are added.

Also a plain script: ``python benches/test_registrar_bench.py [pes ...]``.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from typing import Any

import pytest
import registrar_load as load

from rserpool import _build_config, wire
from rserpool.actions import Send
from rserpool.asap.registrar import Registrar
from rserpool.asap.registrar_config import RegistrarConfig

DURATION = 2.0  # seconds per timed phase


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def registrar_process(udp_port: int, asap_port: int) -> Iterator[subprocess.Popen[bytes]]:
    """``rserpool-registrar`` on usrsctp, limits raised for the load, no multicast."""
    args = [sys.executable, "-m", "rserpool.cli.registrar",
            "--asap", f"127.0.0.1:{asap_port}", "--enrp", f"127.0.0.1:{asap_port + 1}",
            "--udp-port", str(udp_port), "--announce-interface", "off",
            "--asap-announce", "off", "--enrp-announce", "off",
            "--max-pes-per-association", "1000000",
            "--endpoint-keep-alive-transmission-interval", "3600"]
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT,
                                env=dict(os.environ, PYTHONUNBUFFERED="1"))
        try:
            deadline = time.monotonic() + 30
            while b"serving:" not in _read(log):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"registrar did not start:\n{_read(log).decode()}")
                time.sleep(0.05)
            yield proc
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _read(log: Any) -> bytes:
    log.seek(0)
    data: bytes = log.read()
    return data


def over_sctp(pes: int, duration: float = DURATION) -> tuple[load.LoadResult, float]:
    """The load against a fresh daemon: the result and the daemon's CPU us per request."""
    udp_port = _free_udp_port()
    asap_port = random.randrange(20000, 60000)
    with registrar_process(udp_port, asap_port) as proc:
        cpu = load.cpu_seconds(proc.pid)
        result = load.run(load.LoadConfig(port=asap_port, remote_udp_port=udp_port, pes=pes,
                                          duration=duration))
        cpu = load.cpu_seconds(proc.pid) - cpu
    return result, cpu * 1e6 / sum(p.replies for p in result.phases.values())


def in_process(pes: int, duration: float = DURATION) -> dict[str, float]:
    """The same three phases through the core alone: requests per second of one process."""
    config = load.LoadConfig(pes=pes, workers=1, associations=8)
    core = Registrar(RegistrarConfig(server_id=1, asap_announces=False, enrp_announces=False,
                                     max_pes_per_association=1_000_000,
                                     endpoint_keep_alive_transmission_interval=3600.0),
                     rng=random.Random(1))
    core.handle_timer(0.0)
    per_assoc = load._pe_ids(config, 0)
    for assoc in range(len(per_assoc)):
        core.association_up(assoc, (config.local,), 0.0, peer_port=5000 + assoc)
    requests = [(assoc, load._registration(config, pe))
                for assoc, ids in enumerate(per_assoc) for pe in ids]
    resolution = wire.HandleResolution(load.POOL, config.items).encode()

    def step(assoc: int, data: bytes) -> None:
        for action in core.receive(assoc, wire.decode(data, wire.PPID_ASAP), 1.0):
            if isinstance(action, Send):
                action.message.encode()

    start = time.perf_counter()
    for assoc, data in requests:
        step(assoc, data)
    rates = {"populate": len(requests) / (time.perf_counter() - start)}
    assert len(core.handlespace) == pes
    for name, stream in (("reregister", itertools.cycle(requests)),
                         ("resolve", itertools.repeat((0, resolution)))):
        count, start = 0, time.perf_counter()
        while time.perf_counter() - start < duration:
            for assoc, data in itertools.islice(stream, 1000):
                step(assoc, data)
            count += 1000
        rates[name] = count / (time.perf_counter() - start)
    return rates


@pytest.fixture(autouse=True)
def _usrsctp() -> None:
    if not _build_config.HAVE_USRSCTP:
        pytest.skip("rserpool was built without libusrsctp: no SCTP to measure the daemon on")


@pytest.mark.parametrize("pes", [1000, 100_000])
def test_registrar_over_sctp(benchmark: Any, bench_summary: list[str], pes: int) -> None:
    results: list[tuple[load.LoadResult, float]] = []
    benchmark.pedantic(lambda: results.append(over_sctp(pes)), rounds=1, iterations=1)
    ((result, cpu_us),) = results
    core = in_process(pes)
    for name, phase in result.phases.items():
        assert phase.rejects == 0 and phase.others == 0, (name, phase)
    assert result.phases["populate"].replies == pes
    sctp = result.rates()
    benchmark.extra_info.update({f"{k}_per_s": v for k, v in sctp.items()})
    benchmark.extra_info.update({f"core_{k}_per_s": v for k, v in core.items()})
    benchmark.extra_info["sctp_vs_core"] = {k: sctp[k] / core[k] for k in sctp}
    benchmark.extra_info["daemon_cpu_us_per_request"] = cpu_us
    bench_summary.extend(load.describe(result, "sctp"))
    bench_summary.append(f"sctp {pes:>7,} PEs daemon CPU {cpu_us:.1f} us per request")
    bench_summary.extend(
        f"core {pes:>7,} PEs {k:<10} {v:>10,.0f}/s  (in-process, no transport;"
        f" SCTP daemon keeps {sctp[k] / v:.0%})" for k, v in core.items())


def main(argv: list[str]) -> int:
    for pes in [int(a) for a in argv] or [1000, 100_000]:
        result, cpu_us = over_sctp(pes)
        print("\n".join(load.describe(result, "sctp")))
        print(f"sctp {pes:>7,} PEs daemon CPU {cpu_us:.1f} us per request")
        print("\n".join(f"core {pes:>7,} PEs {k:<10} {v:>10,.0f}/s"
                        for k, v in in_process(pes).items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

"""Side by side on kernel SCTP: RSPLIB's ``rspregistrar`` and our ``rserpool-registrar``
under the same load (``registrar_load.py``), in turn, on one machine (the VM of
shared/tools/vm: ``make vm-bench``; runs wherever kernel SCTP and RSPLIB are installed).

    python benches/vm_registrar_compare.py --pes 1000 --pes 100000 --rounds 2

Rounds alternate the two registrars, so load from elsewhere hits both alike; the table
gives the median rate of each phase and ours / RSPLIB's, and the registrar process's CPU time
per request over the whole run (a measure that does not depend on whether the load generator
or the registrar was the bottleneck).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import registrar_load as load  # this file's folder is on sys.path when run as a script

ASAP, ENRP = 23863, 29901
KEEP_ALIVE_INTERVAL_S = 300  # RSPLIB's maximum: no keep-alive traffic during a run


def _command(kind: str, address: str, pes: int) -> list[str]:
    if kind == "rsplib":
        return ["rspregistrar", f"-asap={address}:{ASAP}", f"-enrp={address}:{ENRP}",
                "-asapannounce=off", "-enrpannounce=off", "-disable-ipv6", "-quiet",
                "-loglevel=1", "-logcolor=off",
                f"-endpointkeepalivetransmissioninterval={KEEP_ALIVE_INTERVAL_S * 1000}"]
    return [sys.executable, "-m", "rserpool.cli.registrar", "--transport", "kernel",
            "--asap", f"{address}:{ASAP}", "--enrp", f"{address}:{ENRP}",
            "--announce-interface", "off", "--asap-announce", "off", "--enrp-announce", "off",
            "--log-level", "warning", "--max-pes-per-association", str(max(pes, 4096)),
            "--endpoint-keep-alive-transmission-interval", str(KEEP_ALIVE_INTERVAL_S)]


def _listening(address: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_SCTP) as sock:
        sock.settimeout(2)
        try:
            sock.connect((address, port))
        except OSError:
            return False
        return True


@contextlib.contextmanager
def registrar(kind: str, address: str, pes: int) -> Iterator[int]:
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(_command(kind, address, pes), stdout=log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd="/")
        try:
            deadline = time.monotonic() + 60
            while not _listening(address, ASAP):
                if proc.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    raise RuntimeError(f"{kind} registrar did not start: {log.read()!r}")
                time.sleep(0.5)
            yield proc.pid
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            time.sleep(1)  # let the kernel release the ports


def site_address() -> str:
    """The first private, non-loopback IPv4 address (RSPLIB drops loopback PE addresses)."""
    out = subprocess.run(["ip", "-4", "-o", "addr", "show"], capture_output=True, text=True,
                         check=True).stdout
    for line in out.splitlines():
        address = line.split()[3].split("/")[0]
        if address.startswith(("10.", "192.168.", "172.")):
            return address
    return "127.0.0.1"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pes", type=int, action="append")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--associations", type=int, default=4)
    parser.add_argument("--window", type=int, default=32)
    parser.add_argument("--address", default="")
    parser.add_argument("--json", type=Path, help="also write every result here")
    args = parser.parse_args(argv)
    address = args.address or site_address()
    rates: dict[tuple[int, str, str], list[float]] = {}
    raw = []
    for pes in args.pes or [1000]:
        config = load.LoadConfig(
            registrar=address, port=ASAP, backend="kernel", local=address, pes=pes,
            workers=args.workers, associations=args.associations, window=args.window,
            duration=args.duration)
        for round_ in range(args.rounds):
            for kind in ("rsplib", "rserpool") if round_ % 2 == 0 else ("rserpool", "rsplib"):
                with registrar(kind, address, pes) as pid:
                    cpu = load.cpu_seconds(pid)
                    result = load.run(config)
                    cpu = load.cpu_seconds(pid) - cpu
                requests = sum(p.replies for p in result.phases.values())
                print("\n".join(load.describe(result, f"{kind:<8}")), flush=True)
                print(f"{kind:<8} CPU {cpu:.2f} s for {requests:,} requests: "
                      f"{cpu / requests * 1e6:,.0f} us per request", flush=True)
                raw.append({"registrar": kind, "cpu_s": cpu, **result.as_dict()})
                rates.setdefault((pes, "cpu_us", kind), []).append(cpu / requests * 1e6)
                for phase, rate in result.rates().items():
                    rates.setdefault((pes, phase, kind), []).append(rate)
    print(f"\nmedian rates on kernel SCTP ({address}), requests per second:")
    print(f"{'PEs':>8} {'phase':<11} {'rspregistrar':>13} {'rserpool':>10} {'ratio':>7}")
    for pes in args.pes or [1000]:
        for phase in load.PHASES:
            theirs = statistics.median(rates[(pes, phase, "rsplib")])
            ours = statistics.median(rates[(pes, phase, "rserpool")])
            print(f"{pes:>8,} {phase:<11} {theirs:>13,.0f} {ours:>10,.0f} "
                  f"{ours / theirs if theirs else float('inf'):>6.2f}x")
        theirs = statistics.median(rates[(pes, "cpu_us", "rsplib")])
        ours = statistics.median(rates[(pes, "cpu_us", "rserpool")])
        print(f"{pes:>8,} {'CPU us/req':<11} {theirs:>13,.0f} {ours:>10,.0f} "
              f"{ours / theirs:>6.2f}x (lower is better)")
    if args.json:
        args.json.write_text(json.dumps(raw, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""SCTP endpoint mobility with RSerPool between network namespaces, over usrsctp.

Hosts: registrar R, mobile PE host M with a link into net A and one into net B, PU host U
with links into nets C and D; a router joins the five nets. Each host runs its own process
(its own usrsctp stack, UDP encapsulation port 9899).

1. Make-before-break: M gains an address on net B, then loses the one on net A, while a PU
   session exchanges data: ``Mobility`` moves the association by ASCONF (nothing lost, the
   PU sees the peer-address events) and re-registers, so a fresh PU resolves the new address.
2. Both ends move at once, break before make (no ASCONF can arrive): the PU's association
   dies; its session re-resolves at the registrar, reconnects to the PE's new address and
   restores its state by Cookie Echo.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from registrar.daemon import Daemon

from rserpool import HAVE_USRSCTP

pytestmark = [pytest.mark.usrsctp, pytest.mark.netns, pytest.mark.slow]

HOST = Path(__file__).with_name("mobile_host.py")
ROOT = Path(__file__).resolve().parents[2]
POOL = "MobilePool"
PE_PORT = 4000
REGISTRAR = "10.60.0.1"
# net: (host, its interface, router interface, third octet)
NETS = {"R": ("r", "eth0", 60), "A": ("m", "ma", 61), "B": ("m", "mb", 62),
        "C": ("u", "uc", 63), "D": ("u", "ud", 64)}
M_A, M_B, U_C, U_D = "10.61.0.1", "10.62.0.1", "10.63.0.1", "10.64.0.1"
FAST_REGISTRAR = ["--endpoint-keep-alive-transmission-interval", "1",
                  "--endpoint-keep-alive-timeout-interval", "1"]


def sh(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True)


class Hosts:
    """The namespaces: ``<tag>r``, ``<tag>m``, ``<tag>u`` and the router ``<tag>rt``."""

    def __init__(self) -> None:
        self.tag = f"mob{uuid.uuid4().hex[:6]}"

    def ns(self, host: str) -> str:
        return f"{self.tag}{host}"

    def ip(self, host: str, *args: str) -> None:
        sh("ip", "-n", self.ns(host), *args)

    def create(self) -> None:
        for host in ("rt", "r", "m", "u"):
            sh("ip", "netns", "add", self.ns(host))
            self.ip(host, "link", "set", "lo", "up")
            for knob in ("all", "default"):  # replies may leave by another link
                sh("ip", "netns", "exec", self.ns(host), "sysctl", "-qw",
                   f"net.ipv4.conf.{knob}.rp_filter=0")
        sh("ip", "netns", "exec", self.ns("rt"), "sysctl", "-qw", "net.ipv4.ip_forward=1")
        for net, (host, dev, octet) in NETS.items():
            outer, inner = f"{self.tag}{net}0", f"{self.tag}{net}1"
            sh("ip", "link", "add", outer, "netns", self.ns("rt"), "type", "veth",
               "peer", "name", inner, "netns", self.ns(host))
            self.ip("rt", "link", "set", "dev", outer, "name", net.lower())
            self.ip("rt", "addr", "add", f"10.{octet}.0.254/24", "dev", net.lower())
            self.ip("rt", "link", "set", "dev", net.lower(), "up")
            self.ip(host, "link", "set", "dev", inner, "name", dev)
            self.ip(host, "link", "set", "dev", dev, "up")
        for host, net in (("r", "R"), ("m", "A"), ("u", "C")):
            self.attach(host, net)

    def attach(self, host: str, net: str, metric: int = 100) -> None:
        """Give ``host`` its address on ``net`` and a default route through it."""
        _, dev, octet = NETS[net]
        self.ip(host, "addr", "add", f"10.{octet}.0.1/24", "dev", dev)
        self.ip(host, "route", "add", "default", "via", f"10.{octet}.0.254", "dev", dev,
                "metric", str(metric))

    def detach(self, host: str, net: str) -> None:
        """Take ``host``'s address on ``net`` away (its routes through it go too)."""
        _, dev, octet = NETS[net]
        self.ip(host, "addr", "del", f"10.{octet}.0.1/24", "dev", dev)

    def remove(self) -> None:
        for host in ("r", "m", "u", "rt"):
            subprocess.run(["ip", "netns", "del", self.ns(host)], capture_output=True)


@pytest.fixture
def testbed() -> Iterator[Hosts]:
    if not HAVE_USRSCTP:
        pytest.skip("rserpool was built without libusrsctp (install libusrsctp-dev, rebuild)")
    if os.geteuid() != 0:
        pytest.skip("creating network namespaces needs root")
    bed = Hosts()
    try:
        bed.create()
    except (subprocess.CalledProcessError, FileNotFoundError) as exc:
        bed.remove()
        pytest.skip(f"cannot create network namespaces here: {exc}")
    try:
        yield bed
    finally:
        bed.remove()


class Process:
    """``mobile_host.py`` in a namespace, driven by JSON lines; its log goes to ``log``."""

    def __init__(self, bed: Hosts, host: str, log: Path, *args: str) -> None:
        self.log = log
        self._out = open(log, "w")  # noqa: SIM115 (closed in stop())
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", bed.ns(host), sys.executable, str(HOST), *args],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._out, text=True,
            bufsize=1, cwd=ROOT, env=dict(os.environ, PYTHONUNBUFFERED="1"))

    def read(self) -> Any:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line, f"process died:\n{self.log.read_text()[-3000:]}"
        answer = json.loads(line)
        assert "error" not in answer, f"{answer['error']}\n{self.log.read_text()[-3000:]}"
        return answer["ok"]

    def __call__(self, op: str, **args: Any) -> Any:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"op": op, **args}) + "\n")
        return self.read()

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(AssertionError, OSError):
                self("stop")
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._out.close()


def resolve(bed: Hosts, log: Path) -> list[list[str]]:
    """The PEs' addresses, asked of the registrar by a fresh PU on host R."""
    out = subprocess.run(
        ["ip", "netns", "exec", bed.ns("r"), sys.executable, str(HOST), "resolve",
         REGISTRAR, POOL], capture_output=True, text=True, cwd=ROOT, timeout=60)
    log.write_text(out.stderr)
    assert out.returncode == 0, out.stderr[-3000:]
    result: list[list[str]] = json.loads(out.stdout)["ok"]
    return result


def resolve_until(bed: Hosts, log: Path, expected: list[list[str]],
                  wait: float = 20.0) -> list[list[str]]:
    """Resolve until the registrar shows ``expected`` (re-registration is asynchronous)."""
    deadline = time.monotonic() + wait
    while True:
        found = resolve(bed, log)
        if found == expected or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


@contextlib.contextmanager
def hosts(bed: Hosts, tmp: Path) -> Iterator[tuple[Process, Process]]:
    """The registrar on R, the mobile PE on M (net A) and the PU on U (net C), running."""
    registrar = Daemon(["--asap", f"{REGISTRAR}:3863", "--enrp", f"{REGISTRAR}:9901",
                        "--identifier", "0x5151", "--announce-interface", "off",
                        "--log-level", "info", *FAST_REGISTRAR],
                       tmp / "registrar.log", prefix=["ip", "netns", "exec", bed.ns("r")])
    pe = pu = None
    try:
        registrar.wait_for("serving:")
        pe = Process(bed, "m", tmp / "pe.log", "pe", REGISTRAR, POOL, M_A, str(PE_PORT),
                     "10.61.0.0/24,10.62.0.0/24")
        pe.read()
        assert resolve(bed, tmp / "resolve.log") == [[M_A]]
        pu = Process(bed, "u", tmp / "pu.log", "pu", REGISTRAR, POOL, U_C,
                     "10.63.0.0/24,10.64.0.0/24")
        pu.read()
        yield pe, pu
    finally:
        for process in (pu, pe):
            if process is not None:
                process.stop()
        registrar.stop()


def first(events: list[dict[str, Any]], kind: str, after: float = 0.0, **match: Any) -> float:
    """The time of the first event of ``kind`` (matching ``match``) after ``after``."""
    for event in events:
        if (event.get("kind", event.get("state")) == kind and event["time"] >= after
                and all(event.get(k) == v for k, v in match.items())):
            return float(event["time"])
    raise AssertionError(f"no {kind} {match} in {events}")


def largest_gap(replies: list[list[Any]], start: float, end: float) -> float:
    times = [r[3] for r in replies if start - 1 <= r[3] <= end + 5]
    return max((b - a for a, b in itertools.pairwise(times)), default=0.0)


def test_make_before_break_moves_pe_without_loss(testbed: Hosts, tmp_path: Path) -> None:
    count = 1500
    with hosts(testbed, tmp_path) as (pe, pu):
        pu("start", count=count, interval=0.002, timeout=2.0)
        assert pu("wait_replies", count=200, wait=20) >= 200

        made = time.monotonic()
        testbed.attach("m", "B", metric=200)  # the new link comes up: make ...
        assert sorted(pe("settled")) == [M_A, M_B]
        time.sleep(0.5)
        broken = time.monotonic()
        testbed.detach("m", "A")  # ... then break
        assert pe("settled") == [M_B]

        assert pu("wait_replies", count=count, wait=60) == count
        report = pu("report")
        events = pe("events")
        assert [r[0] for r in report["replies"]] == list(range(count))
        assert [r[1] for r in report["replies"]] == list(range(1, count + 1))
        assert report["resent"] == 0, "a request or reply was lost"
        assert report["failovers"] == 0, "the association did not survive the move"

        peer = report["peer"]
        seen = [(e["state"], e["address"]) for e in peer]
        for expected in (("added", M_B), ("made_primary", M_B), ("removed", M_A)):
            assert expected in seen, f"the PU did not see {expected}: {seen}"
        assert seen.index(("added", M_B)) < seen.index(("removed", M_A))

        assert resolve_until(testbed, tmp_path / "resolve.log", [[M_B]]) == [[M_B]]

        gap = largest_gap(report["replies"], made, broken)
        add_acked = first(events, "acknowledged", made, address=M_B)
        primary = first(events, "peer-primary", made, address=M_B)
        removed = first(events, "removed", broken, address=M_A)
        rereg = first(events, "re-registered", broken)
        print(f"\nmake-before-break: address B up -> ADD-IP acknowledged "
              f"{(add_acked - made) * 1000:.0f} ms, peer primary "
              f"{(primary - made) * 1000:.0f} ms, PU saw MADE_PRIMARY "
              f"{(first(peer, 'made_primary', made) - made) * 1000:.0f} ms; address A gone "
              f"-> DELETE-IP acknowledged {(removed - broken) * 1000:.0f} ms, re-registered "
              f"{(rereg - broken) * 1000:.0f} ms; largest reply gap {gap * 1000:.1f} ms, "
              f"{count}/{count} replies")


def test_both_ends_move_at_once_session_fails_over_by_registrar(
        testbed: Hosts, tmp_path: Path) -> None:
    count = 600
    with hosts(testbed, tmp_path) as (pe, pu):
        pu("start", count=count, interval=0.005, timeout=1.0)
        assert pu("wait_replies", count=200, wait=20) >= 200

        broken = time.monotonic()
        testbed.detach("m", "A")  # both lose their links before either has a new one
        testbed.detach("u", "C")
        time.sleep(0.3)
        made = time.monotonic()
        testbed.attach("m", "B")
        testbed.attach("u", "D")
        assert pe("settled") == [M_B]
        assert pu("settled") == [U_D]

        assert pu("wait_replies", count=count, wait=90) == count
        report = pu("report")
        events = pe("events")
        replies = report["replies"]
        assert [r[0] for r in replies] == list(range(count))
        assert report["failovers"] >= 1, "the session did not fail over"
        before = [r for r in replies if r[3] < broken]
        after = [r for r in replies if r[3] > made]
        assert after and all(r[2] == 1 for r in after), "no Cookie Echo restored the session"
        assert after[0][1] > before[-1][1], "the session state was not restored"

        assert resolve_until(testbed, tmp_path / "resolve.log", [[M_B]]) == [[M_B]]

        rereg = first(events, "re-registered", made)
        print(f"\nboth ends moved (break-before-make): PE asked to re-register "
              f"{(rereg - made) * 1000:.0f} ms after its new address came up; PU session "
              f"back {after[0][3] - made:.2f} s after the new addresses came up "
              f"({after[0][3] - broken:.2f} s after the old ones went), "
              f"{report['failovers']} failover(s), {report['resent']} request(s) resent, "
              f"state restored at count {after[0][1]} (last before: {before[-1][1]})")

"""Three registrar processes on three hosts (network namespaces on one bridge), over usrsctp:
ENRP synchronisation, takeover of a dead registrar's PEs, relearning after a restart."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from registrar.daemon import Daemon
from rserpool import HAVE_USRSCTP

pytestmark = [
    pytest.mark.usrsctp, pytest.mark.netns, pytest.mark.slow,
    pytest.mark.skipif(not HAVE_USRSCTP, reason="built without libusrsctp-dev"),
    pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root"),
]

CLIENT = [sys.executable, "-m", "tests.registrar.netns_client"]
ROOT = Path(__file__).resolve().parents[2]
POOL = "NetnsPool"
FAST_ENRP = ["--peer-heartbeat-cycle", "0.5", "--peer-max-time-last-heard", "1",
             "--peer-max-time-no-response", "1", "--takeover-expiry-interval", "1",
             "--mentor-discovery-timeout", "1.5",
             "--endpoint-keep-alive-transmission-interval", "1",
             "--endpoint-keep-alive-timeout-interval", "1"]


def sh(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True)


class Lan:
    """Hosts ``r1 r2 r3 c`` (10.77.0.1-3, .10) on a bridge in a switch namespace."""

    HOSTS = {"r1": "10.77.0.1", "r2": "10.77.0.2", "r3": "10.77.0.3", "c": "10.77.0.10"}

    def __init__(self) -> None:
        self.tag = f"rsp{os.getpid() % 100000}"
        self.switch = f"{self.tag}sw"

    def ns(self, host: str) -> str:
        return f"{self.tag}{host}"

    def create(self) -> None:
        sh("ip", "netns", "add", self.switch)
        sh("ip", "-n", self.switch, "link", "add", "br0", "type", "bridge")
        sh("ip", "-n", self.switch, "link", "set", "br0", "up")
        for i, (host, address) in enumerate(self.HOSTS.items()):
            ns = self.ns(host)
            sh("ip", "netns", "add", ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
            sh("ip", "link", "add", f"{self.tag}h{i}", "netns", ns, "type", "veth",
               "peer", "name", f"{self.tag}s{i}", "netns", self.switch)
            sh("ip", "-n", ns, "link", "set", f"{self.tag}h{i}", "name", "eth0")
            sh("ip", "-n", ns, "addr", "add", f"{address}/24", "dev", "eth0")
            sh("ip", "-n", ns, "link", "set", "eth0", "up", "multicast", "on")
            sh("ip", "-n", ns, "route", "add", "224.0.0.0/4", "dev", "eth0")
            sh("ip", "-n", self.switch, "link", "set", f"{self.tag}s{i}", "master", "br0")
            sh("ip", "-n", self.switch, "link", "set", f"{self.tag}s{i}", "up")

    def remove(self) -> None:
        for ns in [self.switch, *(self.ns(h) for h in self.HOSTS)]:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)

    def exec(self, host: str) -> list[str]:
        return ["ip", "netns", "exec", self.ns(host)]


@pytest.fixture
def lan() -> Iterator[Lan]:
    lan = Lan()
    try:
        lan.create()
    except (subprocess.CalledProcessError, FileNotFoundError) as exc:
        lan.remove()
        pytest.skip(f"cannot create network namespaces here: {exc}")
    try:
        yield lan
    finally:
        lan.remove()


def start_registrar(lan: Lan, host: str, tmp: Path, identifier: int) -> Daemon:
    address = Lan.HOSTS[host]
    peers = [f"{a}:9901" for h, a in Lan.HOSTS.items() if h.startswith("r") and h != host]
    args = ["--asap", f"{address}:3863", "--enrp", f"{address}:9901",
            "--identifier", str(identifier), "--announce-interface", address,
            "--peer", ",".join(peers), "--log-level", "info", *FAST_ENRP]
    daemon = Daemon(args, tmp / f"{host}-{identifier:x}.log", prefix=lan.exec(host))
    daemon.wait_for("serving:")
    return daemon


def resolve(lan: Lan, registrar: str, count: int, timeout: float = 20.0) -> dict:
    out = subprocess.run([*lan.exec("c"), *CLIENT, "resolve", registrar, POOL, str(count),
                          str(timeout)], capture_output=True, text=True, cwd=ROOT,
                         timeout=timeout + 30)
    assert out.returncode == 0, out.stderr
    result: dict = json.loads(out.stdout)
    return result


def test_three_registrars_sync_take_over_and_relearn(lan: Lan, tmp_path: Path) -> None:
    ids = {"r1": 0x1111, "r2": 0x2222, "r3": 0x3333}
    daemons = {h: start_registrar(lan, h, tmp_path, i) for h, i in ids.items()}
    pe_proc = None
    try:
        for daemon in daemons.values():
            daemon.wait_for("registrar-ready")
        pe_proc = subprocess.Popen([*lan.exec("c"), *CLIENT, "pe", Lan.HOSTS["r1"], POOL],
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                   cwd=ROOT)
        assert pe_proc.stdout is not None
        pe_id = json.loads(pe_proc.stdout.readline())["pe_id"]
        registered = time.monotonic()

        # A PE registered at r1 becomes resolvable at r2 and r3 (ENRP Handle Update).
        for host in ("r2", "r3"):
            result = resolve(lan, Lan.HOSTS[host], 1)
            assert [pe["id"] for pe in result["pes"]] == [pe_id], host
            assert result["pes"][0]["home"] == ids["r1"]
        print(f"PE visible at r2 and r3 {time.monotonic() - registered:.2f} s after "
              "registering at r1")

        # r1 dies: exactly one survivor takes its PE over and becomes its home.
        daemons["r1"].stop(signal.SIGKILL)
        killed = time.monotonic()
        deadline = killed + 30
        takers: list[str] = []
        while time.monotonic() < deadline and not takers:
            takers = [h for h in ("r2", "r3") if "takeover" in daemons[h].text()
                      and re.search(r"takeover .*'target': 4369", daemons[h].text())]
            time.sleep(0.1)
        assert len(takers) == 1, {h: daemons[h].text()[-2000:] for h in ("r2", "r3")}
        print(f"{takers[0]} took over r1's PEs {time.monotonic() - killed:.2f} s after r1 died")
        for host in ("r2", "r3"):
            deadline = time.monotonic() + 20
            while True:
                result = resolve(lan, Lan.HOSTS[host], 1)
                homes = {pe["home"] for pe in result["pes"]}
                if homes == {ids[takers[0]]} or time.monotonic() > deadline:
                    break
            assert homes == {ids[takers[0]]}, (host, result)

        # r1 comes back with a new id and relearns the handlespace from a mentor.
        daemons["r1"] = start_registrar(lan, "r1", tmp_path, 0x1112)
        text = daemons["r1"].wait_for("registrar-ready", timeout=20)
        mentor = int(re.search(r"registrar-ready \{'mentor': (\d+)\}", text).group(1))
        assert mentor in (ids["r2"], ids["r3"])
        result = resolve(lan, Lan.HOSTS["r1"], 1)
        assert [pe["id"] for pe in result["pes"]] == [pe_id]
    finally:
        if pe_proc is not None:
            pe_proc.kill()
            pe_proc.wait()
        for daemon in daemons.values():
            daemon.stop()

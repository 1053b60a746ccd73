"""Three ``rserpool-registrar`` processes and a client process (``client.py``) over usrsctp,
either all on loopback (one UDP encapsulation port per process, named with ``@udp:``) or on
hosts made of network namespaces on one bridge (every host on UDP port 9899)."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from registrar.daemon import SERVING, Daemon, free_udp_port
from rserpool.cli.stats import COLUMNS

ROOT = Path(__file__).resolve().parents[2]
NAMES = ("r1", "r2", "r3")
#: Fast ENRP and keep-alive timers (seconds), so that deaths are noticed in a few seconds.
TIMERS = {"peer_heartbeat_cycle": 0.5, "peer_max_time_last_heard": 1.0,
          "peer_max_time_no_response": 1.0, "takeover_expiry_interval": 1.0,
          "mentor_discovery_timeout": 1.5, "endpoint_keep_alive_transmission_interval": 1.0,
          "endpoint_keep_alive_timeout_interval": 1.0}


@dataclass(frozen=True)
class Host:
    """Where a process runs: its address, usrsctp UDP port and command prefix."""

    address: str
    udp_port: int
    prefix: tuple[str, ...] = ()


class Loopback:
    """Everything on 127.0.0.1: distinct SCTP and UDP ports, no multicast."""

    name = "loopback"

    def __init__(self) -> None:
        self.client = Host("127.0.0.1", free_udp_port())
        self.hosts = {n: Host("127.0.0.1", free_udp_port()) for n in NAMES}
        self.ports = {n: (13860 + i, 19900 + i) for i, n in enumerate(NAMES, start=1)}

    def spec(self, name: str, port: int) -> str:
        return f"127.0.0.1:{port}@udp:{self.hosts[name].udp_port}"

    def args(self, name: str) -> list[str]:
        return ["--udp-port", str(self.hosts[name].udp_port), "--announce-interface", "off",
                "--remote-udp-port", str(self.client.udp_port)]

    def close(self) -> None:
        pass


class Lan:
    """Hosts ``r1 r2 r3 c`` (10.77.0.1-3, .10) on a bridge in a switch namespace; every
    host runs usrsctp on RFC 6951's port 9899, as deployments do; multicast on the bridge."""

    name = "netns"
    ADDRESSES = {"r1": "10.77.0.1", "r2": "10.77.0.2", "r3": "10.77.0.3", "c": "10.77.0.10"}

    def __init__(self) -> None:
        self.tag = f"rsp{os.getpid() % 100000}"
        self.switch = f"{self.tag}sw"
        self.namespaces = [self.switch]
        self.create()
        exec_in = {h: ("ip", "netns", "exec", f"{self.tag}{h}") for h in self.ADDRESSES}
        self.client = Host(self.ADDRESSES["c"], 9899, exec_in["c"])
        self.hosts = {n: Host(self.ADDRESSES[n], 9899, exec_in[n]) for n in NAMES}
        self.ports = dict.fromkeys(NAMES, (3863, 9901))

    def create(self) -> None:
        sh("ip", "netns", "add", self.switch)
        sh("ip", "-n", self.switch, "link", "add", "br0", "type", "bridge")
        sh("ip", "-n", self.switch, "link", "set", "br0", "up")
        for i, (host, address) in enumerate(self.ADDRESSES.items()):
            ns = f"{self.tag}{host}"
            sh("ip", "netns", "add", ns)
            self.namespaces.append(ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
            sh("ip", "link", "add", f"{self.tag}h{i}", "netns", ns, "type", "veth",
               "peer", "name", f"{self.tag}s{i}", "netns", self.switch)
            sh("ip", "-n", ns, "link", "set", f"{self.tag}h{i}", "name", "eth0")
            sh("ip", "-n", ns, "addr", "add", f"{address}/24", "dev", "eth0")
            sh("ip", "-n", ns, "link", "set", "eth0", "up", "multicast", "on")
            sh("ip", "-n", ns, "route", "add", "224.0.0.0/4", "dev", "eth0")
            sh("ip", "-n", self.switch, "link", "set", f"{self.tag}s{i}", "master", "br0")
            sh("ip", "-n", self.switch, "link", "set", f"{self.tag}s{i}", "up")

    def spec(self, name: str, port: int) -> str:
        return f"{self.ADDRESSES[name]}:{port}"

    def args(self, name: str) -> list[str]:
        return ["--announce-interface", self.ADDRESSES[name]]

    def close(self) -> None:
        for ns in self.namespaces:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


Topology = Loopback | Lan


def sh(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True)


class Client:
    """The client process: ``client(cmd="pe", ...)`` sends a command, returns its answer."""

    def __init__(self, host: Host, log: Path) -> None:
        self._log = open(log, "w")  # noqa: SIM115 (closed in close())
        self.process = subprocess.Popen(
            [*host.prefix, sys.executable, "-m", "tests.registrar.client", host.address,
             str(host.udp_port)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log, text=True,
            cwd=ROOT, env=dict(os.environ, PYTHONUNBUFFERED="1"))

    def __call__(self, *, timeout: float = 60.0, **command: Any) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        assert ready, f"client: no answer to {command} within {timeout} s"
        line = self.process.stdout.readline()
        assert line, f"client exited {self.process.poll()} on {command}"
        answer: dict[str, Any] = json.loads(line)
        assert "error" not in answer, (command, answer["error"])
        return answer

    def hang_up(self) -> None:
        """Close the client's stdin: it deregisters its PEs and ends."""
        if self.process.stdin is not None and not self.process.stdin.closed:
            self.process.stdin.close()

    def close(self) -> None:
        self.hang_up()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()
        self._log.close()


class Cluster:
    """Registrars ``r1 r2 r3`` (each a static ENRP peer of the others) and client processes."""

    IDS = {"r1": 0x1111, "r2": 0x2222, "r3": 0x3333}

    def __init__(self, topology: Topology, tmp: Path) -> None:
        self.topology = topology
        self.tmp = tmp
        self.daemons: dict[str, Daemon] = {}
        self.clients: list[Client] = []
        self.killed_at = 0.0

    def asap(self, name: str) -> str:
        return self.topology.spec(name, self.topology.ports[name][0])

    def enrp(self, name: str) -> str:
        return self.topology.spec(name, self.topology.ports[name][1])

    def start(self, *names: str, extra: dict[str, list[str]] | None = None) -> None:
        """Start registrars (all by default) and wait until each left its startup."""
        for name in names or NAMES:
            host, (asap, enrp) = self.topology.hosts[name], self.topology.ports[name]
            peers = [self.enrp(n) for n in NAMES if n != name]
            args = ["--asap", f"{host.address}:{asap}", "--enrp", f"{host.address}:{enrp}",
                    "--identifier", str(self.IDS[name]), "--peer", ",".join(peers),
                    "--log-format", "json", "--stats-file", str(self.stats_file(name)),
                    "--stats-interval", "0.2", *self.topology.args(name)]
            for key, value in TIMERS.items():
                args += ["--" + key.replace("_", "-"), str(value)]
            log = self.tmp / f"{name}-{len(list(self.tmp.glob(name + '-*.log')))}.log"
            self.daemons[name] = Daemon([*args, *(extra or {}).get(name, [])], log,
                                        prefix=host.prefix)
        for name in names or NAMES:
            self.daemons[name].wait_for(SERVING)
        for name in names or NAMES:
            self.daemons[name].wait_for("registrar-ready", timeout=20)

    def kill(self, name: str) -> None:
        self.killed_at = time.time()
        self.daemons[name].stop(signal.SIGKILL)

    def client(self) -> Client:
        client = Client(self.topology.client, self.tmp / f"client-{len(self.clients)}.log")
        self.clients.append(client)
        return client

    def stats_file(self, name: str) -> Path:
        return self.tmp / f"{name}.stats"

    def stats(self, name: str) -> dict[str, int]:
        """The registrar's latest statistics line (RSPLIB's statsfile columns)."""
        lines = self.stats_file(name).read_text().splitlines()
        if len(lines) < 2:
            return dict.fromkeys(COLUMNS, 0)
        return dict(zip(COLUMNS, map(int, lines[-1].split()[-len(COLUMNS):]), strict=True))

    def events(self, name: str, needle: str) -> list[tuple[float, str]]:
        """(time, message) of the registrar's log lines that contain ``needle``."""
        found = []
        for line in self.daemons[name].text().splitlines():
            if line.startswith("{") and needle in line:
                entry = json.loads(line)
                found.append((float(entry["time"]), str(entry["message"])))
        return found

    def wait_event(self, names: tuple[str, ...], needle: str,
                   timeout: float) -> tuple[str, float, str]:
        """The first registrar of ``names`` to log ``needle``: (name, time, message)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            hits = [(t, n, m) for n in names for t, m in self.events(n, needle)]
            if hits:
                t, n, m = min(hits)
                return n, t, m
            time.sleep(0.05)
        raise AssertionError(f"no {needle!r} logged by {names} within {timeout} s:\n" +
                             "\n".join(self.daemons[n].text()[-3000:] for n in names))

    @staticmethod
    def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            assert time.monotonic() < deadline, f"not within {timeout} s: {condition}"
            time.sleep(0.05)

    def close(self) -> None:
        """Stop every process, all at once: each may wait for its peers' shutdowns."""
        for client in self.clients:
            client.hang_up()
        for daemon in self.daemons.values():
            if daemon.process.poll() is None:
                daemon.process.send_signal(signal.SIGTERM)
        for client in self.clients:
            client.close()
        for daemon in self.daemons.values():
            daemon.stop()

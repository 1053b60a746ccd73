"""RSPLIB's programs (``rspregistrar``, ``rspserver``, ``rspterminal``, ``hsdump``) and our
registrar daemon as processes on kernel SCTP, for the interop tests in the VM."""

from __future__ import annotations

import ipaddress
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from rserpool.transport.kernel import kernel_sctp_available

RSPLIB = ("rspregistrar", "rspserver", "rspterminal", "hsdump")
#: Programs run outside the checkout, so that ``python -m rserpool...`` imports the built
#: package (in the VM: build/vm-site) and not the unbuilt source tree of the checkout.
CWD = "/"


def why_not_here() -> str | None:
    """None when kernel SCTP and RSPLIB's programs are there, else why not."""
    available, why = kernel_sctp_available()
    if not available:
        return f"kernel SCTP: {why} (`make vm-interop` runs these tests in the VM)"
    missing = [name for name in RSPLIB if shutil.which(name) is None]
    if missing:
        return f"RSPLIB programs missing: {', '.join(missing)} (the VM image has them)"
    return None


def site_address() -> str:
    """A private (site-local scope) IPv4 address of this host: RSPLIB drops loopback PE
    addresses by default, so the PEs must register with one (the VM's link0)."""
    out = subprocess.run(["ip", "-4", "-o", "addr", "show"], capture_output=True,
                         text=True, check=True).stdout
    for line in out.splitlines():
        address = ipaddress.ip_interface(line.split()[3]).ip
        if address.is_private and not address.is_loopback and not address.is_link_local:
            return str(address)
    raise RuntimeError(f"no private IPv4 address here:\n{out}")


def free_sctp_port(address: str) -> int:
    """A port no SCTP socket holds yet (bound and released at once)."""
    with socket.socket(socket.AF_INET, socket.SOCK_SEQPACKET, socket.IPPROTO_SCTP) as sock:
        sock.bind((address, 0))
        return int(sock.getsockname()[1])


class Process:
    """A program whose combined output goes to a log file."""

    def __init__(self, args: Sequence[str], log: Path, *, stdin: bool = False) -> None:
        self.log = log
        self.args = list(args)
        self._out = open(log, "w")  # noqa: SIM115 (closed in stop())
        self.proc = subprocess.Popen(
            self.args, stdout=self._out, stderr=subprocess.STDOUT,
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL, cwd=CWD,
            env=dict(os.environ, PYTHONUNBUFFERED="1"))

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, needle: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.text()
            if needle in text:
                return text
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.args[0]} exited {self.proc.returncode}:\n{text}")
            time.sleep(0.1)
        raise AssertionError(f"no {needle!r} from {self.args[0]} within {timeout} s:\n"
                             f"{self.text()}")

    def write(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line.encode())
        self.proc.stdin.flush()

    def stop(self, sig: int = signal.SIGINT) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._out.close()


def our_registrar(address: str, asap: int, enrp: int, log: Path,
                  peers: Sequence[str] = (), *extra: str) -> Process:
    args = [sys.executable, "-m", "rserpool.cli.registrar", "--transport", "kernel",
            "--asap", f"{address}:{asap}", "--enrp", f"{address}:{enrp}",
            "--announce-interface", "off", "--asap-announce", "off", "--enrp-announce", "off",
            "--log-level", "debug", *extra]
    for peer in peers:
        args += ["--peer", peer]
    process = Process(args, log)
    process.wait_for("serving:", 60)
    return process


def rsp_registrar(address: str, asap: int, enrp: int, log: Path,
                  peers: Sequence[str] = (), *extra: str) -> Process:
    args = ["rspregistrar", f"-asap={address}:{asap}", f"-enrp={address}:{enrp}",
            "-asapannounce=off", "-enrpannounce=off", "-disable-ipv6", "-loglevel=3",
            "-logcolor=off", *extra, *(f"-peer={p}" for p in peers)]
    return Process(args, log)


def rsp_server(pool: str, registrar: str, local: str, log: Path) -> Process:
    """``rspserver -echo`` registering in ``pool`` at one registrar only."""
    return Process(["rspserver", "-echo", f"-poolhandle={pool}", f"-registrar={registrar}",
                    "-asapannounce=off", f"-local={local}:0", "-loglevel=3",
                    "-logcolor=off"], log)


def rsp_terminal(pool: str, registrar: str, log: Path) -> Process:
    return Process(["rspterminal", f"-poolhandle={pool}", f"-registrar={registrar}",
                    "-asapannounce=off", "-loglevel=2", "-logcolor=off"], log, stdin=True)


def rsp_hsdump(enrp: str, timeout: float = 30) -> str:
    return subprocess.run(["hsdump", enrp, "-logcolor=off"], capture_output=True, text=True,
                          timeout=timeout, cwd=CWD).stdout


def our_hsdump(enrp: str, timeout: float = 30) -> str:
    return subprocess.run(
        [sys.executable, "-m", "rserpool.cli.hsdump", "--transport", "kernel", enrp],
        capture_output=True, text=True, timeout=timeout, cwd=CWD).stdout

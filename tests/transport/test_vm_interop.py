"""usrsctp on the host <-> Linux kernel SCTP in the VM, over the VM's two links (host side
in the ``rspvm`` network namespace), SCTP over UDP (RFC 6951): messages on four streams
echoed by the kernel, both of the guest's addresses in the association, and Add-IP /
set-primary / delete-ip from the userland side seen by the kernel.

Needs the VM of shared/tools/vm running with this checkout shared and rserpool installed in
it: ``make vm-test`` runs this test on the host while the VM is up."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from usrsctp_util import require_usrsctp

pytestmark = [pytest.mark.usrsctp, pytest.mark.vm]

ROOT = Path(__file__).resolve().parents[2]
RUN_VM = Path(os.environ.get("RSERPOOL_SHARED", ROOT.parent / "shared")) / "tools/vm/run-vm.sh"
VM_ID = int(os.environ.get("RSPVM_ID", "4"))
NETNS = os.environ.get("RSPVM_NETNS", "rspvm")
GUEST = [f"10.213.0.{10 + VM_ID}", f"10.213.1.{10 + VM_ID}"]
HOST = ["10.213.0.1", "10.213.1.1"]
NEW_HOST = f"10.213.0.{100 + VM_ID}"  # an address the host side gains during the test
SITE = ROOT / "build" / "vm-site"  # rserpool and pysctp for the guest (scripts/vm-test.sh)
PEER = Path(__file__).with_name("usrsctp_peer.py")


def vm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(RUN_VM), *args], capture_output=True, text=True)


def why_no_vm() -> str | None:
    if not RUN_VM.exists():
        return f"no VM tools at {RUN_VM}"
    status = vm("status", "--id", str(VM_ID)).stdout
    if ": running" not in status:
        return f"VM rspvm{VM_ID} is not running: `make vm-test` runs this test"
    if f" {ROOT} {ROOT} " not in status:
        return f"VM rspvm{VM_ID} runs without {ROOT} shared"
    if not (SITE / "rserpool").is_dir():
        return f"nothing built for the guest in {SITE}: run `make vm-test`"
    return None


class HostPeer:
    """A usrsctp endpoint process in the VM's host-side namespace (UDP port 9899)."""

    def __init__(self) -> None:
        env = {**os.environ, "RSERPOOL_USRSCTP_UDP_PORT": "9899"}
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", NETNS, sys.executable, str(PEER)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1, env=env,
        )

    def __call__(self, op: str, **args: object) -> object:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps({"op": op, **args}) + "\n")
        answer = json.loads(self.proc.stdout.readline() or '{"error": "peer died"}')
        if "error" in answer:
            raise RuntimeError(f"{op}: {answer['error']}")
        return answer["ok"]

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                self("close")
                self.proc.wait(10)
            except (RuntimeError, subprocess.TimeoutExpired, BrokenPipeError):
                self.proc.kill()


class GuestEcho:
    """kernel_echo.py in the guest, driven over ssh."""

    def __init__(self) -> None:
        command = (f"cd {ROOT} && PYTHONPATH={SITE} python3 -P tests/transport/kernel_echo.py 0 "
                   + " ".join(GUEST))
        self.proc = subprocess.Popen(
            ["bash", str(RUN_VM), "exec", "--id", str(VM_ID), command],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line, "the guest echo endpoint did not start"
        self.port = int(json.loads(line)["port"])

    def stop(self) -> list[list[Any]]:
        """Stop it; the events it saw."""
        out, _ = self.proc.communicate("", timeout=60)
        return [json.loads(line) for line in out.splitlines() if line.startswith("[")]


@pytest.fixture
def peers() -> Iterator[tuple[HostPeer, GuestEcho]]:
    require_usrsctp()
    reason = why_no_vm()
    if reason:
        pytest.skip(reason)
    guest = GuestEcho()
    host = HostPeer()
    try:
        yield host, guest
    finally:
        host.stop()
        if guest.proc.poll() is None:
            guest.proc.kill()
        subprocess.run(["ip", "netns", "exec", NETNS, "ip", "addr", "del", f"{NEW_HOST}/24",
                        "dev", "rspbr0"], capture_output=True)


def test_host_usrsctp_and_guest_kernel_sctp(peers: tuple[HostPeer, GuestEcho]) -> None:
    host, guest = peers
    host("open", addresses=HOST, port=0)
    assoc = host("connect", addresses=GUEST, port=guest.port)
    peer_addresses = host("peer_addresses", assoc=assoc)
    assert isinstance(peer_addresses, list) and sorted(peer_addresses) == GUEST
    count = 200
    host("stream", assoc=assoc, count=count, interval=0.005)
    report = host("report", expect=count, wait=60)
    assert isinstance(report, dict)
    assert sorted(report["sequence"]) == list(range(count))  # every message echoed

    # The host side gains an address: Add-IP, make it the guest's primary, drop the old one.
    subprocess.run(["ip", "netns", "exec", NETNS, "ip", "addr", "add", f"{NEW_HOST}/24",
                    "dev", "rspbr0"], check=True)
    host("bindx_add", address=NEW_HOST, assoc=assoc)
    for _ in range(100):  # refused until the ADD-IP is acknowledged
        try:
            host("set_peer_primary", assoc=assoc, address=NEW_HOST)
            break
        except RuntimeError:
            time.sleep(0.1)
    # The peer refuses to delete the address an ASCONF comes from (RFC 5061), and over UDP
    # the kernel picks the source by route: send ours on the other link's path.
    host("set_primary", assoc=assoc, address=GUEST[1])
    host("bindx_remove", address=HOST[0], assoc=assoc)
    host("stream", assoc=assoc, count=count, interval=0.005)
    report = host("report", expect=2 * count, wait=60)
    assert isinstance(report, dict)
    assert sorted(report["sequence"]) == sorted(list(range(count)) * 2)
    host.stop()

    seen = guest.stop()
    print("\nguest kernel saw:", seen)
    assert HOST in [sorted(e[2]) for e in seen if e[:2] == ["assoc", "up"]]
    addresses = [(e[1], e[2]) for e in seen if e[0] == "peer_addr"]
    for expected in (("added", NEW_HOST), ("made_primary", NEW_HOST), ("removed", HOST[0])):
        assert expected in addresses, f"the kernel did not report {expected}"

"""usrsctp between two network namespaces joined by two veth links: failover and
make-before-break mobility (ASCONF add-ip / delete-ip / set-primary) with no loss.

Each endpoint runs in its own process inside its namespace (a usrsctp stack is per
process), driven over a pipe by ``usrsctp_peer.py``."""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from usrsctp_util import Peer, require_usrsctp

pytestmark = [pytest.mark.usrsctp, pytest.mark.netns]
UDP_PORT = 9899  # RFC 6951; both namespaces use it, so peers know each other's port
RATE_INTERVAL = 0.001  # 1,000 messages/s


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


class Net:
    """Namespaces A (client) and B (server); link 1: 10.1.0.0/24, link 2: 10.2.0.0/24."""

    def __init__(self) -> None:
        tag = uuid.uuid4().hex[:8]
        self.a, self.b = f"rsp-{tag}-a", f"rsp-{tag}-b"

    def create(self, client_link2_address: bool) -> None:
        ip("netns", "add", self.a)
        ip("netns", "add", self.b)
        for ns in (self.a, self.b):
            ip("-n", ns, "link", "set", "lo", "up")
        for link in ("1", "2"):
            ip("link", "add", f"va{link}", "netns", self.a, "type", "veth",
               "peer", "name", f"vb{link}", "netns", self.b)
            ip("-n", self.b, "addr", "add", f"10.{link}.0.2/24", "dev", f"vb{link}")
            if link == "1" or client_link2_address:
                ip("-n", self.a, "addr", "add", f"10.{link}.0.1/24", "dev", f"va{link}")
            for ns, dev in ((self.a, f"va{link}"), (self.b, f"vb{link}")):
                ip("-n", ns, "link", "set", dev, "up")

    def remove(self) -> None:
        for ns in (self.a, self.b):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


@pytest.fixture
def net(request: pytest.FixtureRequest) -> Iterator[Net]:
    require_usrsctp()
    if os.geteuid() != 0:
        pytest.skip("creating network namespaces needs root")
    net = Net()
    try:
        net.create(client_link2_address=request.param)
    except (subprocess.CalledProcessError, FileNotFoundError) as exc:
        net.remove()
        pytest.skip(f"cannot create network namespaces here: {exc}")
    yield net
    net.remove()


SERVER = ["10.1.0.2", "10.2.0.2"]


def check_no_loss(report: dict[str, Any], count: int) -> None:
    # four streams: order holds per stream, so compare as a set (and count duplicates)
    assert sorted(report["sequence"]) == list(range(count)), (
        f"lost {count - len(set(report['sequence']))} of {count} messages"
    )


@contextlib.contextmanager
def streaming(net: Net, client_addresses: list[str], count: int, started: int
              ) -> Iterator[tuple[Peer, Peer, int]]:
    """The server in B on both links, the client in A streaming ``count`` messages at
    1,000/s to it; yields (server, client, assoc) once ``started`` of them arrived."""
    server, client = Peer(net.b, UDP_PORT), Peer(net.a, UDP_PORT)
    try:
        port = server("open", addresses=SERVER, port=0)
        client("open", addresses=client_addresses, port=0)
        assoc = client("connect", addresses=SERVER, port=port)
        client("stream", assoc=assoc, count=count, interval=RATE_INTERVAL)
        server("report", expect=started, wait=10)
        yield server, client, assoc
    finally:
        client.stop()
        server.stop()


def delivered(what: str, server: Peer, client: Peer, count: int) -> dict[str, Any]:
    """The server's report once the whole stream is sent and received, checked for loss
    (the largest delivery gap is printed)."""
    assert client("wait_sent") == count
    report = server("report", expect=count, wait=30)
    print(f"\n{what}: largest delivery gap {report['max_gap'] * 1000:.1f} ms "
          f"at {1 / RATE_INTERVAL:.0f} msg/s, {len(report['sequence'])}/{count} delivered")
    check_no_loss(report, count)
    return report


def address_events(report: dict[str, Any]) -> list[tuple[str, str]]:
    return [(state, address) for kind, state, address, _ in report["events"]
            if kind == "peer_addr"]


@pytest.mark.parametrize("net", [True], indirect=True)
def test_primary_link_down_keeps_delivering(net: Net) -> None:
    count = 3000
    with streaming(net, ["10.1.0.1", "10.2.0.1"], count, 1000) as (server, client, _):
        ip("-n", net.a, "link", "set", "va1", "down")  # the primary path dies
        delivered("failover", server, client, count)


@pytest.mark.parametrize("net", [False], indirect=True)
def test_make_before_break_moves_the_association(net: Net) -> None:
    count = 4000
    with streaming(net, ["10.1.0.1"], count, 500) as (server, client, assoc):
        # A new address appears after usrsctp started: announce it, then move over.
        ip("-n", net.a, "addr", "add", "10.2.0.1/24", "dev", "va2")
        used = client("bindx_add", address="10.2.0.1", assoc=assoc)
        assert "10.2.0.1" in used
        client("set_peer_primary", assoc=assoc, address="10.2.0.1")
        client("set_primary", assoc=assoc, address="10.2.0.2")
        client("heartbeat", assoc=assoc, address="10.2.0.2")
        used = client("bindx_remove", address="10.1.0.1", assoc=assoc)
        assert used == ["10.2.0.1"]
        ip("-n", net.a, "addr", "del", "10.1.0.1/24", "dev", "va1")

        report = delivered("make-before-break", server, client, count)
        seen = address_events(report)
        print("server saw:", seen)
        for expected in (("added", "10.2.0.1"), ("made_primary", "10.2.0.1"),
                         ("removed", "10.1.0.1")):
            assert expected in seen, f"server did not see {expected}"
        assert seen.index(("added", "10.2.0.1")) < seen.index(("removed", "10.1.0.1"))
        server_assoc = next(e[3] for e in report["events"] if e[:2] == ["assoc", "up"])
        assert server("peer_addresses", assoc=server_assoc) == ["10.2.0.1"]


@pytest.mark.parametrize("net", [False], indirect=True)
def test_break_before_make_recovers(net: Net) -> None:
    """The old address vanishes first, the new one comes later: with the server's second
    address as a stable anchor, ASCONF moves the association and nothing is lost."""
    count = 4000
    with streaming(net, ["10.1.0.1"], count, 500) as (server, client, assoc):
        ip("-n", net.a, "addr", "del", "10.1.0.1/24", "dev", "va1")
        ip("-n", net.a, "addr", "add", "10.2.0.1/24", "dev", "va2")
        client("bindx_add", address="10.2.0.1", assoc=assoc)
        client("set_primary", assoc=assoc, address="10.2.0.2")
        client("heartbeat", assoc=assoc, address="10.2.0.2")
        assert client("bindx_remove", address="10.1.0.1", assoc=assoc) == ["10.2.0.1"]
        client("set_peer_primary", assoc=assoc, address="10.2.0.1")

        seen = address_events(delivered("break-before-make", server, client, count))
        assert ("added", "10.2.0.1") in seen and ("removed", "10.1.0.1") in seen


@pytest.mark.parametrize("net", [False], indirect=True)
def test_host_address_changes_reach_usrsctp(net: Net) -> None:
    """usrsctp alone never learns of address changes after start-up on Linux; the binding's
    netlink monitor tells it, so a removed address can no longer be bound."""
    peer = Peer(net.a, UDP_PORT)
    try:
        peer("open", addresses=["10.1.0.1"], port=0)
        ip("-n", net.a, "addr", "add", "10.2.0.1/24", "dev", "va2")
        assert peer.ask("probe", address="10.2.0.1") == {"ok": None}
        ip("-n", net.a, "addr", "del", "10.2.0.1/24", "dev", "va2")
        for _ in range(100):  # the netlink event arrives asynchronously
            answer = peer.ask("probe", address="10.2.0.1")
            if "error" in answer:
                break
            time.sleep(0.02)
        assert answer.get("errno") == errno.EADDRNOTAVAIL, answer
    finally:
        peer.stop()

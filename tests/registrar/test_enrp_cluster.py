"""Three registrar processes over usrsctp, peering over ENRP (RFC 5353): on loopback (one UDP
port per process, given to the peers with ``--peer addr:port@udp:PORT``) and, as root, on
three hosts made of network namespaces. A PE and PUs run in a client process."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from registrar.cluster import NAMES, TIMERS, Cluster, Lan, Loopback, Topology
from rserpool import HAVE_USRSCTP

pytestmark = [pytest.mark.usrsctp, pytest.mark.slow, pytest.mark.skipif(
    not HAVE_USRSCTP, reason="built without libusrsctp-dev: no usrsctp transport")]

POOL = "ClusterPool"
IDS = Cluster.IDS


@pytest.fixture(params=["loopback", pytest.param("netns", marks=pytest.mark.netns)])
def cluster(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Cluster]:
    topology: Topology
    if request.param == "loopback":
        topology = Loopback()
    else:
        if os.geteuid() != 0:
            pytest.skip("network namespaces need root")
        try:
            topology = Lan()
        except (subprocess.CalledProcessError, FileNotFoundError) as exc:
            pytest.skip(f"cannot create network namespaces here: {exc}")
    cluster = Cluster(topology, tmp_path)
    try:
        yield cluster
    finally:
        cluster.close()
        topology.close()


def test_pe_registered_at_one_is_resolvable_at_all_three_within_a_second(
        cluster: Cluster) -> None:
    cluster.start()
    client = cluster.client()
    client(cmd="users", registrars=[cluster.asap(n) for n in NAMES])

    pe = client(cmd="pe", pool=POOL, registrars=[cluster.asap("r1")])
    found = client(cmd="await", pool=POOL, pe_id=pe["pe_id"], home=IDS["r1"], within=10)

    delays = {n: found["seen"][cluster.asap(n)] for n in NAMES}
    assert None not in delays.values(), found
    delays = {n: t - pe["at"] for n, t in delays.items()}
    print(f"[{cluster.topology.name}] PE registered at r1 resolvable after "
          + ", ".join(f"{n} {d * 1000:.0f} ms" for n, d in delays.items()))
    assert max(delays.values()) <= 1.0


def test_survivor_takes_over_a_dead_registrars_pes_within_the_configured_time(
        cluster: Cluster) -> None:
    cluster.start()
    client = cluster.client()
    pe = client(cmd="pe", pool=POOL, registrars=[cluster.asap(n) for n in NAMES])
    client(cmd="users", registrars=[cluster.asap(n) for n in ("r2", "r3")])
    client(cmd="await", pool=POOL, pe_id=pe["pe_id"], home=IDS["r1"], within=10)  # tried first

    cluster.kill("r1")
    # r1 is declared dead once not heard for last-heard + no-response; the takeover then
    # waits at most the takeover expiry for the other survivor's acknowledgement.
    configured = sum(TIMERS[k] for k in ("peer_max_time_last_heard",
                                         "peer_max_time_no_response",
                                         "takeover_expiry_interval"))
    taker, when, message = cluster.wait_event(("r2", "r3"), "registrar: takeover",
                                              timeout=configured + 20)
    took = when - cluster.killed_at
    print(f"[{cluster.topology.name}] {taker} took over r1's PEs {took:.2f} s after r1 died "
          f"(configured: {configured:.1f} s): {message}")
    assert re.search(rf"'target': {IDS['r1']}, 'pool_elements': 1", message)
    assert took <= configured
    others = [n for n in ("r2", "r3") if n != taker]
    assert not [e for n in others for e in cluster.events(n, "registrar: takeover")]

    found = client(cmd="await", pool=POOL, pe_id=pe["pe_id"], home=IDS[taker], within=10)
    assert found["homes"] == {cluster.asap(n): IDS[taker] for n in ("r2", "r3")}
    # The new home's keep-alives reach the PE (over --remote-udp-port on loopback): the PE
    # follows it.
    cluster.wait_until(lambda: client(cmd="homes")["homes"] == [IDS[taker]])


def test_forced_checksum_mismatch_triggers_a_resynchronisation(cluster: Cluster) -> None:
    # r3 drops the first Handle Update it receives: its view of r1's PEs diverges.
    cluster.start(extra={"r3": ["--debug-ignore-handle-updates", "1"]})
    client = cluster.client()
    client(cmd="users", registrars=[cluster.asap(n) for n in NAMES])
    synchronisations = cluster.stats("r1")["Synchronizations"]

    pe = client(cmd="pe", pool=POOL, registrars=[cluster.asap("r1")])
    _, ignored, _ = cluster.wait_event(("r3",), "ignoring a Handle Update", timeout=10)
    found = client(cmd="await", pool=POOL, pe_id=pe["pe_id"], home=IDS["r1"], within=20)

    assert None not in found["seen"].values(), found
    _, audit, _ = cluster.wait_event(("r3",), f"checksum of peer ${IDS['r1']:08x} differs",
                                     timeout=1)
    print(f"[{cluster.topology.name}] r3 ignored the Handle Update, found r1's checksum "
          f"different {audit - ignored:.2f} s later and resolved the PE "
          f"{found['seen'][cluster.asap('r3')] - pe['at']:.2f} s after it registered")
    cluster.wait_until(lambda: cluster.stats("r1")["Synchronizations"] > synchronisations)
    dumps = [client(cmd="dump", registrar=cluster.enrp(n)) for n in NAMES]
    assert [d["server_id"] for d in dumps] == [IDS[n] for n in NAMES]
    assert all(d["entries"] == [[POOL, pe["pe_id"], IDS["r1"]]] for d in dumps), dumps
    audited = {m for n in NAMES for _, m in cluster.events(n, "checksum of peer")}
    assert audited == {f"checksum of peer ${IDS['r1']:08x} differs: resynchronising its PEs"}


def test_restarted_registrar_relearns_the_handlespace_from_a_mentor(cluster: Cluster) -> None:
    cluster.start()
    client = cluster.client()
    pe = client(cmd="pe", pool=POOL, registrars=[cluster.asap("r2")])
    client(cmd="users", registrars=[cluster.asap("r3")])
    client(cmd="await", pool=POOL, pe_id=pe["pe_id"], home=IDS["r2"], within=10)

    cluster.kill("r1")
    cluster.start("r1")

    (serving, _), = cluster.events("r1", "serving:")
    (ready, message), = cluster.events("r1", "registrar-ready")
    mentor = int(re.search(r"'mentor': (\d+)", message).group(1))  # type: ignore[union-attr]
    print(f"[{cluster.topology.name}] restarted r1 learnt the handlespace from "
          f"${mentor:08x} {ready - serving:.2f} s after it started serving")
    assert mentor in (IDS["r2"], IDS["r3"])
    dumps = [client(cmd="dump", registrar=cluster.enrp(n)) for n in NAMES]
    assert all(d["entries"] == [[POOL, pe["pe_id"], IDS["r2"]]] for d in dumps), dumps

"""The daemon's static peer syntax: ``addr[,addr]:port[@udp:UDPPORT]``, in flags and TOML."""

from __future__ import annotations

from pathlib import Path

import pytest

from rserpool.asap.registrar_config import StaticPeer
from rserpool.cli.addresses import parse_peer
from rserpool.cli.registrar import parse, peer_udp_ports


def test_peer_with_and_without_its_udp_port() -> None:
    assert parse_peer("127.0.0.1:9902@udp:9912") == (("127.0.0.1",), 9902, 9912)
    assert parse_peer("10.0.0.1,[fd00::1]:9901") == (("10.0.0.1", "fd00::1"), 9901, None)
    assert parse_peer("[fd00::2]@udp:9899", 9901) == (("fd00::2",), 9901, 9899)


@pytest.mark.parametrize("spec", ["127.0.0.1:9902@udp:", "127.0.0.1:9902@udp:70000",
                                  "127.0.0.1:9902@udp:0", "127.0.0.1:9902@udp:x"])
def test_bad_udp_port_is_refused(spec: str) -> None:
    with pytest.raises(ValueError, match="bad UDP port"):
        parse_peer(spec)


def test_flags_give_the_core_its_peers_and_the_transport_their_udp_ports() -> None:
    daemon, protocol = parse(["--peer", "127.0.0.1:9902@udp:9912,127.0.0.1:9903"])
    assert protocol.static_peers == (StaticPeer(("127.0.0.1",), 9902),
                                     StaticPeer(("127.0.0.1",), 9903))
    assert peer_udp_ports(daemon) == {("127.0.0.1", 9902): 9912}


def test_a_multi_homed_peer_in_a_flag_stays_one_peer() -> None:
    _, protocol = parse(["--peer", "10.0.0.1,10.0.0.2:9902@udp:9912,[fd00::3]:9903,fd00::4"])
    assert protocol.static_peers == (StaticPeer(("10.0.0.1", "10.0.0.2"), 9902),
                                     StaticPeer(("fd00::3",), 9903),
                                     StaticPeer(("fd00::4",), 9901))


def test_toml_peers_take_the_same_syntax(tmp_path: Path) -> None:
    config = tmp_path / "registrar.toml"
    config.write_text('[registrar]\npeer = ["127.0.0.1:9902@udp:9912", "127.0.0.1:9903@udp:9913"]\n'
                      "remote_udp_port = 9920\ndebug_ignore_handle_updates = 2\n")
    daemon, protocol = parse(["--config", str(config)])
    assert peer_udp_ports(daemon) == {("127.0.0.1", 9902): 9912, ("127.0.0.1", 9903): 9913}
    assert daemon.remote_udp_port == 9920
    assert protocol.debug_ignore_handle_updates == 2


def test_udp_port_with_kernel_sctp_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse(["--transport", "kernel", "--peer", "127.0.0.1:9902@udp:9912"])
    assert "@udp:" in capsys.readouterr().err

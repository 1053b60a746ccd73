"""``rserpool-registrar``: the registrar (ENRP server) daemon.

Settings come from ``--config FILE`` (a ``[registrar]`` table) and from flags of the same
names; flags win. Every protocol timer and limit of ``RegistrarConfig`` is a setting too.

With usrsctp, an SCTP peer is reached on the UDP encapsulation port it last used on an
association with us, else the one given with ``@udp:PORT`` in ``--peer`` (several
registrars on one host), else ``--remote-udp-port`` (default ``--udp-port``: every host
runs its stack on the same port). PEs and peers learnt over ENRP carry no UDP port.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import logging
import signal
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TextIO

from rserpool.aio.announce import ASAP_ANNOUNCE_GROUP, ENRP_ANNOUNCE_GROUP
from rserpool.aio.registrar import RegistrarServer
from rserpool.asap.registrar_config import RegistrarConfig, StaticPeer
from rserpool.cli import config as settings
from rserpool.cli import logs, metrics
from rserpool.cli.addresses import parse_endpoint, parse_group, parse_peer, split_peers
from rserpool.cli.stats import StatsWriter
from rserpool.transport import Endpoint, SctpParameters, open_endpoint

log = logging.getLogger("rserpool.registrar")

#: RegistrarConfig fields that the daemon derives from its own settings.
DERIVED = frozenset({"server_id", "asap_addresses", "asap_port", "enrp_addresses", "enrp_port",
                     "static_peers", "asap_announces", "enrp_announces"})


def _help(text: str) -> dict[str, str]:
    return {"help": text}


@dataclass(frozen=True)
class DaemonSettings:
    """What the daemon itself needs besides the protocol settings."""

    asap: str = field(default="0.0.0.0:3863", metadata=_help("ASAP endpoint addr[,addr]:port"))
    enrp: str = field(default="0.0.0.0:9901", metadata=_help("ENRP endpoint addr[,addr]:port"))
    peer: tuple[str, ...] = field(default=(), metadata=_help(
        "static ENRP peers addr[,addr]:port[@udp:UDPPORT],... (a peer's addresses run up to "
        "its port; UDPPORT: its usrsctp port)"))
    identifier: int = field(default=0, metadata=_help("registrar id (0: random)"))
    transport: str = field(default="usrsctp", metadata=_help("usrsctp or kernel"))
    udp_port: int = field(default=9899, metadata=_help("usrsctp UDP encapsulation port"))
    remote_udp_port: int = field(default=0, metadata=_help(
        "usrsctp UDP port of SCTP peers with no @udp: that never called us (0: --udp-port)"))
    announce_interface: str = field(
        default="127.0.0.1", metadata=_help("IPv4 address of the multicast interface, or off"))
    asap_announce: str = field(default="auto", metadata=_help("ASAP announce group|auto|off"))
    enrp_announce: str = field(default="auto", metadata=_help("ENRP announce group|auto|off"))
    stats_file: str = field(default="", metadata=_help("statistics file (- for stdout)"))
    stats_interval: float = field(default=0.0, metadata=_help("seconds between stats lines"))
    metrics_port: int = field(default=0, metadata=_help("Prometheus port on 127.0.0.1"))
    log_level: str = field(default="info", metadata=_help("debug, info, warning, error"))
    log_format: str = field(default="text", metadata=_help("text or json"))


def parse(argv: Sequence[str] | None) -> tuple[DaemonSettings, RegistrarConfig]:
    parser = argparse.ArgumentParser(prog="rserpool-registrar", description=__doc__)
    parser.add_argument("--config", help="TOML file with a [registrar] table")
    settings.add_flags(parser, DaemonSettings)
    settings.add_flags(parser, RegistrarConfig, skip=DERIVED)
    args = vars(parser.parse_args(argv))
    if args["peer"] is not None:  # a flag: group a multi-homed peer's addresses
        args["peer"] = split_peers(args["peer"])
    table = settings.load_toml(args.pop("config"), "registrar")
    daemon_names = {f.name for f in dataclasses.fields(DaemonSettings)}
    try:
        daemon = settings.build(
            DaemonSettings, {k: v for k, v in table.items() if k in daemon_names}, args)
        protocol = settings.build(
            RegistrarConfig, {k: v for k, v in table.items() if k not in daemon_names},
            {k: v for k, v in args.items() if k not in daemon_names})
        asap_addresses, asap_port = parse_endpoint(daemon.asap)
        enrp_addresses, enrp_port = parse_endpoint(daemon.enrp)
        peers = tuple(StaticPeer(a, port) for a, port, _ in _peers(daemon))
        asap_group = parse_group(daemon.asap_announce, ASAP_ANNOUNCE_GROUP)
        enrp_group = parse_group(daemon.enrp_announce, ENRP_ANNOUNCE_GROUP)
    except ValueError as exc:
        parser.error(str(exc))
    if daemon.transport not in ("usrsctp", "kernel"):
        parser.error(f"--transport: {daemon.transport!r} is neither usrsctp nor kernel")
    if daemon.transport != "usrsctp" and peer_udp_ports(daemon):
        parser.error("--peer: @udp: is a usrsctp setting (kernel SCTP uses no UDP port)")
    protocol = dataclasses.replace(
        protocol, server_id=daemon.identifier, static_peers=peers,
        asap_addresses=_announced(asap_addresses), asap_port=asap_port,
        enrp_addresses=_announced(enrp_addresses), enrp_port=enrp_port,
        asap_announces=asap_group is not None, enrp_announces=enrp_group is not None,
    )
    return daemon, protocol


def _announced(addresses: tuple[str, ...]) -> tuple[str, ...]:
    """Wildcard binds announce the endpoint's real addresses (filled in at start-up)."""
    return tuple(a for a in addresses if a not in ("0.0.0.0", "::"))


def _peers(daemon: DaemonSettings) -> list[tuple[tuple[str, ...], int, int | None]]:
    return [parse_peer(p, 9901) for p in daemon.peer]


def peer_udp_ports(daemon: DaemonSettings) -> dict[tuple[str, int], int]:
    """(address, ENRP port) -> usrsctp UDP port, for the static peers given with ``@udp:``."""
    return {(a, port): udp for addresses, port, udp in _peers(daemon) if udp is not None
            for a in addresses}


def _endpoint(daemon: DaemonSettings, spec: str) -> Endpoint:
    addresses, port = parse_endpoint(spec)
    options: dict[str, object] = {}
    if daemon.transport == "usrsctp":
        from rserpool.transport import usrsctp

        usrsctp.configure(daemon.udp_port)
        options["remote_udp_port"] = daemon.remote_udp_port or None
        options["peer_udp_ports"] = peer_udp_ports(daemon)
    return open_endpoint(daemon.transport, addresses, port, SctpParameters(), **options)


async def serve(daemon: DaemonSettings, protocol: RegistrarConfig) -> None:
    interface = None if daemon.announce_interface == "off" else daemon.announce_interface
    asap_group = parse_group(daemon.asap_announce, ASAP_ANNOUNCE_GROUP) or ASAP_ANNOUNCE_GROUP
    enrp_group = parse_group(daemon.enrp_announce, ENRP_ANNOUNCE_GROUP) or ENRP_ANNOUNCE_GROUP
    server = RegistrarServer(
        protocol, _endpoint(daemon, daemon.asap), _endpoint(daemon, daemon.enrp),
        announce_interface=interface, asap_group=asap_group, enrp_group=enrp_group)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with server, contextlib.AsyncExitStack() as stack:
        log.info("registrar $%08x serving: ASAP port %d, ENRP port %d, transport %s",
                 server.server_id, server.asap_port, server.enrp_port, daemon.transport)
        if daemon.metrics_port:
            metrics.serve(server.statistics, daemon.metrics_port)
            log.info("metrics on http://127.0.0.1:%d/metrics", daemon.metrics_port)
        if daemon.stats_file and daemon.stats_interval > 0:
            out: TextIO = (sys.stdout if daemon.stats_file == "-"
                           else stack.enter_context(open(daemon.stats_file, "w")))  # noqa: SIM115
            writer = StatsWriter(out, server.statistics)
            stack.push_async_callback(_cancel, asyncio.create_task(
                _write_stats(writer, daemon.stats_interval)))
        await stop.wait()
        log.info("registrar $%08x shutting down", server.server_id)


async def _write_stats(writer: StatsWriter, interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        writer.write()


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def main(argv: Sequence[str] | None = None) -> int:
    daemon, protocol = parse(argv)
    logs.setup(daemon.log_level, daemon.log_format)
    asyncio.run(serve(daemon, protocol))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

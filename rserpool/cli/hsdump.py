"""``rserpool-hsdump addr:port[@udp:PORT]``: print a registrar's handlespace as a table.

Like RSPLIB's ``hsdump`` it poses as a peer registrar: it sends an ENRP Presence to the
registrar's ENRP endpoint, then Handle Table Requests until the table is complete.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from rserpool import wire
from rserpool.cli.addresses import parse_peer
from rserpool.handlespace import Handlespace
from rserpool.transport import Endpoint, Message, open_endpoint

MAX_PAGES = 100_000  # a table larger than this many responses is cut (and says so)


async def fetch(endpoint: Endpoint, addresses: Sequence[str], port: int,
                timeout: float) -> tuple[int, list[tuple[bytes, Any]], bool]:
    """(registrar id, [(pool handle, PE)], complete) from the registrar at addresses:port."""
    me = random.randrange(1, 1 << 32)
    assoc = await asyncio.wait_for(endpoint.connect(addresses, port), timeout)
    # The checksum of owning no PEs, so that the registrar's audit finds nothing to resync.
    presence = wire.Presence(me, 0, Handlespace().checksum(owner=me), reply_required=True)
    await endpoint.send(assoc, presence.encode(), wire.PPID_ENRP)
    registrar = 0
    entries: list[tuple[bytes, Any]] = []
    for _ in range(MAX_PAGES):
        if registrar:
            request = wire.HandleTableRequest(me, registrar)
            await endpoint.send(assoc, request.encode(), wire.PPID_ENRP)
        reply = await asyncio.wait_for(_next_enrp(endpoint, assoc), timeout)
        if isinstance(reply, wire.Presence) and not registrar:
            registrar = reply.sender_server_id
        elif isinstance(reply, wire.HandleTableResponse):
            if reply.reject:
                raise RuntimeError(f"registrar ${registrar:08x} rejected the table request")
            entries += [(handle, pe) for handle, pes in reply.pools for pe in pes]
            if not reply.more_to_send:
                endpoint.shutdown(assoc)
                return registrar, entries, True
    endpoint.shutdown(assoc)
    return registrar, entries, False


async def _next_enrp(endpoint: Endpoint, assoc: int) -> Any:
    while True:
        event = await endpoint.receive()
        if isinstance(event, Message) and event.assoc == assoc and event.ppid == wire.PPID_ENRP:
            return wire.decode(event.data, wire.PPID_ENRP)


def table(registrar: int, entries: list[tuple[bytes, Any]]) -> Table:
    out = Table(title=f"handlespace of registrar ${registrar:08x}: "
                      f"{len({h for h, _ in entries})} pools, {len(entries)} PEs")
    for column in ("pool", "PE id", "addresses", "port", "policy", "values", "home", "life"):
        out.add_column(column)
    for handle, pe in sorted(entries, key=lambda e: (e[0], e[1].pe_identifier)):
        policy = pe.member_selection_policy
        values = ", ".join(f"{name}={getattr(policy, name)}"
                           for name in ("weight", "priority", "load", "load_degradation",
                                        "load_dpf", "weight_dpf", "distance")
                           if getattr(policy, name))
        try:
            policy_name = wire.PolicyType(policy.policy_type).name
        except ValueError:
            policy_name = f"0x{policy.policy_type:08x}"
        out.add_row(handle.decode(errors="backslashreplace"), f"${pe.pe_identifier:08x}",
                    ", ".join(str(a) for a in pe.user_transport.addresses),
                    str(pe.user_transport.port), policy_name, values,
                    f"${pe.home_enrp_server_identifier:08x}", f"{pe.registration_life} ms")
    return out


async def run(args: argparse.Namespace) -> int:
    addresses, port, udp_port = parse_peer(args.registrar, 9901)
    options: dict[str, Any] = {}
    if args.transport == "usrsctp":
        options["remote_udp_port"] = udp_port or args.remote_udp_port
    local = ["::"] if any(":" in a for a in addresses) else ["0.0.0.0"]
    async with open_endpoint(args.transport, local, 0, **options) as endpoint:
        registrar, entries, complete = await fetch(endpoint, addresses, port, args.timeout)
    console = Console(width=None if sys.stdout.isatty() else 160)
    console.print(table(registrar, entries))
    if not complete:
        console.print(f"[red]table cut after {MAX_PAGES} responses[/]")
    return 0 if complete else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="rserpool-hsdump", description=__doc__)
    parser.add_argument("registrar", help="the registrar's ENRP endpoint, "
                        "addr[,addr]:port[@udp:PORT] (PORT: its usrsctp UDP port)")
    parser.add_argument("--transport", choices=("usrsctp", "kernel"), default="usrsctp")
    parser.add_argument("--remote-udp-port", type=int, default=9899,
                        help="the registrar's usrsctp UDP port when not given with @udp:")
    parser.add_argument("--timeout", type=float, default=5.0)
    return asyncio.run(run(parser.parse_args(argv)))


if __name__ == "__main__":
    raise SystemExit(main())

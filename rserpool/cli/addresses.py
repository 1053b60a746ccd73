"""Transport address arguments as RSPLIB writes them: ``addr[,addr...]:port``, IPv6 in [];
a peer may add its usrsctp UDP encapsulation port: ``addr[,addr...]:port@udp:PORT``."""

from __future__ import annotations

import ipaddress


def parse_endpoint(spec: str, default_port: int | None = None) -> tuple[tuple[str, ...], int]:
    """``"10.0.0.1,[fd00::1]:3863"`` -> ``(("10.0.0.1", "fd00::1"), 3863)``.

    The port may be left out when ``default_port`` is given. Raises ValueError with the
    offending part.
    """
    host_part, port_text = spec, ""
    if spec.rfind(":") > spec.rfind("]"):
        host_part, port_text = spec.rsplit(":", 1)
        if host_part.count(":") and "[" not in host_part:  # a bare IPv6 address, no port
            host_part, port_text = spec, ""
    if port_text:
        if not port_text.isdigit() or not 0 <= int(port_text) < 65536:
            raise ValueError(f"{spec!r}: bad port {port_text!r}")
        port = int(port_text)
    elif default_port is not None:
        port = default_port
    else:
        raise ValueError(f"{spec!r}: no port (write addr:port)")
    addresses = []
    for part in host_part.split(","):
        text = part.strip().removeprefix("[").removesuffix("]")
        try:
            addresses.append(str(ipaddress.ip_address(text)))
        except ValueError:
            raise ValueError(f"{spec!r}: {text!r} is not an IP address") from None
    return tuple(addresses), port


UDP_SUFFIX = "@udp:"


def parse_peer(spec: str, default_port: int | None = None
               ) -> tuple[tuple[str, ...], int, int | None]:
    """``"127.0.0.1:9902@udp:9912"`` -> ``(("127.0.0.1",), 9902, 9912)``.

    ``@udp:PORT`` (optional; None when left out) is the peer's usrsctp UDP encapsulation
    port, for peers that do not run their stack on ours (several processes on one host).
    """
    endpoint, sep, udp_text = spec.partition(UDP_SUFFIX)
    udp_port = None
    if sep:
        if not udp_text.isdigit() or not 0 < int(udp_text) < 65536:
            raise ValueError(f"{spec!r}: bad UDP port {udp_text!r}")
        udp_port = int(udp_text)
    addresses, port = parse_endpoint(endpoint, default_port)
    return addresses, port, udp_port


def split_peers(text: str) -> list[str]:
    """A comma-separated peer list -> one spec per peer. A multi-homed peer's addresses run
    up to the one that carries the port: ``"10.0.0.1,10.0.0.2:9901,10.0.0.3:9901"`` ->
    ``["10.0.0.1,10.0.0.2:9901", "10.0.0.3:9901"]``; addresses after the last port make up
    one more peer (on the default port)."""
    peers: list[str] = []
    pending: list[str] = []
    for token in (t.strip() for t in text.split(",")):
        if not token:
            continue
        pending.append(token)
        address = token.partition(UDP_SUFFIX)[0]
        bare_ipv6 = not address.startswith("[") and address.count(":") > 1
        if address.rfind(":") > address.rfind("]") and not bare_ipv6:
            peers.append(",".join(pending))
            pending = []
    if pending:
        peers.append(",".join(pending))
    return peers


def parse_group(spec: str, default: tuple[str, int]) -> tuple[str, int] | None:
    """An announce group: ``auto`` (the default group), ``off`` (None) or ``addr:port``."""
    if spec == "off":
        return None
    if spec == "auto":
        return default
    (address,), port = parse_endpoint(spec, default[1])
    if not ipaddress.ip_address(address).is_multicast:
        raise ValueError(f"{spec!r}: {address} is not a multicast group")
    return address, port

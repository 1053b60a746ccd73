"""A kernel-SCTP echo endpoint for the host-usrsctp <-> guest-kernel test; runs in the VM.

``python kernel_echo.py PORT ADDRESS...``: switches the guest kernel to SCTP over UDP
(RFC 6951, port 9899, as usrsctp on the host uses), opens a KernelEndpoint, prints
``{"port": N}``, then echoes every message back on its stream with its PPID and prints every
other event as a JSON line. Stops when its standard input closes.
"""

from __future__ import annotations

import asyncio
import json
import socket
import sys

from rserpool.transport import AssociationChange, Message, PeerAddressChange
from rserpool.transport.kernel import IPPROTO_SCTP, KernelEndpoint

UDP_PORT = 9899


def use_udp_encapsulation() -> None:
    socket.socket(socket.AF_INET, socket.SOCK_SEQPACKET, IPPROTO_SCTP).close()  # loads sctp.ko
    # encap_port is copied into each socket when it is created: set it first.
    for name in ("udp_port", "encap_port"):
        with open(f"/proc/sys/net/sctp/{name}", "w") as f:
            f.write(str(UDP_PORT))


async def echo(ep: KernelEndpoint) -> None:
    while True:
        event = await ep.receive()
        if isinstance(event, Message):
            await ep.send(event.assoc, event.data, event.ppid, event.stream, event.unordered)
        elif isinstance(event, AssociationChange):
            print(json.dumps(["assoc", event.state.value, list(event.peer_addresses)]), flush=True)
        elif isinstance(event, PeerAddressChange):
            print(json.dumps(["peer_addr", event.state.value, event.address]), flush=True)


async def main() -> None:
    port, addresses = int(sys.argv[1]), sys.argv[2:]
    use_udp_encapsulation()
    async with KernelEndpoint(addresses, port) as ep:
        assert isinstance(ep, KernelEndpoint)
        print(json.dumps({"port": ep.port}), flush=True)
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        task = asyncio.create_task(echo(ep))
        await reader.read()  # until the host closes our stdin
        task.cancel()


if __name__ == "__main__":
    asyncio.run(main())

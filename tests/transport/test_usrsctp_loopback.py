"""Two usrsctp endpoints on loopback: streams, PPIDs, ordering, fragmentation, events, errors.

Both endpoints use 127.0.0.1 (different ports): over UDP encapsulation the kernel picks
the UDP source address by route, so other 127.0.0.x addresses would not be the source the
peer sees."""

from __future__ import annotations

import asyncio
import dataclasses
import errno
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest
from usrsctp_util import Peer, next_assoc_change, next_message, require_usrsctp

from rserpool.transport import (
    AssociationChange,
    AssociationState,
    Endpoint,
    Message,
    SctpParameters,
    SendFailed,
    TransportError,
    open_endpoint,
)

pytestmark = pytest.mark.usrsctp
LOCAL = "127.0.0.1"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _usrsctp() -> None:
    require_usrsctp()


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(asyncio.wait_for(coro, 60))


def test_streams_ppids_ordered_and_unordered() -> None:
    async def main() -> None:
        async with open_endpoint("usrsctp", [LOCAL]) as server, open_endpoint(
            "usrsctp", [LOCAL]
        ) as client:
            assoc = await client.connect([LOCAL], server.port)
            sent = []
            for i in range(60):
                stream, ppid, unordered = i % 4, 1000 + i % 3, i % 5 == 0
                data = f"{i}".encode()
                await client.send(assoc, data, ppid, stream, unordered)
                sent.append((data, ppid, stream, unordered))
            got = [await next_message(server) for _ in sent]
            assert sorted((m.data, m.ppid, m.stream, m.unordered) for m in got) == sorted(sent)
            per_stream: dict[int, list[bytes]] = defaultdict(list)
            for m in got:
                if not m.unordered:
                    per_stream[m.stream].append(m.data)
            for stream, datas in per_stream.items():
                expected = [d for d, _, s, u in sent if s == stream and not u]
                assert datas == expected, f"stream {stream} out of order"
            # and back the other way, on the server's association id
            await server.send(got[0].assoc, b"pong", 0xFFFFFFFF, 15)
            reply = await next_message(client)
            assert (reply.assoc, reply.data, reply.ppid, reply.stream) == (
                assoc, b"pong", 0xFFFFFFFF, 15
            )

    run(main())


def test_large_message_is_fragmented_and_reassembled() -> None:
    async def main() -> None:
        async with open_endpoint("usrsctp", [LOCAL]) as server, open_endpoint(
            "usrsctp", [LOCAL]
        ) as client:
            assoc = await client.connect([LOCAL], server.port)
            blob = os.urandom(256 * 1024)
            await client.send(assoc, blob, 51, 2)
            await client.send(assoc, b"after", 51, 2)
            first, second = await next_message(server), await next_message(server)
            assert len(first.data) == len(blob) and first.data == blob
            assert second.data == b"after"

    run(main())


def test_association_events_carry_peer_addresses() -> None:
    async def main() -> None:
        async with open_endpoint("usrsctp", [LOCAL]) as server, open_endpoint(
            "usrsctp", [LOCAL]
        ) as client:
            assoc = await client.connect([LOCAL], server.port)
            up_client = await next_assoc_change(client)
            up_server = await next_assoc_change(server)
            assert (up_client.assoc, up_client.state) == (assoc, AssociationState.UP)
            assert up_client.peer_addresses == (LOCAL,) and up_client.peer_port == server.port
            assert up_server.state is AssociationState.UP
            assert up_server.peer_addresses == (LOCAL,) and up_server.peer_port == client.port
            assert server.peer_addresses(up_server.assoc) == [LOCAL]
            assert client.local_addresses(assoc) == [LOCAL]

            client.shutdown(assoc)
            down_server = await next_assoc_change(server)
            down_client = await next_assoc_change(client)
            assert down_server.state is AssociationState.SHUTDOWN
            assert down_server.peer_addresses == (LOCAL,)
            assert down_client.state is AssociationState.SHUTDOWN
            assert down_client.peer_addresses == (LOCAL,) and down_client.assoc == assoc

    run(main())


def test_ipv6_and_dual_stack_multihoming() -> None:
    async def main() -> None:
        async with open_endpoint("usrsctp", ["::1", LOCAL]) as server, open_endpoint(
            "usrsctp", ["::1"]
        ) as client:
            assert sorted(server.local_addresses()) == sorted(["::1", LOCAL])
            assoc = await client.connect(["::1", LOCAL], server.port)
            assert sorted(client.peer_addresses(assoc)) == sorted(["::1", LOCAL])
            await client.send(assoc, b"six", 6, 1)
            message = await next_message(server)
            assert (message.data, message.ppid, message.stream) == (b"six", 6, 1)
            assert server.peer_addresses(message.assoc) == ["::1"]

    run(main())


def test_receive_back_pressure_loses_nothing() -> None:
    """A reader that stops reading stalls the sender instead of dropping messages."""
    params = SctpParameters(receive_queue=4, send_buffer=64 * 1024, receive_buffer=64 * 1024)

    async def main() -> None:
        async with open_endpoint("usrsctp", [LOCAL], 0, params) as server, open_endpoint(
            "usrsctp", [LOCAL], 0, params
        ) as client:
            assoc = await client.connect([LOCAL], server.port)
            payload = b"x" * 4000
            count = 400  # 1.6 MB, far more than both buffers and the queue hold

            async def produce() -> None:
                for i in range(count):
                    await client.send(assoc, i.to_bytes(4, "big") + payload, 9)

            producer = asyncio.create_task(produce())
            await asyncio.sleep(0.3)
            assert not producer.done(), "sender should be blocked by the full buffers"
            numbers = [int.from_bytes((await next_message(server)).data[:4], "big")
                       for _ in range(count)]
            await producer
            assert numbers == list(range(count))

    run(main())


def test_abort_gives_back_unsent_messages() -> None:
    """Messages the stack gives up on come back as SendFailed events, not silently lost."""
    slow_reader = SctpParameters(receive_queue=2, receive_buffer=64 * 1024)

    async def main() -> None:
        async with open_endpoint("usrsctp", [LOCAL], 0, slow_reader) as server, open_endpoint(
            "usrsctp", [LOCAL]
        ) as client:
            assoc = await client.connect([LOCAL], server.port)
            sent = {i.to_bytes(4, "big") + b"z" * 1000 for i in range(300)}
            for data in sorted(sent):
                await client.send(assoc, data, 7, 1)  # far more than the server takes in
            client.abort(assoc)
            failed: list[SendFailed] = []
            while True:
                event = await client.receive()
                if isinstance(event, SendFailed):
                    failed.append(event)
                elif isinstance(event, AssociationChange) and event.state is not (
                    AssociationState.UP
                ):
                    assert event.state is AssociationState.LOST and event.assoc == assoc
                    break
            assert failed, "the aborted association's unsent messages were not returned"
            assert all(f.assoc == assoc and (f.ppid, f.stream) == (7, 1) for f in failed)
            assert {f.data for f in failed} <= sent

    run(main())


def test_errors_name_errno_and_address() -> None:
    async def main() -> None:
        with pytest.raises(TransportError) as bad_bind:
            async with open_endpoint("usrsctp", ["198.51.100.77"]):
                pass
        assert bad_bind.value.errno == errno.EADDRNOTAVAIL
        assert bad_bind.value.address == "198.51.100.77"

        async with open_endpoint("usrsctp", [LOCAL]) as endpoint:
            with pytest.raises(TransportError) as bad_text:
                await endpoint.connect(["not-an-address"], 5000)
            assert bad_text.value.errno == errno.EINVAL
            assert bad_text.value.address == "not-an-address"


            for bad in ("not-an-address", "198.51.100.77"):
                with pytest.raises(TransportError) as bad_add:
                    await endpoint.bindx_add(bad)
                assert bad_add.value.address == bad
                assert bad_add.value.errno in (errno.EINVAL, errno.EADDRNOTAVAIL)
            with pytest.raises(TransportError) as bad_remove:
                await endpoint.bindx_remove(LOCAL)  # the last address cannot go
            assert bad_remove.value.address == LOCAL and bad_remove.value.errno != 0

            with pytest.raises(TransportError) as no_assoc:
                await endpoint.send(12345, b"lost?", 0)
            assert no_assoc.value.errno != 0

            with pytest.raises(TransportError) as taken:
                async with open_endpoint("usrsctp", [LOCAL], endpoint.port):
                    pass
            assert taken.value.errno == errno.EADDRINUSE

        # Nobody listens there; in blackhole mode no ABORT comes back, so connect gives up.
        quick = SctpParameters(rto_initial_ms=50, rto_min_ms=20, rto_max_ms=100)
        async with open_endpoint("usrsctp", [LOCAL], 0, quick) as endpoint:
            with pytest.raises(TransportError) as nobody:
                await endpoint.connect([LOCAL], 9)
            assert nobody.value.errno in (errno.ETIMEDOUT, errno.ECONNREFUSED)
            assert nobody.value.address == LOCAL

    run(main())


def test_message_fields() -> None:
    m = Message(1, b"a", 2, 3)
    assert not m.unordered


def test_received_messages_are_ordinary_dataclass_instances() -> None:
    """The binding builds Message objects without calling __init__: they must still
    compare, hash, print, copy and refuse mutation exactly like constructed ones."""

    async def main() -> None:
        async with open_endpoint("usrsctp", [LOCAL]) as server, open_endpoint(
            "usrsctp", [LOCAL]
        ) as client:
            assoc = await client.connect([LOCAL], server.port)
            await client.send(assoc, b"x" * 100, 7, 1, True)
            await asyncio.sleep(0.05)  # queued in usrsctp before receive() asks: eager path
            got = await next_message(server)
            await server.send(got.assoc, b"y", 8, 2)
            back = await next_message(client)
            want = Message(got.assoc, b"x" * 100, 7, 1, True)
            assert got == want and hash(got) == hash(want) and repr(got) == repr(want)
            assert back == Message(assoc, b"y", 8, 2)
            assert type(back.unordered) is bool and back.unordered is False
            assert dataclasses.asdict(got) == dataclasses.asdict(want)
            assert dataclasses.replace(got, data=b"z").data == b"z"
            with pytest.raises(dataclasses.FrozenInstanceError):
                got.data = b"changed"  # type: ignore[misc]

    run(main())


def count_loop_wakeups(endpoint: Endpoint) -> list[int]:
    """Count the event loop's calls of the endpoint's eventfd reader from now on (in [0])."""
    count = [0]
    on_wakeup = endpoint._on_wakeup  # type: ignore[attr-defined]

    def counting() -> None:
        count[0] += 1
        on_wakeup()

    loop = asyncio.get_running_loop()
    loop.remove_reader(endpoint._efd)  # type: ignore[attr-defined]
    loop.add_reader(endpoint._efd, counting)  # type: ignore[attr-defined]
    return count


def test_idle_endpoint_lets_the_loop_sleep() -> None:
    """A wake-up that arrives with nothing pending (an upcall racing the previous reset)
    is consumed once; the loop must not keep waking up on the eventfd until traffic comes."""

    async def main() -> None:
        async with open_endpoint("usrsctp", [LOCAL]) as server, open_endpoint(
            "usrsctp", [LOCAL]
        ) as client:
            assoc = await client.connect([LOCAL], server.port)
            await client.send(assoc, b"hi", 1)
            await next_message(server)
            wakeups = count_loop_wakeups(server)
            server._sock.rearm()  # type: ignore[attr-defined]
            os.eventfd_write(server._efd, 1)  # type: ignore[attr-defined]
            await asyncio.sleep(0.3)
            assert 1 <= wakeups[0] < 50, f"{wakeups[0]} wake-ups of an idle endpoint"

    run(main())


def test_busy_polling_takes_answers_without_waking_the_loop() -> None:
    """With busy_poll_us, receive() catches an answer that comes within the spin itself:
    every round trip still delivers in order, but the event loop is hardly woken for it."""
    rounds = 200

    async def main() -> None:
        params = SctpParameters(busy_poll_us=2000)
        async with open_endpoint("usrsctp", [LOCAL], params=params) as server, open_endpoint(
            "usrsctp", [LOCAL], params=params
        ) as client:
            assoc = await client.connect([LOCAL], server.port)
            await client.send(assoc, b"0", 1)
            server_assoc = (await next_message(server)).assoc
            wakeups = count_loop_wakeups(client)
            for i in range(1, rounds + 1):
                await server.send(server_assoc, b"%d" % i, 1)
                assert (await next_message(client)).data == b"%d" % i
                await client.send(assoc, b"%d" % i, 1)
                assert (await next_message(server)).data == b"%d" % i
            assert wakeups[0] < rounds // 2, f"{wakeups[0]} loop wake-ups for {rounds} answers"

    run(main())


def test_busy_polling_is_bounded_and_lets_other_tasks_run() -> None:
    """An endpoint that busy-polls and gets nothing still times out and shares the loop."""

    async def main() -> None:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        params = SctpParameters(busy_poll_us=1000)
        async with open_endpoint("usrsctp", [LOCAL], params=params) as server:
            task = asyncio.create_task(ticker())
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(server.receive(), 0.3)
            task.cancel()
        assert ticks >= 10

    run(main())


def test_stub_matches_binding() -> None:
    from mypy import stubtest

    assert stubtest.test_stubs(stubtest.parse_options(
        ["--mypy-config-file", str(ROOT / "pyproject.toml"), "rserpool._core.usrsctp"]
    )) == 0


def test_udp_port_is_checked() -> None:
    """The stack is per process: another port later is refused, and a busy port at start
    is an error rather than a stack that silently cannot send."""
    from rserpool.transport.usrsctp import configure

    running = configure()
    assert configure() == running
    with pytest.raises(TransportError) as other:
        configure(running + 1 if running < 65535 else running - 1)
    assert other.value.errno == errno.EADDRINUSE

    script = (
        "import socket, sys\n"
        "from rserpool.transport import TransportError\n"
        "from rserpool.transport.usrsctp import configure\n"
        "busy = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); busy.bind(('0.0.0.0', 0))\n"
        "try:\n"
        "    configure(busy.getsockname()[1])\n"
        "except TransportError as exc:\n"
        "    sys.exit(exc.errno)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], timeout=60)
    assert done.returncode == errno.EADDRINUSE


def test_peer_process_on_another_udp_port() -> None:
    """Two usrsctp stacks (processes) with different UDP encapsulation ports: the connecting
    side names the peer's port, the answering side replies to the port packets came from."""
    from rserpool.transport.usrsctp import UsrsctpEndpoint, configure

    peer = Peer()
    try:
        peer_port = peer("open", addresses=[LOCAL], port=0)
        peer_udp = peer("udp_port")
        assert peer_udp != configure()
        peer("echo")

        async def main() -> None:
            async with UsrsctpEndpoint([LOCAL], remote_udp_port=peer_udp) as endpoint:
                assoc = await endpoint.connect([LOCAL], peer_port)
                for stream in range(3):
                    await endpoint.send(assoc, b"across %d" % stream, 40 + stream, stream)
                answers = [await next_message(endpoint) for _ in range(3)]
                assert sorted((m.data, m.ppid, m.stream) for m in answers) == [
                    (b"across %d" % s, 40 + s, s) for s in range(3)
                ]

        run(main())
    finally:
        peer.stop()


def test_peer_udp_ports_named_per_peer_and_learnt_from_callers() -> None:
    """A peer's UDP port named for its (address, SCTP port) reaches it whatever the default;
    a peer that called us is called back on the UDP port its association came from."""
    from rserpool.transport.usrsctp import UsrsctpEndpoint, configure

    named, caller = Peer(), Peer()
    try:
        named_port = named("open", addresses=[LOCAL], port=0)
        named_udp = named("udp_port")

        async def main() -> None:
            loop = asyncio.get_running_loop()
            async with UsrsctpEndpoint([LOCAL]) as endpoint:  # default: our own UDP port
                assert endpoint.peer_udp_port([LOCAL], named_port) == configure()
                endpoint.set_peer_udp_port([LOCAL], named_port, named_udp)
                assoc = await endpoint.connect([LOCAL], named_port)
                assert endpoint.peer_udp_port([LOCAL], named_port) == named_udp

                caller_port = caller("open", addresses=[LOCAL], port=0, peer_udp_ports=[
                    [LOCAL, endpoint.port, configure()]])
                await loop.run_in_executor(None, lambda: caller(
                    "connect", addresses=[LOCAL], port=endpoint.port))
                up = await next_assoc_change(endpoint)
                while up.assoc == assoc:  # our own association's UP came first
                    up = await next_assoc_change(endpoint)
                assert (up.state, up.peer_port) == (AssociationState.UP, caller_port)
                assert endpoint.peer_udp_port([LOCAL], caller_port) == caller("udp_port")
                endpoint.shutdown(up.assoc)
                assert (await next_assoc_change(endpoint)).state is AssociationState.SHUTDOWN
                await endpoint.connect([LOCAL], caller_port)  # only on the learnt port

        run(main())
    finally:
        named.stop()
        caller.stop()

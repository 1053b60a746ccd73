"""``UsrsctpEndpoint.deliver_to``: events handed straight to a consumer as usrsctp has them,
in order and nothing lost, in an EndpointMux's numbering; ``receive()`` again without it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import pytest
from usrsctp_util import next_message, require_usrsctp

from rserpool.transport import (
    AssociationChange,
    AssociationState,
    Event,
    Message,
    open_endpoint,
)

pytestmark = pytest.mark.usrsctp
LOCAL = "127.0.0.1"
SCALE, OFFSET = 3, 1  # what the second endpoint of a three-endpoint mux gets


@pytest.fixture(autouse=True)
def _usrsctp() -> None:
    require_usrsctp()


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(asyncio.wait_for(coro, 60))


async def _until(condition: object, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():  # type: ignore[operator]
            await asyncio.sleep(0.001)


def _messages(events: list[Event]) -> list[Message]:
    return [e for e in events if isinstance(e, Message)]


def test_sink_gets_every_event_in_order_in_the_mux_numbering() -> None:
    """More than one wake-up's batch (256) at once and fragmented messages, in order; queued
    events first; ids ``assoc * scale + offset``; replies by the endpoint's own id; a
    ``receive()`` meanwhile gets nothing."""

    async def main() -> None:
        async with open_endpoint("usrsctp", [LOCAL]) as server, open_endpoint(
            "usrsctp", [LOCAL]
        ) as client:
            assoc = await client.connect([LOCAL], server.port)
            await client.send(assoc, b"queued", 7)
            await _until(lambda: len(server._queue) >= 2)  # its UP, then the message
            got: list[Event] = []
            server.deliver_to(got.append, SCALE, OFFSET)
            receiver = asyncio.create_task(server.receive())
            burst = [b"m%d" % i for i in range(600)]
            for data in burst:
                assert client.try_send(assoc, data, 7)
            time.sleep(0.3)  # the loop stands still: all of them wait for one wake-up
            for _ in range(20):  # a few turns of the loop, no time for other upcalls
                await asyncio.sleep(0)
            assert len(_messages(got)) == len(burst) + 1
            large = [b"f%d" % i + bytes(100_000) for i in range(5)]
            for data in large:
                await client.send(assoc, data, 7)
            sent = burst + large
            await _until(lambda: len(_messages(got)) == len(sent) + 1)
            up = got[0]
            assert isinstance(up, AssociationChange) and up.state is AssociationState.UP
            messages = _messages(got)
            assert [m.data for m in messages] == [b"queued", *sent]
            own = {(m.assoc - OFFSET) // SCALE for m in messages}
            assert {m.assoc % SCALE for m in messages} == {OFFSET} and len(own) == 1
            assert up.assoc == messages[0].assoc
            await server.send(own.pop(), b"reply", 8)
            assert (await next_message(client)).data == b"reply"
            assert not receiver.done()
            receiver.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await receiver

    run(main())


def test_a_failing_sink_is_logged_and_loses_nothing_else(caplog: pytest.LogCaptureFixture
                                                         ) -> None:
    """Association events reach the sinks (and connect() completes); a sink that raises on
    some messages gets every other one, and each failure is logged with its traceback."""

    async def main() -> None:
        async with open_endpoint("usrsctp", [LOCAL]) as server, open_endpoint(
            "usrsctp", [LOCAL]
        ) as client:
            got: list[bytes] = []
            events: dict[str, list[Event]] = {"server": [], "client": []}

            def sink(event: Event) -> None:
                events["server"].append(event)
                if isinstance(event, Message):
                    if event.data == b"bad":
                        raise ValueError("consumer bug")
                    got.append(event.data)

            server.deliver_to(sink)
            client.deliver_to(events["client"].append)
            # the association comes up through the sinks: connect() still learns of it
            assoc = await client.connect([LOCAL], server.port)
            await _until(lambda: events["server"])
            for side in ("server", "client"):
                up = events[side][0]
                assert isinstance(up, AssociationChange) and up.state is AssociationState.UP
            sent = [b"bad" if i % 50 == 7 else b"%d" % i for i in range(400)]
            for data in sent:
                await client.send(assoc, data, 7)
            await _until(lambda: len(got) == sum(d != b"bad" for d in sent))
            assert got == [d for d in sent if d != b"bad"]

    with caplog.at_level(logging.ERROR, logger="rserpool.transport.usrsctp"):
        run(main())
    failures = [r for r in caplog.records if "event consumer failed" in r.getMessage()]
    assert len(failures) == 8 and all(r.exc_info for r in failures)


def test_withdrawing_the_sink_from_inside_it_queues_the_rest_for_receive() -> None:
    async def main() -> None:
        async with open_endpoint("usrsctp", [LOCAL]) as server, open_endpoint(
            "usrsctp", [LOCAL]
        ) as client:
            got: list[bytes] = []

            def sink(event: Event) -> None:
                if isinstance(event, Message):
                    got.append(event.data)
                    if event.data == b"40":
                        server.deliver_to(None)

            server.deliver_to(sink)
            assoc = await client.connect([LOCAL], server.port)
            sent = [b"%d" % i for i in range(300)]
            for data in sent:  # sent at once: many wait in usrsctp when the sink steps down
                client.try_send(assoc, data, 7) or await client.send(assoc, data, 7)
            rest = [(await next_message(server)).data for _ in range(len(sent) - 41)]
            assert got == sent[:41] and rest == sent[41:]

    run(main())


def test_endpoints_and_sinks_work_on_uvloop() -> None:
    """Nothing ties the usrsctp backend to the stdlib loop: its address monitor (netlink),
    the eventfd wake-ups, ``receive()`` and ``deliver_to`` all run on uvloop too."""
    uvloop = pytest.importorskip("uvloop", reason="uvloop is not installed (a test extra)")

    async def main() -> None:
        assert "uvloop" in type(asyncio.get_running_loop()).__module__
        async with open_endpoint("usrsctp", [LOCAL]) as server, open_endpoint(
            "usrsctp", [LOCAL]
        ) as client:
            assoc = await client.connect([LOCAL], server.port)
            await client.send(assoc, b"to receive()", 7)
            first = await next_message(server)
            assert first.data == b"to receive()"
            answered: list[bytes] = []

            def answer(event: Event) -> None:
                if isinstance(event, Message):
                    answered.append(event.data)
                    assert server.try_send(event.assoc, event.data.upper(), 8)

            server.deliver_to(answer)
            for word in (b"one", b"two", b"three"):
                await client.send(assoc, word, 7)
                assert (await next_message(client)).data == word.upper()
            assert answered == [b"one", b"two", b"three"]

    uvloop.run(asyncio.wait_for(main(), 60))

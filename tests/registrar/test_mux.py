"""The registrar's endpoint mux: one event stream over its ASAP and ENRP endpoints, handed
straight to a consumer (``deliver_to``) or queued for ``receive()``, replies routed back."""

from __future__ import annotations

import asyncio

from rserpool.aio.mux import EndpointMux
from rserpool.transport import AssociationChange, AssociationState, Endpoint, Event, Message
from rserpool.transport.memory import MemoryNetwork


async def _until(condition: object, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():  # type: ignore[operator]
            await asyncio.sleep(0.001)


async def _next_message(endpoint: Endpoint) -> Message:
    while not isinstance(event := await asyncio.wait_for(endpoint.receive(), 5), Message):
        pass
    return event


async def _scenario() -> None:
    net = MemoryNetwork()
    mux = EndpointMux([net.endpoint(["10.0.0.1"], 3863), net.endpoint(["10.0.0.1"], 9901)])
    await mux.open()
    asap_client, enrp_client = net.endpoint(["10.0.0.2"]), net.endpoint(["10.0.0.3"])
    await asap_client.open()
    await enrp_client.open()
    asap = await asap_client.connect(["10.0.0.1"], 3863)
    # before any consumer takes them, events wait for receive()
    up = await mux.receive()
    assert isinstance(up, AssociationChange) and up.state is AssociationState.UP
    await asap_client.send(asap, b"queued", 11)
    await _until(lambda: mux._events.qsize() == 1)

    got: list[Event] = []
    mux.deliver_to(got.append)
    assert [e.data for e in got if isinstance(e, Message)] == [b"queued"]  # queued ones first
    enrp = await enrp_client.connect(["10.0.0.1"], 9901)
    for i in range(300):
        await asap_client.send(asap, b"a%d" % i, 11)
    await enrp_client.send(enrp, b"enrp", 12)
    await _until(lambda: sum(isinstance(e, Message) for e in got) == 302)
    messages = [e for e in got if isinstance(e, Message)]
    assert [m.data for m in messages if m.ppid == 11] == [b"queued"] + [b"a%d" % i
                                                                       for i in range(300)]
    (from_enrp,) = [m for m in messages if m.ppid == 12]
    assert from_enrp.assoc != messages[0].assoc  # one numbering over both endpoints

    # replies find their way back by the mux's association numbers, on either endpoint
    await mux.send(messages[0].assoc, b"to asap", 11)
    await mux.send(from_enrp.assoc, b"to enrp", 12)
    assert (await _next_message(asap_client)).data == b"to asap"
    assert (await _next_message(enrp_client)).data == b"to enrp"

    # without a consumer, events queue for receive() again
    mux.deliver_to(None)
    await asap_client.send(asap, b"later", 11)
    assert (await _next_message(mux)).data == b"later"
    await asap_client.close()
    await enrp_client.close()
    await mux.close()


def test_mux_hands_events_to_a_consumer_in_order_and_routes_replies() -> None:
    asyncio.run(asyncio.wait_for(_scenario(), 30))

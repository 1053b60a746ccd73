"""Several SCTP endpoints seen as one, so that one core can serve them all.

A registrar listens on an ASAP and an ENRP endpoint, but its core keeps one association
table: the mux numbers each association ``assoc * n + index`` (index = the endpoint's place
in the list), merges their events in arrival order and routes every call by that number.
A consumer that wants no queue hop (the CoreDriver) takes the events as they are read with
``deliver_to``; an endpoint that can do the same itself (the kernel backend) then calls the
consumer straight from its socket callback, with the mux's numbering.
"""

from __future__ import annotations

import asyncio
import dataclasses
import errno
import logging
from collections.abc import Callable, Sequence

from rserpool.transport.base import (
    Endpoint,
    Event,
    Message,
    SctpParameters,
    TransportError,
    deliver_event,
)

log = logging.getLogger(__name__)

_BURST = 64  # events handed to a sink in a row before other tasks and timers get a turn


class EndpointMux(Endpoint):
    """One ``Endpoint`` over ``endpoints`` (all opened and closed with it)."""

    def __init__(self, endpoints: Sequence[Endpoint]) -> None:
        if not endpoints:
            raise ValueError("a mux needs at least one endpoint")
        self.endpoints = list(endpoints)
        self.params: SctpParameters = self.endpoints[0].params
        self._events: asyncio.Queue[Event | TransportError] = asyncio.Queue(
            maxsize=self.params.receive_queue
        )
        self._readers: list[asyncio.Task[None]] = []
        self._sink: Callable[[Event], None] | None = None

    def deliver_to(self, sink: Callable[[Event], None] | None) -> None:
        """Hand every event to ``sink(event)`` as soon as it is read, in order, instead of
        queueing it for ``receive()`` (one task hop and one queue less per message); events
        already queued go to it first. ``None`` queues them for ``receive()`` again."""
        self._sink = sink
        events = self._events
        while sink is not None and events.qsize():
            item = events.get_nowait()
            if isinstance(item, TransportError):
                events.put_nowait(item)
                return
            deliver_event(sink, item, log=log, who="endpoint mux")
        n = len(self.endpoints)
        for index, endpoint in enumerate(self.endpoints):
            direct = getattr(endpoint, "deliver_to", None)
            if direct is not None:  # its reader task stays idle until the sink is withdrawn
                direct(sink, n, index)

    def mux_id(self, index: int, assoc: int) -> int:
        return assoc * len(self.endpoints) + index

    def _route(self, assoc: int) -> tuple[Endpoint, int]:
        n = len(self.endpoints)
        return self.endpoints[assoc % n], assoc // n

    async def open(self) -> None:
        opened: list[Endpoint] = []
        try:
            for endpoint in self.endpoints:
                await endpoint.open()
                opened.append(endpoint)
        except BaseException:
            for endpoint in opened:
                await endpoint.close()
            raise
        self._readers = [
            asyncio.create_task(self._read(i, e)) for i, e in enumerate(self.endpoints)
        ]

    async def close(self) -> None:
        for task in self._readers:
            task.cancel()
        await asyncio.gather(*self._readers, return_exceptions=True)
        for endpoint in self.endpoints:
            await endpoint.close()
        self._events.put_nowait(TransportError(errno.EBADF, "endpoint closed"))

    async def _read(self, index: int, endpoint: Endpoint) -> None:
        events, n = self._events, len(self.endpoints)
        burst = 0
        try:
            while True:
                event = await endpoint.receive()
                assoc = event.assoc * n + index
                # Message is most events: built directly (dataclasses.replace costs 5x more)
                item = (Message(assoc, event.data, event.ppid, event.stream, event.unordered)
                        if type(event) is Message else dataclasses.replace(event, assoc=assoc))
                sink = self._sink
                if sink is not None:
                    deliver_event(sink, item, log=log, who="endpoint mux")
                    burst += 1
                    if burst >= _BURST:  # a backend may return events without suspending
                        burst = 0
                        await asyncio.sleep(0)
                elif events.full():
                    await events.put(item)
                else:
                    events.put_nowait(item)
        except TransportError as exc:
            await self._events.put(exc)

    @property
    def port(self) -> int:
        return self.endpoints[0].port

    def local_addresses(self, assoc: int | None = None) -> list[str]:
        if assoc is None:
            return self.endpoints[0].local_addresses()
        endpoint, inner = self._route(assoc)
        return endpoint.local_addresses(inner)

    def peer_addresses(self, assoc: int) -> list[str]:
        endpoint, inner = self._route(assoc)
        return endpoint.peer_addresses(inner)

    async def connect(self, addresses: Sequence[str], port: int) -> int:
        """Connect from the first endpoint; use ``connect_from`` to choose."""
        return await self.connect_from(0, addresses, port)

    async def connect_from(self, index: int, addresses: Sequence[str], port: int) -> int:
        assoc = await self.endpoints[index].connect(addresses, port)
        return self.mux_id(index, assoc)

    async def send(
        self, assoc: int, data: bytes, ppid: int, stream: int = 0, unordered: bool = False
    ) -> None:
        endpoint, inner = self._route(assoc)
        await endpoint.send(inner, data, ppid, stream, unordered)

    def try_send(
        self, assoc: int, data: bytes, ppid: int, stream: int = 0, unordered: bool = False
    ) -> bool:
        n = len(self.endpoints)
        return self.endpoints[assoc % n].try_send(assoc // n, data, ppid, stream, unordered)

    async def receive(self) -> Event:
        events = self._events
        item = events.get_nowait() if events.qsize() else await events.get()
        if isinstance(item, TransportError):
            self._events.put_nowait(item)  # every later receive() fails the same way
            raise item
        return item

    async def bindx_add(self, address: str) -> None:
        for endpoint in self.endpoints:
            await endpoint.bindx_add(address)

    async def bindx_remove(self, address: str) -> None:
        for endpoint in self.endpoints:
            await endpoint.bindx_remove(address)

    def set_primary(self, assoc: int, peer_address: str) -> None:
        endpoint, inner = self._route(assoc)
        endpoint.set_primary(inner, peer_address)

    def set_peer_primary(self, assoc: int, local_address: str) -> None:
        endpoint, inner = self._route(assoc)
        endpoint.set_peer_primary(inner, local_address)

    def shutdown(self, assoc: int) -> None:
        endpoint, inner = self._route(assoc)
        endpoint.shutdown(inner)

    def abort(self, assoc: int) -> None:
        endpoint, inner = self._route(assoc)
        endpoint.abort(inner)

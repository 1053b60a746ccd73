"""What ``Mobility`` does with an endpoint when the host's addresses change, against an
in-process endpoint whose peers acknowledge ASCONF at once (or never: a peer that moved
too). Runs without root; the real thing over usrsctp is in test_mobility_netns.py."""

from __future__ import annotations

import asyncio
import errno
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, cast

from rserpool.mobility import Mobility, MobilityEvent
from rserpool.transport import TransportError

A, B, C = "10.1.0.7", "10.2.0.7", "10.3.0.7"


class Endpoint:
    """The part of UsrsctpEndpoint that Mobility uses; ``calls`` records what it was asked."""

    def __init__(self, bound: list[str], alive: list[int], dead: Sequence[int] = ()) -> None:
        self.host: dict[str, tuple[int, str]] = {a: (2, "eth0") for a in bound}
        self.bound = list(bound)
        self.alive = set(alive)
        self.acked: dict[int, set[str]] = {a: set(bound) for a in [*alive, *dead]}
        self.calls: list[tuple[Any, ...]] = []
        self.listener: Callable[[bool, str, int, str], None] | None = None

    # the host
    def gain(self, address: str, interface: str = "eth1") -> None:
        self.host[address] = (3, interface)
        assert self.listener is not None
        self.listener(True, address, 3, interface)

    def lose(self, address: str) -> None:
        index, interface = self.host.pop(address)
        assert self.listener is not None
        self.listener(False, address, index, interface)

    # UsrsctpEndpoint
    def watch_addresses(self, listener: Callable[[bool, str, int, str], None]) -> Any:
        self.listener = listener
        return lambda: None

    def host_addresses(self) -> dict[str, tuple[int, str]]:
        return dict(self.host)

    def local_addresses(self, assoc: int | None = None) -> list[str]:
        return list(self.bound)

    def associations(self) -> list[int]:
        return sorted(self.acked)

    async def bindx_add(self, address: str, *, wait: bool = True) -> None:
        self.calls.append(("add", address))
        self.bound.append(address)
        for assoc in self.alive & set(self.acked):
            self.acked[assoc].add(address)

    async def bindx_remove(self, address: str, *, wait: bool = True) -> None:
        self.calls.append(("remove", address))
        self.bound.remove(address)
        for assoc in self.alive & set(self.acked):
            self.acked[assoc].discard(address)

    def acknowledged(self, assoc: int, address: str, present: bool) -> bool:
        if assoc not in self.acked:
            raise TransportError(errno.ENOENT, f"no association {assoc}")
        return (address in self.acked[assoc]) == present

    def set_peer_primary(self, assoc: int, address: str) -> None:
        self.calls.append(("peer-primary", assoc, address))

    def abort(self, assoc: int) -> None:
        self.calls.append(("abort", assoc))
        del self.acked[assoc]


class PoolElement:
    def __init__(self) -> None:
        self.registered: list[list[str]] = []

    def set_addresses(self, addresses: list[str]) -> None:
        self.registered.append(list(addresses))


def run(ep: Endpoint, body: Callable[[Mobility, PoolElement], Coroutine[Any, Any, None]],
        **options: Any) -> list[MobilityEvent]:
    events: list[MobilityEvent] = []
    pe = PoolElement()

    async def main() -> None:
        async with Mobility(cast(Any, ep), cast(Any, pe), on_event=events.append,
                            asconf_timeout=0.05, **options) as mobility:
            await mobility.settled()
            await body(mobility, pe)

    asyncio.run(main())
    return events


def test_make_before_break_adds_points_peers_then_removes_and_reregisters() -> None:
    ep = Endpoint([A], alive=[1, 2])

    async def body(mobility: Mobility, pe: PoolElement) -> None:
        ep.gain(B)
        await mobility.settled()
        assert ep.calls == [("add", B), ("peer-primary", 1, B), ("peer-primary", 2, B)]
        assert pe.registered == [[A, B]]
        ep.lose(A)
        await mobility.settled()
        assert ep.calls[3:] == [("remove", A)]
        assert pe.registered == [[A, B], [B]]
        assert mobility.addresses == [B]

    kinds = [e.kind for e in run(ep, body)]
    assert kinds[:2] == ["address-up", "bound"]
    assert kinds.count("acknowledged") == 2 and kinds.count("removed") == 2
    assert kinds.count("handover") == 2 and kinds.count("re-registered") == 2


def test_only_allowed_addresses_are_added() -> None:
    ep = Endpoint([A], alive=[1])

    async def body(mobility: Mobility, pe: PoolElement) -> None:
        ep.gain(B, "eth0")  # right prefix, wrong interface
        ep.gain(C, "wlan0")  # right interface, wrong prefix
        ep.gain("127.0.0.2", "wlan0")
        await mobility.settled()
        assert ep.calls == [] and pe.registered == []
        ep.gain("10.2.0.8", "wlan0")
        await mobility.settled()
        assert ep.calls[0] == ("add", "10.2.0.8") and pe.registered == [[A, "10.2.0.8"]]

    run(ep, body, interfaces=["wlan0"], prefixes=["10.2.0.0/16"])


def test_losing_the_last_address_aborts_then_the_new_one_is_registered() -> None:
    ep = Endpoint([A], alive=[1, 2])

    async def body(mobility: Mobility, pe: PoolElement) -> None:
        ep.lose(A)  # break before make: no address left to send an ASCONF from
        await mobility.settled()
        assert ep.calls == [("abort", 1), ("abort", 2)] and pe.registered == []
        ep.gain(B)
        await mobility.settled()
        assert ep.calls[2:] == [("add", B), ("remove", A)]
        assert pe.registered == [[B]]

    events = run(ep, body)
    assert [e.assoc for e in events if e.kind == "aborted"] == [1, 2]


def test_removal_waits_for_an_association_that_did_not_confirm_the_new_address() -> None:
    ep = Endpoint([A], alive=[1], dead=[2])

    async def body(mobility: Mobility, pe: PoolElement) -> None:
        ep.gain(B)
        await mobility.settled()
        assert ("peer-primary", 1, B) in ep.calls and ("peer-primary", 2, B) not in ep.calls
        ep.lose(A)
        await mobility.settled()
        assert ("remove", A) not in ep.calls  # association 2 never acknowledged B
        assert pe.registered[-1] == [B]  # the registrar learns the live address at once
        del ep.acked[2]  # the dead association is gone at last
        for _ in range(100):
            if ("remove", A) in ep.calls:
                break
            await asyncio.sleep(0.01)
        assert ep.calls[-1] == ("remove", A)

    events = run(ep, body)
    assert [(e.kind, e.assoc) for e in events if e.kind == "timeout"] == [("timeout", 2)]
    assert sum(e.kind == "deferred" for e in events) == 1

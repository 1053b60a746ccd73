"""Helpers for the client tests: build PEs, pick actions out of a core's answer, and an
echo handler for PEs of the asyncio API."""

from __future__ import annotations

from typing import Any

from rserpool import wire
from rserpool.actions import Close, Connect, Notify, Send
from rserpool.aio.pool_element import PeerSession

POOL = b"echo-pool"
REG_A = (("10.0.0.1",), 3863)
REG_B = (("10.0.0.2",), 3863)


def pe(pe_id: int, address: str = "10.1.0.1", port: int = 7000, load: int = 0) -> Any:
    """A pool element as a registrar would return it."""
    return wire.PoolElement(pe_id, 1, 90000, wire.SctpTransport(port, [address]),
                            wire.Policy(wire.PolicyType.ROUND_ROBIN, load=load))


def sends(actions: list[Any], kind: type | None = None) -> list[Send]:
    return [a for a in actions if isinstance(a, Send)
            and (kind is None or isinstance(a.message, kind))]


def one_send(actions: list[Any], kind: type) -> Send:
    found = sends(actions, kind)
    assert len(found) == 1, actions
    return found[0]


def connects(actions: list[Any]) -> list[Connect]:
    return [a for a in actions if isinstance(a, Connect)]


def one_connect(actions: list[Any]) -> Connect:
    found = connects(actions)
    assert len(found) == 1, actions
    return found[0]


def closes(actions: list[Any]) -> list[Close]:
    return [a for a in actions if isinstance(a, Close)]


def notified(actions: list[Any], event: str) -> list[Any]:
    return [a.detail for a in actions if isinstance(a, Notify) and a.event == event]


def rejection(cause: int) -> Any:
    return wire.OperationError((wire.ErrorCause(cause),))


async def echo(session: PeerSession) -> None:
    """Echo each message as ``<cookie the PU restored, or ->|<message>``; hand out the
    cookie ``seen:<messages so far>``."""
    count = 0
    while True:
        try:
            data = await session.receive()
        except ConnectionError:
            return
        count += 1
        restored = session.cookie_echo or b"-"
        session.send_cookie(f"seen:{count}".encode())
        await session.send(restored + b"|" + data)

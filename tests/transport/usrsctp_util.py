"""Shared helpers for the usrsctp tests: skip reasons and event filters."""

from __future__ import annotations

import pytest

from rserpool import _build_config
from rserpool.transport import AssociationChange, Endpoint, Event, Message


def require_usrsctp() -> None:
    if not _build_config.HAVE_USRSCTP:
        pytest.skip("rserpool was built without libusrsctp (install libusrsctp-dev, rebuild)")


async def next_message(endpoint: Endpoint, seen: list[Event] | None = None) -> Message:
    """The next user message; other events go to ``seen``."""
    while True:
        event = await endpoint.receive()
        if isinstance(event, Message):
            return event
        if seen is not None:
            seen.append(event)


async def next_assoc_change(endpoint: Endpoint) -> AssociationChange:
    while True:
        event = await endpoint.receive()
        if isinstance(event, AssociationChange):
            return event

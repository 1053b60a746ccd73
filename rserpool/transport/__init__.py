"""SCTP transports behind one interface: usrsctp (userland), kernel (Linux SCTP), memory."""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any

from rserpool.transport.base import (
    AssociationChange,
    AssociationState,
    Endpoint,
    Event,
    Message,
    PeerAddressChange,
    PeerAddressState,
    SctpParameters,
    SendFailed,
    TransportError,
)

__all__ = [
    "AssociationChange",
    "AssociationState",
    "Endpoint",
    "Event",
    "Message",
    "PeerAddressChange",
    "PeerAddressState",
    "SctpParameters",
    "SendFailed",
    "TransportError",
    "open_endpoint",
]

# backend name -> (module, endpoint class); modules load on first use.
_BACKENDS = {
    "usrsctp": ("rserpool.transport.usrsctp", "UsrsctpEndpoint"),
    "kernel": ("rserpool.transport.kernel", "KernelEndpoint"),
    "memory": ("rserpool.transport.memory", "MemoryEndpoint"),
}


def open_endpoint(
    backend: str,
    addresses: Sequence[str],
    port: int = 0,
    params: SctpParameters | None = None,
    **options: Any,
) -> Endpoint:
    """An unopened endpoint of the named backend (use it as ``async with``).

    ``options`` go to the backend's constructor (e.g. ``network=`` for memory)."""
    try:
        module_name, class_name = _BACKENDS[backend]
    except KeyError:
        raise ValueError(f"unknown transport backend {backend!r}: {sorted(_BACKENDS)}") from None
    cls = getattr(importlib.import_module(module_name), class_name)
    endpoint: Endpoint = cls(addresses, port, params or SctpParameters(), **options)
    return endpoint

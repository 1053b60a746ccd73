"""SCTP transports behind one interface: usrsctp (userland), kernel (Linux SCTP), memory."""

from rserpool.transport.base import (
    AssociationChange,
    AssociationState,
    Endpoint,
    Event,
    Message,
    PeerAddressChange,
    PeerAddressState,
    SctpParameters,
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
    "TransportError",
]

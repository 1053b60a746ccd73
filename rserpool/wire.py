"""ASAP/ENRP wire codec (RFC 5352-5354, 5356): messages, parameters, `decode`.

The codec lives in the Cython module `rserpool._core.wire`; this module re-exports it and adds
the protocol's enumerations.
"""

from enum import IntEnum

from rserpool._core.wire import (
    MAX_ADDRESSES_PER_TRANSPORT,
    MAX_HANDLE_RESOLUTION_ITEMS,
    MAX_HANDLE_TABLE_ELEMENTS,
    MAX_MESSAGE_SIZE,
    MAX_NESTING_DEPTH,
    MAX_POOL_HANDLE_LENGTH,
    PPID_ASAP,
    PPID_ENRP,
    AsapError,
    BusinessCard,
    Cookie,
    CookieEcho,
    DccpTransport,
    Deregistration,
    DeregistrationResponse,
    EndpointKeepAlive,
    EndpointKeepAliveAck,
    EndpointUnreachable,
    EnrpError,
    ErrorCause,
    HandleResolution,
    HandleResolutionResponse,
    HandleTableRequest,
    HandleTableResponse,
    HandleUpdate,
    InitTakeover,
    InitTakeoverAck,
    ListRequest,
    ListResponse,
    Message,
    OperationError,
    ParseError,
    Policy,
    PoolElement,
    Presence,
    Registration,
    RegistrationResponse,
    SctpTransport,
    ServerAnnounce,
    ServerInformation,
    TakeoverServer,
    TcpTransport,
    Transport,
    UdpLiteTransport,
    UdpTransport,
    decode,
)


class Cause(IntEnum):
    """Error cause codes (RFC 5354 section 3.10)."""

    UNSPECIFIED = 0
    UNRECOGNIZED_PARAMETER = 1
    UNRECOGNIZED_MESSAGE = 2
    INVALID_VALUES = 3
    NON_UNIQUE_PE_IDENTIFIER = 4
    INCONSISTENT_POLICY = 5
    LACK_OF_RESOURCES = 6
    INCONSISTENT_TRANSPORT_TYPE = 7
    INCONSISTENT_DATA_CONTROL = 8
    UNKNOWN_POOL_HANDLE = 9
    REJECTED_SECURITY = 10


class PolicyType(IntEnum):
    """Member selection policies: RFC 5356, RSPLIB's extensions, delay-aware (DPF) variants."""

    ROUND_ROBIN = 0x00000001
    WEIGHTED_ROUND_ROBIN = 0x00000002
    RANDOM = 0x00000003
    WEIGHTED_RANDOM = 0x00000004
    PRIORITY = 0x00000005
    LEAST_USED = 0x40000001
    LEAST_USED_DEGRADATION = 0x40000002
    PRIORITY_LEAST_USED = 0x40000003
    RANDOMIZED_LEAST_USED = 0x40000004
    RANDOMIZED_PRIORITY_LEAST_USED = 0xB0001001
    RANDOMIZED_LEAST_USED_DEGRADATION = 0xB0001002
    PRIORITY_LEAST_USED_DEGRADATION = 0xB0001003
    RANDOMIZED_PRIORITY_LEAST_USED_DEGRADATION = 0xB0001004
    WEIGHTED_RANDOM_DPF = 0xB0002001
    LEAST_USED_DPF = 0xB0002002
    LEAST_USED_DEGRADATION_DPF = 0xB0002003


class UpdateAction(IntEnum):
    """ENRP Handle Update actions (RFC 5353 section 2.4)."""

    ADD_PE = 0
    DEL_PE = 1


class TransportUse(IntEnum):
    """Transport use field of SCTP and TCP transport parameters (RFC 5354 3.4)."""

    DATA_ONLY = 0
    DATA_PLUS_CONTROL = 1


#: Maximum value of a load, degradation or DPF field: the fraction 1.0.
LOAD_MAX = 0xFFFFFFFF

__all__ = [
    "LOAD_MAX",
    "MAX_ADDRESSES_PER_TRANSPORT",
    "MAX_HANDLE_RESOLUTION_ITEMS",
    "MAX_HANDLE_TABLE_ELEMENTS",
    "MAX_MESSAGE_SIZE",
    "MAX_NESTING_DEPTH",
    "MAX_POOL_HANDLE_LENGTH",
    "PPID_ASAP",
    "PPID_ENRP",
    "AsapError",
    "BusinessCard",
    "Cause",
    "Cookie",
    "CookieEcho",
    "DccpTransport",
    "Deregistration",
    "DeregistrationResponse",
    "EndpointKeepAlive",
    "EndpointKeepAliveAck",
    "EndpointUnreachable",
    "EnrpError",
    "ErrorCause",
    "HandleResolution",
    "HandleResolutionResponse",
    "HandleTableRequest",
    "HandleTableResponse",
    "HandleUpdate",
    "InitTakeover",
    "InitTakeoverAck",
    "ListRequest",
    "ListResponse",
    "Message",
    "OperationError",
    "ParseError",
    "Policy",
    "PolicyType",
    "PoolElement",
    "Presence",
    "Registration",
    "RegistrationResponse",
    "SctpTransport",
    "ServerAnnounce",
    "ServerInformation",
    "TakeoverServer",
    "TcpTransport",
    "Transport",
    "TransportUse",
    "UdpLiteTransport",
    "UdpTransport",
    "UpdateAction",
    "decode",
]

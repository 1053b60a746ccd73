"""Type stub of the Cython ASAP/ENRP codec (rserpool/_core/wire.pyx)."""

from collections.abc import Iterable
from ipaddress import IPv4Address, IPv6Address
from typing import Final, final

from typing_extensions import disjoint_base

_Address = IPv4Address | IPv6Address
_AddressLike = IPv4Address | IPv6Address | str | bytes

PPID_ASAP: Final[int]
PPID_ENRP: Final[int]
MAX_MESSAGE_SIZE: Final[int]
MAX_POOL_HANDLE_LENGTH: Final[int]
MAX_ADDRESSES_PER_TRANSPORT: Final[int]
MAX_HANDLE_RESOLUTION_ITEMS: Final[int]
MAX_HANDLE_TABLE_ELEMENTS: Final[int]
MAX_NESTING_DEPTH: Final[int]

class ParseError(ValueError):
    cause: int
    offset: int
    info: bytes
    report: bool
    def __init__(
        self, message: str, cause: int = ..., offset: int = ..., info: bytes = ...,
        report: bool = ...,
    ) -> None: ...
    def error_cause(self) -> ErrorCause: ...

@disjoint_base
class Transport:
    port: int
    @property
    def addresses(self) -> tuple[_Address, ...]: ...
    @addresses.setter
    def addresses(self, value: Iterable[_AddressLike]) -> None: ...
    @property
    def packed_addresses(self) -> tuple[bytes, ...]: ...
    def encode(self) -> bytes: ...

@final
class SctpTransport(Transport):
    def __init__(
        self, port: int, addresses: Iterable[_AddressLike], transport_use: int = 0
    ) -> None: ...
    @property
    def transport_use(self) -> int: ...
    @transport_use.setter
    def transport_use(self, v: int) -> None: ...

@final
class TcpTransport(Transport):
    def __init__(
        self, port: int, addresses: Iterable[_AddressLike], transport_use: int = 0
    ) -> None: ...
    @property
    def transport_use(self) -> int: ...
    @transport_use.setter
    def transport_use(self, v: int) -> None: ...

@final
class UdpTransport(Transport):
    def __init__(self, port: int, addresses: Iterable[_AddressLike]) -> None: ...

@final
class UdpLiteTransport(Transport):
    def __init__(self, port: int, addresses: Iterable[_AddressLike]) -> None: ...

@final
class DccpTransport(Transport):
    def __init__(
        self, port: int, addresses: Iterable[_AddressLike], service_code: int = 0
    ) -> None: ...
    @property
    def service_code(self) -> int: ...
    @service_code.setter
    def service_code(self, v: int) -> None: ...

@final
class Policy:
    policy_type: int
    weight: int
    priority: int
    load: int
    load_degradation: int
    load_dpf: int
    weight_dpf: int
    distance: int
    def __init__(
        self, policy_type: int, weight: int = 0, priority: int = 0, load: int = 0,
        load_degradation: int = 0, load_dpf: int = 0, weight_dpf: int = 0, distance: int = 0,
    ) -> None: ...
    def encode(self) -> bytes: ...

@final
class PoolElement:
    pe_identifier: int
    home_enrp_server_identifier: int
    registration_life: int
    def __init__(
        self, pe_identifier: int, home_enrp_server_identifier: int, registration_life: int,
        user_transport: Transport, member_selection_policy: Policy,
        asap_transport: Transport | None = None,
    ) -> None: ...
    @property
    def user_transport(self) -> Transport: ...
    @user_transport.setter
    def user_transport(self, v: Transport) -> None: ...
    @property
    def member_selection_policy(self) -> Policy: ...
    @member_selection_policy.setter
    def member_selection_policy(self, v: Policy) -> None: ...
    @property
    def asap_transport(self) -> Transport | None: ...
    @asap_transport.setter
    def asap_transport(self, v: Transport | None) -> None: ...
    def encode(self) -> bytes: ...

@final
class ServerInformation:
    server_identifier: int
    def __init__(self, server_identifier: int, transport: Transport) -> None: ...
    @property
    def transport(self) -> Transport: ...
    @transport.setter
    def transport(self, v: Transport) -> None: ...
    def encode(self) -> bytes: ...

@final
class ErrorCause:
    code: int
    def __init__(self, code: int, info: bytes = b"") -> None: ...
    @property
    def info(self) -> bytes: ...
    @info.setter
    def info(self, v: bytes) -> None: ...

@final
class OperationError:
    def __init__(self, causes: Iterable[ErrorCause]) -> None: ...
    @property
    def causes(self) -> tuple[ErrorCause, ...]: ...
    @causes.setter
    def causes(self, v: Iterable[ErrorCause]) -> None: ...
    def encode(self) -> bytes: ...

@disjoint_base
class Message:
    @property
    def unrecognized(self) -> tuple[bytes, ...]: ...
    @property
    def ppid(self) -> int: ...
    @property
    def type(self) -> int: ...
    @property
    def flags(self) -> int: ...
    def encode(self) -> bytes: ...

@final
class Registration(Message):
    def __init__(self, pool_handle: bytes, pool_element: PoolElement) -> None: ...
    @property
    def pool_handle(self) -> bytes: ...
    @pool_handle.setter
    def pool_handle(self, v: bytes) -> None: ...
    @property
    def pool_element(self) -> PoolElement: ...
    @pool_element.setter
    def pool_element(self, v: PoolElement) -> None: ...

@disjoint_base
class _HandlePeId(Message):
    pe_identifier: int
    @property
    def pool_handle(self) -> bytes: ...
    @pool_handle.setter
    def pool_handle(self, v: bytes) -> None: ...

@final
class Deregistration(_HandlePeId):
    def __init__(self, pool_handle: bytes, pe_identifier: int) -> None: ...

@final
class EndpointKeepAliveAck(_HandlePeId):
    def __init__(self, pool_handle: bytes, pe_identifier: int) -> None: ...

@final
class EndpointUnreachable(_HandlePeId):
    def __init__(self, pool_handle: bytes, pe_identifier: int) -> None: ...

@disjoint_base
class _Response(_HandlePeId):
    reject: bool
    def __init__(
        self, pool_handle: bytes, pe_identifier: int, reject: bool = False,
        error: OperationError | None = None,
    ) -> None: ...
    @property
    def error(self) -> OperationError | None: ...
    @error.setter
    def error(self, v: OperationError | None) -> None: ...

@final
class RegistrationResponse(_Response): ...
@final
class DeregistrationResponse(_Response): ...

@final
class HandleResolution(Message):
    def __init__(self, pool_handle: bytes, items: int | None = None) -> None: ...
    @property
    def pool_handle(self) -> bytes: ...
    @pool_handle.setter
    def pool_handle(self, v: bytes) -> None: ...
    @property
    def items(self) -> int | None: ...
    @items.setter
    def items(self, v: int | None) -> None: ...

@final
class HandleResolutionResponse(Message):
    def __init__(
        self, pool_handle: bytes, pool_elements: Iterable[PoolElement] = (),
        policy: Policy | None = None, error: OperationError | None = None,
    ) -> None: ...
    @property
    def pool_handle(self) -> bytes: ...
    @pool_handle.setter
    def pool_handle(self, v: bytes) -> None: ...
    @property
    def pool_elements(self) -> tuple[PoolElement, ...]: ...
    @pool_elements.setter
    def pool_elements(self, v: Iterable[PoolElement]) -> None: ...
    @property
    def policy(self) -> Policy | None: ...
    @policy.setter
    def policy(self, v: Policy | None) -> None: ...
    @property
    def error(self) -> OperationError | None: ...
    @error.setter
    def error(self, v: OperationError | None) -> None: ...

@final
class EndpointKeepAlive(Message):
    server_identifier: int
    home: bool
    def __init__(
        self, server_identifier: int, pool_handle: bytes, pe_identifier: int | None = None,
        home: bool = False,
    ) -> None: ...
    @property
    def pool_handle(self) -> bytes: ...
    @pool_handle.setter
    def pool_handle(self, v: bytes) -> None: ...
    @property
    def pe_identifier(self) -> int | None: ...
    @pe_identifier.setter
    def pe_identifier(self, v: int | None) -> None: ...

@final
class ServerAnnounce(Message):
    server_identifier: int
    def __init__(self, server_identifier: int, transports: Iterable[Transport] = ()) -> None: ...
    @property
    def transports(self) -> tuple[Transport, ...]: ...
    @transports.setter
    def transports(self, v: Iterable[Transport]) -> None: ...

@disjoint_base
class _CookieMessage(Message):
    def __init__(self, cookie: bytes) -> None: ...
    @property
    def cookie(self) -> bytes: ...
    @cookie.setter
    def cookie(self, v: bytes) -> None: ...

@final
class Cookie(_CookieMessage): ...
@final
class CookieEcho(_CookieMessage): ...

@final
class BusinessCard(Message):
    def __init__(self, pool_handle: bytes, pool_elements: Iterable[PoolElement] = ()) -> None: ...
    @property
    def pool_handle(self) -> bytes: ...
    @pool_handle.setter
    def pool_handle(self, v: bytes) -> None: ...
    @property
    def pool_elements(self) -> tuple[PoolElement, ...]: ...
    @pool_elements.setter
    def pool_elements(self, v: Iterable[PoolElement]) -> None: ...

@final
class AsapError(Message):
    def __init__(self, error: OperationError) -> None: ...
    @property
    def error(self) -> OperationError: ...
    @error.setter
    def error(self, v: OperationError) -> None: ...

@disjoint_base
class _Enrp(Message):
    sender_server_id: int
    receiver_server_id: int

@final
class Presence(_Enrp):
    pe_checksum: int
    reply_required: bool
    def __init__(
        self, sender_server_id: int, receiver_server_id: int, pe_checksum: int,
        server_information: ServerInformation | None = None, reply_required: bool = False,
    ) -> None: ...
    @property
    def server_information(self) -> ServerInformation | None: ...
    @server_information.setter
    def server_information(self, v: ServerInformation | None) -> None: ...

@final
class HandleTableRequest(_Enrp):
    own_children_only: bool
    def __init__(
        self, sender_server_id: int, receiver_server_id: int, own_children_only: bool = False
    ) -> None: ...

@final
class HandleTableResponse(_Enrp):
    more_to_send: bool
    reject: bool
    def __init__(
        self, sender_server_id: int, receiver_server_id: int,
        pools: Iterable[tuple[bytes, Iterable[PoolElement]]] = (), more_to_send: bool = False,
        reject: bool = False,
    ) -> None: ...
    @property
    def pools(self) -> tuple[tuple[bytes, tuple[PoolElement, ...]], ...]: ...
    @pools.setter
    def pools(self, v: Iterable[tuple[bytes, Iterable[PoolElement]]]) -> None: ...

@final
class HandleUpdate(_Enrp):
    update_action: int
    takeover_suggestion: bool
    def __init__(
        self, sender_server_id: int, receiver_server_id: int, update_action: int,
        pool_handle: bytes, pool_element: PoolElement, takeover_suggestion: bool = False,
    ) -> None: ...
    @property
    def pool_handle(self) -> bytes: ...
    @pool_handle.setter
    def pool_handle(self, v: bytes) -> None: ...
    @property
    def pool_element(self) -> PoolElement: ...
    @pool_element.setter
    def pool_element(self, v: PoolElement) -> None: ...

@final
class ListRequest(_Enrp):
    def __init__(self, sender_server_id: int, receiver_server_id: int) -> None: ...

@final
class ListResponse(_Enrp):
    reject: bool
    def __init__(
        self, sender_server_id: int, receiver_server_id: int,
        servers: Iterable[ServerInformation] = (), reject: bool = False,
    ) -> None: ...
    @property
    def servers(self) -> tuple[ServerInformation, ...]: ...
    @servers.setter
    def servers(self, v: Iterable[ServerInformation]) -> None: ...

@disjoint_base
class _Takeover(_Enrp):
    target_server_id: int
    def __init__(
        self, sender_server_id: int, receiver_server_id: int, target_server_id: int
    ) -> None: ...

@final
class InitTakeover(_Takeover): ...
@final
class InitTakeoverAck(_Takeover): ...
@final
class TakeoverServer(_Takeover): ...

@final
class EnrpError(_Enrp):
    def __init__(
        self, sender_server_id: int, receiver_server_id: int, error: OperationError
    ) -> None: ...
    @property
    def error(self) -> OperationError: ...
    @error.setter
    def error(self, v: OperationError) -> None: ...

def decode(data: bytes | bytearray | memoryview, ppid: int) -> Message: ...

"""asyncio runtime: drivers for the sans-I/O cores, and the PoolElement / PoolUser API."""

from rserpool.aio.announce import ASAP_ANNOUNCE_GROUP, AnnounceSocket
from rserpool.aio.driver import CoreDriver
from rserpool.aio.pool_element import (
    PeerSession,
    PoolElement,
    RegistrationError,
    SessionClosed,
)
from rserpool.aio.pool_user import PoolUser, ResolutionError, Session, SessionError

__all__ = [
    "ASAP_ANNOUNCE_GROUP",
    "AnnounceSocket",
    "CoreDriver",
    "PeerSession",
    "PoolElement",
    "PoolUser",
    "RegistrationError",
    "ResolutionError",
    "Session",
    "SessionClosed",
    "SessionError",
]

"""What a sans-I/O protocol core asks its runtime to do.

Cores in ``rserpool.asap`` and ``rserpool.enrp`` never touch sockets or clocks: every input
method takes ``now`` (float seconds) and returns a list of these actions, which the asyncio
runtime (``rserpool.aio``) or a simulator carries out in order. ``next_timer()`` on a core
tells when to call its ``handle_timer(now)`` next.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rserpool._slots import quick_init


@quick_init  # one per reply: the frozen dataclass's own __init__ is slow
@dataclass(frozen=True, slots=True)
class Send:
    """Send one ASAP (ppid 11) or ENRP (ppid 12) message on an association."""

    assoc: int
    ppid: int
    message: Any
    stream: int = 0


@dataclass(frozen=True, slots=True)
class Connect:
    """Open an association to a peer; the runtime reports it back with ``key``."""

    key: Any
    addresses: tuple[str, ...]
    port: int


@dataclass(frozen=True, slots=True)
class Close:
    """Close an association: gracefully (SHUTDOWN) or, with ``abort``, at once."""

    assoc: int
    abort: bool = False


@dataclass(frozen=True, slots=True)
class Announce:
    """Send a message by UDP to the announce group (ASAP Server Announce, ENRP Presence)."""

    ppid: int
    message: Any


@dataclass(frozen=True, slots=True)
class Notify:
    """Tell the application something (a PE failed over, a registration completed, ...)."""

    event: str
    detail: Any = None


Action = Send | Connect | Close | Announce | Notify

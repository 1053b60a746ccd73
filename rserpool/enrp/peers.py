"""The ENRP peer table entries (RFC 5353 section 2.3): who the peers are and what is going on
with each of them."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

# What a peer's single timer currently means.
LAST_HEARD = "last-heard"  # no Presence for peer_max_time_last_heard -> ask for one
NO_RESPONSE = "no-response"  # asked, no answer for peer_max_time_no_response -> it is dead
TAKEOVER = "takeover"  # our takeover of it waits for acks until takeover_expiry_interval


@dataclass(slots=True, eq=False)
class Peer:
    """One peer registrar."""

    server_id: int
    addresses: tuple[str, ...]
    port: int
    assocs: list[int] = field(default_factory=list)  # live associations, preferred first
    connecting_since: float | None = None
    queue: deque[Any] = field(default_factory=deque)  # messages waiting for an association
    timer: str = LAST_HEARD
    mentor: bool = False  # our startup mentor: its whole handle table is being fetched
    ht_sync: bool = False  # a Handle Table Request to it is outstanding
    sync_since: float = 0.0  # when that request went out
    sync_own_only: bool = False
    sync_marked: set[tuple[bytes, int]] | None = None  # its PEs a resync has not confirmed
    list_sync: bool = False  # a List Request has gone to it
    serve_cursor: tuple[bool, Any, float] | None = None  # (W flag, next page, when served)
    takeover_acks: set[int] | None = None  # our takeover of it: peers yet to acknowledge
    taken_over_by: int = 0  # a peer that announced it takes this one over


@dataclass(slots=True, eq=False)
class StaticPeer:
    """A configured peer address, contacted whether or not it has been heard of."""

    addresses: tuple[str, ...]
    port: int
    server_id: int = 0  # learnt from its first message
    assoc: int | None = None
    connecting_since: float | None = None

"""Settings and statistics of the registrar core (defaults are RSPLIB's ``rspregistrar``).

Times are float seconds; RSPLIB's command line takes the same values in milliseconds.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

#: RFC 5352 caps a handle resolution at this many items whatever the PU asks for.
MAX_HANDLE_RESOLUTION_ITEMS_CAP = 128


@dataclass(frozen=True, slots=True)
class StaticPeer:
    """A registrar to contact over ENRP without waiting for its multicast Presence."""

    addresses: tuple[str, ...]
    port: int = 9901


@dataclass(frozen=True, slots=True)
class RegistrarConfig:
    """Everything the daemon fills in from its TOML file and flags."""

    server_id: int = 0  # 0: draw a random non-zero 32-bit id from the core's rng
    asap_addresses: tuple[str, ...] = ()  # announced in ASAP Server Announce
    asap_port: int = 3863
    enrp_addresses: tuple[str, ...] = ()  # announced in ENRP Presence server information
    enrp_port: int = 9901
    static_peers: tuple[StaticPeer, ...] = ()
    asap_announces: bool = True  # Announce(PPID_ASAP, ServerAnnounce) every cycle
    enrp_announces: bool = True  # Announce(PPID_ENRP, Presence) every heartbeat cycle

    server_announce_cycle: float = 1.0
    endpoint_keep_alive_transmission_interval: float = 5.0
    endpoint_keep_alive_timeout_interval: float = 5.0
    max_bad_pe_reports: int = 3
    max_handle_resolution_items: int = 3
    max_elements_per_handle_table_request: int = 128
    peer_heartbeat_cycle: float = 2.444444
    peer_max_time_last_heard: float = 5.0
    peer_max_time_no_response: float = 5.0
    mentor_discovery_timeout: float = 5.0
    takeover_expiry_interval: float = 5.0
    support_takeover_suggestion: bool = False
    max_hr_rate: float = -1.0  # handle resolutions per second per PU association; < 0: no limit
    max_eu_rate: float = -1.0  # endpoint unreachable reports per second per PU association
    rate_burst: float = 1.0  # requests a PU may save up (bucket size; at least 1)

    # Bounded state (RFC 5355): explicit limits instead of "as much as memory allows".
    max_peers: int = 128
    max_pes_per_association: int = 4096
    max_pes_per_peer: int = 1_000_000
    max_peer_addresses: int = 32  # addresses kept per association / peer
    max_queued_per_peer: int = 1024  # ENRP messages held while a peer association opens
    connect_retry_interval: float = 5.0  # a Connect with no answer is retried after this

    # Fault injection, off by default: ignore the first N ENRP Handle Updates received (each
    # logged), so that this registrar's view diverges and the checksum audit must resync it.
    debug_ignore_handle_updates: int = 0


@dataclass(slots=True)
class RegistrarStats:
    """Event counters, the columns of RSPLIB's ``-statsfile`` that count events."""

    registrations: int = 0
    reregistrations: int = 0
    deregistrations: int = 0
    handle_resolutions: int = 0
    failure_reports: int = 0
    synchronizations: int = 0
    handle_updates: int = 0
    endpoint_keep_alives: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)

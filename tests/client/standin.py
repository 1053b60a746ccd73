"""TEMPORARY registrar stand-in until the registrar core lands on main (then removed)."""

from __future__ import annotations

from typing import Any

from rserpool import wire
from rserpool.actions import Action, Send


class StandInRegistrar:
    def __init__(self, server_id: int = 1) -> None:
        self.server_id = server_id
        self.pools: dict[bytes, dict[int, Any]] = {}

    def association_up(self, assoc: int, peers: Any, now: float, key: Any = None) -> list[Action]:
        return []

    def association_lost(self, assoc: int, now: float) -> list[Action]:
        return []

    def receive(self, assoc: int, m: Any, now: float) -> list[Action]:
        A = wire.PPID_ASAP
        if isinstance(m, wire.Registration):
            self.pools.setdefault(m.pool_handle, {})[m.pool_element.pe_identifier] = \
                m.pool_element
            return [Send(assoc, A, wire.RegistrationResponse(m.pool_handle,
                                                            m.pool_element.pe_identifier))]
        if isinstance(m, wire.Deregistration):
            self.pools.get(m.pool_handle, {}).pop(m.pe_identifier, None)
            return [Send(assoc, A, wire.DeregistrationResponse(m.pool_handle, m.pe_identifier))]
        if isinstance(m, wire.HandleResolution):
            pes = tuple(self.pools.get(m.pool_handle, {}).values())
            if not pes:
                return [Send(assoc, A, wire.HandleResolutionResponse(
                    m.pool_handle, error=wire.OperationError(
                        (wire.ErrorCause(wire.Cause.UNKNOWN_POOL_HANDLE),))))]
            return [Send(assoc, A, wire.HandleResolutionResponse(m.pool_handle, pes))]
        if isinstance(m, wire.EndpointUnreachable):
            self.pools.get(m.pool_handle, {}).pop(m.pe_identifier, None)
        return []

    def receive_error(self, assoc: int, error: Any, now: float) -> list[Action]:
        return []

    def handle_timer(self, now: float) -> list[Action]:
        return []

    def next_timer(self) -> float | None:
        return None

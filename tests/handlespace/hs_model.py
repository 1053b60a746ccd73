"""A small, obviously correct pure-Python handlespace to check the Cython one against.

Everything is a dict or a list that is sorted from scratch whenever it is read; the PE
checksum is recomputed from all PEs' bytes on every call. Ordered policies (RR, WRR,
Priority, LU, LUD) are modelled exactly, by sorting every PE's (primary, seq) key.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rserpool.wire import Cause, Policy, PolicyType, PoolElement, SctpTransport

MAX = 0xFFFFFFFF
TIMER_LIFETIME = 1

ORDERED = {
    PolicyType.ROUND_ROBIN,
    PolicyType.WEIGHTED_ROUND_ROBIN,
    PolicyType.PRIORITY,
    PolicyType.LEAST_USED,
    PolicyType.LEAST_USED_DEGRADATION,
}


def element(pe_id: int, policy_type: int = PolicyType.ROUND_ROBIN, *, home: int = 1,
            life_ms: int = 30_000, port: int = 3000, addresses: tuple[str, ...] = ("10.0.0.1",),
            **policy: int) -> PoolElement:
    """A real wire.PoolElement with an SCTP user transport."""
    return PoolElement(pe_id, home, life_ms, SctpTransport(port, addresses),
                       Policy(policy_type, **policy))


# The policy fields each type carries on the wire (the codec refuses others).
CARRIED = {
    PolicyType.ROUND_ROBIN: (),
    PolicyType.WEIGHTED_ROUND_ROBIN: ("weight",),
    PolicyType.RANDOM: (),
    PolicyType.WEIGHTED_RANDOM: ("weight",),
    PolicyType.PRIORITY: ("priority",),
    PolicyType.LEAST_USED: ("load",),
    PolicyType.LEAST_USED_DEGRADATION: ("load", "load_degradation"),
}


def carried(policy_type: int, **policy: int) -> dict[str, int]:
    """The subset of policy fields that policy_type carries."""
    return {k: v for k, v in policy.items() if k in CARRIED[policy_type]}


def ones_complement_checksum(entries: list[tuple[bytes, int]]) -> int:
    """RFC 5353 PE checksum of (pool handle, PE id) pairs, word by word from scratch."""
    total = 0
    for handle, pe_id in entries:
        data = handle + (b"\0" if len(handle) % 2 else b"") + pe_id.to_bytes(4, "big")
        for i in range(0, len(data), 2):
            total += int.from_bytes(data[i:i + 2], "big")
            total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


class ModelError(Exception):
    def __init__(self, cause: Cause) -> None:
        super().__init__(cause)
        self.cause = cause


@dataclass
class ModelPE:
    element: PoolElement
    owner: int
    assoc: int | None
    seq: int
    round: int = 0
    credit: int = 0
    degradation: int = 0


@dataclass
class ModelPool:
    policy_type: int
    next_seq: int = 0
    pes: dict[int, ModelPE] = field(default_factory=dict)


class ModelHandlespace:
    def __init__(self) -> None:
        self.pools: dict[bytes, ModelPool] = {}
        self.timers: dict[tuple[bytes, int], tuple[float, int, int]] = {}  # deadline, seq, code
        self.timer_seq = 0

    # ---------------------------------------------------------------- helpers
    def _key(self, pool: ModelPool, pe: ModelPE) -> tuple[int, int]:
        policy = pe.element.member_selection_policy
        t = pool.policy_type
        if t == PolicyType.ROUND_ROBIN:
            primary = 0
        elif t == PolicyType.WEIGHTED_ROUND_ROBIN:
            primary = pe.round if policy.weight > 0 else 2**64 - 1
        elif t == PolicyType.PRIORITY:
            primary = MAX - policy.priority
        elif t == PolicyType.LEAST_USED:
            primary = policy.load
        else:
            primary = min(policy.load + pe.degradation, MAX)
        return primary, pe.seq

    def _order(self, pool: ModelPool, skip: int | None = None) -> list[ModelPE]:
        pes = [pe for pid, pe in pool.pes.items() if pid != skip]
        return sorted(pes, key=lambda pe: self._key(pool, pe))

    def _current_round(self, pool: ModelPool, skip: int | None) -> int:
        order = self._order(pool, skip)
        if not order or order[0].element.member_selection_policy.weight == 0:
            return 0
        return order[0].round

    def _schedule(self, key: tuple[bytes, int], deadline: float, code: int) -> None:
        self.timers[key] = (deadline, self.timer_seq, code)
        self.timer_seq += 1

    # ---------------------------------------------------------------- operations
    def register(self, handle: bytes, e: PoolElement, now: float, owner: int | None,
                 assoc: int | None) -> bool:
        t = e.member_selection_policy.policy_type
        pool = self.pools.get(handle)
        if pool is not None and pool.policy_type != t:
            raise ModelError(Cause.INCONSISTENT_POLICY)
        if pool is None:
            pool = self.pools[handle] = ModelPool(t)
        weight = e.member_selection_policy.weight
        old = pool.pes.get(e.pe_identifier)
        owner_id = e.home_enrp_server_identifier if owner is None else owner
        if old is None:
            pe = ModelPE(e, owner_id, assoc, pool.next_seq, credit=weight)
            pe.round = self._current_round(pool, None)
            pool.next_seq += 1
            pool.pes[e.pe_identifier] = pe
        else:
            old_weight = old.element.member_selection_policy.weight
            old.element, old.owner, old.assoc, old.degradation = e, owner_id, assoc, 0
            if old_weight == 0 and weight > 0:
                old.round = self._current_round(pool, e.pe_identifier)
                old.credit = weight
            elif old.credit > weight or old.credit == 0:
                old.credit = weight
        self._schedule((handle, e.pe_identifier), now + e.registration_life / 1000.0,
                       TIMER_LIFETIME)
        return old is None

    def deregister(self, handle: bytes, pe_id: int) -> PoolElement | None:
        pool = self.pools.get(handle)
        if pool is None or pe_id not in pool.pes:
            return None
        pe = pool.pes.pop(pe_id)
        self.timers.pop((handle, pe_id), None)
        if not pool.pes:
            del self.pools[handle]
        return pe.element

    def select(self, handle: bytes, n: int) -> list[PoolElement]:
        """Exact for the ordered policies only."""
        pool = self.pools.get(handle)
        if pool is None or n <= 0:
            return []
        chosen = self._order(pool)[:n]
        for pe in chosen:
            policy = pe.element.member_selection_policy
            pe.seq = pool.next_seq
            pool.next_seq += 1
            if pool.policy_type == PolicyType.WEIGHTED_ROUND_ROBIN and policy.weight > 0:
                pe.credit -= 1
                if pe.credit == 0:
                    pe.round += 1
                    pe.credit = policy.weight
            if pool.policy_type == PolicyType.LEAST_USED_DEGRADATION:
                pe.degradation = min(pe.degradation + policy.load_degradation, MAX)
        return [pe.element for pe in chosen]

    def entries(self) -> list[tuple[bytes, int, ModelPE]]:
        return [(h, pid, self.pools[h].pes[pid])
                for h in sorted(self.pools) for pid in sorted(self.pools[h].pes)]

    def owned_by(self, owner: int) -> list[tuple[bytes, int]]:
        return [(h, pid) for h, pid, pe in self.entries() if pe.owner == owner]

    def registered_over(self, assoc: int) -> list[tuple[bytes, int]]:
        return [(h, pid) for h, pid, pe in self.entries() if pe.assoc == assoc]

    def checksum(self, owner: int | None = None) -> int:
        return ones_complement_checksum(
            [(h, pid) for h, pid, pe in self.entries() if owner is None or pe.owner == owner])

    def set_timer(self, handle: bytes, pe_id: int, deadline: float, code: int) -> bool:
        pool = self.pools.get(handle)
        if pool is None or pe_id not in pool.pes:
            return False
        self._schedule((handle, pe_id), deadline, code)
        return True

    def next_deadline(self) -> float | None:
        return min((d for d, _, _ in self.timers.values()), default=None)

    def expire(self, now: float) -> list[tuple[bytes, int, int]]:
        due = sorted((v, k) for k, v in self.timers.items() if v[0] <= now)
        out = []
        for (_, _, code), (handle, pe_id) in due:
            del self.timers[(handle, pe_id)]
            if code == TIMER_LIFETIME:
                self.deregister(handle, pe_id)
            out.append((handle, pe_id, code))
        return out

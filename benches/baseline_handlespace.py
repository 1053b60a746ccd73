"""A straightforward pure-Python handlespace: the baseline the Cython one is measured against.

Dicts for pools, PEs, owners and connections; per pool a `bisect`-sorted list of selection
keys for the ordered policies, or a sorted id list with cached cumulative weights for the
randomized ones; a `heapq` of lifetime deadlines with lazy cancellation; the PE checksum
kept incrementally. It does the same work per operation as rserpool.handlespace (checks,
indices, timer, checksum) for RR, WRAND and LU.
"""

from __future__ import annotations

import heapq
import random
from bisect import bisect_left, bisect_right, insort
from itertools import accumulate
from typing import Any

ROUND_ROBIN, WEIGHTED_RANDOM, LEAST_USED = 0x1, 0x4, 0x40000001


class _Pool:
    __slots__ = ("cumulative", "entries", "ids", "next_seq", "order", "policy_type")

    def __init__(self, policy_type: int) -> None:
        self.policy_type = policy_type
        self.entries: dict[int, list[Any]] = {}    # id -> [element, key, owner, assoc, csum]
        self.order: list[tuple[int, int, int]] = []  # ordered policies: (primary, seq, id)
        self.ids: list[int] = []                     # randomized policies
        self.cumulative: list[int] | None = None
        self.next_seq = 0


def _checksum_part(handle: bytes, pe_id: int) -> int:
    data = handle + (b"\0" if len(handle) % 2 else b"")
    s = sum(int.from_bytes(data[i:i + 2], "big") for i in range(0, len(data), 2))
    s += (pe_id >> 16) + (pe_id & 0xFFFF)
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


class BaselineHandlespace:
    def __init__(self, seed: int = 0) -> None:
        self.pools: dict[bytes, _Pool] = {}
        self.owners: dict[int, set[tuple[bytes, int]]] = {}
        self.conns: dict[int, set[tuple[bytes, int]]] = {}
        self.timers: list[tuple[float, int, bytes, int]] = []
        self.timer_seq: dict[tuple[bytes, int], int] = {}
        self.seq = 0
        self.checksum_sum = 0
        self.count = 0
        self.rng = random.Random(seed)

    def _primary(self, pool: _Pool, element: Any) -> int:
        return element.member_selection_policy.load if pool.policy_type == LEAST_USED else 0

    def register(self, handle: bytes, element: Any, *, now: float, owner: int | None = None,
                 assoc: int | None = None) -> bool:
        policy = element.member_selection_policy
        if not 1 <= len(element.user_transport.addresses) <= 128:
            raise ValueError("addresses")
        pool = self.pools.get(handle)
        if pool is None:
            pool = self.pools[handle] = _Pool(policy.policy_type)
        elif pool.policy_type != policy.policy_type:
            raise ValueError("inconsistent policy")
        pe_id = element.pe_identifier
        owner_id = element.home_enrp_server_identifier if owner is None else owner
        entry = pool.entries.get(pe_id)
        new = entry is None
        if new:
            csum = _checksum_part(handle, pe_id)
            entry = pool.entries[pe_id] = [element, None, owner_id, assoc, csum]
            self.checksum_sum += csum
            self.count += 1
            self.owners.setdefault(owner_id, set()).add((handle, pe_id))
            if assoc is not None:
                self.conns.setdefault(assoc, set()).add((handle, pe_id))
            if pool.policy_type == WEIGHTED_RANDOM:
                insort(pool.ids, pe_id)
            else:
                entry[1] = (self._primary(pool, element), pool.next_seq, pe_id)
                pool.next_seq += 1
                insort(pool.order, entry[1])
        else:
            entry[0] = element
            if entry[2] != owner_id:
                self.owners[entry[2]].discard((handle, pe_id))
                self.owners.setdefault(owner_id, set()).add((handle, pe_id))
                entry[2] = owner_id
            if entry[3] != assoc:
                if entry[3] is not None:
                    self.conns[entry[3]].discard((handle, pe_id))
                if assoc is not None:
                    self.conns.setdefault(assoc, set()).add((handle, pe_id))
                entry[3] = assoc
            if pool.policy_type != WEIGHTED_RANDOM:
                old = entry[1]
                del pool.order[bisect_left(pool.order, old)]
                entry[1] = (self._primary(pool, element), old[1], pe_id)
                insort(pool.order, entry[1])
        pool.cumulative = None
        self.seq += 1
        self.timer_seq[(handle, pe_id)] = self.seq
        heapq.heappush(self.timers,
                       (now + element.registration_life / 1000.0, self.seq, handle, pe_id))
        return new

    def deregister(self, handle: bytes, pe_id: int) -> Any:
        pool = self.pools.get(handle)
        if pool is None or pe_id not in pool.entries:
            return None
        element, key, owner, assoc, csum = pool.entries.pop(pe_id)
        if pool.policy_type == WEIGHTED_RANDOM:
            del pool.ids[bisect_left(pool.ids, pe_id)]
        else:
            del pool.order[bisect_left(pool.order, key)]
        pool.cumulative = None
        self.owners[owner].discard((handle, pe_id))
        if assoc is not None:
            self.conns[assoc].discard((handle, pe_id))
        del self.timer_seq[(handle, pe_id)]       # its heap entry goes stale
        self.checksum_sum -= csum
        self.count -= 1
        if not pool.entries:
            del self.pools[handle]
        return element

    def select(self, handle: bytes, n: int) -> list[Any]:
        pool = self.pools.get(handle)
        if pool is None:
            return []
        n = min(n, len(pool.entries))
        if pool.policy_type == WEIGHTED_RANDOM:
            if pool.cumulative is None:
                pool.cumulative = list(accumulate(
                    pool.entries[i][0].member_selection_policy.weight for i in pool.ids))
            total = pool.cumulative[-1]
            chosen: list[int] = []
            while len(chosen) < n:
                pe_id = pool.ids[bisect_right(pool.cumulative, self.rng.random() * total)]
                if pe_id not in chosen:
                    chosen.append(pe_id)
            return [pool.entries[i][0] for i in chosen]
        keys = pool.order[:n]
        del pool.order[:n]
        out = []
        for primary, _, pe_id in keys:
            entry = pool.entries[pe_id]
            entry[1] = (primary, pool.next_seq, pe_id)
            pool.next_seq += 1
            insort(pool.order, entry[1])
            out.append(entry[0])
        return out

    def __len__(self) -> int:
        return self.count

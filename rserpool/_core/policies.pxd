# Pool policies (RFC 5356 and RSPLIB's extensions): a sort key or a selection value, and
# the update applied once to every PE a selection returns.
#
# Ordered policies keep the selection B+ tree sorted by (primary, seq) and hand out the first
# PEs; seq is a per-pool counter that a selected PE takes anew, which sends it behind its
# equals (round robin among ties). Randomized policies pick with probability proportional
# to a per-PE value, kept in the pool's Fenwick tree of subtree sums.
#
# policy         primary key (ordered) / value (randomized)       on each selection
# RR             0 (kept as a ring in seq order: O(1))             -
# WRR            round (weight 0: last)                            credit-1; at 0: round+1
# PRIORITY       MAX - priority                                    -
# LU             load                                              -
# LUD            load + degradation                                degradation += load_deg
# PLU            load + load_degradation                           -
# PLUD           load + load_degradation + degradation             degradation += load_deg
# LU_DPF         load + distance * load_dpf                        -
# LUD_DPF        load + degradation + distance * load_dpf          degradation += load_deg
# RANDOM         1                                                 -
# WRAND          weight                                            -
# WRAND_DPF      weight - rint(weight * distance * weight_dpf/MAX) -
# RLU            MAX - load                                        -
# RPLU           MAX - load - load_degradation                     -
# RLUD           MAX - load - degradation                          degradation += load_deg
# RPLUD          MAX - load - load_degradation - degradation       degradation += load_deg
#
# Sums of loads saturate at MAX = 0xffffffff; the randomized least-used values are at
# least 1 (a fully loaded PE stays selectable when nothing else is left); a WRAND_DPF value
# is at least 1 while the weight is positive. Degradation resets on re-registration.
from libc.math cimport rint
from libc.stdint cimport int64_t, uint32_t, uint64_t

from rserpool._core.handlespace cimport PENode, PoolRec
from rserpool._core.btree cimport BItem, bt_first, bt_next

cdef enum:
    PT_ROUND_ROBIN = 0x00000001
    PT_WEIGHTED_ROUND_ROBIN = 0x00000002
    PT_RANDOM = 0x00000003
    PT_WEIGHTED_RANDOM = 0x00000004
    PT_PRIORITY = 0x00000005
    PT_LEAST_USED = 0x40000001
    PT_LEAST_USED_DEGRADATION = 0x40000002
    PT_PRIORITY_LEAST_USED = 0x40000003
    PT_RANDOMIZED_LEAST_USED = 0x40000004
    PT_RANDOMIZED_PRIORITY_LEAST_USED = 0xb0001001
    PT_RANDOMIZED_LEAST_USED_DEGRADATION = 0xb0001002
    PT_PRIORITY_LEAST_USED_DEGRADATION = 0xb0001003
    PT_RANDOMIZED_PRIORITY_LEAST_USED_DEGRADATION = 0xb0001004
    PT_WEIGHTED_RANDOM_DPF = 0xb0002001
    PT_LEAST_USED_DPF = 0xb0002002
    PT_LEAST_USED_DEGRADATION_DPF = 0xb0002003

cdef enum:
    MAX_VALUE = 0xffffffff


cdef inline PENode* pe_of_sel(BItem* item) noexcept nogil:
    return <PENode*>item     # sel is PENode's first member


cdef inline int policy_randomized(uint32_t policy_type) noexcept nogil:
    """1 for value-sum policies, 0 for ordered ones, -1 for an unknown type."""
    if (policy_type == PT_ROUND_ROBIN or policy_type == PT_WEIGHTED_ROUND_ROBIN
            or policy_type == PT_PRIORITY or policy_type == PT_LEAST_USED
            or policy_type == PT_LEAST_USED_DEGRADATION
            or policy_type == PT_PRIORITY_LEAST_USED
            or policy_type == PT_PRIORITY_LEAST_USED_DEGRADATION
            or policy_type == PT_LEAST_USED_DPF
            or policy_type == PT_LEAST_USED_DEGRADATION_DPF):
        return 0
    if (policy_type == PT_RANDOM or policy_type == PT_WEIGHTED_RANDOM
            or policy_type == PT_WEIGHTED_RANDOM_DPF
            or policy_type == PT_RANDOMIZED_LEAST_USED
            or policy_type == PT_RANDOMIZED_PRIORITY_LEAST_USED
            or policy_type == PT_RANDOMIZED_LEAST_USED_DEGRADATION
            or policy_type == PT_RANDOMIZED_PRIORITY_LEAST_USED_DEGRADATION):
        return 1
    return -1


cdef enum:
    USES_WEIGHT = 1
    USES_PRIORITY = 2
    USES_LOAD = 4
    USES_LOAD_DEGRADATION = 8
    USES_LOAD_DPF = 16
    USES_WEIGHT_DPF = 32
    USES_DISTANCE = 64


cdef inline int policy_fields(uint32_t t) noexcept nogil:
    """The policy fields the type's key or value uses (USES_* bits)."""
    if t == PT_WEIGHTED_ROUND_ROBIN or t == PT_WEIGHTED_RANDOM:
        return USES_WEIGHT
    if t == PT_PRIORITY:
        return USES_PRIORITY
    if t == PT_LEAST_USED or t == PT_RANDOMIZED_LEAST_USED:
        return USES_LOAD
    if (t == PT_LEAST_USED_DEGRADATION or t == PT_PRIORITY_LEAST_USED
            or t == PT_RANDOMIZED_PRIORITY_LEAST_USED
            or t == PT_RANDOMIZED_LEAST_USED_DEGRADATION
            or t == PT_PRIORITY_LEAST_USED_DEGRADATION
            or t == PT_RANDOMIZED_PRIORITY_LEAST_USED_DEGRADATION):
        return USES_LOAD | USES_LOAD_DEGRADATION
    if t == PT_WEIGHTED_RANDOM_DPF:
        return USES_WEIGHT | USES_WEIGHT_DPF | USES_DISTANCE
    if t == PT_LEAST_USED_DPF:
        return USES_LOAD | USES_LOAD_DPF | USES_DISTANCE
    if t == PT_LEAST_USED_DEGRADATION_DPF:
        return USES_LOAD | USES_LOAD_DEGRADATION | USES_LOAD_DPF | USES_DISTANCE
    return 0


cdef inline bint policy_degrades(uint32_t policy_type) noexcept nogil:
    return (policy_type == PT_LEAST_USED_DEGRADATION
            or policy_type == PT_PRIORITY_LEAST_USED_DEGRADATION
            or policy_type == PT_LEAST_USED_DEGRADATION_DPF
            or policy_type == PT_RANDOMIZED_LEAST_USED_DEGRADATION
            or policy_type == PT_RANDOMIZED_PRIORITY_LEAST_USED_DEGRADATION)


cdef inline uint64_t _saturate(uint64_t v) noexcept nogil:
    return v if v < MAX_VALUE else MAX_VALUE


cdef inline uint64_t _headroom(int64_t used) noexcept nogil:
    """MAX - used, at least 1."""
    cdef int64_t v = <int64_t>MAX_VALUE - used
    return <uint64_t>v if v > 1 else 1


cdef inline uint64_t _dpf_weight(const PENode* n) noexcept nogil:
    cdef double penalty
    cdef int64_t v
    if n.weight == 0:
        return 0
    penalty = rint(<double>n.weight * <double>n.distance * (<double>n.weight_dpf / MAX_VALUE))
    v = <int64_t>n.weight - <int64_t>penalty if penalty < <double>n.weight else 1
    return <uint64_t>v if v > 1 else 1


cdef inline uint64_t policy_primary(const PENode* n, uint32_t t) noexcept nogil:
    """Sort key of an ordered policy (ties broken by seq)."""
    cdef uint64_t dpf = <uint64_t>n.distance * n.load_dpf
    if t == PT_ROUND_ROBIN:
        return 0
    if t == PT_WEIGHTED_ROUND_ROBIN:
        return n.round if n.weight > 0 else <uint64_t>-1
    if t == PT_PRIORITY:
        return MAX_VALUE - n.priority
    if t == PT_LEAST_USED:
        return n.load
    if t == PT_LEAST_USED_DEGRADATION:
        return _saturate(<uint64_t>n.load + n.degradation)
    if t == PT_PRIORITY_LEAST_USED:
        return _saturate(<uint64_t>n.load + n.load_degradation)
    if t == PT_PRIORITY_LEAST_USED_DEGRADATION:
        return _saturate(<uint64_t>n.load + n.load_degradation + n.degradation)
    if t == PT_LEAST_USED_DPF:
        return _saturate(n.load + dpf)
    # PT_LEAST_USED_DEGRADATION_DPF; the sum cannot wrap: (2^32-1)^2 + 2(2^32-1) < 2^64.
    return _saturate(n.load + dpf + n.degradation)


cdef inline uint64_t policy_value(const PENode* n, uint32_t t) noexcept nogil:
    """Selection weight of a randomized policy."""
    if t == PT_RANDOM:
        return 1
    if t == PT_WEIGHTED_RANDOM:
        return n.weight
    if t == PT_WEIGHTED_RANDOM_DPF:
        return _dpf_weight(n)
    if t == PT_RANDOMIZED_LEAST_USED:
        return _headroom(n.load)
    if t == PT_RANDOMIZED_PRIORITY_LEAST_USED:
        return _headroom(<int64_t>n.load + n.load_degradation)
    if t == PT_RANDOMIZED_LEAST_USED_DEGRADATION:
        return _headroom(<int64_t>n.load + n.degradation)
    # PT_RANDOMIZED_PRIORITY_LEAST_USED_DEGRADATION
    return _headroom(<int64_t>n.load + n.load_degradation + n.degradation)




cdef inline uint64_t _current_round(const PoolRec* pool, const PENode* joining) noexcept nogil:
    """The round of the pool's next weighted round robin pick, not counting `joining`."""
    cdef BItem* first = bt_first(&pool.selection)
    cdef PENode* n
    if first != NULL and pe_of_sel(first) == joining:
        first = bt_next(first)
    if first == NULL:
        return 0
    n = pe_of_sel(first)
    return n.round if n.weight > 0 else 0


cdef inline void policy_join(PENode* n, PoolRec* pool) noexcept nogil:
    """Initial state of a new PE (before it is linked into the selection structure)."""
    n.seq = pool.next_seq
    pool.next_seq += 1
    n.degradation = 0
    n.credit = n.weight
    n.round = _current_round(pool, n)


cdef inline void policy_refresh(PENode* n, PoolRec* pool, uint32_t old_weight) noexcept nogil:
    """State after a re-registration (seq, the round robin position, is kept)."""
    n.degradation = 0
    if old_weight == 0 and n.weight > 0:
        n.round = _current_round(pool, n)
        n.credit = n.weight
    elif n.credit > n.weight or n.credit == 0:
        n.credit = n.weight


cdef inline void policy_selected(PENode* n, PoolRec* pool) noexcept nogil:
    """The update applied once to a selected PE (its key or value is refreshed after)."""
    n.seq = pool.next_seq
    pool.next_seq += 1
    if pool.policy_type == PT_WEIGHTED_ROUND_ROBIN and n.weight > 0:
        n.credit -= 1
        if n.credit == 0:
            n.round += 1
            n.credit = n.weight
    if policy_degrades(pool.policy_type):
        n.degradation = <uint32_t>_saturate(<uint64_t>n.degradation + n.load_degradation)

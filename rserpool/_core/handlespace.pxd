# C records of the handlespace: one PoolRec per pool handle, one PENode per pool element.
# A PENode is linked into four trees at once (its pool's PE index and selection tree, the
# ownership index, the connection index) and carries its timer slot.
from cpython.object cimport PyObject
from libc.stdint cimport int64_t, uint8_t, uint32_t, uint64_t

from rserpool._core.timers cimport TimerSlot
from rserpool._core.tree cimport TNode, Tree


cdef struct PoolRec:
    TNode node                  # in the pool tree, keyed by the handle bytes
    PyObject* handle            # the pool handle (bytes, owned reference)
    Tree index                  # PEs by identifier
    Tree selection              # PEs by the policy's sort key, or by id with policy values
    uint32_t policy_type
    uint8_t randomized          # 1: choose by value sums; 0: take the first in key order
    uint64_t next_seq           # per-pool sequence: tie-breaker and round-robin position
    uint64_t handle_sum         # ones'-complement partial sum of the handle's 16-bit words
    PyObject* transport_type    # type of the first PE's user transport (owned reference)
    int transport_use


cdef struct PENode:
    TNode index                 # must stay first: a PENode* is its index node's address
    TNode sel
    TNode own                   # ownership index: (home registrar, handle, PE id)
    TNode conn                  # connection index: (association, handle, PE id)
    TimerSlot timer
    PoolRec* pool
    PyObject* element           # the registered wire.PoolElement (owned reference)
    int64_t assoc
    uint64_t seq
    uint64_t round              # weighted round robin: the PE's current round
    uint32_t credit             # weighted round robin: picks left in this round
    uint32_t degradation        # accumulated load degradation since the last registration
    uint32_t checksum           # this PE's folded 16-bit checksum contribution
    uint32_t pe_id
    uint32_t owner
    uint32_t weight
    uint32_t priority
    uint32_t load
    uint32_t load_degradation
    uint32_t load_dpf
    uint32_t weight_dpf
    uint32_t distance
    uint8_t has_assoc
    uint8_t timer_code

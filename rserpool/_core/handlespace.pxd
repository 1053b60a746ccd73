# C records of the handlespace: one PoolRec per pool handle, one PENode per pool element,
# one Group per home registrar and per association. A PENode sits in its pool's member
# array and selection structure, the PE map, its owner's and its association's group arrays,
# and the timer heap.
from cpython.object cimport PyObject
from libc.stdint cimport int64_t, uint8_t, uint16_t, uint32_t, uint64_t

from rserpool._core.fenwick cimport Fenwick
from rserpool._core.timers cimport TimerSlot
from rserpool._core.btree cimport BItem, BTree

cdef struct PoolRec
cdef struct Group


cdef enum:
    BY_OWNER = 0                # PENode.links: the ownership index
    BY_ASSOC = 1                # and the connection index


cdef struct Link:
    Group* group                # the group the PE is in, or NULL
    Py_ssize_t index            # its position in group.items


cdef struct PENode:
    # Fields that registration and removal touch come first, in as few cache lines as can be.
    BItem sel                   # must stay first: ordered policies' selection tree entry
    PyObject* element           # the registered wire.PoolElement (owned reference)
    PoolRec* pool
    Py_ssize_t slot             # index in pool.members (and the Fenwick tree of values)
    TimerSlot timer
    Link links[2]               # home registrar's and association's group (BY_OWNER, ...)
    uint32_t pe_id
    uint32_t owner
    uint32_t checksum           # this PE's folded 16-bit checksum contribution
    uint32_t credit             # weighted round robin: picks left in this round
    uint32_t degradation        # accumulated load degradation since the last registration
    uint32_t weight
    uint32_t priority
    uint32_t load
    uint32_t load_degradation
    uint8_t timer_code
    int64_t assoc
    uint64_t seq                # per-pool sequence: tie-breaker and round-robin position
    uint64_t round              # weighted round robin: the PE's current round
    uint32_t load_dpf           # the delay-aware (DPF) policies only
    uint32_t weight_dpf
    uint32_t distance
    PENode* ring_prev           # round robin: the pool's ring, in round robin order
    PENode* ring_next


cdef struct Member:
    PENode* node
    PyObject* element           # node.element (a borrowed copy: selection reads no node)


cdef struct PoolRec:
    # What lookups, registration and selection read comes first (one or two cache lines).
    PyObject* handle            # the pool handle (bytes, owned reference)
    Py_ssize_t hlen
    Member* members             # dense, in no particular order; PENode.slot indexes it
    Py_ssize_t size
    uint32_t policy_type
    uint8_t randomized          # 1: choose by value sums; 0: take the first in key order
    bint use_ring
    uint16_t transport_type     # the first PE's user transport parameter type
    int transport_use           # and its transport use
    PENode* ring                # round robin: the next PE to pick
    Fenwick values              # randomized policies: selection values by slot
    uint64_t next_seq
    BTree selection             # ordered policies: PEs by (policy key, seq)
    Py_ssize_t capacity
    PENode** by_id              # members sorted by PE id, rebuilt when stale
    bint by_id_stale
    const char* hbuf            # the handle's bytes
    Py_hash_t hash
    uint64_t handle_sum         # ones'-complement partial sum of the handle's 16-bit words
    PyObject* transport_class   # class of the first PE's user transport (owned reference)


cdef struct Group:
    uint64_t key
    PENode** items              # the PEs, in no particular order; their Link.index indexes it
    Py_ssize_t size
    Py_ssize_t capacity
    uint64_t checksum_sum       # plain sum of the members' checksum contributions
    PENode** sorted             # members by (pool handle, PE id), rebuilt when stale
    bint sorted_stale

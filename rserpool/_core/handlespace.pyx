# cython: auto_pickle=False, autotestdict=False, embedsignature.format=clinic
"""The handlespace: pools of pool elements, selection by pool policy, PE checksums, timers.

Every PE is one C record (PENode, see handlespace.pxd). It is found by (pool, PE id) in an
open-addressing map; it sits in its pool's member array and selection structure (a B+ tree
ordered by the policy key for the ordered policies; for round robin a ring in the same
sequence order; a Fenwick tree of selection weights for the randomized policies), in the list of its home registrar (the ownership index) and of the
association it registered over (the connection index), and in the one timer heap. Sorted
views (PEs by id, pools by handle, a registrar's PEs) are built when first asked for after
a change. The registered `wire.PoolElement` object is kept by reference; the policy values
the structures need are copied into the record at registration.

Memory: PE and pool records are carved from blocks (2 MiB-aligned mappings on transparent
huge pages once they are big, see hugemem.pxd; so is the PE map), and a freed record is
reused by the next registration; blocks are given back when the handlespace goes.

PE checksum (RFC 5353): each PE contributes the 16-bit big-endian words of its pool handle
(an odd last byte padded with a zero byte) and of its 32-bit PE identifier; the checksum is
the ones' complement of the ones'-complement sum of all contributions. It is kept
incrementally for the whole handlespace and for every home registrar. RSPLIB sums the same
bytes as host-order words and stores its result unconverted, which puts the same two bytes
on the wire as this big-endian value.
"""

import os
from enum import IntEnum

cimport cython

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.mem cimport PyMem_Free, PyMem_Malloc, PyMem_Realloc
from cpython.object cimport PyObject, PyObject_Hash
from cpython.ref cimport Py_DECREF, Py_INCREF
from libc.stdint cimport int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from libc.stdlib cimport qsort
from libc.string cimport memcmp, memcpy, memset

from rserpool._core.fenwick cimport Fenwick, fen_change, fen_find, fen_free, fen_init, fen_reserve, fen_set
from rserpool._core.hugemem cimport Slab, huge_realloc, slab_alloc, slab_free, slab_init, slab_release
from rserpool._core.hashmap cimport (
    Map,
    map_delete,
    map_free,
    map_get,
    map_home,
    map_init,
    map_put,
    map_remove_at,
)
from rserpool._core.policies cimport (
    PT_ROUND_ROBIN,
    USES_DISTANCE,
    USES_LOAD,
    USES_LOAD_DEGRADATION,
    USES_LOAD_DPF,
    USES_PRIORITY,
    USES_WEIGHT,
    USES_WEIGHT_DPF,
    pe_of_sel,
    policy_degrades,
    policy_join,
    policy_primary,
    policy_randomized,
    policy_refresh,
    policy_selected,
    policy_fields,
    policy_value,
)
from cpython.exc cimport PyErr_Clear
from cpython.list cimport PyList_New
from cpython.long cimport PyLong_CheckExact

from rserpool._core.timers cimport (
    TimerHeap,
    TimerSlot,
    heap_cancel,
    heap_free,
    heap_init,
    heap_peek,
    heap_pop_due,
    heap_schedule,
)
from rserpool._core.btree cimport (
    BItem,
    bt_check,
    bt_first,
    bt_free,
    bt_init,
    bt_insert,
    bt_next,
    bt_rekey,
    bt_remove,
)
from rserpool._core.wire cimport (
    C_MAX_ADDRESSES,
    PEFields,
    PoolElement,
    pe_address_count,
    pe_fields,
)
from rserpool.wire import Cause


cdef extern from *:
    """
    /* floor(a * b / 2^64): maps a uniform 64-bit a to [0, b) without a division. */
    static inline uint64_t rserpool_mulhi64(uint64_t a, uint64_t b) {
        return (uint64_t)(((unsigned __int128)a * b) >> 64);
    }
    """
    uint64_t _below "rserpool_mulhi64"(uint64_t a, uint64_t b) noexcept nogil
    void _prefetch "__builtin_prefetch"(const void* p) noexcept nogil


cdef extern from "Python.h":
    unsigned long _as_ulong "PyLong_AsUnsignedLong"(object o) noexcept
    void _incref "Py_INCREF"(PyObject* o) noexcept nogil
    void _list_set "PyList_SET_ITEM"(object lst, Py_ssize_t i, PyObject* o) noexcept  # steals

DEFAULT_MAX_POOLS = 100_000
DEFAULT_MAX_ELEMENTS_PER_POOL = 1_000_000
DEFAULT_MAX_ADDRESSES = C_MAX_ADDRESSES     # the limit of the codec

cdef enum:
    REJECTION_TRIES = 8         # redraws before a randomized pick excludes earlier picks
    SELECT_STACK = 16           # picks that select keeps on the C stack
    TIMER_LIFETIME = 1          # TimerCode.LIFETIME


class TimerCode(IntEnum):
    """What a PE's timer is for. A due LIFETIME timer also removes the PE (see expire)."""

    LIFETIME = 1
    KEEPALIVE_TRANSMISSION = 2
    KEEPALIVE_TIMEOUT = 3


cdef tuple _TIMER_CODES = (None, *TimerCode)     # by value, without an enum lookup


cdef uint8_t _timer_code(code) except 0:
    cdef long value = code
    if value < 1 or value >= len(_TIMER_CODES):
        raise ValueError(f"{code!r} is not a valid TimerCode")
    return <uint8_t>value


class HandlespaceError(ValueError):
    """A registration the handlespace refuses; `.cause` is the RFC 5354 cause code."""

    def __init__(self, cause, message):
        super().__init__(f"{message} ({Cause(cause).name})")
        self.cause = Cause(cause)


# ------------------------------------------------------------------------- helpers


cdef inline uint64_t _splitmix(uint64_t* state) noexcept nogil:
    cdef uint64_t z
    state[0] += 0x9E3779B97F4A7C15ULL
    z = state[0]
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL
    return z ^ (z >> 31)


cdef inline uint32_t _fold(uint64_t s) noexcept nogil:
    """Ones'-complement fold to 16 bits (end-around carry)."""
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return <uint32_t>s


cdef uint64_t _words_sum(const unsigned char* data, Py_ssize_t size) noexcept nogil:
    """Sum of the big-endian 16-bit words of data; an odd last byte is the high byte."""
    cdef uint64_t s = 0
    cdef Py_ssize_t i = 0
    while i + 1 < size:
        s += (<uint64_t>data[i] << 8) | data[i + 1]
        i += 2
    if i < size:
        s += <uint64_t>data[i] << 8
    return s


cdef inline uint64_t _assoc_key(int64_t assoc) noexcept nogil:
    return <uint64_t>assoc


cdef inline int _handle_cmp(const char* a, Py_ssize_t alen, const char* b,
                            Py_ssize_t blen) noexcept nogil:
    cdef int c = memcmp(a, b, alen if alen < blen else blen)
    if c != 0:
        return c
    return -1 if alen < blen else (1 if alen > blen else 0)


cdef inline bint _is_handle(const PoolRec* pool, bytes handle, const char* buf,
                           Py_ssize_t size) noexcept:
    """Whether the pool's handle is `handle` (whose bytes are buf[:size])."""
    return pool.hlen == size and (pool.handle == <PyObject*>handle
                                  or memcmp(pool.hbuf, buf, size) == 0)


cdef inline int _pe_cmp(const PENode* x, const char* h, Py_ssize_t hlen,
                        uint32_t pe_id) noexcept nogil:
    """Sign of (x's pool handle, x's PE id) - (h, pe_id)."""
    cdef int c = _handle_cmp(x.pool.hbuf, x.pool.hlen, h, hlen)
    if c != 0:
        return c
    return -1 if x.pe_id < pe_id else (1 if x.pe_id > pe_id else 0)


cdef int _by_id(const void* x, const void* y) noexcept nogil:
    cdef uint32_t a = (<PENode**>x)[0].pe_id
    cdef uint32_t b = (<PENode**>y)[0].pe_id
    return -1 if a < b else (1 if a > b else 0)


cdef int _by_handle_and_id(const void* x, const void* y) noexcept nogil:
    cdef const PENode* b = (<PENode**>y)[0]
    return _pe_cmp((<PENode**>x)[0], b.pool.hbuf, b.pool.hlen, b.pe_id)


cdef int _by_handle(const void* x, const void* y) noexcept nogil:
    cdef const PoolRec* a = (<PoolRec**>x)[0]
    cdef const PoolRec* b = (<PoolRec**>y)[0]
    return _handle_cmp(a.hbuf, a.hlen, b.hbuf, b.hlen)


cdef uint32_t _u32_slow(value, str what) except? 0xffffffff:
    try:
        return value
    except (OverflowError, TypeError):
        raise HandlespaceError(Cause.INVALID_VALUES, f"{what} {value!r} is not a 32-bit value")


cdef inline uint32_t _u32(value, str what) except? 0xffffffff:
    """A u32 policy or identity field, or HandlespaceError(INVALID_VALUES)."""
    cdef unsigned long v
    if PyLong_CheckExact(value):
        v = _as_ulong(value)        # (unsigned long)-1 with an error set when out of range
        if v <= 0xffffffffUL:
            return <uint32_t>v
        PyErr_Clear()
    return _u32_slow(value, what)


cdef inline void _ring_append(PoolRec* pool, PENode* n) noexcept nogil:
    """Put n last in a round robin pool's ring (just before the next PE to pick)."""
    cdef PENode* first = pool.ring
    cdef PENode* last
    if first == NULL:
        n.ring_prev = n
        n.ring_next = n
        pool.ring = n
        return
    last = first.ring_prev
    last.ring_next = n
    n.ring_prev = last
    n.ring_next = first
    first.ring_prev = n


cdef inline void _ring_remove(PoolRec* pool, PENode* n) noexcept nogil:
    cdef PENode* prev = n.ring_prev
    cdef PENode* next = n.ring_next
    if next == n:
        pool.ring = NULL
        return
    prev.ring_next = next
    next.ring_prev = prev
    if pool.ring == n:
        pool.ring = next


cdef void _release_pool(PoolRec* pool) noexcept:
    """Free what an (emptied) pool record holds and drop its references (the record itself
    goes back to the pool slab)."""
    PyMem_Free(pool.members)
    PyMem_Free(pool.by_id)
    fen_free(&pool.values)
    bt_free(&pool.selection)
    Py_DECREF(<object>pool.handle)
    Py_DECREF(<object>pool.transport_class)


cdef Group* _group_get(Map* groups, uint64_t key) except NULL:
    """The group of key, created empty if needed."""
    cdef Group* g = <Group*>map_get(groups, key, 0)
    if g != NULL:
        return g
    g = <Group*>PyMem_Malloc(sizeof(Group))
    if g == NULL:
        raise MemoryError()
    memset(g, 0, sizeof(Group))
    g.key = key
    try:
        map_put(groups, key, 0, g)
    except MemoryError:
        PyMem_Free(g)
        raise
    return g


cdef void _group_drop(Map* groups, Group* g) noexcept:
    map_delete(groups, g.key, 0, g)
    PyMem_Free(g.items)
    PyMem_Free(g.sorted)
    PyMem_Free(g)


cdef void _groups_free(Map* groups) noexcept:
    cdef Py_ssize_t i
    cdef Group* g
    for i in range(groups.mask + 1):
        g = <Group*>groups.cells[i].value
        if g != NULL:
            PyMem_Free(g.items)
            PyMem_Free(g.sorted)
            PyMem_Free(g)
    map_free(groups)


cdef int _group_join(Map* groups, uint64_t key, PENode* n, int which) except -1:
    """Append n to the group of key (the ownership or connection index, by `which`)."""
    cdef Group* g = _group_get(groups, key)
    cdef PENode** grown
    cdef Py_ssize_t capacity
    if g.size == g.capacity:
        capacity = g.capacity * 2 if g.capacity else 4
        grown = <PENode**>huge_realloc(g.items, capacity * sizeof(PENode*))
        if grown == NULL:
            if g.size == 0:
                _group_drop(groups, g)
            raise MemoryError()
        g.items = grown
        g.capacity = capacity
    g.items[g.size] = n
    n.links[which].group = g
    n.links[which].index = g.size
    g.size += 1
    g.checksum_sum += n.checksum
    g.sorted_stale = True
    return 0


cdef inline void _group_leave(Map* groups, PENode* n, int which) noexcept:
    """Take n out of its group (if any): the group's last PE moves into its place."""
    cdef Group* g = n.links[which].group
    cdef Py_ssize_t i = n.links[which].index
    cdef PENode* moved
    if g == NULL:
        return
    g.size -= 1
    if i != g.size:
        moved = g.items[g.size]
        g.items[i] = moved
        moved.links[which].index = i
    g.checksum_sum -= n.checksum
    g.sorted_stale = True
    n.links[which].group = NULL
    if g.size == 0:
        _group_drop(groups, g)


cdef PENode** _group_sorted(Group* g) except NULL:
    """A group's PEs sorted by (pool handle, PE id)."""
    cdef PENode** grown
    if g.sorted_stale:
        grown = <PENode**>PyMem_Realloc(g.sorted, (g.size + 1) * sizeof(PENode*))
        if grown == NULL:
            raise MemoryError()
        g.sorted = grown
        memcpy(grown, g.items, g.size * sizeof(PENode*))
        qsort(grown, g.size, sizeof(PENode*), _by_handle_and_id)
        g.sorted_stale = False
    return g.sorted


# ---------------------------------------------------------------------- the handlespace


@cython.final      # no subclasses: internal methods are called directly (and inlined)
cdef class Handlespace:
    """Pools by handle, their PEs, selection by pool policy, ownership, timers, checksums."""

    cdef Map _pes                # (hash of pool handle, PE id) -> PENode*
    cdef Map _pools              # (hash of handle, 0) -> PoolRec*
    cdef Map _owners             # (home registrar id, 0) -> Group*
    cdef Map _assocs             # (association id, 0) -> Group*
    cdef PoolRec** _pool_order   # pools by handle, rebuilt when stale
    cdef Py_ssize_t _pool_order_size
    cdef bint _pool_order_stale
    cdef TimerHeap _timers
    cdef Slab _node_slab         # PE records
    cdef Slab _pool_slab         # pool records
    cdef Py_ssize_t _size
    cdef uint64_t _checksum_sum
    cdef uint64_t _rng           # xorshift64* state for randomized selection
    cdef readonly Py_ssize_t max_pools
    cdef readonly Py_ssize_t max_elements_per_pool
    cdef readonly Py_ssize_t max_addresses

    def __cinit__(self):
        map_init(&self._pes)
        map_init(&self._pools)
        map_init(&self._owners)
        map_init(&self._assocs)
        heap_init(&self._timers)
        self._pool_order = NULL
        self._pool_order_size = 0
        self._pool_order_stale = True
        slab_init(&self._node_slab, sizeof(PENode))
        slab_init(&self._pool_slab, sizeof(PoolRec))

    def __init__(self, seed=None, *, max_pools=DEFAULT_MAX_POOLS,
                 max_elements_per_pool=DEFAULT_MAX_ELEMENTS_PER_POOL,
                 max_addresses=DEFAULT_MAX_ADDRESSES):
        cdef uint64_t state
        if seed is None:
            seed = int.from_bytes(os.urandom(8), "little")
        state = <uint64_t>(seed & 0xFFFFFFFFFFFFFFFF)
        self._rng = _splitmix(&state) | 1
        if max_pools < 1 or max_elements_per_pool < 1 or max_addresses < 1:
            raise ValueError("limits must be positive")
        self.max_pools = max_pools
        self.max_elements_per_pool = max_elements_per_pool
        self.max_addresses = max_addresses

    def __dealloc__(self):
        cdef Py_ssize_t i, j
        cdef PoolRec* pool
        for i in range(self._pools.mask + 1):
            pool = <PoolRec*>self._pools.cells[i].value
            if pool == NULL:
                continue
            for j in range(pool.size):
                Py_DECREF(<object>pool.members[j].element)
            _release_pool(pool)     # no map_delete: that would shift cells under this loop
        slab_release(&self._node_slab)
        slab_release(&self._pool_slab)
        map_free(&self._pools)
        map_free(&self._pes)
        _groups_free(&self._owners)
        _groups_free(&self._assocs)
        PyMem_Free(self._pool_order)
        heap_free(&self._timers)

    # -------------------------------------------------------------- pools

    cdef inline uint64_t _random(self) noexcept nogil:
        self._rng ^= self._rng >> 12
        self._rng ^= self._rng << 25
        self._rng ^= self._rng >> 27
        return self._rng * 0x2545F4914F6CDD1DULL

    cdef PoolRec* _pool(self, bytes handle) except? NULL:
        cdef Py_hash_t h = PyObject_Hash(handle)
        cdef const char* buf = PyBytes_AS_STRING(handle)
        cdef Py_ssize_t size = PyBytes_GET_SIZE(handle)
        cdef Py_ssize_t i
        cdef PoolRec* pool
        if self._pools.used == 0:
            return NULL
        i = map_home(&self._pools, <uint64_t>h, 0)
        while True:
            pool = <PoolRec*>self._pools.cells[i].value
            if pool == NULL:
                return NULL
            if self._pools.cells[i].k1 == <uint64_t>h and _is_handle(pool, handle, buf, size):
                return pool
            i = (i + 1) & self._pools.mask

    cdef inline PENode* _find(self, bytes handle, uint64_t h, uint32_t pe_id,
                              Py_ssize_t* cell) noexcept:
        """The PE (handle, pe_id) or NULL: one probe of the PE map, no pool lookup. h is the
        handle's hash; n's index in the PE map goes to *cell unless cell is NULL."""
        cdef const char* buf = PyBytes_AS_STRING(handle)
        cdef Py_ssize_t size = PyBytes_GET_SIZE(handle)
        cdef Py_ssize_t i
        cdef PENode* n
        if self._pes.used == 0:
            return NULL
        i = map_home(&self._pes, h, pe_id)
        while True:
            n = <PENode*>self._pes.cells[i].value
            if n == NULL:
                return NULL
            if (self._pes.cells[i].k1 == h and self._pes.cells[i].k2 == pe_id
                    and _is_handle(n.pool, handle, buf, size)):
                if cell != NULL:
                    cell[0] = i
                return n
            i = (i + 1) & self._pes.mask

    cdef inline PENode* _node(self, bytes handle, pe_id) except? NULL:
        return self._find(handle, <uint64_t>PyObject_Hash(handle), _u32(pe_id, "PE identifier"),
                          NULL)

    cdef PoolRec* _new_pool(self, bytes handle, uint32_t policy_type, int randomized,
                            object transport_class, uint16_t transport_type,
                            int transport_use) except NULL:
        cdef PoolRec* pool = <PoolRec*>slab_alloc(&self._pool_slab)
        pool.hash = PyObject_Hash(handle)
        try:
            map_put(&self._pools, <uint64_t>pool.hash, 0, pool)
        except MemoryError:
            slab_free(&self._pool_slab, pool)
            raise
        Py_INCREF(handle)
        pool.handle = <PyObject*>handle
        pool.hbuf = PyBytes_AS_STRING(handle)
        pool.hlen = PyBytes_GET_SIZE(handle)
        bt_init(&pool.selection)
        fen_init(&pool.values)
        pool.by_id_stale = True
        pool.policy_type = policy_type
        pool.randomized = randomized
        pool.ring = NULL
        pool.use_ring = policy_type == PT_ROUND_ROBIN
        pool.handle_sum = _words_sum(<const unsigned char*>pool.hbuf, pool.hlen)
        Py_INCREF(transport_class)
        pool.transport_class = <PyObject*>transport_class
        pool.transport_type = transport_type
        pool.transport_use = transport_use
        self._pool_order_stale = True
        return pool

    cdef void _free_pool(self, PoolRec* pool) noexcept:
        map_delete(&self._pools, <uint64_t>pool.hash, 0, pool)
        _release_pool(pool)
        slab_free(&self._pool_slab, pool)
        self._pool_order_stale = True

    cdef int _add_member(self, PoolRec* pool, PENode* n, uint32_t value) except -1:
        """Append n (its element set) to the pool's members with selection value `value`."""
        cdef Member* grown
        cdef Py_ssize_t capacity
        if pool.size == pool.capacity:
            capacity = pool.capacity * 2 if pool.capacity else 8
            grown = <Member*>huge_realloc(pool.members, capacity * sizeof(Member))
            if grown == NULL:
                raise MemoryError()
            pool.members = grown
            pool.capacity = capacity
        if pool.randomized:
            fen_reserve(&pool.values, pool.size + 1)
            fen_set(&pool.values, pool.size, value)
        n.slot = pool.size
        pool.members[pool.size].node = n
        pool.members[pool.size].element = n.element
        pool.size += 1
        pool.by_id_stale = True
        return 0

    cdef inline void _remove_member(self, PoolRec* pool, PENode* n) noexcept:
        """Move the last member into n's slot (no read of the moved PE's record)."""
        cdef Py_ssize_t slot = n.slot
        cdef Py_ssize_t last = pool.size - 1
        cdef uint32_t moved
        if pool.randomized:
            moved = pool.values.slots[last]
            if slot != last:
                fen_change(&pool.values, slot, <uint32_t>policy_value(n, pool.policy_type), moved)
            fen_change(&pool.values, last, moved, 0)
        if slot != last:
            pool.members[slot] = pool.members[last]
            pool.members[slot].node.slot = slot
        pool.size -= 1
        pool.by_id_stale = True

    cdef PENode** _by_id(self, PoolRec* pool) except NULL:
        """The pool's PEs sorted by PE id."""
        cdef PENode** grown
        cdef Py_ssize_t i
        if pool.by_id_stale:
            grown = <PENode**>PyMem_Realloc(pool.by_id, pool.capacity * sizeof(PENode*))
            if grown == NULL:
                raise MemoryError()
            pool.by_id = grown
            for i in range(pool.size):
                grown[i] = pool.members[i].node
            qsort(grown, pool.size, sizeof(PENode*), _by_id)
            pool.by_id_stale = False
        return pool.by_id

    cdef PoolRec** _pools_by_handle(self) except? NULL:
        """All pools sorted by handle (NULL when there are none)."""
        cdef PoolRec** order
        cdef Py_ssize_t i, k = 0
        if self._pool_order_stale:
            order = <PoolRec**>PyMem_Malloc((self._pools.used + 1) * sizeof(PoolRec*))
            if order == NULL:
                raise MemoryError()
            for i in range(self._pools.mask + 1):
                if self._pools.cells[i].value != NULL:
                    order[k] = <PoolRec*>self._pools.cells[i].value
                    k += 1
            qsort(order, k, sizeof(PoolRec*), _by_handle)
            PyMem_Free(self._pool_order)
            self._pool_order = order
            self._pool_order_size = k
            self._pool_order_stale = False
        return self._pool_order if self._pool_order_size else NULL

    # -------------------------------------------------------------- ownership, connections

    cdef int _join_owner(self, PENode* n, uint32_t owner) except -1:
        n.owner = owner
        return _group_join(&self._owners, owner, n, BY_OWNER)

    cdef int _join_assoc(self, PENode* n, int64_t assoc) except -1:
        n.assoc = assoc
        return _group_join(&self._assocs, _assoc_key(assoc), n, BY_ASSOC)

    cdef list _group_list(self, Map* groups, uint64_t key):
        cdef Group* g = <Group*>map_get(groups, key, 0)
        cdef PENode** nodes
        cdef Py_ssize_t i
        if g == NULL:
            return []
        nodes = _group_sorted(g)
        return [(<object>nodes[i].pool.handle, <object>nodes[i].element) for i in range(g.size)]

    # -------------------------------------------------------------- removal

    cdef inline object _unlink(self, PENode* n, Py_ssize_t cell=-1):
        """Remove n from every structure and free it; returns the element it held. `cell`
        is n's index in the PE map, if the caller knows it."""
        cdef PoolRec* pool = n.pool
        cdef object element = <object>n.element
        if cell >= 0:
            map_remove_at(&self._pes, cell)
        else:
            map_delete(&self._pes, <uint64_t>pool.hash, n.pe_id, n)
        if pool.use_ring:
            _ring_remove(pool, n)
        elif not pool.randomized:
            bt_remove(&pool.selection, &n.sel)
        self._remove_member(pool, n)
        _group_leave(&self._owners, n, BY_OWNER)
        _group_leave(&self._assocs, n, BY_ASSOC)
        heap_cancel(&self._timers, &n.timer)
        self._checksum_sum -= n.checksum
        self._size -= 1
        Py_DECREF(element)
        slab_free(&self._node_slab, n)
        if pool.size == 0:
            self._free_pool(pool)
        return element

    # -------------------------------------------------------------- registration

    def register(self, bytes pool_handle not None, PoolElement element not None, *, double now,
                 owner=None, assoc=None) -> bool:
        """Add a PE or update a registered one; True if it is new.

        Raises HandlespaceError with the RFC 5354 cause: INCONSISTENT_POLICY (another
        policy type than the pool's), INCONSISTENT_TRANSPORT_TYPE, INCONSISTENT_DATA_CONTROL,
        INVALID_VALUES (empty handle, no or too many addresses, unknown policy, field out
        of range), LACK_OF_RESOURCES (a limit of this handlespace).
        """
        cdef PEFields f
        cdef uint32_t policy_type, pe_id, owner_id, weight, priority, load, load_degradation
        cdef uint32_t load_dpf, weight_dpf, distance, value
        cdef int transport_use
        cdef int64_t assoc_id = 0
        cdef double life
        cdef int randomized
        cdef Py_ssize_t addresses = 1
        cdef PoolRec* pool
        cdef PENode* n = NULL
        cdef uint32_t old_weight, old_value
        cdef uint64_t h
        cdef int uses
        pe_id = element.pe_identifier
        h = <uint64_t>PyObject_Hash(pool_handle)
        if self._pes.used:      # start loading the PE's map cell while the element is read
            _prefetch(&self._pes.cells[map_home(&self._pes, h, pe_id)])
        pe_fields(element, &f)      # C fields, without building a decoded PE's sub-objects
        policy_type = f.policy_type
        owner_id = (element.home_enrp_server_identifier if owner is None
                    else _u32(owner, "home registrar id"))
        if assoc is not None:
            try:
                assoc_id = assoc
            except (OverflowError, TypeError) as error:
                raise HandlespaceError(Cause.INVALID_VALUES,
                                       f"association out of range: {error}") from None
        uses = policy_fields(policy_type)       # keep only what the policy uses
        weight = f.values[0] if uses & USES_WEIGHT else 0
        priority = f.values[1] if uses & USES_PRIORITY else 0
        load = f.values[2] if uses & USES_LOAD else 0
        load_degradation = f.values[3] if uses & USES_LOAD_DEGRADATION else 0
        load_dpf = f.values[4] if uses & USES_LOAD_DPF else 0
        weight_dpf = f.values[5] if uses & USES_WEIGHT_DPF else 0
        distance = f.values[6] if uses & USES_DISTANCE else 0
        life = element.registration_life
        transport_use = f.transport_use
        randomized = policy_randomized(policy_type)
        if PyBytes_GET_SIZE(pool_handle) == 0:
            raise HandlespaceError(Cause.INVALID_VALUES, "empty pool handle")
        if randomized < 0:
            raise HandlespaceError(Cause.INVALID_VALUES, f"unknown policy type {policy_type:#x}")
        if self.max_addresses < C_MAX_ADDRESSES:
            # The codec guarantees 1..MAX_ADDRESSES_PER_TRANSPORT; count only when stricter.
            addresses = pe_address_count(element)
        if addresses < 1 or addresses > self.max_addresses:
            raise HandlespaceError(Cause.INVALID_VALUES,
                                   f"{addresses} transport addresses (1..{self.max_addresses})")
        n = self._find(pool_handle, h, pe_id, NULL)     # a re-registration needs no pool lookup
        pool = n.pool if n != NULL else self._pool(pool_handle)
        if pool != NULL:
            if pool.policy_type != policy_type:
                raise HandlespaceError(
                    Cause.INCONSISTENT_POLICY,
                    f"policy {policy_type:#x} in a pool of policy {pool.policy_type:#x}")
            if f.transport_type != pool.transport_type:
                raise HandlespaceError(Cause.INCONSISTENT_TRANSPORT_TYPE,
                                       f"{type(element.user_transport).__name__} in a pool "
                                       f"of {(<object>pool.transport_class).__name__}")
            if transport_use != pool.transport_use:
                raise HandlespaceError(Cause.INCONSISTENT_DATA_CONTROL,
                                       "transport use differs from the pool's")
            if n == NULL and pool.size >= self.max_elements_per_pool:
                raise HandlespaceError(Cause.LACK_OF_RESOURCES,
                                       f"pool is full ({self.max_elements_per_pool} PEs)")
        elif self._pools.used >= self.max_pools:
            raise HandlespaceError(Cause.LACK_OF_RESOURCES,
                                   f"handlespace is full ({self.max_pools} pools)")

        if n != NULL:       # re-registration
            Py_INCREF(element)
            Py_DECREF(<object>n.element)
            n.element = <PyObject*>element
            pool.members[n.slot].element = <PyObject*>element
            old_weight = n.weight
            old_value = <uint32_t>policy_value(n, policy_type) if pool.randomized else 0
            n.weight = weight
            n.priority = priority
            n.load = load
            n.load_degradation = load_degradation
            if uses & (USES_LOAD_DPF | USES_WEIGHT_DPF | USES_DISTANCE):     # else always 0
                n.load_dpf = load_dpf
                n.weight_dpf = weight_dpf
                n.distance = distance
            policy_refresh(n, pool, old_weight)
            if pool.randomized:     # the Fenwick tree is touched only if the value changed
                value = <uint32_t>policy_value(n, policy_type)
                if value != old_value:
                    fen_set(&pool.values, n.slot, value)
            elif not pool.use_ring:     # a round robin position does not change
                bt_rekey(&pool.selection, &n.sel, policy_primary(n, policy_type), n.seq)
            if n.owner != owner_id:
                _group_leave(&self._owners, n, BY_OWNER)
                self._join_owner(n, owner_id)
            if assoc is None:
                if n.links[BY_ASSOC].group != NULL:
                    _group_leave(&self._assocs, n, BY_ASSOC)
            elif n.links[BY_ASSOC].group == NULL or n.assoc != assoc_id:
                _group_leave(&self._assocs, n, BY_ASSOC)
                self._join_assoc(n, assoc_id)
            n.timer_code = TIMER_LIFETIME
            heap_schedule(&self._timers, &n.timer, now + life / 1000.0)
            return False

        n = <PENode*>slab_alloc(&self._node_slab)
        if pool == NULL:
            try:
                pool = self._new_pool(pool_handle, policy_type, randomized,
                                      type(element.user_transport), f.transport_type,
                                      transport_use)
            except BaseException:
                slab_free(&self._node_slab, n)
                raise
        n.pool = pool
        n.pe_id = pe_id
        n.weight = weight
        n.priority = priority
        n.load = load
        n.load_degradation = load_degradation
        n.load_dpf = load_dpf
        n.weight_dpf = weight_dpf
        n.distance = distance
        n.checksum = _fold(pool.handle_sum + (pe_id >> 16) + (pe_id & 0xffff))
        n.timer.pos = -1
        n.timer.owner = n
        policy_join(n, pool)
        n.element = <PyObject*>element     # its reference is taken once n is linked
        try:
            map_put(&self._pes, <uint64_t>pool.hash, pe_id, n)
            try:
                self._add_member(pool, n, <uint32_t>policy_value(n, policy_type)
                                 if pool.randomized else 0)
            except BaseException:
                map_delete(&self._pes, <uint64_t>pool.hash, pe_id, n)
                raise
        except BaseException:
            slab_free(&self._node_slab, n)
            if pool.size == 0:
                self._free_pool(pool)
            raise
        Py_INCREF(element)
        if pool.use_ring:
            _ring_append(pool, n)
        elif not pool.randomized:
            bt_insert(&pool.selection, &n.sel, policy_primary(n, policy_type), n.seq)
        self._join_owner(n, owner_id)
        if assoc is not None:
            self._join_assoc(n, assoc_id)
        self._checksum_sum += n.checksum
        self._size += 1
        n.timer_code = TIMER_LIFETIME
        heap_schedule(&self._timers, &n.timer, now + life / 1000.0)
        return True

    @cython.binding(False)    # a method descriptor: the cheaper call (4-16 %, measured)
    @cython.embedsignature(True)
    def deregister(self, bytes pool_handle not None, pe_id):
        """Remove a PE; returns its element, or None if it was not registered."""
        cdef Py_ssize_t cell
        cdef PENode* n = self._find(pool_handle, <uint64_t>PyObject_Hash(pool_handle),
                                    _u32(pe_id, "PE identifier"), &cell)
        if n == NULL:
            return None
        return self._unlink(n, cell)

    def get(self, bytes pool_handle not None, pe_id):
        """The registered element, or None."""
        cdef PENode* n = self._node(pool_handle, pe_id)
        return None if n == NULL else <object>n.element

    # -------------------------------------------------------------- selection

    cdef Py_ssize_t _pick_randomized(self, PoolRec* pool, Py_ssize_t* chosen, uint32_t* saved,
                                     Py_ssize_t n) noexcept:
        """Draw up to n distinct slots with probability proportional to their values (the
        PE records are not read)."""
        cdef Fenwick* values = &pool.values
        cdef Py_ssize_t k = 0
        cdef Py_ssize_t i, tries, slot
        cdef bint excluded = False     # chosen slots' values taken out of the tree
        cdef bint again
        while k < n and values.total > 0:
            tries = 0
            while True:
                slot = fen_find(values, _below(self._random(), values.total))
                again = False
                if not excluded:
                    for i in range(k):
                        if chosen[i] == slot:
                            again = True
                            break
                if not again:
                    break
                tries += 1
                if tries == REJECTION_TRIES:
                    # Earlier picks hold most of the weight: draw from the rest exactly.
                    for i in range(k):
                        saved[i] = values.slots[chosen[i]]
                        fen_set(values, chosen[i], 0)
                    excluded = True
                    if values.total == 0:
                        slot = -1
                        break
            if slot < 0:
                break
            chosen[k] = slot
            if excluded:
                saved[k] = values.slots[slot]
                fen_set(values, slot, 0)
            k += 1
        if excluded:
            for i in range(k):
                fen_set(values, chosen[i], saved[i])
        return k

    def select(self, bytes pool_handle not None, Py_ssize_t n):
        """Up to n distinct PEs chosen by the pool's policy; the policy's update is applied
        once to each PE returned."""
        cdef PoolRec* pool = self._pool(pool_handle)
        cdef Py_ssize_t stack[SELECT_STACK]
        cdef uint32_t saved_stack[SELECT_STACK]
        cdef Py_ssize_t* slots = stack      # randomized policies: the picked slots
        cdef PENode** nodes                 # ordered ones: the picked PEs (same buffer)
        cdef uint32_t* saved = saved_stack
        cdef Py_ssize_t k = 0
        cdef Py_ssize_t i
        cdef BItem* t
        cdef PENode* node
        cdef PyObject* element
        cdef list result
        if pool == NULL or n <= 0:
            return []
        if n > pool.size:
            n = pool.size
        if n > SELECT_STACK:
            slots = <Py_ssize_t*>PyMem_Malloc(n * (sizeof(Py_ssize_t) + sizeof(uint32_t)))
            if slots == NULL:
                raise MemoryError()
            saved = <uint32_t*>(slots + n)
        nodes = <PENode**>slots
        if pool.randomized:
            k = self._pick_randomized(pool, slots, saved, n)
            if policy_degrades(pool.policy_type):
                for i in range(k):
                    node = pool.members[slots[i]].node
                    policy_selected(node, pool)
                    fen_set(&pool.values, slots[i],
                            <uint32_t>policy_value(node, pool.policy_type))
        elif pool.use_ring:
            node = pool.ring
            while k < n:
                nodes[k] = node
                k += 1
                node = node.ring_next
            pool.ring = node        # the picked PEs are now the last in the round
        else:
            t = bt_first(&pool.selection)
            while k < n and t != NULL:
                nodes[k] = pe_of_sel(t)
                k += 1
                t = bt_next(t)
            for i in range(k):
                node = nodes[i]
                policy_selected(node, pool)
                bt_rekey(&pool.selection, &node.sel, policy_primary(node, pool.policy_type),
                         node.seq)
        result = PyList_New(k)
        for i in range(k):
            element = pool.members[slots[i]].element if pool.randomized else nodes[i].element
            _incref(element)
            _list_set(result, i, element)
        if slots != stack:
            PyMem_Free(slots)
        return result

    # -------------------------------------------------------------- listing

    def __len__(self):
        return self._size

    def pools(self) -> list:
        """Pool handles in byte order."""
        cdef PoolRec** order = self._pools_by_handle()
        cdef Py_ssize_t i
        return [<object>order[i].handle for i in range(self._pools.used)]

    def elements(self, bytes pool_handle not None) -> list:
        """A pool's elements by PE identifier ([] for an unknown pool)."""
        cdef PoolRec* pool = self._pool(pool_handle)
        cdef PENode** nodes
        cdef Py_ssize_t i
        if pool == NULL:
            return []
        nodes = self._by_id(pool)
        return [<object>nodes[i].element for i in range(pool.size)]

    def count(self, bytes pool_handle not None) -> int:
        """Number of PEs in a pool (0 for an unknown pool)."""
        cdef PoolRec* pool = self._pool(pool_handle)
        return 0 if pool == NULL else pool.size

    def policy_type(self, bytes pool_handle not None):
        """The pool's policy type (set by its first PE), or None for an unknown pool."""
        cdef PoolRec* pool = self._pool(pool_handle)
        return None if pool == NULL else pool.policy_type

    # -------------------------------------------------------------- ownership, connections

    def owned_by(self, registrar_id) -> list:
        """(pool handle, element) of every PE whose home registrar is registrar_id, by pool
        handle and PE id."""
        return self._group_list(&self._owners, _u32(registrar_id, "registrar id"))

    def registered_over(self, assoc) -> list:
        """(pool handle, element) of every PE registered over association `assoc`."""
        cdef int64_t assoc_id = assoc
        return self._group_list(&self._assocs, _assoc_key(assoc_id))

    def set_owner(self, bytes pool_handle not None, pe_id, owner) -> bool:
        """Make `owner` the PE's home registrar (takeover); False if the PE is unknown."""
        cdef PENode* n = self._node(pool_handle, pe_id)
        cdef uint32_t owner_id = _u32(owner, "owner")
        if n == NULL:
            return False
        if n.owner != owner_id:
            _group_leave(&self._owners, n, BY_OWNER)
            self._join_owner(n, owner_id)
        return True

    def owner(self, bytes pool_handle not None, pe_id):
        """The PE's home registrar id, or None if the PE is unknown."""
        cdef PENode* n = self._node(pool_handle, pe_id)
        return None if n == NULL else n.owner

    def association(self, bytes pool_handle not None, pe_id):
        """The association the PE registered over, or None."""
        cdef PENode* n = self._node(pool_handle, pe_id)
        return None if n == NULL or n.links[BY_ASSOC].group == NULL else n.assoc

    # -------------------------------------------------------------- checksums

    def checksum(self, owner=None) -> int:
        """The RFC 5353 PE checksum of the whole handlespace, or of one registrar's PEs."""
        cdef uint64_t s
        cdef Group* g
        if owner is None:
            s = self._checksum_sum
        else:
            g = <Group*>map_get(&self._owners, _u32(owner, "owner"), 0)
            s = 0 if g == NULL else g.checksum_sum
        return (~_fold(s)) & 0xffff

    # -------------------------------------------------------------- paging

    def table_page(self, cursor, Py_ssize_t max_items, owned_only_by=None):
        """One page of the handle table: (((handle, (element, ...)), ...), next_cursor).

        Start with cursor None; pass each returned cursor back to get the next page; the
        cursor is None after the last page. Pages hold at most max_items PEs, by pool handle
        and PE identifier; with owned_only_by only that registrar's PEs.
        """
        cdef const char* ch = NULL
        cdef Py_ssize_t chlen = 0
        cdef uint32_t cid = 0
        cdef bytes chandle
        cdef list pages = []
        cdef list members = None
        cdef PoolRec* current = NULL
        cdef PENode* n = NULL
        cdef PENode** nodes
        cdef PoolRec** order
        cdef Group* g
        cdef Py_ssize_t taken = 0
        cdef Py_ssize_t lo, hi, mid, p, i, total
        cdef bint more
        if max_items < 1:
            raise ValueError("max_items must be at least 1")
        if cursor is not None:
            chandle, cid = cursor
            ch = PyBytes_AS_STRING(chandle)
            chlen = PyBytes_GET_SIZE(chandle)
        if owned_only_by is not None:
            g = <Group*>map_get(&self._owners, _u32(owned_only_by, "owner"), 0)
            if g == NULL:
                return (), None
            nodes = _group_sorted(g)
            total = g.size
            lo = 0
            if cursor is not None:      # first PE after the cursor
                hi = total
                while lo < hi:
                    mid = (lo + hi) // 2
                    if _pe_cmp(nodes[mid], ch, chlen, cid) <= 0:
                        lo = mid + 1
                    else:
                        hi = mid
            i = lo
            while i < total and taken < max_items:
                n = nodes[i]
                if n.pool != current:
                    current = n.pool
                    members = []
                    pages.append((<object>current.handle, members))
                members.append(<object>n.element)
                taken += 1
                i += 1
            more = i < total
        else:
            order = self._pools_by_handle()
            total = self._pools.used
            p = 0
            i = 0
            if cursor is not None:      # first pool not before the cursor's
                hi = total
                while p < hi:
                    mid = (p + hi) // 2
                    if _handle_cmp(order[mid].hbuf, order[mid].hlen, ch, chlen) < 0:
                        p = mid + 1
                    else:
                        hi = mid
                if p < total and _handle_cmp(order[p].hbuf, order[p].hlen, ch, chlen) == 0:
                    nodes = self._by_id(order[p])
                    hi = order[p].size
                    while i < hi:
                        mid = (i + hi) // 2
                        if nodes[mid].pe_id <= cid:
                            i = mid + 1
                        else:
                            hi = mid
                    if i == order[p].size:
                        p += 1
                        i = 0
            while p < total and taken < max_items:
                current = order[p]
                nodes = self._by_id(current)
                members = []
                pages.append((<object>current.handle, members))
                while i < current.size and taken < max_items:
                    n = nodes[i]
                    members.append(<object>n.element)
                    taken += 1
                    i += 1
                if i == current.size:
                    p += 1
                    i = 0
            more = p < total
        page = tuple([(handle, tuple(elements)) for handle, elements in pages])
        if not more or n == NULL:
            return page, None
        return page, (<object>n.pool.handle, n.pe_id)

    # -------------------------------------------------------------- timers

    def set_timer(self, bytes pool_handle not None, pe_id, double deadline, code) -> bool:
        """Set the PE's one timer (replacing any other); False if the PE is unknown."""
        cdef PENode* n = self._node(pool_handle, pe_id)
        if n == NULL:
            return False
        n.timer_code = _timer_code(code)
        heap_schedule(&self._timers, &n.timer, deadline)
        return True

    def cancel_timer(self, bytes pool_handle not None, pe_id) -> bool:
        """Stop the PE's timer; False if the PE is unknown or had none running."""
        cdef PENode* n = self._node(pool_handle, pe_id)
        if n == NULL or n.timer.pos < 0:
            return False
        heap_cancel(&self._timers, &n.timer)
        return True

    def timer(self, bytes pool_handle not None, pe_id):
        """(deadline, TimerCode) of the PE's running timer, or None."""
        cdef PENode* n = self._node(pool_handle, pe_id)
        if n == NULL or n.timer.pos < 0:
            return None
        return n.timer.deadline, _TIMER_CODES[n.timer_code]

    @property
    def timer_serial(self):
        """A number that grows whenever a PE timer is set: while it stays the same, no
        deadline moved earlier and ``next_deadline()`` is no earlier than it was."""
        return self._timers.seq

    def next_deadline(self):
        """The earliest running PE timer's deadline, or None."""
        cdef double deadline
        return deadline if heap_peek(&self._timers, &deadline) else None

    def expire(self, double now) -> list:
        """Pop every PE timer due at `now`, earliest first: [(handle, element, TimerCode)].

        A due LIFETIME timer also deregisters its PE (the registration has run out); for
        the other codes the PE stays and its timer is simply no longer running.
        """
        cdef list due = []
        cdef TimerSlot* slot
        cdef PENode* n
        cdef object handle
        cdef object element
        while True:
            slot = heap_pop_due(&self._timers, now)
            if slot == NULL:
                return due
            n = <PENode*>slot.owner
            handle = <object>n.pool.handle
            code = _TIMER_CODES[n.timer_code]
            if code == TimerCode.LIFETIME:
                element = self._unlink(n)
            else:
                element = <object>n.element
            due.append((handle, element, code))

    def _selection_shape(self, bytes pool_handle not None):
        """(depth, valid) of an ordered pool's selection B+ tree: a check for the tests."""
        cdef PoolRec* pool = self._pool(pool_handle)
        if pool == NULL:
            return 0, True
        return pool.selection.depth, bt_check(&pool.selection)

    def __repr__(self):
        return f"<Handlespace pools={self._pools.used} elements={self._size}>"

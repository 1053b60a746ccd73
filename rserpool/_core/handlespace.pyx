# cython: auto_pickle=False, autotestdict=False
"""The handlespace: pools of pool elements, selection by pool policy, PE checksums, timers.

Every PE is one C record (PENode, see handlespace.pxd) linked into its pool's PE index and
selection tree, the ownership index and the connection index, with one slot in the timer
heap. The registered `wire.PoolElement` object is kept by reference; the policy values the
trees need are copied into the record at registration.

PE checksum (RFC 5353): each PE contributes the 16-bit big-endian words of its pool handle
(an odd last byte padded with a zero byte) and of its 32-bit PE identifier; the checksum is
the ones' complement of the ones'-complement sum of all contributions. It is kept
incrementally for the whole handlespace and, through subtree sums of the ownership index,
for every home registrar.
"""

import os
from enum import IntEnum

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from cpython.object cimport PyObject
from cpython.ref cimport Py_DECREF, Py_INCREF
from libc.stdint cimport int64_t, uint8_t, uint32_t, uint64_t
from libc.string cimport memset

from rserpool._core.policies cimport (
    pe_of_sel,
    policy_join,
    policy_randomized,
    policy_refresh,
    policy_selected,
    policy_set_key,
    policy_value,
)
from rserpool._core.timers cimport (
    TimerHeap,
    TimerSlot,
    heap_cancel,
    heap_free,
    heap_init,
    heap_pop_due,
    heap_schedule,
)
from rserpool._core.tree cimport (
    TNode,
    Tree,
    tree_find,
    tree_first,
    tree_height,
    tree_init,
    tree_insert,
    tree_lower_bound,
    tree_next,
    tree_pick,
    tree_remove,
    tree_set_value,
    tree_sum_below,
)
from rserpool.wire import Cause

DEFAULT_MAX_POOLS = 100_000
DEFAULT_MAX_ELEMENTS_PER_POOL = 1_000_000
DEFAULT_MAX_ADDRESSES = 128     # RSPLIB's limit of transport addresses per PE


class TimerCode(IntEnum):
    """What a PE's timer is for. A due LIFETIME timer also removes the PE (see expire)."""

    LIFETIME = 1
    KEEPALIVE_TRANSMISSION = 2
    KEEPALIVE_TIMEOUT = 3


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
    return (<uint64_t>assoc) ^ 0x8000000000000000ULL


cdef inline PENode* _pe_of_own(TNode* t) noexcept nogil:
    cdef PENode probe
    return <PENode*>(<char*>t - (<char*>&probe.own - <char*>&probe))


cdef inline PENode* _pe_of_conn(TNode* t) noexcept nogil:
    cdef PENode probe
    return <PENode*>(<char*>t - (<char*>&probe.conn - <char*>&probe))


cdef inline PENode* _pe_of_timer(TimerSlot* slot) noexcept nogil:
    return <PENode*>slot.owner


cdef void _free_pool_tree(TNode* t) noexcept:
    """Release a pool tree's pools, their PEs and the element references (teardown)."""
    cdef PoolRec* pool
    if t == NULL:
        return
    _free_pool_tree(t.left)
    _free_pool_tree(t.right)
    pool = <PoolRec*>t
    _free_pe_tree(pool.index.root)
    Py_DECREF(<object>pool.handle)
    if pool.transport_type != NULL:
        Py_DECREF(<object>pool.transport_type)
    PyMem_Free(pool)


cdef void _free_pe_tree(TNode* t) noexcept:
    if t == NULL:
        return
    _free_pe_tree(t.left)
    _free_pe_tree(t.right)
    Py_DECREF(<object>(<PENode*>t).element)
    PyMem_Free(t)


cdef uint32_t _u32(value, str what) except? 0xffffffff:
    """A u32 policy or identity field, or HandlespaceError(INVALID_VALUES)."""
    try:
        return value
    except (OverflowError, TypeError):
        raise HandlespaceError(Cause.INVALID_VALUES, f"{what} {value!r} is not a 32-bit value")


# ---------------------------------------------------------------------- the handlespace


cdef class Handlespace:
    """Pools by handle, their PEs, selection by pool policy, ownership, timers, checksums."""

    cdef Tree _pools
    cdef Tree _owners             # every PE by (owner, handle, PE id); value = checksum part
    cdef Tree _conns              # PEs with an association, by (assoc, handle, PE id)
    cdef TimerHeap _timers
    cdef Py_ssize_t n_elements
    cdef uint64_t checksum_sum
    cdef uint64_t rng            # xorshift64* state for randomized selection
    cdef uint64_t prio_state     # splitmix64 state for treap priorities
    cdef readonly Py_ssize_t max_pools
    cdef readonly Py_ssize_t max_elements_per_pool
    cdef readonly Py_ssize_t max_addresses

    def __cinit__(self):
        tree_init(&self._pools)
        tree_init(&self._owners)
        tree_init(&self._conns)
        heap_init(&self._timers)
        self.n_elements = 0
        self.checksum_sum = 0

    def __init__(self, seed=None, *, max_pools=DEFAULT_MAX_POOLS,
                 max_elements_per_pool=DEFAULT_MAX_ELEMENTS_PER_POOL,
                 max_addresses=DEFAULT_MAX_ADDRESSES):
        cdef uint64_t state
        if seed is None:
            seed = int.from_bytes(os.urandom(8), "little")
        state = <uint64_t>(seed & 0xFFFFFFFFFFFFFFFF)
        self.rng = _splitmix(&state) | 1
        self.prio_state = _splitmix(&state)
        if max_pools < 1 or max_elements_per_pool < 1 or max_addresses < 1:
            raise ValueError("limits must be positive")
        self.max_pools = max_pools
        self.max_elements_per_pool = max_elements_per_pool
        self.max_addresses = max_addresses

    def __dealloc__(self):
        _free_pool_tree(self._pools.root)
        heap_free(&self._timers)

    # -------------------------------------------------------------- internals

    cdef inline uint64_t _random(self) noexcept nogil:
        self.rng ^= self.rng >> 12
        self.rng ^= self.rng << 25
        self.rng ^= self.rng >> 27
        return self.rng * 0x2545F4914F6CDD1DULL

    cdef inline PoolRec* _pool(self, bytes handle) noexcept:
        return <PoolRec*>tree_find(&self._pools, 0, PyBytes_AS_STRING(handle),
                                   PyBytes_GET_SIZE(handle), 0)

    cdef inline PENode* _node(self, bytes handle, uint32_t pe_id) noexcept:
        cdef PoolRec* pool = self._pool(handle)
        if pool == NULL:
            return NULL
        return <PENode*>tree_find(&pool.index, pe_id, NULL, 0, 0)

    cdef PoolRec* _new_pool(self, bytes handle, uint32_t policy_type, int randomized,
                            object transport_type, int transport_use) except NULL:
        cdef PoolRec* pool = <PoolRec*>PyMem_Malloc(sizeof(PoolRec))
        if pool == NULL:
            raise MemoryError()
        memset(pool, 0, sizeof(PoolRec))
        Py_INCREF(handle)
        pool.handle = <PyObject*>handle
        pool.node.h = PyBytes_AS_STRING(handle)
        pool.node.hlen = PyBytes_GET_SIZE(handle)
        pool.node.prio = <uint32_t>_splitmix(&self.prio_state)
        tree_init(&pool.index)
        tree_init(&pool.selection)
        pool.policy_type = policy_type
        pool.randomized = randomized
        pool.handle_sum = _words_sum(<const unsigned char*>pool.node.h, pool.node.hlen)
        Py_INCREF(transport_type)
        pool.transport_type = <PyObject*>transport_type
        pool.transport_use = transport_use
        tree_insert(&self._pools, &pool.node)
        return pool

    cdef void _drop_pool(self, PoolRec* pool) noexcept:
        tree_remove(&self._pools, &pool.node)
        Py_DECREF(<object>pool.handle)
        Py_DECREF(<object>pool.transport_type)
        PyMem_Free(pool)

    cdef inline void _link_owner(self, PENode* n) noexcept:
        n.own.a = n.owner
        n.own.value = n.checksum
        tree_insert(&self._owners, &n.own)

    cdef inline void _link_conn(self, PENode* n) noexcept:
        if n.has_assoc:
            n.conn.a = _assoc_key(n.assoc)
            tree_insert(&self._conns, &n.conn)

    cdef object _unlink(self, PENode* n):
        """Remove n from every structure and free it; returns the element it held."""
        cdef PoolRec* pool = n.pool
        cdef object element = <object>n.element
        tree_remove(&pool.index, &n.index)
        tree_remove(&pool.selection, &n.sel)
        tree_remove(&self._owners, &n.own)
        if n.has_assoc:
            tree_remove(&self._conns, &n.conn)
        heap_cancel(&self._timers, &n.timer)
        self.checksum_sum -= n.checksum
        self.n_elements -= 1
        Py_DECREF(element)
        PyMem_Free(n)
        if pool.index.count == 0:
            self._drop_pool(pool)
        return element

    # -------------------------------------------------------------- registration

    def register(self, bytes pool_handle not None, element, *, double now, owner=None,
                 assoc=None) -> bool:
        """Add a PE or update a registered one; True if it is new.

        Raises HandlespaceError with the RFC 5354 cause: INCONSISTENT_POLICY (another
        policy type than the pool's), INCONSISTENT_TRANSPORT_TYPE, INCONSISTENT_DATA_CONTROL,
        INVALID_VALUES (empty handle, no or too many addresses, unknown policy, field out
        of range), LACK_OF_RESOURCES (a limit of this handlespace).
        """
        cdef object policy = element.member_selection_policy
        cdef object transport = element.user_transport
        cdef uint32_t policy_type = _u32(policy.policy_type, "policy type")
        cdef int randomized = policy_randomized(policy_type)
        cdef uint32_t pe_id = _u32(element.pe_identifier, "PE identifier")
        cdef uint32_t owner_id = _u32(element.home_enrp_server_identifier if owner is None
                                      else owner, "owner")
        cdef double life = element.registration_life
        cdef Py_ssize_t addresses = len(transport.addresses)
        cdef object transport_type = type(transport)
        cdef int transport_use = getattr(transport, "transport_use", 0)
        cdef int64_t assoc_id = 0 if assoc is None else assoc
        cdef uint32_t weight = _u32(policy.weight, "weight")
        cdef uint32_t priority = _u32(policy.priority, "priority")
        cdef uint32_t load = _u32(policy.load, "load")
        cdef uint32_t load_degradation = _u32(policy.load_degradation, "load degradation")
        cdef uint32_t load_dpf = _u32(policy.load_dpf, "load DPF")
        cdef uint32_t weight_dpf = _u32(policy.weight_dpf, "weight DPF")
        cdef uint32_t distance = _u32(policy.distance, "distance")
        cdef PoolRec* pool
        cdef PENode* n = NULL
        cdef uint32_t old_weight
        cdef bint new
        if PyBytes_GET_SIZE(pool_handle) == 0:
            raise HandlespaceError(Cause.INVALID_VALUES, "empty pool handle")
        if randomized < 0:
            raise HandlespaceError(Cause.INVALID_VALUES, f"unknown policy type {policy_type:#x}")
        if addresses < 1 or addresses > self.max_addresses:
            raise HandlespaceError(Cause.INVALID_VALUES,
                                   f"{addresses} transport addresses (1..{self.max_addresses})")
        pool = self._pool(pool_handle)
        if pool != NULL:
            if pool.policy_type != policy_type:
                raise HandlespaceError(
                    Cause.INCONSISTENT_POLICY,
                    f"policy {policy_type:#x} in a pool of policy {pool.policy_type:#x}")
            if <PyObject*>transport_type != pool.transport_type:
                raise HandlespaceError(Cause.INCONSISTENT_TRANSPORT_TYPE,
                                       f"{transport_type.__name__} in a pool of "
                                       f"{(<object>pool.transport_type).__name__}")
            if transport_use != pool.transport_use:
                raise HandlespaceError(Cause.INCONSISTENT_DATA_CONTROL,
                                       "transport use differs from the pool's")
            n = <PENode*>tree_find(&pool.index, pe_id, NULL, 0, 0)
            if n == NULL and pool.index.count >= self.max_elements_per_pool:
                raise HandlespaceError(Cause.LACK_OF_RESOURCES,
                                       f"pool is full ({self.max_elements_per_pool} PEs)")
        elif self._pools.count >= self.max_pools:
            raise HandlespaceError(Cause.LACK_OF_RESOURCES,
                                   f"handlespace is full ({self.max_pools} pools)")

        new = n == NULL
        if new:
            n = <PENode*>PyMem_Malloc(sizeof(PENode))
            if n == NULL:
                raise MemoryError()
            if pool == NULL:
                try:
                    pool = self._new_pool(pool_handle, policy_type, randomized, transport_type,
                                          transport_use)
                except BaseException:
                    PyMem_Free(n)
                    raise
            memset(n, 0, sizeof(PENode))
            n.pool = pool
            n.pe_id = pe_id
            n.index.a = pe_id
            n.own.h = pool.node.h
            n.own.hlen = pool.node.hlen
            n.own.b = pe_id
            n.conn.h = pool.node.h
            n.conn.hlen = pool.node.hlen
            n.conn.b = pe_id
            n.index.prio = <uint32_t>_splitmix(&self.prio_state)
            n.sel.prio = <uint32_t>_splitmix(&self.prio_state)
            n.own.prio = <uint32_t>_splitmix(&self.prio_state)
            n.conn.prio = <uint32_t>_splitmix(&self.prio_state)
            n.timer.pos = -1
            n.timer.owner = n
            n.checksum = _fold(pool.handle_sum + (pe_id >> 16) + (pe_id & 0xffff))
            self.checksum_sum += n.checksum
            self.n_elements += 1
        else:
            tree_remove(&pool.selection, &n.sel)
            Py_DECREF(<object>n.element)
        Py_INCREF(element)
        n.element = <PyObject*>element
        old_weight = n.weight
        n.weight = weight
        n.priority = priority
        n.load = load
        n.load_degradation = load_degradation
        n.load_dpf = load_dpf
        n.weight_dpf = weight_dpf
        n.distance = distance
        if new:
            policy_join(n, pool)
            tree_insert(&pool.index, &n.index)
        else:
            policy_refresh(n, pool, old_weight)
        policy_set_key(n, pool)
        tree_insert(&pool.selection, &n.sel)
        if new or n.owner != owner_id:
            if not new:
                tree_remove(&self._owners, &n.own)
            n.owner = owner_id
            self._link_owner(n)
        if new or n.has_assoc != (assoc is not None) or n.assoc != assoc_id:
            if not new and n.has_assoc:
                tree_remove(&self._conns, &n.conn)
            n.has_assoc = assoc is not None
            n.assoc = assoc_id
            self._link_conn(n)
        n.timer_code = TimerCode.LIFETIME
        heap_schedule(&self._timers, &n.timer, now + life / 1000.0)
        return new

    def deregister(self, bytes pool_handle not None, pe_id):
        """Remove a PE; returns its element, or None if it was not registered."""
        cdef PENode* n = self._node(pool_handle, pe_id)
        if n == NULL:
            return None
        return self._unlink(n)

    def get(self, bytes pool_handle not None, pe_id):
        """The registered element, or None."""
        cdef PENode* n = self._node(pool_handle, pe_id)
        return None if n == NULL else <object>n.element

    # -------------------------------------------------------------- selection

    def select(self, bytes pool_handle not None, Py_ssize_t n):
        """Up to n distinct PEs chosen by the pool's policy; the policy's update is applied
        once to each PE returned."""
        cdef PoolRec* pool = self._pool(pool_handle)
        cdef PENode* stack[16]
        cdef PENode** chosen = stack
        cdef Py_ssize_t k = 0
        cdef Py_ssize_t i
        cdef uint64_t total
        cdef TNode* t
        cdef PENode* node
        cdef list result
        if pool == NULL or n <= 0:
            return []
        if n > pool.index.count:
            n = pool.index.count
        if n > 16:
            chosen = <PENode**>PyMem_Malloc(n * sizeof(PENode*))
            if chosen == NULL:
                raise MemoryError()
        if pool.randomized:
            while k < n:
                total = pool.selection.root.sum
                if total == 0:
                    break
                t = tree_pick(&pool.selection, self._random() % total)
                chosen[k] = pe_of_sel(t)
                k += 1
                tree_set_value(t, 0)    # drawn without replacement
            for i in range(k):
                node = chosen[i]
                policy_selected(node, pool)
                tree_set_value(&node.sel, policy_value(node, pool.policy_type))
        else:
            t = tree_first(&pool.selection)
            while k < n and t != NULL:
                chosen[k] = pe_of_sel(t)
                k += 1
                t = tree_next(t)
            for i in range(k):
                node = chosen[i]
                tree_remove(&pool.selection, &node.sel)
                policy_selected(node, pool)
                policy_set_key(node, pool)
                tree_insert(&pool.selection, &node.sel)
        result = [<object>chosen[i].element for i in range(k)]
        if chosen != stack:
            PyMem_Free(chosen)
        return result

    # -------------------------------------------------------------- listing

    def __len__(self):
        return self.n_elements

    def pools(self) -> list:
        """Pool handles in byte order."""
        cdef TNode* t = tree_first(&self._pools)
        cdef list out = []
        while t != NULL:
            out.append(<object>(<PoolRec*>t).handle)
            t = tree_next(t)
        return out

    def elements(self, bytes pool_handle not None) -> list:
        """A pool's elements by PE identifier ([] for an unknown pool)."""
        cdef PoolRec* pool = self._pool(pool_handle)
        cdef list out = []
        cdef TNode* t
        if pool == NULL:
            return out
        t = tree_first(&pool.index)
        while t != NULL:
            out.append(<object>(<PENode*>t).element)
            t = tree_next(t)
        return out

    def count(self, bytes pool_handle not None) -> int:
        """Number of PEs in a pool (0 for an unknown pool)."""
        cdef PoolRec* pool = self._pool(pool_handle)
        return 0 if pool == NULL else pool.index.count

    def policy_type(self, bytes pool_handle not None):
        """The pool's policy type (set by its first PE), or None for an unknown pool."""
        cdef PoolRec* pool = self._pool(pool_handle)
        return None if pool == NULL else pool.policy_type

    # -------------------------------------------------------------- ownership, connections

    def owned_by(self, registrar_id) -> list:
        """(pool handle, element) of every PE whose home registrar is registrar_id."""
        cdef uint64_t owner = _u32(registrar_id, "registrar id")
        cdef TNode* t = tree_lower_bound(&self._owners, owner, NULL, 0, 0, False)
        cdef list out = []
        cdef PENode* n
        while t != NULL and t.a == owner:
            n = _pe_of_own(t)
            out.append((<object>n.pool.handle, <object>n.element))
            t = tree_next(t)
        return out

    def registered_over(self, assoc) -> list:
        """(pool handle, element) of every PE registered over association `assoc`."""
        cdef uint64_t key = _assoc_key(assoc)
        cdef TNode* t = tree_lower_bound(&self._conns, key, NULL, 0, 0, False)
        cdef list out = []
        cdef PENode* n
        while t != NULL and t.a == key:
            n = _pe_of_conn(t)
            out.append((<object>n.pool.handle, <object>n.element))
            t = tree_next(t)
        return out

    def set_owner(self, bytes pool_handle not None, pe_id, owner) -> bool:
        """Make `owner` the PE's home registrar (takeover); False if the PE is unknown."""
        cdef PENode* n = self._node(pool_handle, pe_id)
        cdef uint32_t owner_id = _u32(owner, "owner")
        if n == NULL:
            return False
        if n.owner != owner_id:
            tree_remove(&self._owners, &n.own)
            n.owner = owner_id
            self._link_owner(n)
        return True

    def owner(self, bytes pool_handle not None, pe_id):
        """The PE's home registrar id, or None if the PE is unknown."""
        cdef PENode* n = self._node(pool_handle, pe_id)
        return None if n == NULL else n.owner

    def association(self, bytes pool_handle not None, pe_id):
        """The association the PE registered over, or None."""
        cdef PENode* n = self._node(pool_handle, pe_id)
        return None if n == NULL or not n.has_assoc else n.assoc

    # -------------------------------------------------------------- checksums

    def checksum(self, owner=None) -> int:
        """The RFC 5353 PE checksum of the whole handlespace, or of one registrar's PEs."""
        cdef uint64_t s
        cdef uint64_t o
        if owner is None:
            s = self.checksum_sum
        else:
            o = _u32(owner, "owner")
            s = tree_sum_below(&self._owners, o + 1) - tree_sum_below(&self._owners, o)
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
        cdef uint64_t cid = 0
        cdef uint64_t owner = 0
        cdef bytes chandle
        cdef TNode* t
        cdef TNode* pt
        cdef PoolRec* pool
        cdef PoolRec* current = NULL
        cdef PENode* n = NULL
        cdef Py_ssize_t taken = 0
        cdef list pages = []
        cdef list members = None
        if max_items < 1:
            raise ValueError("max_items must be at least 1")
        if cursor is not None:
            chandle, cid = cursor
            ch = PyBytes_AS_STRING(chandle)
            chlen = PyBytes_GET_SIZE(chandle)
        if owned_only_by is not None:
            owner = _u32(owned_only_by, "owner")
            if cursor is None:
                t = tree_lower_bound(&self._owners, owner, NULL, 0, 0, False)
            else:
                t = tree_lower_bound(&self._owners, owner, ch, chlen, cid, True)
            while t != NULL and t.a == owner and taken < max_items:
                n = _pe_of_own(t)
                if n.pool != current:
                    current = n.pool
                    members = []
                    pages.append((<object>current.handle, members))
                members.append(<object>n.element)
                taken += 1
                t = tree_next(t)
            more = t != NULL and t.a == owner
        else:
            if cursor is None:
                pt = tree_first(&self._pools)
                t = tree_first(&(<PoolRec*>pt).index) if pt != NULL else NULL
            else:
                pt = tree_lower_bound(&self._pools, 0, ch, chlen, 0, False)
                t = NULL
                if pt != NULL and tree_find(&self._pools, 0, ch, chlen, 0) == pt:
                    t = tree_lower_bound(&(<PoolRec*>pt).index, cid, NULL, 0, 0, True)
                    if t == NULL:
                        pt = tree_next(pt)
                if pt != NULL and t == NULL:
                    t = tree_first(&(<PoolRec*>pt).index)
            while pt != NULL and taken < max_items:
                pool = <PoolRec*>pt
                members = []
                pages.append((<object>pool.handle, members))
                while t != NULL and taken < max_items:
                    n = <PENode*>t
                    members.append(<object>n.element)
                    taken += 1
                    t = tree_next(t)
                if t == NULL:
                    pt = tree_next(pt)
                    t = tree_first(&(<PoolRec*>pt).index) if pt != NULL else NULL
            more = pt != NULL
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
        n.timer_code = TimerCode(code)
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
        return n.timer.deadline, TimerCode(n.timer_code)

    def next_deadline(self):
        """The earliest running PE timer's deadline, or None."""
        return self._timers.items[0].deadline if self._timers.size else None

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
            n = _pe_of_timer(slot)
            handle = <object>n.pool.handle
            code = TimerCode(n.timer_code)
            if code == TimerCode.LIFETIME:
                element = self._unlink(n)
            else:
                element = <object>n.element
            due.append((handle, element, code))

    def _heights(self, bytes pool_handle not None):
        """Tree heights (pools, owners, connections, pool index, pool selection): a balance
        check for the tests."""
        cdef PoolRec* pool = self._pool(pool_handle)
        return (tree_height(self._pools.root), tree_height(self._owners.root),
                tree_height(self._conns.root),
                tree_height(pool.index.root) if pool != NULL else 0,
                tree_height(pool.selection.root) if pool != NULL else 0)

    def __repr__(self):
        return f"<Handlespace pools={self._pools.count} elements={self.n_elements}>"

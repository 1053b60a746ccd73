# A Fenwick tree (binary indexed tree) of u64 values by slot: the selection structure of the
# randomized pool policies. Each internal entry holds the sum of a power-of-two range of
# slots, so adding to a slot and finding the slot where a running sum crosses r are both
# O(log n), in one flat array (8 bytes per slot) that stays in the CPU caches.
from cpython.mem cimport PyMem_Free, PyMem_Realloc
from libc.stdint cimport uint64_t
from libc.string cimport memset


cdef struct Fenwick:
    uint64_t* sums              # 1-based; sums[i] covers slots (i - lowbit(i), i]
    Py_ssize_t capacity         # a power of two (or 0)
    uint64_t total


cdef inline void fen_init(Fenwick* f) noexcept nogil:
    f.sums = NULL
    f.capacity = 0
    f.total = 0


cdef inline void fen_free(Fenwick* f) noexcept:
    PyMem_Free(f.sums)
    fen_init(f)


cdef inline int fen_reserve(Fenwick* f, Py_ssize_t slots) except -1:
    """Make room for `slots` slots; new slots hold 0."""
    cdef Py_ssize_t capacity = f.capacity if f.capacity else 16
    cdef uint64_t* grown
    cdef Py_ssize_t p
    if slots <= f.capacity:
        return 0
    while capacity < slots:
        capacity *= 2
    grown = <uint64_t*>PyMem_Realloc(f.sums, (capacity + 1) * sizeof(uint64_t))
    if grown == NULL:
        raise MemoryError()
    memset(grown + f.capacity + 1, 0, (capacity - f.capacity) * sizeof(uint64_t))
    # Doubling: every new range lies above the old slots, except each new power of two,
    # whose range starts at slot 0 and so holds the whole total.
    p = f.capacity * 2 if f.capacity else 1
    while p <= capacity:
        grown[p] = f.total
        p *= 2
    f.sums = grown
    f.capacity = capacity
    return 0


cdef inline void fen_add(Fenwick* f, Py_ssize_t slot, uint64_t delta) noexcept nogil:
    """Add delta (two's complement wrap-around subtracts) to a slot's value."""
    cdef Py_ssize_t i = slot + 1
    f.total += delta
    while i <= f.capacity:
        f.sums[i] += delta
        i += i & -i


cdef inline Py_ssize_t fen_find(const Fenwick* f, uint64_t r) noexcept nogil:
    """The slot at which the running sum of values first exceeds r (needs r < total)."""
    cdef Py_ssize_t pos = 0
    cdef Py_ssize_t step = f.capacity
    while step > 0:
        if f.sums[pos + step] <= r:
            pos += step
            r -= f.sums[pos]
        step >>= 1
    return pos

# Selection weights by slot, for the randomized pool policies: a Fenwick tree (binary
# indexed tree) over blocks of 16 slots plus the slots' own 32-bit values. Setting a slot
# and finding the slot where a running sum crosses r are O(log n): the walk over block sums
# touches an array 16 times smaller than the slots (it stays in the CPU caches), then one
# block of 16 values (one cache line) is scanned.
from cpython.mem cimport PyMem_Free

from rserpool._core.hugemem cimport huge_realloc
from libc.stdint cimport uint32_t, uint64_t
from libc.string cimport memset

cdef enum:
    FEN_SHIFT = 4               # 16 slots per block


cdef struct Fenwick:
    uint64_t* sums              # 1-based over blocks; sums[i] covers (i - lowbit(i), i]
    uint32_t* slots             # each slot's value
    Py_ssize_t blocks           # a power of two (or 0)
    uint64_t total


cdef inline void fen_init(Fenwick* f) noexcept nogil:
    f.sums = NULL
    f.slots = NULL
    f.blocks = 0
    f.total = 0


cdef inline void fen_free(Fenwick* f) noexcept:
    PyMem_Free(f.sums)
    PyMem_Free(f.slots)
    fen_init(f)


cdef inline int fen_reserve(Fenwick* f, Py_ssize_t slots) except -1:
    """Make room for `slots` slots; new slots hold 0."""
    cdef Py_ssize_t blocks = f.blocks if f.blocks else 1
    cdef uint64_t* sums
    cdef uint32_t* values
    cdef Py_ssize_t p
    if slots <= f.blocks << FEN_SHIFT:
        return 0
    while blocks << FEN_SHIFT < slots:
        blocks *= 2
    values = <uint32_t*>huge_realloc(f.slots, (blocks << FEN_SHIFT) * sizeof(uint32_t))
    if values == NULL:
        raise MemoryError()
    memset(values + (f.blocks << FEN_SHIFT), 0,
           ((blocks - f.blocks) << FEN_SHIFT) * sizeof(uint32_t))
    f.slots = values
    sums = <uint64_t*>huge_realloc(f.sums, (blocks + 1) * sizeof(uint64_t))
    if sums == NULL:
        raise MemoryError()
    memset(sums + f.blocks + 1, 0, (blocks - f.blocks) * sizeof(uint64_t))
    # Doubling: every new range lies above the old blocks, except each new power of two,
    # whose range starts at block 0 and so holds the whole total.
    p = f.blocks * 2 if f.blocks else 1
    while p <= blocks:
        sums[p] = f.total
        p *= 2
    f.sums = sums
    f.blocks = blocks
    return 0


cdef inline void fen_change(Fenwick* f, Py_ssize_t slot, uint32_t old,
                            uint32_t value) noexcept nogil:
    """Make a slot's value `value` when the caller knows it is `old` (no read of the slot)."""
    cdef uint64_t delta = <uint64_t>value - old     # wraps around when lower
    cdef Py_ssize_t i = (slot >> FEN_SHIFT) + 1
    if delta == 0:
        return
    f.slots[slot] = value
    f.total += delta
    while i <= f.blocks:
        f.sums[i] += delta
        i += i & -i


cdef inline void fen_set(Fenwick* f, Py_ssize_t slot, uint32_t value) noexcept nogil:
    """Make a slot's value `value`."""
    fen_change(f, slot, f.slots[slot], value)


cdef inline Py_ssize_t fen_find(const Fenwick* f, uint64_t r) noexcept nogil:
    """The slot at which the running sum of values first exceeds r (needs r < total).
    Branch-free: with a random r every branch here would be a coin flip for the CPU."""
    cdef Py_ssize_t pos = 0
    cdef Py_ssize_t step = f.blocks
    cdef Py_ssize_t slot, k, count = 0
    cdef uint64_t t, take, running = 0
    while step > 0:
        t = f.sums[pos + step]
        take = -<uint64_t>(t <= r)             # all ones or zero
        pos += step & <Py_ssize_t>take
        r -= t & take
        step >>= 1
    slot = pos << FEN_SHIFT
    for k in range(1 << FEN_SHIFT):     # slots whose running sum is still <= r come first
        running += f.slots[slot + k]
        count += running <= r
    return slot + count

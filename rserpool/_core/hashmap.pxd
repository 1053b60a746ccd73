# An open-addressing hash map from (k1, k2) u64 pairs to pointers, with linear probing and
# backward-shift deletion (no tombstones). Keys are stored in the table, so a lookup touches
# one or two cache lines. Several entries may share a key if the caller tells them apart by
# their value (map_delete takes the value too).
from rserpool._core.hugemem cimport Block, block_data, block_free, block_new
from libc.stdint cimport uint64_t
from libc.string cimport memset


cdef struct Entry:
    uint64_t k1
    uint64_t k2
    void* value                 # NULL: empty cell


cdef struct Map:
    Entry* cells                # in `block` (huge pages once it is big, see hugemem.pxd)
    Block* block
    Py_ssize_t mask             # size - 1 (size a power of two), or -1 before first use
    Py_ssize_t used


cdef inline uint64_t map_hash(uint64_t k1, uint64_t k2) noexcept nogil:
    cdef uint64_t z = (k1 ^ (k2 * 0x9E3779B97F4A7C15ULL)) * 0xBF58476D1CE4E5B9ULL
    return z ^ (z >> 29)


cdef inline void map_init(Map* m) noexcept nogil:
    m.cells = NULL
    m.block = NULL
    m.mask = -1
    m.used = 0


cdef inline void map_free(Map* m) noexcept:
    if m.block != NULL:
        block_free(m.block)
    map_init(m)


cdef inline Py_ssize_t map_home(const Map* m, uint64_t k1, uint64_t k2) noexcept nogil:
    return <Py_ssize_t>(map_hash(k1, k2) & <uint64_t>m.mask)


cdef inline void* map_get(const Map* m, uint64_t k1, uint64_t k2) noexcept nogil:
    """The value of the first entry with key (k1, k2), or NULL."""
    cdef Py_ssize_t i
    if m.used == 0:
        return NULL
    i = map_home(m, k1, k2)
    while m.cells[i].value != NULL:
        if m.cells[i].k1 == k1 and m.cells[i].k2 == k2:
            return m.cells[i].value
        i = (i + 1) & m.mask
    return NULL


cdef inline void _map_place(Map* m, uint64_t k1, uint64_t k2, void* value) noexcept nogil:
    cdef Py_ssize_t i = map_home(m, k1, k2)
    while m.cells[i].value != NULL:
        i = (i + 1) & m.mask
    m.cells[i].k1 = k1
    m.cells[i].k2 = k2
    m.cells[i].value = value


cdef inline int map_put(Map* m, uint64_t k1, uint64_t k2, void* value) except -1:
    """Add an entry (the caller knows the key is absent, or tells duplicates apart)."""
    cdef Py_ssize_t old_size = m.mask + 1
    cdef Py_ssize_t size
    cdef Entry* old = m.cells
    cdef Block* old_block = m.block
    cdef Block* block
    cdef Py_ssize_t i
    if (m.used + 1) * 2 > old_size:
        size = old_size * 2 if old_size else 16
        block = block_new(size * sizeof(Entry))
        if block == NULL:
            raise MemoryError()
        m.block = block
        m.cells = <Entry*>block_data(block)
        memset(m.cells, 0, size * sizeof(Entry))
        m.mask = size - 1
        for i in range(old_size):
            if old[i].value != NULL:
                _map_place(m, old[i].k1, old[i].k2, old[i].value)
        if old_block != NULL:
            block_free(old_block)
    _map_place(m, k1, k2, value)
    m.used += 1
    return 0


cdef inline void map_remove_at(Map* m, Py_ssize_t i) noexcept nogil:
    """Empty cell i (found by the caller) and shift later cells of its probe run back."""
    cdef Py_ssize_t j, home
    m.cells[i].value = NULL
    m.used -= 1
    j = i
    while True:
        j = (j + 1) & m.mask
        if m.cells[j].value == NULL:
            return
        home = map_home(m, m.cells[j].k1, m.cells[j].k2)
        # Move cell j into the hole at i unless its home lies cyclically in (i, j].
        if (i <= j and (home <= i or home > j)) or (i > j and home <= i and home > j):
            m.cells[i] = m.cells[j]
            m.cells[j].value = NULL
            i = j


cdef inline void map_delete(Map* m, uint64_t k1, uint64_t k2, void* value) noexcept nogil:
    """Remove the entry (k1, k2) -> value, if present."""
    cdef Py_ssize_t i
    if m.used == 0:
        return
    i = map_home(m, k1, k2)
    while m.cells[i].value != value or m.cells[i].k1 != k1 or m.cells[i].k2 != k2:
        if m.cells[i].value == NULL:
            return
        i = (i + 1) & m.mask
    map_remove_at(m, i)

# Memory for the handlespace's big structures on transparent huge pages where the kernel
# offers them (Linux, THP "madvise" or "always"; elsewhere plain memory). At 100k PEs an
# operation touches a few records scattered over tens of MB: with 4 KiB pages nearly each
# of those touches also misses the TLB, and the page walks cost about as much as the cache
# misses. Records (Slab) and the PE map live in Blocks: a big one is its own 2 MiB-aligned
# mapping, advised before it is first written and tracked for tracemalloc by hand; small
# ones come from PyMem. Arrays that grow by realloc (huge_realloc) stay PyMem blocks with
# only their 2 MiB-aligned interior advised.
from cpython.mem cimport PyMem_Free, PyMem_Malloc, PyMem_Realloc
from libc.stdint cimport uintptr_t
from libc.string cimport memset


cdef extern from *:
    """
    #include <stdint.h>
    #include <sys/mman.h>
    #if defined(__linux__) && defined(MADV_HUGEPAGE)
    #define RSERPOOL_MADV_HUGEPAGE MADV_HUGEPAGE
    #else
    #define RSERPOOL_MADV_HUGEPAGE 0
    #endif
    #define RSERPOOL_HUGE_PAGE ((size_t)2 << 20)
    static int rserpool_madvise(void *p, size_t n, int advice) {
        return advice ? madvise(p, n, advice) : -1;
    }
    /* size (a multiple of 2 MiB) bytes of zeroed memory aligned to 2 MiB: map 2 MiB more,
       unmap the slack on both sides. Tracked for tracemalloc like PyMem's blocks. */
    static void *rserpool_huge_map(size_t size) {
        char *p = (char *)mmap(NULL, size + RSERPOOL_HUGE_PAGE, PROT_READ | PROT_WRITE,
                               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        char *start;
        if (p == (char *)MAP_FAILED)
            return NULL;
        start = (char *)(((uintptr_t)p + RSERPOOL_HUGE_PAGE - 1) & ~(uintptr_t)(RSERPOOL_HUGE_PAGE - 1));
        if (start > p)
            munmap(p, (size_t)(start - p));
        if (start + size < p + size + RSERPOOL_HUGE_PAGE)
            munmap(start + size, (size_t)(p + RSERPOOL_HUGE_PAGE - start));
        rserpool_madvise(start, size, RSERPOOL_MADV_HUGEPAGE);
        PyTraceMalloc_Track(0, (uintptr_t)start, size);
        return start;
    }
    static void rserpool_huge_unmap(void *p, size_t size) {
        PyTraceMalloc_Untrack(0, (uintptr_t)p);
        munmap(p, size);
    }
    """
    int _MADV_HUGEPAGE "RSERPOOL_MADV_HUGEPAGE"
    int _madvise "rserpool_madvise"(void* p, size_t n, int advice) noexcept nogil
    void* _huge_map "rserpool_huge_map"(size_t size) noexcept nogil
    void _huge_unmap "rserpool_huge_unmap"(void* p, size_t size) noexcept nogil


cdef enum:
    HUGE_PAGE = 2 * 1024 * 1024


cdef inline void advise_huge(void* p, size_t size) noexcept nogil:
    """Ask for huge pages under the 2 MiB-aligned part of [p, p + size), if any."""
    cdef uintptr_t start = (<uintptr_t>p + HUGE_PAGE - 1) & ~(<uintptr_t>HUGE_PAGE - 1)
    cdef uintptr_t end = (<uintptr_t>p + size) & ~(<uintptr_t>HUGE_PAGE - 1)
    if _MADV_HUGEPAGE and end > start:
        _madvise(<void*>start, end - start, _MADV_HUGEPAGE)


cdef struct Block:
    void* next                  # the caller's link
    size_t size                 # bytes, this header included
    bint mapped                 # its own huge-page-aligned mapping, else from PyMem


cdef enum:
    BLOCK_HEADER = 64           # bytes before a block's data (keeps it cache-line aligned)


cdef inline Block* block_new(size_t data) noexcept:
    """A block for at least ``data`` bytes (see ``block_data_size``), or NULL. From ``data``
    of 2 MiB on, its own mapping aligned to and advised for huge pages (no slack: tracked
    for tracemalloc by hand); below that, from PyMem."""
    cdef size_t size = BLOCK_HEADER + data
    cdef Block* b
    cdef bint mapped = size >= HUGE_PAGE
    if mapped:
        size = (size + HUGE_PAGE - 1) & ~(<size_t>HUGE_PAGE - 1)
        b = <Block*>_huge_map(size)
    else:
        b = <Block*>PyMem_Malloc(size)
    if b != NULL:
        b.next = NULL
        b.size = size
        b.mapped = mapped
    return b


cdef inline void* block_data(Block* b) noexcept nogil:
    return <char*>b + BLOCK_HEADER


cdef inline size_t block_data_size(const Block* b) noexcept nogil:
    return b.size - BLOCK_HEADER


cdef inline void block_free(Block* b) noexcept:
    if b.mapped:
        _huge_unmap(b, b.size)
    else:
        PyMem_Free(b)


cdef inline void* huge_realloc(void* old, size_t size) noexcept:
    """PyMem_Realloc, with huge pages advised for a big block (its new part, at least)."""
    cdef void* p = PyMem_Realloc(old, size)
    if p != NULL and size >= HUGE_PAGE:
        advise_huge(p, size)
    return p


cdef struct Slab:
    # Fixed-size records carved from blocks that double from FIRST_SLAB_RECORDS up to
    # MAX_SLAB_BYTES (so big slabs sit on huge pages); freed records are reused, linked
    # through their first word; the blocks go back only with the whole slab.
    Block* blocks               # newest first
    char* fresh                 # the newest block's records not handed out yet
    char* fresh_end
    void* spare                 # freed records
    size_t record_size
    size_t block_records        # records in the next block


cdef enum:
    FIRST_SLAB_RECORDS = 64
    MAX_SLAB_BYTES = 4 << 20


cdef inline void slab_init(Slab* s, size_t record_size) noexcept nogil:
    s.blocks = NULL
    s.fresh = NULL
    s.fresh_end = NULL
    s.spare = NULL
    s.record_size = (record_size + 7) & ~(<size_t>7)
    s.block_records = FIRST_SLAB_RECORDS


cdef inline void* slab_alloc(Slab* s) except NULL:
    """A zeroed record: a freed one if any (likely still in the caches), else a new one."""
    cdef void* r = s.spare
    cdef Block* b
    if r != NULL:
        s.spare = (<void**>r)[0]
    else:
        if s.fresh == s.fresh_end:
            b = block_new(s.block_records * s.record_size)
            if b == NULL:
                raise MemoryError()
            b.next = s.blocks
            s.blocks = b
            s.fresh = <char*>block_data(b)
            s.fresh_end = s.fresh + (block_data_size(b) // s.record_size) * s.record_size
            if 2 * s.block_records * s.record_size <= MAX_SLAB_BYTES:
                s.block_records *= 2
        r = s.fresh
        s.fresh += s.record_size
    memset(r, 0, s.record_size)
    return r


cdef inline void slab_free(Slab* s, void* r) noexcept nogil:
    (<void**>r)[0] = s.spare
    s.spare = r


cdef inline void slab_release(Slab* s) noexcept:
    """Give every block back (the records in them must no longer be in use)."""
    cdef Block* b
    while s.blocks != NULL:
        b = s.blocks
        s.blocks = <Block*>b.next
        block_free(b)
    slab_init(s, s.record_size)

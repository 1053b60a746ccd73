# cython: auto_pickle=False, autotestdict=False
"""One timer structure for every deadline: a binary min-heap of C slots.

`TimerQueue` maps caller keys (any hashable) to deadlines without a Python object per
pending timer beyond the key itself: the key table is an open-addressing C hash table of
records, each record holding its heap slot. The handlespace embeds the same `TimerSlot` in
its PE nodes and uses the heap functions directly (see timers.pxd).
"""

from cpython.mem cimport PyMem_Free, PyMem_Malloc, PyMem_Realloc

from rserpool._core.hugemem cimport huge_realloc
from cpython.object cimport PyObject, PyObject_Hash, PyObject_RichCompareBool, Py_EQ
from cpython.ref cimport Py_DECREF, Py_INCREF
from libc.stdint cimport uint64_t
from libc.string cimport memset

# ---------------------------------------------------------------------------- the heap


cdef inline bint _earlier(HeapEntry* a, HeapEntry* b) noexcept:
    return a.deadline < b.deadline or (a.deadline == b.deadline and a.seq < b.seq)


cdef inline void _place(TimerHeap* heap, Py_ssize_t i, HeapEntry entry) noexcept:
    heap.items[i] = entry
    if entry.slot != NULL:
        entry.slot.pos = i


cdef void _sift_up(TimerHeap* heap, Py_ssize_t i) noexcept:
    cdef HeapEntry entry = heap.items[i]
    cdef Py_ssize_t parent
    while i > 0:
        parent = (i - 1) >> 1
        if not _earlier(&entry, &heap.items[parent]):
            break
        _place(heap, i, heap.items[parent])
        i = parent
    _place(heap, i, entry)


cdef void _sift_down(TimerHeap* heap, Py_ssize_t i) noexcept:
    cdef HeapEntry entry = heap.items[i]
    cdef Py_ssize_t child
    cdef Py_ssize_t n = heap.size
    while True:
        child = 2 * i + 1
        if child >= n:
            break
        if child + 1 < n and _earlier(&heap.items[child + 1], &heap.items[child]):
            child += 1
        if not _earlier(&heap.items[child], &entry):
            break
        _place(heap, i, heap.items[child])
        i = child
    _place(heap, i, entry)


cdef void _remove_at(TimerHeap* heap, Py_ssize_t i) noexcept:
    """Take entry i out of the heap for good (its slot, if any, is left as it is)."""
    heap.size -= 1
    if i == heap.size:
        return
    _place(heap, i, heap.items[heap.size])
    _sift_up(heap, i)
    _sift_down(heap, i)


cdef void heap_drop_dead(TimerHeap* heap) noexcept:
    """Remove every cancelled entry and restore the heap order: O(n)."""
    cdef Py_ssize_t i, k = 0
    for i in range(heap.size):
        if heap.items[i].slot != NULL:
            _place(heap, k, heap.items[i])
            k += 1
    heap.size = k
    heap.dead = 0
    i = k // 2 - 1
    while i >= 0:
        _sift_down(heap, i)
        i -= 1


cdef void heap_init(TimerHeap* heap) noexcept:
    heap.items = NULL
    heap.size = 0
    heap.capacity = 0
    heap.dead = 0
    heap.seq = 0


cdef void heap_free(TimerHeap* heap) noexcept:
    PyMem_Free(heap.items)
    heap_init(heap)


cdef int heap_schedule_slow(TimerHeap* heap, TimerSlot* slot, double deadline) except -1:
    """heap_schedule for a new slot or an earlier deadline (the entry's deadline is never
    later than its slot's, so only an earlier one can need the entry moved)."""
    cdef HeapEntry* grown
    cdef Py_ssize_t capacity
    cdef Py_ssize_t i = slot.pos
    slot.deadline = deadline
    slot.seq = heap.seq
    heap.seq += 1
    if i >= 0:
        if deadline < heap.items[i].deadline:
            heap.items[i].deadline = deadline
            heap.items[i].seq = slot.seq
            _sift_up(heap, i)
        return 0
    if heap.size == heap.capacity:
        capacity = heap.capacity * 2 if heap.capacity else 64
        grown = <HeapEntry*>huge_realloc(heap.items, capacity * sizeof(HeapEntry))
        if grown == NULL:
            raise MemoryError()
        heap.items = grown
        heap.capacity = capacity
    i = heap.size
    heap.size += 1
    heap.items[i].deadline = deadline
    heap.items[i].seq = slot.seq
    heap.items[i].slot = slot
    slot.pos = i
    _sift_up(heap, i)
    return 0


cdef void _settle_top(TimerHeap* heap) noexcept:
    """Drop dead entries and bring postponed ones at the top up to date until the top entry
    is current."""
    cdef HeapEntry* top
    while heap.size:
        top = &heap.items[0]
        if top.slot == NULL:
            heap.dead -= 1
            _remove_at(heap, 0)
            continue
        if top.seq == top.slot.seq:
            return
        top.deadline = top.slot.deadline
        top.seq = top.slot.seq
        _sift_down(heap, 0)


cdef bint heap_peek(TimerHeap* heap, double* deadline) noexcept:
    """The earliest deadline into *deadline; False when nothing is pending."""
    _settle_top(heap)
    if heap.size == 0:
        return False
    deadline[0] = heap.items[0].deadline
    return True


cdef TimerSlot* heap_pop_due(TimerHeap* heap, double now) noexcept:
    """Remove and return the earliest slot whose deadline is <= now, or NULL."""
    cdef TimerSlot* slot
    _settle_top(heap)
    if heap.size == 0 or heap.items[0].deadline > now:
        return NULL
    slot = heap.items[0].slot
    slot.pos = -1
    _remove_at(heap, 0)
    return slot


# ------------------------------------------------------------------- the keyed queue


cdef struct Record:
    TimerSlot slot
    PyObject* key
    Py_hash_t hash


cdef class TimerQueue:
    """Deadlines by key: schedule, cancel, reschedule, next_deadline(), expire(now)."""

    cdef TimerHeap heap
    cdef Record** table         # open addressing, linear probing, power-of-two size
    cdef Py_ssize_t mask
    cdef Py_ssize_t used

    def __cinit__(self):
        heap_init(&self.heap)
        self.table = NULL
        self.mask = -1
        self.used = 0

    def __dealloc__(self):
        self._drop_all()
        PyMem_Free(self.table)
        heap_free(&self.heap)

    cdef void _drop_all(self) noexcept:
        cdef Py_ssize_t i
        cdef Record* rec
        for i in range(self.mask + 1):
            rec = self.table[i]
            if rec != NULL:
                Py_DECREF(<object>rec.key)
                PyMem_Free(rec)
                self.table[i] = NULL
        self.used = 0
        self.heap.size = 0
        self.heap.dead = 0

    cdef Py_ssize_t _find(self, object key, Py_hash_t h) except -2:
        """Index of the table cell holding `key`, or -1."""
        cdef Py_ssize_t i
        cdef Record* rec
        if self.used == 0:
            return -1
        i = <Py_ssize_t>(<size_t>h & <size_t>self.mask)
        while True:
            rec = self.table[i]
            if rec == NULL:
                return -1
            if rec.hash == h and (rec.key == <PyObject*>key or
                                  PyObject_RichCompareBool(<object>rec.key, key, Py_EQ)):
                return i
            i = (i + 1) & self.mask

    cdef int _grow(self) except -1:
        cdef Py_ssize_t old_size = self.mask + 1
        cdef Py_ssize_t size = old_size * 2 if old_size > 0 else 64
        cdef Record** old = self.table
        cdef Record** table = <Record**>PyMem_Malloc(size * sizeof(Record*))
        cdef Py_ssize_t i, j
        if table == NULL:
            raise MemoryError()
        memset(table, 0, size * sizeof(Record*))
        for i in range(old_size):
            if old[i] != NULL:
                j = <Py_ssize_t>(<size_t>old[i].hash & <size_t>(size - 1))
                while table[j] != NULL:
                    j = (j + 1) & (size - 1)
                table[j] = old[i]
        self.table = table
        self.mask = size - 1
        PyMem_Free(old)
        return 0

    cdef void _remove_cell(self, Py_ssize_t i) noexcept:
        """Empty cell i and shift later members of its probe run back (no tombstones)."""
        cdef Py_ssize_t j = i
        cdef Py_ssize_t home
        cdef Record* rec
        self.table[i] = NULL
        self.used -= 1
        while True:
            j = (j + 1) & self.mask
            rec = self.table[j]
            if rec == NULL:
                return
            home = <Py_ssize_t>(<size_t>rec.hash & <size_t>self.mask)
            # Move rec into the hole unless its home lies cyclically in (i, j].
            if (i <= j and (home <= i or home > j)) or (i > j and home <= i and home > j):
                self.table[i] = rec
                self.table[j] = NULL
                i = j

    def schedule(self, key, double deadline):
        """Set `key`'s deadline (seconds); a pending key is rescheduled."""
        cdef Py_hash_t h = PyObject_Hash(key)
        cdef Py_ssize_t i = self._find(key, h)
        cdef Record* rec
        if i >= 0:
            heap_schedule(&self.heap, &self.table[i].slot, deadline)
            return
        if (self.used + 1) * 4 > (self.mask + 1) * 3:
            self._grow()
        rec = <Record*>PyMem_Malloc(sizeof(Record))
        if rec == NULL:
            raise MemoryError()
        rec.slot.pos = -1
        rec.slot.owner = rec
        rec.hash = h
        try:
            heap_schedule(&self.heap, &rec.slot, deadline)
        except MemoryError:
            PyMem_Free(rec)
            raise
        Py_INCREF(key)
        rec.key = <PyObject*>key
        i = <Py_ssize_t>(<size_t>h & <size_t>self.mask)
        while self.table[i] != NULL:
            i = (i + 1) & self.mask
        self.table[i] = rec
        self.used += 1

    def cancel(self, key) -> bool:
        """Forget `key`'s deadline; False if it had none."""
        cdef Py_ssize_t i = self._find(key, PyObject_Hash(key))
        cdef Record* rec
        if i < 0:
            return False
        rec = self.table[i]
        heap_cancel(&self.heap, &rec.slot)
        self._remove_cell(i)
        Py_DECREF(<object>rec.key)
        PyMem_Free(rec)
        return True

    def deadline(self, key):
        """`key`'s pending deadline, or None."""
        cdef Py_ssize_t i = self._find(key, PyObject_Hash(key))
        return None if i < 0 else self.table[i].slot.deadline

    def next_deadline(self):
        """The earliest pending deadline, or None when nothing is pending."""
        cdef double deadline
        return deadline if heap_peek(&self.heap, &deadline) else None

    def expire(self, double now) -> list:
        """Remove and return the keys due at `now`, earliest deadline first."""
        cdef list due = []
        cdef TimerSlot* slot
        cdef Record* rec
        cdef object key
        while True:
            slot = heap_pop_due(&self.heap, now)
            if slot == NULL:
                return due
            rec = <Record*>slot.owner
            key = <object>rec.key
            self._remove_cell(self._find(key, rec.hash))
            due.append(key)
            Py_DECREF(key)
            PyMem_Free(rec)

    def clear(self) -> None:
        """Cancel every pending timer."""
        self._drop_all()

    def __len__(self):
        return self.used

    def __contains__(self, key):
        return self._find(key, PyObject_Hash(key)) >= 0

    def __repr__(self):
        return f"<TimerQueue pending={self.used} next={self.next_deadline()}>"

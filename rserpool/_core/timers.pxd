# One binary min-heap of deadlines, shared by every per-PE timer and by TimerQueue.
# A TimerSlot lives inside its owner (a handlespace PE node, a TimerQueue record); the heap
# keeps each slot's position current. Moving a deadline later (a re-registration, the usual
# case) is O(1) and reads only the slot: the slot records the new deadline and its heap entry
# is brought up to date only when it reaches the top. Cancelling is O(1) as well: the entry
# is marked dead (slot NULL) and dropped when it reaches the top, or all dead entries at
# once when they outnumber the live ones twice over (amortized O(1) per cancel).
from libc.stdint cimport uint64_t


cdef struct TimerSlot:
    Py_ssize_t pos          # index in the heap, -1 while not scheduled
    double deadline         # the true deadline; the heap entry's may be earlier (stale)
    uint64_t seq            # the true schedule order
    void* owner             # the structure this slot is embedded in


cdef struct HeapEntry:
    double deadline
    uint64_t seq            # schedule order: ties on the deadline expire first-in first-out
    TimerSlot* slot         # NULL: cancelled, waiting to be dropped


cdef struct TimerHeap:
    HeapEntry* items
    Py_ssize_t size         # entries, dead ones included
    Py_ssize_t capacity
    Py_ssize_t dead         # cancelled entries still in items
    uint64_t seq


cdef void heap_init(TimerHeap* heap) noexcept
cdef void heap_free(TimerHeap* heap) noexcept
cdef int heap_schedule(TimerHeap* heap, TimerSlot* slot, double deadline) except -1
cdef void heap_cancel(TimerHeap* heap, TimerSlot* slot) noexcept
cdef TimerSlot* heap_pop_due(TimerHeap* heap, double now) noexcept
cdef bint heap_peek(TimerHeap* heap, double* deadline) noexcept

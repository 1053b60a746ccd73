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
cdef int heap_schedule_slow(TimerHeap* heap, TimerSlot* slot, double deadline) except -1
cdef void heap_drop_dead(TimerHeap* heap) noexcept


cdef inline int heap_schedule(TimerHeap* heap, TimerSlot* slot, double deadline) except -1:
    """Schedule `slot` at `deadline`, or move it there if it is already pending."""
    if slot.pos >= 0 and deadline >= slot.deadline:
        # Later (the usual re-registration): the entry waits until it reaches the top.
        slot.deadline = deadline
        slot.seq = heap.seq
        heap.seq += 1
        return 0
    return heap_schedule_slow(heap, slot, deadline)


cdef inline void heap_cancel(TimerHeap* heap, TimerSlot* slot) noexcept:
    """Stop `slot`'s timer; a slot that is not pending is left alone."""
    cdef Py_ssize_t i = slot.pos
    if i < 0:
        return
    slot.pos = -1
    if i == heap.size - 1:
        heap.size -= 1
        return
    heap.items[i].slot = NULL
    heap.dead += 1
    if heap.dead > 2 * (heap.size - heap.dead):     # at most 3 entries per pending timer
        heap_drop_dead(heap)
cdef TimerSlot* heap_pop_due(TimerHeap* heap, double now) noexcept
cdef bint heap_peek(TimerHeap* heap, double* deadline) noexcept

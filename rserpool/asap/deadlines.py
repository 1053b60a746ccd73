"""Keyed one-shot deadlines for the sans-I/O cores.

Each key has at most one pending deadline; scheduling a key again replaces it. Cancelled and
replaced entries stay on the heap until they surface (lazy deletion) and the heap is rebuilt
when they outnumber the live ones, so every operation is O(log n) amortised.
"""

from __future__ import annotations

import heapq
from typing import Any

Key = tuple[Any, ...]


class Deadlines:
    """A min-heap of (deadline, key) with replace-on-reschedule semantics."""

    __slots__ = ("_heap", "_live", "_seq")

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Key]] = []
        self._live: dict[Key, int] = {}
        self._seq = 0

    def __len__(self) -> int:
        return len(self._live)

    @property
    def serial(self) -> int:
        """Grows with every ``schedule``: while it stays the same, no deadline moved earlier."""
        return self._seq

    def schedule(self, key: Key, deadline: float) -> None:
        """Set (or move) the deadline of ``key``."""
        self._seq += 1
        self._live[key] = self._seq
        heapq.heappush(self._heap, (deadline, self._seq, key))
        if len(self._heap) > 64 and len(self._heap) > 2 * len(self._live):
            self._compact()

    def cancel(self, key: Key) -> None:
        """Forget the deadline of ``key`` (no error if it has none)."""
        self._live.pop(key, None)

    def next_deadline(self) -> float | None:
        """The earliest pending deadline, or None when nothing is pending."""
        heap, live = self._heap, self._live
        while heap and live.get(heap[0][2]) != heap[0][1]:
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def pop_due(self, now: float) -> list[Key]:
        """Remove and return every key whose deadline is <= now, earliest first."""
        heap, live = self._heap, self._live
        due: list[Key] = []
        while heap and heap[0][0] <= now:
            _, seq, key = heapq.heappop(heap)
            if live.get(key) == seq:
                del live[key]
                due.append(key)
        return due

    def _compact(self) -> None:
        live = self._live
        self._heap = [entry for entry in self._heap if live.get(entry[2]) == entry[1]]
        heapq.heapify(self._heap)

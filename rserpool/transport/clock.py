"""Timer queues for the memory transport: virtual time advanced by hand, or asyncio's time.

Both keep their own heap, so callbacks due at the same instant run in the order they were
scheduled (asyncio's own timer heap does not promise that), which keeps runs reproducible.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable
from typing import Protocol

_RESOLUTION = time.get_clock_info("monotonic").resolution


class Timer(Protocol):
    def cancel(self) -> None: ...


class Clock(Protocol):
    """What the memory network needs from time."""

    def now(self) -> float: ...

    def call_at(self, when: float, callback: Callable[[], None]) -> Timer: ...


class _Entry:
    __slots__ = ("callback",)

    def __init__(self, callback: Callable[[], None] | None) -> None:
        self.callback = callback

    def cancel(self) -> None:
        self.callback = None


class _TimerHeap:
    def __init__(self) -> None:
        # (when, sequence, entry): tuples compare in C, the sequence keeps ties in order
        self._heap: list[tuple[float, int, _Entry]] = []
        self._seq = itertools.count()

    def _push(self, when: float, callback: Callable[[], None]) -> _Entry:
        entry = _Entry(callback)
        heapq.heappush(self._heap, (when, next(self._seq), entry))
        return entry

    def next_deadline(self) -> float | None:
        """When the earliest pending callback is due, or None when nothing is pending."""
        heap = self._heap
        while heap and heap[0][2].callback is None:
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def _run_due(self, until: float, set_now: Callable[[float], None] | None = None) -> int:
        ran = 0
        heap = self._heap
        while heap:
            when, _seq, entry = heap[0]
            callback = entry.callback
            if callback is None:
                heapq.heappop(heap)
                continue
            if when > until:
                break
            heapq.heappop(heap)
            entry.callback = None
            if set_now is not None:
                set_now(when)
            callback()
            ran += 1
        return ran


class VirtualClock(_TimerHeap):
    """Time that moves only when told to: ``advance(dt)`` or ``run_until(t)`` run every
    callback that falls due on the way, in order, with ``now()`` at each one's due time."""

    def __init__(self, start: float = 0.0) -> None:
        super().__init__()
        self._now = start

    def now(self) -> float:
        return self._now

    def call_at(self, when: float, callback: Callable[[], None]) -> Timer:
        return self._push(max(when, self._now), callback)

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        return self.call_at(self._now + delay, callback)

    def _set_now(self, when: float) -> None:
        self._now = max(self._now, when)

    def run_until(self, t: float) -> int:
        """Run everything due up to time ``t`` and stop the clock at ``t``; returns the count."""
        ran = self._run_due(t, self._set_now)
        self._now = max(self._now, t)
        return ran

    def advance(self, dt: float) -> int:
        """Move time forward by ``dt`` seconds (see ``run_until``)."""
        return self.run_until(self._now + dt)


class AsyncioClock(_TimerHeap):
    """The running event loop's time; one loop timer wakes the heap at its earliest deadline."""

    def __init__(self) -> None:
        super().__init__()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._armed: asyncio.TimerHandle | None = None
        self._armed_at = 0.0

    def _get_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None or self._loop.is_closed():
            self._loop = asyncio.get_running_loop()
            self._armed = None
        return self._loop

    def now(self) -> float:
        return self._get_loop().time()

    def call_at(self, when: float, callback: Callable[[], None]) -> Timer:
        entry = self._push(when, callback)
        self._arm()
        return entry

    def _arm(self) -> None:
        when = self.next_deadline()
        if when is None:
            return
        if self._armed is not None:
            if self._armed_at <= when:
                return
            self._armed.cancel()
        self._armed_at = when
        self._armed = self._get_loop().call_at(when, self._fire)

    def _fire(self) -> None:
        self._armed = None
        loop = self._get_loop()
        # Everything due within the clock's resolution runs now, as asyncio does.
        self._run_due(loop.time() + _RESOLUTION)
        self._arm()

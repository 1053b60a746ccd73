"""One timer structure for every deadline (Cython `rserpool._core.timers`)."""

from rserpool._core.timers import TimerQueue

__all__ = ["TimerQueue"]

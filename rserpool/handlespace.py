"""The handlespace: pools by pool handle, their pool elements, selection by pool policy.

Implemented in Cython (`rserpool._core.handlespace`); see docs/contracts.md.
"""

from rserpool._core.handlespace import (
    DEFAULT_MAX_ADDRESSES,
    DEFAULT_MAX_ELEMENTS_PER_POOL,
    DEFAULT_MAX_POOLS,
    Handlespace,
    HandlespaceError,
    TimerCode,
)

__all__ = [
    "DEFAULT_MAX_ADDRESSES",
    "DEFAULT_MAX_ELEMENTS_PER_POOL",
    "DEFAULT_MAX_POOLS",
    "Handlespace",
    "HandlespaceError",
    "TimerCode",
]

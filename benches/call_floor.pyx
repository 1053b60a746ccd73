# cython: language_level=3
"""An empty handlespace: the calls the handlespace bench makes, with the signatures and
argument checks of rserpool.handlespace.Handlespace, each doing nothing else.

Timed in the same loops as the real handlespace, it shows what part of a per-operation time
is the Python call itself, which no implementation called once per operation can remove:
the baseline's time over this one is the highest ratio any such implementation can reach.
"""
cimport cython

from rserpool.wire import PoolElement


@cython.final
cdef class EmptyHandlespace:
    cdef object _element_type

    def __init__(self, seed=None):
        self._element_type = PoolElement

    def register(self, bytes pool_handle not None, element, *, double now, owner=None,
                 assoc=None):
        if type(element) is not self._element_type:    # the check the real one's type makes
            raise TypeError("element must be a PoolElement")
        return False

    @cython.binding(False)      # as Handlespace.deregister
    def deregister(self, bytes pool_handle not None, pe_id):
        return None

    def select(self, bytes pool_handle not None, n):
        return []

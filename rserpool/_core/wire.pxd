# C declarations of the codec classes other Cython modules read directly (the handlespace).
# Their Python API is in wire.pyx and wire.pyi; the attributes live here as Cython requires.
cimport cython
from libc.stdint cimport int32_t, uint16_t, uint32_t

ctypedef unsigned char uchar


cdef class Transport:
    cdef public uint16_t port
    cdef uint32_t _aux        # transport use (SCTP, TCP) or DCCP service code
    cdef uint16_t _pt         # parameter type
    cdef uint16_t _hlen       # TLV header + fixed fields: 8, or 12 for DCCP
    cdef bytes _buf
    cdef Py_ssize_t _off
    cdef Py_ssize_t _blen
    cdef tuple _addr_cache

    cdef const uchar* _bp(self) noexcept
    cdef int _set_addresses(self, addresses) except -1
    cdef tuple _packed(self)
    cdef Py_ssize_t _size(self) noexcept
    cdef uchar* _write(self, uchar* p) noexcept
    cdef bint _equals(self, Transport o) noexcept
    cdef str _extra_repr(self)


@cython.final
cdef class Policy:
    cdef uint32_t _ptype
    cdef int _layout          # field mask of _policy_layout(_ptype)
    cdef int _tlvlen
    cdef uint32_t _v[7]

    cdef void _set_type(self, uint32_t t, int layout) noexcept
    cdef int _set_checked(self, int i, v) except -1
    cdef uint32_t _field(self, int i) noexcept
    cdef void _set_field(self, int i, uint32_t v) noexcept
    cdef Py_ssize_t _size(self) noexcept
    cdef uchar* _write(self, uchar* p) noexcept


@cython.final
cdef class PoolElement:
    cdef public uint32_t pe_identifier
    cdef public uint32_t home_enrp_server_identifier
    cdef public int32_t registration_life
    cdef Transport _user_transport
    cdef Policy _policy
    cdef Transport _asap_transport
    cdef bytes _raw           # decoded message holding the not yet built sub-parameters
    cdef Py_ssize_t _ut_off, _ut_len, _pol_off, _pol_len, _at_off, _at_len

    cdef Transport _build_transport(self, Py_ssize_t off, Py_ssize_t length)
    cdef Py_ssize_t _size(self) noexcept
    cdef uchar* _write(self, uchar* p) noexcept


# What the handlespace reads of a pool element, filled without building lazy sub-objects.
cdef struct PEFields:
    uint32_t policy_type
    uint32_t values[7]        # weight, priority, load, load_degradation, load_dpf,
                              # weight_dpf, distance (0 where the policy has no such field)
    uint16_t transport_type   # parameter type of the user transport (RFC 5354 3.3-3.7)
    uint16_t transport_use    # SCTP and TCP: transport use; 0 for the others


cdef void pe_fields(PoolElement pe, PEFields* out) noexcept
cdef Py_ssize_t pe_address_count(PoolElement pe) noexcept

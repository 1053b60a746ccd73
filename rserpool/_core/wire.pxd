# C declarations of the codec classes other Cython modules read directly (the handlespace).
# Their Python API is in wire.pyx and wire.pyi; the attributes live here as Cython requires.
cimport cython
from cpython.bytes cimport PyBytes_AS_STRING
from libc.stdint cimport int32_t, uint16_t, uint32_t
from libc.string cimport memcpy

ctypedef unsigned char uchar

# Causes, limits, parameter types (P_), policy field bits (F_), parameter masks (A_, B_).
cdef enum:
    _UNRECOGNIZED_PARAMETER = 1
    _UNRECOGNIZED_MESSAGE = 2
    _INVALID_VALUES = 3
    C_MAX_MESSAGE_SIZE = 65535
    C_MAX_POOL_HANDLE_LENGTH = 32
    C_MAX_ADDRESSES = 64
    C_MAX_HR_ITEMS = 128
    C_MAX_HT_ELEMENTS = 1024
    P_IPV4 = 0x01
    P_IPV6 = 0x02
    P_DCCP = 0x03
    P_SCTP = 0x04
    P_TCP = 0x05
    P_UDP = 0x06
    P_UDPLITE = 0x07
    P_POLICY = 0x08
    P_HANDLE = 0x09
    P_PE = 0x0a
    P_SERVER_INFO = 0x0b
    P_ERROR = 0x0c
    P_COOKIE = 0x0d
    P_PE_ID = 0x0e
    P_CHECKSUM = 0x0f
    P_HROPT = 0x3f
    P_HROPT_WIRE = 0x803f
    B_TRANSPORTS = (1 << P_DCCP) | (1 << P_SCTP) | (1 << P_TCP) | (1 << P_UDP) | (1 << P_UDPLITE)
    B_HROPT = 1 << 16
    F_W = 1
    F_P = 2
    F_L = 4
    F_LD = 8
    F_LDPF = 16
    F_WDPF = 32
    F_D = 64
    A_HANDLE = 1 << P_HANDLE
    A_PE = 1 << P_PE
    A_PE_ID = 1 << P_PE_ID
    A_POLICY = 1 << P_POLICY
    A_ERROR = 1 << P_ERROR
    A_COOKIE = 1 << P_COOKIE
    A_CHECKSUM = 1 << P_CHECKSUM
    A_SERVER = 1 << P_SERVER_INFO


cdef inline uint32_t rd16(const uchar* p) noexcept nogil:
    return (<uint32_t>p[0] << 8) | p[1]


cdef inline uint32_t rd32(const uchar* p) noexcept nogil:
    return (<uint32_t>p[0] << 24) | (<uint32_t>p[1] << 16) | (<uint32_t>p[2] << 8) | p[3]


# Field bits, in wire order: weight, priority, load, load_degradation, load_dpf, weight_dpf,
# distance. The high byte is how many fields RSPLIB requires (it sends PLU without degradation).
# Field mask | (minimum field count << 8), or -1 for an unknown policy type.
cdef inline int _policy_layout(uint32_t t) noexcept nogil:
    if t == 0x1 or t == 0x3:                      # RR, Random
        return 0
    if t == 0x2 or t == 0x4:                      # WRR, WRAND
        return F_W | (1 << 8)
    if t == 0x5:                                  # Priority
        return F_P | (1 << 8)
    if t == 0x40000001UL or t == 0x40000004UL:        # LU, RLU
        return F_L | (1 << 8)
    if t == 0x40000002UL:                           # LUD
        return F_L | F_LD | (2 << 8)
    if t == 0x40000003UL:                           # PLU (RFC 5356: load + degradation)
        return F_L | F_LD | (1 << 8)
    if t == 0xb0001001UL:                           # randomized priority LU
        return F_L | (1 << 8)
    if t == 0xb0001002UL or t == 0xb0001003UL or t == 0xb0001004UL:   # RLUD, PLUD, RPLUD
        return F_L | F_LD | (2 << 8)
    if t == 0xb0002001UL:                           # WRAND-DPF
        return F_W | F_WDPF | F_D | (3 << 8)
    if t == 0xb0002002UL:                           # LU-DPF
        return F_L | F_LDPF | F_D | (3 << 8)
    if t == 0xb0002003UL:                           # LUD-DPF
        return F_L | F_LD | F_LDPF | F_D | (4 << 8)
    return -1


cdef class Transport:
    cdef public uint16_t port
    cdef uint32_t _aux        # transport use (SCTP, TCP) or DCCP service code
    cdef uint16_t _pt         # parameter type
    cdef uint16_t _hlen       # TLV header + fixed fields: 8, or 12 for DCCP
    cdef bytes _buf
    cdef Py_ssize_t _off
    cdef Py_ssize_t _blen
    cdef tuple _addr_cache

    cdef inline const uchar* _bp(self) noexcept
    cdef int _set_addresses(self, addresses) except -1
    cdef tuple _packed(self)
    cdef inline Py_ssize_t _size(self) noexcept
    cdef uchar* _write(self, uchar* p) noexcept
    cdef bint _equals(self, Transport o) noexcept
    cdef str _extra_repr(self)


@cython.final
cdef class Policy:
    cdef uint32_t _ptype
    cdef int _layout          # field mask of _policy_layout(_ptype)
    cdef int _tlvlen
    cdef uint32_t _v[7]

    cdef inline void _set_type(self, uint32_t t, int layout) noexcept
    cdef int _set_checked(self, int i, v) except -1
    cdef inline uint32_t _field(self, int i) noexcept
    cdef inline void _set_field(self, int i, uint32_t v) noexcept
    cdef inline Py_ssize_t _size(self) noexcept
    cdef uchar* _write(self, uchar* p) noexcept


@cython.final
cdef class PoolElement:
    # What a registration reads (pe_fields) first, so that it spans as few cache lines as
    # can be. Offsets and lengths of sub-parameters lie inside one message (16-bit length).
    cdef public uint32_t pe_identifier
    cdef public uint32_t home_enrp_server_identifier
    cdef public int32_t registration_life
    cdef int32_t _pol_len
    cdef Policy _policy
    cdef Transport _user_transport
    cdef int32_t _ut_len, _at_len
    cdef bytes _raw           # decoded message holding the not yet built sub-parameters
    cdef int32_t _pol_off, _ut_off, _at_off
    cdef Transport _asap_transport

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


# Policy type and values, user transport type and use of pe, from its objects or, for a
# decoded pool element whose sub-parameters are not built yet, from their canonical bytes.
cdef inline void pe_fields(PoolElement pe, PEFields* out) noexcept:
    cdef const uchar* p
    cdef int layout, i
    cdef uint32_t aux
    if pe._pol_len:     # canonical: exactly the fields of its (known) type, in wire order
        p = <const uchar*>PyBytes_AS_STRING(pe._raw) + pe._pol_off
        out.policy_type = rd32(p + 4)
        layout = _policy_layout(out.policy_type)
        p += 8
        for i in range(7):
            if layout & (1 << i):
                out.values[i] = rd32(p)
                p += 4
            else:
                out.values[i] = 0
    else:
        out.policy_type = pe._policy._ptype
        memcpy(out.values, pe._policy._v, sizeof(pe._policy._v))
    if pe._ut_len:
        p = <const uchar*>PyBytes_AS_STRING(pe._raw) + pe._ut_off
        out.transport_type = <uint16_t>rd16(p)
        aux = rd16(p + 6)
    else:
        out.transport_type = pe._user_transport._pt
        aux = pe._user_transport._aux
    if out.transport_type == P_SCTP or out.transport_type == P_TCP:
        out.transport_use = <uint16_t>aux
    else:
        out.transport_use = 0


# Number of addresses of pe's user transport, without building it.
cdef inline Py_ssize_t pe_address_count(PoolElement pe) noexcept:
    cdef const uchar* p
    cdef Py_ssize_t i = 0, n = 0, size
    if pe._ut_len:
        p = <const uchar*>PyBytes_AS_STRING(pe._raw) + pe._ut_off
        i = 12 if rd16(p) == P_DCCP else 8
        size = pe._ut_len
    else:
        p = <const uchar*>PyBytes_AS_STRING(pe._user_transport._buf) + pe._user_transport._off
        size = pe._user_transport._blen
    while i < size:
        i += 8 if p[i + 1] == P_IPV4 else 20
        n += 1
    return n

# cython: language_level=3, auto_pickle=False, autotestdict=False
"""ASAP (RFC 5352) and ENRP (RFC 5353) messages with the parameters of RFC 5354.

Decoding walks the bytes through a `const unsigned char*`; every message and parameter is a
`cdef class`. Addresses are kept as their wire form (the address TLVs of a transport) and
turned into `ipaddress` objects only when `.addresses` is read.
"""

cimport cython
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.ref cimport Py_INCREF
from cpython.tuple cimport PyTuple_GET_ITEM, PyTuple_GET_SIZE, PyTuple_New, PyTuple_SET_ITEM
from libc.stdint cimport int32_t, uint8_t, uint16_t, uint32_t
from libc.string cimport memcmp, memcpy, memset

import ipaddress


# ---------------------------------------------------------------------------------------------
# Constants and limits

# (the C constants of the format, the byte readers and _policy_layout are in wire.pxd)


PPID_ASAP = 11
PPID_ENRP = 12


#: Largest message: the 16-bit length field of the message header.
MAX_MESSAGE_SIZE = 65535
#: Longest pool handle accepted (RSPLIB's limit; RFC 5352 leaves it open).
MAX_POOL_HANDLE_LENGTH = 32
#: Most addresses in one transport parameter.
MAX_ADDRESSES_PER_TRANSPORT = 64
#: Most pool elements in one Handle Resolution Response or Business Card (RSPLIB's cap).
MAX_HANDLE_RESOLUTION_ITEMS = 128
#: Most pool elements in one ENRP Handle Table Response.
MAX_HANDLE_TABLE_ELEMENTS = 1024
#: Deepest parameter nesting the grammar has: message > pool element > transport > address.
MAX_NESTING_DEPTH = 3


# Parameter types (RFC 5354 section 3; 0x3f: handle resolution option, sent as 0x803f)

# Bits of a "which parameters may appear" mask (bit 16 stands for the handle resolution option)

_PARAM_NAMES = {
    0x01: "IPv4 Address", 0x02: "IPv6 Address", 0x03: "DCCP Transport", 0x04: "SCTP Transport",
    0x05: "TCP Transport", 0x06: "UDP Transport", 0x07: "UDP-Lite Transport",
    0x08: "Member Selection Policy", 0x09: "Pool Handle", 0x0a: "Pool Element",
    0x0b: "Server Information", 0x0c: "Operation Error", 0x0d: "Cookie",
    0x0e: "PE Identifier", 0x0f: "PE Checksum", 0x3f: "Handle Resolution Option",
}


class ParseError(ValueError):
    """Bytes that are not a valid ASAP/ENRP message.

    `cause` is the RFC 5354 cause code a peer should get back, `offset` the byte offset of the
    fault, `info` the cause information to send (the offending parameter or message), and
    `report` False when the RFC says to discard silently (unknown parameter, action bits 00).
    """

    def __init__(self, message, cause=0, offset=0, info=b"", report=True):
        super().__init__(message)
        self.cause = cause
        self.offset = offset
        self.info = info
        self.report = report

    def error_cause(self):
        """The ErrorCause to send back to the peer (if `report`): cause code and info."""
        return ErrorCause(self.cause, self.info)


cdef int _fail(int cause, Py_ssize_t offset, str msg, bytes info=b"", bint report=True) except -1:
    raise ParseError(f"{msg} (at byte {offset})", cause, offset, info, report)


# ---------------------------------------------------------------------------------------------
# Byte helpers (rd16, rd32: wire.pxd)

cdef inline void wr16(uchar* p, uint32_t v) noexcept nogil:
    p[0] = <uchar>(v >> 8)
    p[1] = <uchar>v

cdef inline void wr32(uchar* p, uint32_t v) noexcept nogil:
    p[0] = <uchar>(v >> 24)
    p[1] = <uchar>(v >> 16)
    p[2] = <uchar>(v >> 8)
    p[3] = <uchar>v

cdef inline Py_ssize_t pad4(Py_ssize_t n) noexcept nogil:
    return (n + 3) & ~3

cdef inline uchar* wr_tlv_hdr(uchar* p, uint32_t t, Py_ssize_t length) noexcept nogil:
    wr16(p, t)
    wr16(p + 2, <uint32_t>length)
    return p + 4

cdef inline uchar* wr_padded(uchar* p, const uchar* src, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t padded = pad4(n)
    if n:
        memcpy(p, src, n)
    if padded != n:
        memset(p + n, 0, padded - n)
    return p + padded


cdef str _pname(uint32_t t):
    return _PARAM_NAMES.get(t & 0x3fff, f"parameter 0x{t:04x}")


cdef _ip(a):
    """An address given as str, bytes (4/16) or ipaddress object -> ipaddress object."""
    if isinstance(a, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
        return a
    if isinstance(a, (bytes, bytearray)) and len(a) in (4, 16):
        return ipaddress.ip_address(bytes(a))
    if isinstance(a, str):
        return ipaddress.ip_address(a)
    raise TypeError(f"address must be str or ipaddress.IPv4Address/IPv6Address, not {a!r}")


cdef bytes _check_handle(object handle):
    if not isinstance(handle, bytes):
        raise TypeError(f"pool handle must be bytes, not {type(handle).__name__}")
    if not 0 < len(<bytes>handle) <= C_MAX_POOL_HANDLE_LENGTH:
        raise ValueError(
            f"pool handle must be 1..{C_MAX_POOL_HANDLE_LENGTH} bytes, got {len(<bytes>handle)}")
    return <bytes>handle


cdef uint32_t _u32(object v, str name) except? 0xffffffff:
    if not 0 <= v <= 0xffffffff:
        raise ValueError(f"{name} must be an unsigned 32-bit integer, got {v!r}")
    return <uint32_t>v


# ---------------------------------------------------------------------------------------------
# Reader: the input buffer plus what decoding has to report

cdef Py_ssize_t _tlv_fail(const uchar* buf, Py_ssize_t pos, Py_ssize_t end) except -1:
    """Raise the ParseError for the invalid TLV header at pos (kept out of the hot path)."""
    cdef uint32_t t, length
    if end - pos < 4:
        _fail(_INVALID_VALUES, pos, f"truncated parameter header: {end - pos} bytes left")
    t = rd16(buf + pos)
    length = rd16(buf + pos + 2)
    if length < 4:
        _fail(_INVALID_VALUES, pos + 2, f"{_pname(t)} parameter length {length} is below 4")
    return _fail(_INVALID_VALUES, pos + 2,
                 f"{_pname(t)} parameter length {length} runs past its enclosing "
                 f"message or parameter ({end - pos} bytes left)")


@cython.final
@cython.no_gc
@cython.freelist(8)
cdef class _Reader:
    cdef const uchar* buf
    cdef Py_ssize_t n
    cdef bytes data
    cdef list unrec
    cdef int ppid
    cdef int mtype
    cdef bint busy
    cdef _Params params

    cdef str where(self):
        """The message being decoded, for error messages."""
        names = _ASAP_NAMES if self.ppid == 11 else _ENRP_NAMES
        return names[self.mtype] if 0 < self.mtype < len(names) else "message"

    cdef bytes slice(self, Py_ssize_t start, Py_ssize_t end):
        return PyBytes_FromStringAndSize(<const char*>self.buf + start, end - start)

    cdef inline Py_ssize_t tlv(self, Py_ssize_t pos, Py_ssize_t end, uint32_t* ptype,
                               Py_ssize_t* vlen) except -1:
        """Check the TLV at pos inside [pos, end); return the offset of the next TLV."""
        cdef uint32_t length
        cdef Py_ssize_t nxt
        if end - pos >= 4:
            length = rd16(self.buf + pos + 2)
            if length >= 4 and <Py_ssize_t>length <= end - pos:
                ptype[0] = rd16(self.buf + pos)
                vlen[0] = length - 4
                nxt = pos + pad4(length)
                return end if nxt > end else nxt
        return _tlv_fail(self.buf, pos, end)

    cdef int unknown(self, Py_ssize_t pos, uint32_t t, Py_ssize_t vlen, str where) except -1:
        """Apply the action bits of an unrecognized parameter type."""
        cdef uint32_t action = t >> 14
        cdef bytes raw = self.slice(pos, pos + 4 + vlen)
        if action == 0:
            _fail(_UNRECOGNIZED_PARAMETER, pos,
                  f"unrecognized parameter type 0x{t:04x} in {where} (action: stop, no report)",
                  raw, False)
        elif action == 1:
            _fail(_UNRECOGNIZED_PARAMETER, pos,
                  f"unrecognized parameter type 0x{t:04x} in {where} (action: stop and report)",
                  raw, True)
        elif action == 3:
            if self.unrec is None:
                self.unrec = []
            self.unrec.append(raw)
        return 0

    cdef int unexpected(self, Py_ssize_t pos, uint32_t t, str where) except -1:
        return _fail(_INVALID_VALUES, pos, f"{_pname(t)} parameter is not allowed in {where}",
                     self.slice(pos, pos + rd16(self.buf + pos + 2)))


# ---------------------------------------------------------------------------------------------
# Transports

@cython.no_gc
cdef class Transport:
    """Base of the transport parameters: port, one 16/32-bit field, addresses.

    The addresses are kept as their address TLVs: a slice [_off, _off + _blen) of _buf, which
    is either the decoded message (no copy) or a blob built by the constructor.
    """

    __hash__ = None

    cdef inline const uchar* _bp(self) noexcept:
        return <const uchar*>PyBytes_AS_STRING(self._buf) + self._off

    cdef int _set_addresses(self, addresses) except -1:
        cdef list parts = []
        cdef int n = 0
        for a in addresses:
            ip = _ip(a)
            if ip.version == 4:
                parts.append(b"\x00\x01\x00\x08" + ip.packed)
            else:
                parts.append(b"\x00\x02\x00\x14" + ip.packed)
            n += 1
        if n == 0:
            raise ValueError("a transport parameter needs at least one address")
        if n > C_MAX_ADDRESSES:
            raise ValueError(
                f"{n} addresses exceed MAX_ADDRESSES_PER_TRANSPORT ({C_MAX_ADDRESSES})")
        self._buf = b"".join(parts)
        self._off = 0
        self._blen = PyBytes_GET_SIZE(self._buf)
        self._addr_cache = None
        return 0

    cdef tuple _packed(self):
        cdef const uchar* p = self._bp()
        cdef Py_ssize_t i = 0, n = 0
        cdef bytes a
        while i < self._blen:
            i += 8 if p[i + 1] == P_IPV4 else 20
            n += 1
        cdef tuple out = PyTuple_New(n)
        i = n = 0
        while i < self._blen:
            a = PyBytes_FromStringAndSize(<const char*>p + i + 4, 4 if p[i + 1] == P_IPV4 else 16)
            Py_INCREF(a)
            PyTuple_SET_ITEM(out, n, a)
            i += 8 if p[i + 1] == P_IPV4 else 20
            n += 1
        return out

    @property
    def addresses(self):
        """The addresses, as ipaddress objects (created on first access)."""
        if self._addr_cache is None:
            self._addr_cache = tuple([
                ipaddress.IPv4Address(a) if len(a) == 4 else ipaddress.IPv6Address(a)
                for a in self._packed()])
        return self._addr_cache

    @addresses.setter
    def addresses(self, value):
        self._set_addresses(value)

    @property
    def packed_addresses(self):
        """The addresses as 4- or 16-byte strings, without creating ipaddress objects."""
        return self._packed()

    cdef inline Py_ssize_t _size(self) noexcept:
        return self._hlen + self._blen

    cdef uchar* _write(self, uchar* p) noexcept:
        p = wr_tlv_hdr(p, self._pt, self._hlen + self._blen)
        wr16(p, self.port)
        if self._hlen == 12:
            wr16(p + 2, 0)
            wr32(p + 4, self._aux)
            p += 8
        else:
            wr16(p + 2, self._aux)
            p += 4
        memcpy(p, self._bp(), self._blen)
        return p + self._blen

    def encode(self):
        """The parameter TLV."""
        out = PyBytes_FromStringAndSize(NULL, self._size())
        self._write(<uchar*>PyBytes_AS_STRING(out))
        return out

    cdef bint _equals(self, Transport o) noexcept:
        return (self._pt == o._pt and self.port == o.port and self._aux == o._aux
                and self._blen == o._blen and memcmp(self._bp(), o._bp(), self._blen) == 0)

    def __richcmp__(self, other, int op):
        if op != 2 and op != 3:
            return NotImplemented
        if not isinstance(other, Transport):
            return NotImplemented if op == 2 else True
        eq = self._equals(<Transport>other)
        return eq if op == 2 else not eq

    cdef str _extra_repr(self):
        return ""

    def __reduce__(self):
        if self._pt == P_UDP or self._pt == P_UDPLITE:
            return type(self), (self.port, self._packed())
        return type(self), (self.port, self._packed(), self._aux)

    def __repr__(self):
        addrs = ", ".join([repr(str(a)) for a in self.addresses])
        if len(self.addresses) == 1:
            addrs += ","
        return f"{type(self).__name__}(port={self.port}, addresses=({addrs})" \
               f"{self._extra_repr()})"


@cython.final
@cython.no_gc
cdef class SctpTransport(Transport):
    """SCTP transport parameter (RFC 5354 3.4). transport_use: 0 data only, 1 data+control."""

    def __init__(self, port, addresses, transport_use=0):
        self._pt = P_SCTP
        self._hlen = 8
        self.port = port
        self._aux = <uint16_t>transport_use
        self._set_addresses(addresses)

    @property
    def transport_use(self):
        return self._aux

    @transport_use.setter
    def transport_use(self, uint16_t v):
        self._aux = v

    cdef str _extra_repr(self):
        return f", transport_use={self._aux}"


@cython.final
@cython.no_gc
cdef class TcpTransport(Transport):
    """TCP transport parameter (RFC 5354 3.5). transport_use: 0 data only, 1 data+control."""

    def __init__(self, port, addresses, transport_use=0):
        self._pt = P_TCP
        self._hlen = 8
        self.port = port
        self._aux = <uint16_t>transport_use
        self._set_addresses(addresses)

    @property
    def transport_use(self):
        return self._aux

    @transport_use.setter
    def transport_use(self, uint16_t v):
        self._aux = v

    cdef str _extra_repr(self):
        return f", transport_use={self._aux}"


@cython.final
@cython.no_gc
cdef class UdpTransport(Transport):
    """UDP transport parameter (RFC 5354 3.6)."""

    def __init__(self, port, addresses):
        self._pt = P_UDP
        self._hlen = 8
        self.port = port
        self._set_addresses(addresses)


@cython.final
@cython.no_gc
cdef class UdpLiteTransport(Transport):
    """UDP-Lite transport parameter (RFC 5354 3.7)."""

    def __init__(self, port, addresses):
        self._pt = P_UDPLITE
        self._hlen = 8
        self.port = port
        self._set_addresses(addresses)


@cython.final
@cython.no_gc
cdef class DccpTransport(Transport):
    """DCCP transport parameter (RFC 5354 3.3): port, reserved, 32-bit service code."""

    def __init__(self, port, addresses, service_code=0):
        self._pt = P_DCCP
        self._hlen = 12
        self.port = port
        self._aux = _u32(service_code, "service_code")
        self._set_addresses(addresses)

    @property
    def service_code(self):
        return self._aux

    @service_code.setter
    def service_code(self, v):
        self._aux = _u32(v, "service_code")

    cdef str _extra_repr(self):
        return f", service_code={self._aux}"


cdef int _transport_fail(_Reader r, Py_ssize_t start, Py_ssize_t end, Py_ssize_t at,
                         uint32_t t, int kind, Py_ssize_t extra) except -1:
    """Raise the ParseError for an invalid transport parameter (kept out of the hot path)."""
    cdef str why
    if kind == 0:
        why = f"{_pname(t)} parameter too short: {end - start - 4} value bytes"
    elif kind == 1:
        why = (f"{_pname(t)} parameter has {extra} value bytes, expected "
               f"{4 if (t & 0x3fff) == P_IPV4 else 16}")
    elif kind == 2:
        why = (f"more than MAX_ADDRESSES_PER_TRANSPORT ({C_MAX_ADDRESSES}) addresses "
               f"in {_pname(t)} parameter")
    elif kind == 3:
        why = (f"{_pname(t)} parameter is not allowed in a {_pname(<uint32_t>extra)} parameter "
               f"(MAX_NESTING_DEPTH {MAX_NESTING_DEPTH}: transports hold addresses only)")
    else:
        why = f"{_pname(t)} parameter has no address"
    return _fail(_INVALID_VALUES, at, why, r.slice(start, end))


cdef Transport _new_transport(uint32_t t, const uchar* p, bytes buf, Py_ssize_t off,
                              Py_ssize_t length):
    """A transport object for the canonical transport TLV at p (= buf + off), length bytes."""
    cdef Transport tr
    if t == P_SCTP:
        tr = SctpTransport.__new__(SctpTransport)
    elif t == P_TCP:
        tr = TcpTransport.__new__(TcpTransport)
    elif t == P_UDP:
        tr = UdpTransport.__new__(UdpTransport)
    elif t == P_UDPLITE:
        tr = UdpLiteTransport.__new__(UdpLiteTransport)
    else:
        tr = DccpTransport.__new__(DccpTransport)
    tr._pt = <uint16_t>t
    tr._hlen = 12 if t == P_DCCP else 8
    tr.port = rd16(p + 4)
    if t == P_DCCP:
        tr._aux = rd32(p + 8)
    elif t == P_SCTP or t == P_TCP:
        tr._aux = rd16(p + 6)
    tr._buf = buf
    tr._off = off + tr._hlen
    tr._blen = length - tr._hlen
    return tr


cdef Transport _dec_transport(_Reader r, Py_ssize_t pos, uint32_t t, Py_ssize_t vlen,
                              bint lazy=False):
    """Decode the transport TLV at pos (pure type t, value length vlen).

    With lazy, only validate it, and return None if its bytes are canonical.
    """
    cdef Transport tr
    cdef Py_ssize_t head = 12 if t == P_DCCP else 8
    cdef Py_ssize_t end = pos + 4 + vlen
    cdef Py_ssize_t q, nxt, start
    cdef uint32_t at = 0, apt
    cdef Py_ssize_t alen = 0
    cdef int naddr = 0
    cdef list parts = None
    if vlen < head - 4:
        _transport_fail(r, pos, end, pos, t, 0, 0)
    start = q = pos + head
    while q < end:
        nxt = r.tlv(q, end, &at, &alen)
        apt = at & 0x3fff
        if apt == P_IPV4 or apt == P_IPV6:
            if alen != (4 if apt == P_IPV4 else 16):
                _transport_fail(r, q, q + 4 + alen, q + 2, at, 1, alen)
            naddr += 1
            if naddr > C_MAX_ADDRESSES:
                _transport_fail(r, pos, end, q, t, 2, 0)
            if at != apt and parts is None:
                parts = [r.slice(start, q)]
            if parts is not None:
                parts.append(b"\x00\x01\x00\x08" if apt == P_IPV4 else b"\x00\x02\x00\x14")
                parts.append(r.slice(q + 4, q + 4 + alen))
        elif apt in _PARAM_NAMES:
            _transport_fail(r, q, q + 4 + alen, q, at, 3, t)
        else:
            r.unknown(q, at, alen, f"{_pname(t)} parameter")
            if parts is None:
                parts = [r.slice(start, q)]
        q = nxt
    if naddr == 0:
        _transport_fail(r, pos, end, pos, t, 4, 0)
    if lazy and parts is None:
        return None
    if t == P_SCTP:
        tr = SctpTransport.__new__(SctpTransport)
    elif t == P_TCP:
        tr = TcpTransport.__new__(TcpTransport)
    elif t == P_UDP:
        tr = UdpTransport.__new__(UdpTransport)
    elif t == P_UDPLITE:
        tr = UdpLiteTransport.__new__(UdpLiteTransport)
    else:
        tr = DccpTransport.__new__(DccpTransport)
    tr._pt = <uint16_t>t
    tr._hlen = <uint16_t>head
    tr.port = rd16(r.buf + pos + 4)
    if t == P_DCCP:
        tr._aux = rd32(r.buf + pos + 8)
    elif t == P_SCTP or t == P_TCP:
        tr._aux = rd16(r.buf + pos + 6)
    if parts is None:
        tr._buf = r.data
        tr._off = start
        tr._blen = end - start
    else:
        tr._buf = b"".join(parts)
        tr._off = 0
        tr._blen = PyBytes_GET_SIZE(tr._buf)
    return tr


# ---------------------------------------------------------------------------------------------
# Member selection policy

_POLICY_FIELD_NAMES = ("weight", "priority", "load", "load_degradation", "load_dpf",
                       "weight_dpf", "distance")


cdef inline int _popcount7(int m) noexcept nogil:
    cdef int c = 0
    while m:
        c += m & 1
        m >>= 1
    return c


@cython.final
@cython.no_gc
@cython.freelist(64)
cdef class Policy:
    """Member selection policy parameter (RFC 5354 3.8, RFC 5356, RSPLIB extensions).

    Each policy type carries some of the value fields (in this order on the wire): weight,
    priority, load, load_degradation, load_dpf, weight_dpf, distance. The others are 0 and
    cannot be set; changing policy_type clears the fields the new type does not carry.
    """

    __hash__ = None

    def __init__(self, policy_type, weight=0, priority=0, load=0, load_degradation=0,
                 load_dpf=0, weight_dpf=0, distance=0):
        if _policy_layout(_u32(policy_type, "policy_type")) < 0:
            raise ValueError(f"unknown policy type 0x{policy_type:08x}")
        self.policy_type = policy_type
        values = (weight, priority, load, load_degradation, load_dpf, weight_dpf, distance)
        for i in range(7):
            self._set_checked(i, values[i])

    cdef inline void _set_type(self, uint32_t t, int layout) noexcept:
        cdef int i
        self._ptype = t
        self._layout = layout & 0x7f
        self._tlvlen = 8 + 4 * _popcount7(layout & 0x7f)
        for i in range(7):
            if not (self._layout & (1 << i)):
                self._v[i] = 0

    cdef int _set_checked(self, int i, v) except -1:
        cdef uint32_t value = _u32(v, _POLICY_FIELD_NAMES[i])
        if value and not (self._layout & (1 << i)):
            raise ValueError(f"policy 0x{self._ptype:08x} carries no {_POLICY_FIELD_NAMES[i]} "
                             f"(got {value})")
        self._v[i] = value
        return 0

    @property
    def policy_type(self):
        return self._ptype

    @policy_type.setter
    def policy_type(self, v):
        # An unknown type is accepted here (not by the constructor) so that layers above can
        # test how they refuse it; it carries no value fields, and decode() rejects it.
        cdef int layout = _policy_layout(_u32(v, "policy_type"))
        self._set_type(v, 0 if layout < 0 else layout)

    @property
    def weight(self):
        return self._v[0]

    @weight.setter
    def weight(self, v):
        self._set_checked(0, v)

    @property
    def priority(self):
        return self._v[1]

    @priority.setter
    def priority(self, v):
        self._set_checked(1, v)

    @property
    def load(self):
        return self._v[2]

    @load.setter
    def load(self, v):
        self._set_checked(2, v)

    @property
    def load_degradation(self):
        return self._v[3]

    @load_degradation.setter
    def load_degradation(self, v):
        self._set_checked(3, v)

    @property
    def load_dpf(self):
        return self._v[4]

    @load_dpf.setter
    def load_dpf(self, v):
        self._set_checked(4, v)

    @property
    def weight_dpf(self):
        return self._v[5]

    @weight_dpf.setter
    def weight_dpf(self, v):
        self._set_checked(5, v)

    @property
    def distance(self):
        return self._v[6]

    @distance.setter
    def distance(self, v):
        self._set_checked(6, v)

    cdef inline uint32_t _field(self, int i) noexcept:
        return self._v[i]

    cdef inline void _set_field(self, int i, uint32_t v) noexcept:
        self._v[i] = v

    cdef inline Py_ssize_t _size(self) noexcept:
        return self._tlvlen

    cdef uchar* _write(self, uchar* p) noexcept:
        cdef int layout = self._layout
        cdef int i
        p = wr_tlv_hdr(p, P_POLICY, self._tlvlen)
        wr32(p, self._ptype)
        p += 4
        for i in range(7):
            if layout & (1 << i):
                wr32(p, self._field(i))
                p += 4
        return p

    def encode(self):
        """The parameter TLV."""
        out = PyBytes_FromStringAndSize(NULL, self._size())
        self._write(<uchar*>PyBytes_AS_STRING(out))
        return out

    def __richcmp__(self, other, int op):
        if op != 2 and op != 3:
            return NotImplemented
        if type(other) is not Policy:
            return NotImplemented if op == 2 else True
        cdef Policy o = <Policy>other
        eq = self._ptype == o._ptype and memcmp(self._v, o._v, sizeof(self._v)) == 0
        return eq if op == 2 else not eq

    def __reduce__(self):
        return Policy, (self._ptype, *[self._v[i] for i in range(7)])

    def __repr__(self):
        parts = [f"policy_type=0x{self._ptype:08x}"]
        for i in range(7):
            if self._v[i]:
                parts.append(f"{_POLICY_FIELD_NAMES[i]}={self._v[i]}")
        return f"Policy({', '.join(parts)})"


cdef Policy _new_policy(const uchar* p, Py_ssize_t length):
    """A policy object for the canonical policy TLV at p."""
    cdef uint32_t t = rd32(p + 4)
    cdef int layout = _policy_layout(t)
    cdef int i
    cdef Policy pol = Policy.__new__(Policy)
    pol._set_type(t, layout)
    p += 8
    for i in range(7):
        if layout & (1 << i):
            pol._set_field(i, rd32(p))
            p += 4
    return pol


cdef bint _policy_canonical(_Reader r, Py_ssize_t pos, Py_ssize_t vlen) except -1:
    """Validate the policy TLV at pos; True if it has exactly its type's fields."""
    cdef int layout
    if vlen >= 4:
        layout = _policy_layout(rd32(r.buf + pos + 4))
        if layout >= 0 and vlen == 4 + 4 * _popcount7(layout & 0x7f):
            return True
    _dec_policy(r, pos, vlen)   # raises the precise error, or accepts a longer/RSPLIB form
    return False


cdef Policy _dec_policy(_Reader r, Py_ssize_t pos, Py_ssize_t vlen):
    cdef uint32_t t
    cdef int layout, nfields, i
    cdef Py_ssize_t q
    cdef Policy pol
    if vlen < 4:
        _fail(_INVALID_VALUES, pos, f"Member Selection Policy parameter too short: {vlen} bytes",
              r.slice(pos, pos + 4 + vlen))
    t = rd32(r.buf + pos + 4)
    layout = _policy_layout(t)
    if layout < 0:
        _fail(_INVALID_VALUES, pos + 4, f"unsupported member selection policy type 0x{t:08x}",
              r.slice(pos, pos + 4 + vlen))
    nfields = (vlen - 4) // 4
    if nfields < (layout >> 8):
        _fail(_INVALID_VALUES, pos,
              f"policy 0x{t:08x} needs {layout >> 8} value fields, parameter has {nfields}",
              r.slice(pos, pos + 4 + vlen))
    pol = Policy.__new__(Policy)
    pol._set_type(t, layout)
    q = pos + 8
    for i in range(7):
        if (layout & (1 << i)) and nfields > 0:
            pol._set_field(i, rd32(r.buf + q))
            q += 4
            nfields -= 1
    return pol


# ---------------------------------------------------------------------------------------------
# Pool element, server information, operation error

@cython.final
@cython.no_gc
@cython.freelist(64)
cdef class PoolElement:
    """Pool element parameter (RFC 5354 3.9). registration_life is in milliseconds.

    A decoded pool element builds its transport and policy objects when they are first read;
    until then it encodes them by copying their (validated, canonical) bytes.
    """

    __hash__ = None

    def __init__(self, pe_identifier, home_enrp_server_identifier, registration_life,
                 user_transport, member_selection_policy, asap_transport=None):
        self.pe_identifier = pe_identifier
        self.home_enrp_server_identifier = home_enrp_server_identifier
        self.registration_life = registration_life
        self.user_transport = user_transport
        self.member_selection_policy = member_selection_policy
        self.asap_transport = asap_transport

    cdef Transport _build_transport(self, Py_ssize_t off, Py_ssize_t length):
        """The transport object of a validated, canonical transport TLV of _raw."""
        cdef const uchar* p = <const uchar*>PyBytes_AS_STRING(self._raw) + off
        return _new_transport(rd16(p), p, self._raw, off, length)

    @property
    def user_transport(self):
        if self._ut_len:
            self._user_transport = self._build_transport(self._ut_off, self._ut_len)
            self._ut_len = 0
        return self._user_transport

    @user_transport.setter
    def user_transport(self, Transport v not None):
        self._user_transport = v
        self._ut_len = 0

    @property
    def member_selection_policy(self):
        if self._pol_len:
            self._policy = _new_policy(
                <const uchar*>PyBytes_AS_STRING(self._raw) + self._pol_off, self._pol_len)
            self._pol_len = 0
        return self._policy

    @member_selection_policy.setter
    def member_selection_policy(self, Policy v not None):
        self._policy = v
        self._pol_len = 0

    @property
    def asap_transport(self):
        if self._at_len:
            self._asap_transport = self._build_transport(self._at_off, self._at_len)
            self._at_len = 0
        return self._asap_transport

    @asap_transport.setter
    def asap_transport(self, Transport v):
        self._asap_transport = v
        self._at_len = 0

    cdef Py_ssize_t _size(self) noexcept:
        cdef Py_ssize_t n = 16
        n += self._ut_len if self._ut_len else self._user_transport._size()
        n += self._pol_len if self._pol_len else self._policy._size()
        if self._at_len:
            n += self._at_len
        elif self._asap_transport is not None:
            n += self._asap_transport._size()
        return n

    cdef uchar* _write(self, uchar* p) noexcept:
        cdef const uchar* raw = NULL
        if self._raw is not None:
            raw = <const uchar*>PyBytes_AS_STRING(self._raw)
        p = wr_tlv_hdr(p, P_PE, self._size())
        wr32(p, self.pe_identifier)
        wr32(p + 4, self.home_enrp_server_identifier)
        wr32(p + 8, <uint32_t>self.registration_life)
        p += 12
        if self._ut_len:
            memcpy(p, raw + self._ut_off, self._ut_len)
            p += self._ut_len
        else:
            p = self._user_transport._write(p)
        if self._pol_len:
            memcpy(p, raw + self._pol_off, self._pol_len)
            p += self._pol_len
        else:
            p = self._policy._write(p)
        if self._at_len:
            memcpy(p, raw + self._at_off, self._at_len)
            p += self._at_len
        elif self._asap_transport is not None:
            p = self._asap_transport._write(p)
        return p

    def encode(self):
        """The parameter TLV."""
        out = PyBytes_FromStringAndSize(NULL, self._size())
        self._write(<uchar*>PyBytes_AS_STRING(out))
        return out

    def __richcmp__(self, other, int op):
        if op != 2 and op != 3:
            return NotImplemented
        if type(other) is not PoolElement:
            return NotImplemented if op == 2 else True
        cdef PoolElement o = <PoolElement>other
        eq = (self.pe_identifier == o.pe_identifier
              and self.home_enrp_server_identifier == o.home_enrp_server_identifier
              and self.registration_life == o.registration_life
              and self.user_transport == o.user_transport
              and self.member_selection_policy == o.member_selection_policy
              and self.asap_transport == o.asap_transport)
        return eq if op == 2 else not eq

    def __reduce__(self):
        return PoolElement, (self.pe_identifier, self.home_enrp_server_identifier,
                             self.registration_life, self.user_transport,
                             self.member_selection_policy, self.asap_transport)

    def __repr__(self):
        extra = "" if self.asap_transport is None else \
            f", asap_transport={self.asap_transport!r}"
        return (f"PoolElement(pe_identifier=0x{self.pe_identifier:08x}, "
                f"home_enrp_server_identifier=0x{self.home_enrp_server_identifier:08x}, "
                f"registration_life={self.registration_life}, "
                f"user_transport={self.user_transport!r}, "
                f"member_selection_policy={self.member_selection_policy!r}{extra})")


cdef PoolElement _dec_pe(_Reader r, Py_ssize_t pos, Py_ssize_t vlen):
    """Validate the pool element TLV at pos; keep canonical sub-parameters as raw bytes."""
    cdef Py_ssize_t end = pos + 4 + vlen
    cdef Py_ssize_t q, nxt, alen = 0
    cdef uint32_t at = 0, pt
    cdef PoolElement pe
    cdef Transport tr
    cdef int state = 0        # 0: want user transport, 1: want policy, 2: ASAP transport, 3: done
    if vlen < 12:
        _pe_fail(r, pos, end, pos, 0)
    pe = PoolElement.__new__(PoolElement)
    pe.pe_identifier = rd32(r.buf + pos + 4)
    pe.home_enrp_server_identifier = rd32(r.buf + pos + 8)
    pe.registration_life = <int32_t>rd32(r.buf + pos + 12)
    pe._raw = r.data
    q = pos + 16
    while q < end:
        nxt = r.tlv(q, end, &at, &alen)
        pt = at & 0x3fff
        if pt >= P_DCCP and pt <= P_UDPLITE:
            if state != 0 and state != 2:
                _pe_fail(r, pos, end, q, 1)
            tr = _dec_transport(r, q, pt, alen, at == pt)
            if state == 0:
                if tr is None:
                    pe._ut_off = q
                    pe._ut_len = 4 + alen
                else:
                    pe._user_transport = tr
                state = 1
            else:
                if tr is None:
                    pe._at_off = q
                    pe._at_len = 4 + alen
                else:
                    pe._asap_transport = tr
                state = 3
        elif pt == P_POLICY:
            if state != 1:
                _pe_fail(r, pos, end, q, 2)
            if at == P_POLICY and _policy_canonical(r, q, alen):
                pe._pol_off = q
                pe._pol_len = 4 + alen
            else:
                pe._policy = _dec_policy(r, q, alen)
            state = 2
        else:
            _other_param(r, q, at, alen, "Pool Element parameter")
        q = nxt
    if state < 2:
        _pe_fail(r, pos, end, pos, 3 + state)
    return pe


cdef int _other_param(_Reader r, Py_ssize_t q, uint32_t at, Py_ssize_t alen,
                      str where) except -1:
    """A parameter that is known but misplaced, or unknown (action bits apply)."""
    if (at & 0x3fff) in _PARAM_NAMES:
        return r.unexpected(q, at, "a " + where)
    return r.unknown(q, at, alen, where)


cdef int _pe_fail(_Reader r, Py_ssize_t pos, Py_ssize_t end, Py_ssize_t at, int kind) except -1:
    cdef str why
    if kind == 0:
        why = f"Pool Element parameter too short: {end - pos - 4} value bytes"
    elif kind == 1 or kind == 2:
        why = (f"Pool Element parameter has a {'transport' if kind == 1 else 'policy'} "
               "parameter out of place (expected user transport, policy, ASAP transport)")
    else:
        why = ("Pool Element parameter lacks its "
               + ("user transport" if kind == 3 else "policy") + " parameter")
    return _fail(_INVALID_VALUES, at, why, r.slice(pos, end))


@cython.final
@cython.no_gc
@cython.freelist(16)
cdef class ServerInformation:
    """Server information parameter (RFC 5354 3.10): server id and its SCTP transport."""

    cdef public uint32_t server_identifier
    cdef Transport _transport
    __hash__ = None

    def __init__(self, server_identifier, transport):
        self.server_identifier = server_identifier
        self.transport = transport

    @property
    def transport(self):
        return self._transport

    @transport.setter
    def transport(self, Transport v not None):
        self._transport = v

    cdef Py_ssize_t _size(self) noexcept:
        return 8 + self._transport._size()

    cdef uchar* _write(self, uchar* p) noexcept:
        p = wr_tlv_hdr(p, P_SERVER_INFO, self._size())
        wr32(p, self.server_identifier)
        return self._transport._write(p + 4)

    def encode(self):
        """The parameter TLV."""
        out = PyBytes_FromStringAndSize(NULL, self._size())
        self._write(<uchar*>PyBytes_AS_STRING(out))
        return out

    def __richcmp__(self, other, int op):
        if op != 2 and op != 3:
            return NotImplemented
        if type(other) is not ServerInformation:
            return NotImplemented if op == 2 else True
        cdef ServerInformation o = <ServerInformation>other
        eq = self.server_identifier == o.server_identifier and self._transport == o._transport
        return eq if op == 2 else not eq

    def __reduce__(self):
        return ServerInformation, (self.server_identifier, self._transport)

    def __repr__(self):
        return (f"ServerInformation(server_identifier=0x{self.server_identifier:08x}, "
                f"transport={self._transport!r})")


cdef ServerInformation _dec_server_info(_Reader r, Py_ssize_t pos, Py_ssize_t vlen):
    cdef Py_ssize_t end = pos + 4 + vlen
    cdef Py_ssize_t q, nxt, alen = 0
    cdef uint32_t at = 0, pt
    cdef ServerInformation si
    if vlen < 4:
        _fail(_INVALID_VALUES, pos, "Server Information parameter too short", r.slice(pos, end))
    si = ServerInformation.__new__(ServerInformation)
    si.server_identifier = rd32(r.buf + pos + 4)
    q = pos + 8
    while q < end:
        nxt = r.tlv(q, end, &at, &alen)
        pt = at & 0x3fff
        if pt >= P_DCCP and pt <= P_UDPLITE and si._transport is None:
            si._transport = _dec_transport(r, q, pt, alen)
        elif pt in _PARAM_NAMES:
            r.unexpected(q, at, "a Server Information parameter")
        else:
            r.unknown(q, at, alen, "Server Information parameter")
        q = nxt
    if si._transport is None:
        _fail(_INVALID_VALUES, pos, "Server Information parameter lacks its transport",
              r.slice(pos, end))
    return si


@cython.final
@cython.no_gc
@cython.freelist(16)
cdef class ErrorCause:
    """One error cause of an operation error (RFC 5354 3.10.1): code and raw cause info."""

    cdef public uint16_t code
    cdef bytes _info
    __hash__ = None

    def __init__(self, code, info=b""):
        self.code = code
        self.info = info

    @property
    def info(self):
        return self._info

    @info.setter
    def info(self, v):
        if not isinstance(v, bytes):
            raise TypeError("error cause info must be bytes")
        if len(v) > C_MAX_MESSAGE_SIZE - 16:
            raise ValueError("error cause info too long")
        self._info = v

    cdef Py_ssize_t _size(self) noexcept:
        return pad4(4 + PyBytes_GET_SIZE(self._info))

    cdef uchar* _write(self, uchar* p) noexcept:
        cdef Py_ssize_t n = PyBytes_GET_SIZE(self._info)
        p = wr_tlv_hdr(p, self.code, 4 + n)
        return wr_padded(p, <const uchar*>PyBytes_AS_STRING(self._info), n)

    def __richcmp__(self, other, int op):
        if op != 2 and op != 3:
            return NotImplemented
        if type(other) is not ErrorCause:
            return NotImplemented if op == 2 else True
        cdef ErrorCause o = <ErrorCause>other
        eq = self.code == o.code and self._info == o._info
        return eq if op == 2 else not eq

    def __reduce__(self):
        return ErrorCause, (self.code, self._info)

    def __repr__(self):
        if self._info:
            return f"ErrorCause(code={self.code}, info={self._info!r})"
        return f"ErrorCause(code={self.code})"


@cython.final
@cython.no_gc
@cython.freelist(16)
cdef class OperationError:
    """Operation error parameter (RFC 5354 3.10): one or more error causes."""

    cdef tuple _causes
    __hash__ = None

    def __init__(self, causes):
        self.causes = causes

    @property
    def causes(self):
        return self._causes

    @causes.setter
    def causes(self, v):
        v = tuple(v)
        for c in v:
            if not isinstance(c, ErrorCause):
                raise TypeError(f"causes must be ErrorCause objects, not {c!r}")
        self._causes = v

    cdef Py_ssize_t _size(self) noexcept:
        cdef Py_ssize_t n = 4, i
        for i in range(PyTuple_GET_SIZE(self._causes)):
            n += (<ErrorCause>PyTuple_GET_ITEM(self._causes, i))._size()
        return n

    cdef uchar* _write(self, uchar* p) noexcept:
        cdef Py_ssize_t i
        p = wr_tlv_hdr(p, P_ERROR, self._size())
        for i in range(PyTuple_GET_SIZE(self._causes)):
            p = (<ErrorCause>PyTuple_GET_ITEM(self._causes, i))._write(p)
        return p

    def encode(self):
        """The parameter TLV."""
        out = PyBytes_FromStringAndSize(NULL, self._size())
        self._write(<uchar*>PyBytes_AS_STRING(out))
        return out

    def __richcmp__(self, other, int op):
        if op != 2 and op != 3:
            return NotImplemented
        if type(other) is not OperationError:
            return NotImplemented if op == 2 else True
        eq = self._causes == (<OperationError>other)._causes
        return eq if op == 2 else not eq

    def __reduce__(self):
        return OperationError, (self._causes,)

    def __repr__(self):
        return f"OperationError(causes={self._causes!r})"


cdef OperationError _dec_error(_Reader r, Py_ssize_t pos, Py_ssize_t vlen):
    cdef Py_ssize_t end = pos + 4 + vlen
    cdef Py_ssize_t q = pos + 4, nxt, ilen
    cdef uint32_t code
    cdef ErrorCause c
    causes = []
    while q < end:
        if end - q < 4:
            _fail(_INVALID_VALUES, q, "truncated error cause header")
        code = rd16(r.buf + q)
        ilen = rd16(r.buf + q + 2)
        if ilen < 4 or ilen > end - q:
            _fail(_INVALID_VALUES, q + 2, f"error cause length {ilen} is invalid "
                  f"({end - q} bytes left in the Operation Error parameter)")
        c = ErrorCause.__new__(ErrorCause)
        c.code = code
        c._info = r.slice(q + 4, q + ilen)
        causes.append(c)
        nxt = q + pad4(ilen)
        q = end if nxt > end else nxt
    err = OperationError.__new__(OperationError)
    (<OperationError>err)._causes = tuple(causes)
    return err


# ---------------------------------------------------------------------------------------------
# Scalar parameter encoders

cdef inline Py_ssize_t _handle_size(bytes h) noexcept:
    return pad4(4 + PyBytes_GET_SIZE(h))

cdef inline uchar* _write_handle(uchar* p, bytes h) noexcept:
    cdef Py_ssize_t n = PyBytes_GET_SIZE(h)
    p = wr_tlv_hdr(p, P_HANDLE, 4 + n)
    return wr_padded(p, <const uchar*>PyBytes_AS_STRING(h), n)

cdef inline uchar* _write_u32_param(uchar* p, uint32_t t, uint32_t v) noexcept:
    p = wr_tlv_hdr(p, t, 8)
    wr32(p, v)
    return p + 4

cdef inline uchar* _write_checksum(uchar* p, uint32_t v) noexcept:
    p = wr_tlv_hdr(p, P_CHECKSUM, 6)
    wr16(p, v)
    wr16(p + 2, 0)
    return p + 4


# ---------------------------------------------------------------------------------------------
# Top-level parameter collection

@cython.final
@cython.no_gc
@cython.freelist(8)
cdef class _Params:
    """The top-level parameters of one message."""
    cdef bytes handle
    cdef PoolElement pe
    cdef list pes
    cdef list pools
    cdef long long pe_id
    cdef Policy policy
    cdef OperationError error
    cdef bytes cookie
    cdef long long items
    cdef long long checksum
    cdef ServerInformation server
    cdef list servers
    cdef list transports


cdef _Params _collect(_Reader r, Py_ssize_t pos, uint32_t allowed, int max_pes):
    """Parse the TLVs from pos to the end of the message into the reader's _Params."""
    cdef _Params ps = r.params
    cdef Py_ssize_t end = r.n, nxt, vlen = 0, npes = 0
    cdef uint32_t t = 0, pt, bit
    cdef uint32_t seen = 0
    if ps.handle is not None:
        ps.handle = None
    if ps.pe is not None:
        ps.pe = None
    if ps.pes is not None:
        ps.pes = None
    if ps.policy is not None:
        ps.policy = None
    if ps.error is not None:
        ps.error = None
    if ps.cookie is not None:
        ps.cookie = None
    if ps.servers is not None:
        ps.servers = None
    if ps.transports is not None:
        ps.transports = None
    ps.pe_id = -1
    ps.items = -1
    ps.checksum = -1
    while pos < end:
        nxt = r.tlv(pos, end, &t, &vlen)
        pt = t & 0x3fff
        bit = B_HROPT if pt == P_HROPT else ((1 << pt) if pt < 16 else 0)
        if bit == 0 or pt == 0 or (pt >= 16 and pt != P_HROPT):
            r.unknown(pos, t, vlen, r.where())
            pos = nxt
            continue
        if not (allowed & bit):
            r.unexpected(pos, t, r.where())
        if pt == P_PE:
            npes += 1
            if npes > max_pes:
                _fail(_INVALID_VALUES, pos, f"more than {max_pes} Pool Element parameters in "
                      f"{r.where()}")
            pe = _dec_pe(r, pos, vlen)
            if ps.pe is None:
                ps.pe = pe
            else:
                if ps.pes is None:
                    ps.pes = [ps.pe]
                ps.pes.append(pe)
            pos = nxt
            continue
        if (seen & bit) and not (pt == P_SERVER_INFO or (pt >= P_DCCP and pt <= P_UDPLITE)):
            _fail(_INVALID_VALUES, pos, f"duplicate {_pname(t)} parameter in {r.where()}",
                  r.slice(pos, pos + 4 + vlen))
        seen |= bit
        if pt == P_HANDLE:
            if vlen == 0 or vlen > C_MAX_POOL_HANDLE_LENGTH:
                _handle_fail(r, pos, vlen)
            ps.handle = r.slice(pos + 4, pos + 4 + vlen)
        elif pt == P_PE_ID:
            if vlen != 4:
                _fail(_INVALID_VALUES, pos, f"PE Identifier parameter has {vlen} value bytes, "
                      "expected 4", r.slice(pos, pos + 4 + vlen))
            ps.pe_id = rd32(r.buf + pos + 4)
        elif pt == P_POLICY:
            ps.policy = _dec_policy(r, pos, vlen)
        elif pt == P_ERROR:
            ps.error = _dec_error(r, pos, vlen)
        elif pt == P_COOKIE:
            ps.cookie = r.slice(pos + 4, pos + 4 + vlen)
        elif pt == P_HROPT:
            if vlen != 4:
                _fail(_INVALID_VALUES, pos, f"Handle Resolution Option has {vlen} value bytes, "
                      "expected 4", r.slice(pos, pos + 4 + vlen))
            ps.items = rd32(r.buf + pos + 4)
        elif pt == P_CHECKSUM:
            if vlen == 2:
                ps.checksum = rd16(r.buf + pos + 4)
            elif vlen == 4 and rd16(r.buf + pos + 4) == 0:   # old RSPLIB: 32-bit field
                ps.checksum = rd16(r.buf + pos + 6)
            else:
                _fail(_INVALID_VALUES, pos, f"PE Checksum parameter has {vlen} value bytes, "
                      "expected 2", r.slice(pos, pos + 4 + vlen))
        elif pt == P_SERVER_INFO:
            if ps.servers is None:
                ps.servers = []
            ps.servers.append(_dec_server_info(r, pos, vlen))
        else:   # a transport
            if ps.transports is None:
                ps.transports = []
            if len(ps.transports) >= C_MAX_ADDRESSES:
                _fail(_INVALID_VALUES, pos, f"more than {C_MAX_ADDRESSES} transports in {r.where()}")
            ps.transports.append(_dec_transport(r, pos, pt, vlen))
        pos = nxt
    return ps


cdef int _require(_Reader r, bint ok, str what) except -1:
    if not ok:
        _fail(_INVALID_VALUES, 0, f"{r.where()} lacks its {what} parameter")
    return 0


# ---------------------------------------------------------------------------------------------
# Messages

@cython.no_gc
cdef class Message:
    """Base of all ASAP and ENRP messages."""

    cdef tuple _unrecognized
    __hash__ = None

    @property
    def unrecognized(self):
        """Raw unknown parameters whose action bits say "report" (decoded messages only)."""
        return () if self._unrecognized is None else self._unrecognized

    @property
    def ppid(self):
        return PPID_ASAP

    @property
    def type(self):
        return self._mtype()

    @property
    def flags(self):
        return self._flags()

    cdef int _mtype(self) noexcept:
        return 0

    cdef int _flags(self) noexcept:
        return 0

    cdef Py_ssize_t _body_size(self) noexcept:
        return 0

    cdef uchar* _write_body(self, uchar* p) noexcept:
        return p

    cpdef bytes encode(self):
        """The message, header included."""
        cdef Py_ssize_t n = 4 + self._body_size()
        cdef uchar* p
        if n > C_MAX_MESSAGE_SIZE:
            raise ValueError(f"{type(self).__name__} would be {n} bytes, more than "
                             f"MAX_MESSAGE_SIZE ({C_MAX_MESSAGE_SIZE})")
        out = PyBytes_FromStringAndSize(NULL, n)
        p = <uchar*>PyBytes_AS_STRING(out)
        p[0] = <uchar>self._mtype()
        p[1] = <uchar>self._flags()
        wr16(p + 2, <uint32_t>n)
        self._write_body(p + 4)
        return out

    cdef tuple _key(self):
        return ()

    def __richcmp__(self, other, int op):
        if op != 2 and op != 3:
            return NotImplemented
        if type(other) is not type(self):
            return NotImplemented if op == 2 else True
        eq = self._key() == (<Message>other)._key()
        return eq if op == 2 else not eq

    def __reduce__(self):
        return decode, (self.encode(), self.ppid)

    def __repr__(self):
        return f"{type(self).__name__}({self._repr_fields()})"

    cdef str _repr_fields(self):
        return ""


cdef str _hex(str name, long long value):
    return f"{name}=0x{value:08x}"


# --- ASAP -------------------------------------------------------------------------------------

@cython.final
@cython.no_gc
cdef class Registration(Message):
    """ASAP_REGISTRATION (0x01): a PE registers under a pool handle."""

    cdef bytes _handle
    cdef PoolElement _pe

    def __init__(self, pool_handle, pool_element):
        self.pool_handle = pool_handle
        self.pool_element = pool_element

    @property
    def pool_handle(self):
        return self._handle

    @pool_handle.setter
    def pool_handle(self, v):
        self._handle = _check_handle(v)

    @property
    def pool_element(self):
        return self._pe

    @pool_element.setter
    def pool_element(self, PoolElement v not None):
        self._pe = v

    cdef int _mtype(self) noexcept:
        return 0x01

    cdef Py_ssize_t _body_size(self) noexcept:
        return _handle_size(self._handle) + self._pe._size()

    cdef uchar* _write_body(self, uchar* p) noexcept:
        return self._pe._write(_write_handle(p, self._handle))

    cdef tuple _key(self):
        return (self._handle, self._pe)

    cdef str _repr_fields(self):
        return f"pool_handle={self._handle!r}, pool_element={self._pe!r}"


@cython.no_gc
cdef class _HandlePeId(Message):
    """Messages that carry a pool handle and a PE identifier."""

    cdef bytes _handle
    cdef public uint32_t pe_identifier

    @property
    def pool_handle(self):
        return self._handle

    @pool_handle.setter
    def pool_handle(self, v):
        self._handle = _check_handle(v)

    cdef Py_ssize_t _body_size(self) noexcept:
        return _handle_size(self._handle) + 8

    cdef uchar* _write_body(self, uchar* p) noexcept:
        return _write_u32_param(_write_handle(p, self._handle), P_PE_ID, self.pe_identifier)

    cdef tuple _key(self):
        return (self._handle, self.pe_identifier)

    cdef str _repr_fields(self):
        return f"pool_handle={self._handle!r}, {_hex('pe_identifier', self.pe_identifier)}"


@cython.final
@cython.no_gc
cdef class Deregistration(_HandlePeId):
    """ASAP_DEREGISTRATION (0x02)."""

    def __init__(self, pool_handle, pe_identifier):
        self.pool_handle = pool_handle
        self.pe_identifier = pe_identifier

    cdef int _mtype(self) noexcept:
        return 0x02


@cython.final
@cython.no_gc
cdef class EndpointKeepAliveAck(_HandlePeId):
    """ASAP_ENDPOINT_KEEP_ALIVE_ACK (0x08)."""

    def __init__(self, pool_handle, pe_identifier):
        self.pool_handle = pool_handle
        self.pe_identifier = pe_identifier

    cdef int _mtype(self) noexcept:
        return 0x08


@cython.final
@cython.no_gc
cdef class EndpointUnreachable(_HandlePeId):
    """ASAP_ENDPOINT_UNREACHABLE (0x09)."""

    def __init__(self, pool_handle, pe_identifier):
        self.pool_handle = pool_handle
        self.pe_identifier = pe_identifier

    cdef int _mtype(self) noexcept:
        return 0x09


@cython.no_gc
cdef class _Response(_HandlePeId):
    """(De)registration response: handle, PE id, R flag, optional operation error."""

    cdef public bint reject
    cdef OperationError _error

    def __init__(self, pool_handle, pe_identifier, reject=False, error=None):
        self.pool_handle = pool_handle
        self.pe_identifier = pe_identifier
        self.reject = reject
        self.error = error

    @property
    def error(self):
        return self._error

    @error.setter
    def error(self, OperationError v):
        self._error = v

    cdef int _flags(self) noexcept:
        return 0x01 if self.reject else 0

    cdef Py_ssize_t _body_size(self) noexcept:
        cdef Py_ssize_t n = _handle_size(self._handle) + 8
        if self._error is not None:
            n += self._error._size()
        return n

    cdef uchar* _write_body(self, uchar* p) noexcept:
        p = _write_u32_param(_write_handle(p, self._handle), P_PE_ID, self.pe_identifier)
        if self._error is not None:
            p = self._error._write(p)
        return p

    cdef tuple _key(self):
        return (self._handle, self.pe_identifier, self.reject, self._error)

    cdef str _repr_fields(self):
        s = f"pool_handle={self._handle!r}, {_hex('pe_identifier', self.pe_identifier)}"
        if self.reject:
            s += ", reject=True"
        if self._error is not None:
            s += f", error={self._error!r}"
        return s


@cython.final
@cython.no_gc
cdef class RegistrationResponse(_Response):
    """ASAP_REGISTRATION_RESPONSE (0x03); R flag = reject."""

    cdef int _mtype(self) noexcept:
        return 0x03


@cython.final
@cython.no_gc
cdef class DeregistrationResponse(_Response):
    """ASAP_DEREGISTRATION_RESPONSE (0x04); reject is sent as flag bit 0x01 (RFC: reserved)."""

    cdef int _mtype(self) noexcept:
        return 0x04


@cython.final
@cython.no_gc
cdef class HandleResolution(Message):
    """ASAP_HANDLE_RESOLUTION (0x05), with the optional handle resolution option (items)."""

    cdef bytes _handle
    cdef object _items

    def __init__(self, pool_handle, items=None):
        self.pool_handle = pool_handle
        self.items = items

    @property
    def pool_handle(self):
        return self._handle

    @pool_handle.setter
    def pool_handle(self, v):
        self._handle = _check_handle(v)

    @property
    def items(self):
        return self._items

    @items.setter
    def items(self, v):
        self._items = None if v is None else _u32(v, "items")

    cdef int _mtype(self) noexcept:
        return 0x05

    cdef Py_ssize_t _body_size(self) noexcept:
        return _handle_size(self._handle) + (0 if self._items is None else 8)

    cdef uchar* _write_body(self, uchar* p) noexcept:
        p = _write_handle(p, self._handle)
        if self._items is not None:
            p = _write_u32_param(p, P_HROPT_WIRE, <uint32_t>self._items)
        return p

    cdef tuple _key(self):
        return (self._handle, self._items)

    cdef str _repr_fields(self):
        s = f"pool_handle={self._handle!r}"
        if self._items is not None:
            s += f", items={self._items}"
        return s


cdef tuple _pe_tuple(v, int limit, str what):
    v = tuple(v)
    if len(v) > limit:
        raise ValueError(f"{len(v)} pool elements exceed {what} ({limit})")
    for pe in v:
        if not isinstance(pe, PoolElement):
            raise TypeError(f"pool elements must be PoolElement objects, not {pe!r}")
    return v


cdef Py_ssize_t _pes_size(tuple pes) noexcept:
    cdef Py_ssize_t n = 0, i
    for i in range(PyTuple_GET_SIZE(pes)):
        n += (<PoolElement>PyTuple_GET_ITEM(pes, i))._size()
    return n


cdef uchar* _write_pes(uchar* p, tuple pes) noexcept:
    cdef Py_ssize_t i
    for i in range(PyTuple_GET_SIZE(pes)):
        p = (<PoolElement>PyTuple_GET_ITEM(pes, i))._write(p)
    return p


@cython.final
@cython.no_gc
cdef class HandleResolutionResponse(Message):
    """ASAP_HANDLE_RESOLUTION_RESPONSE (0x06): handle, overall policy, PEs, or an error."""

    cdef bytes _handle
    cdef tuple _pes
    cdef Policy _policy
    cdef OperationError _error

    def __init__(self, pool_handle, pool_elements=(), policy=None, error=None):
        self.pool_handle = pool_handle
        self.pool_elements = pool_elements
        self.policy = policy
        self.error = error

    @property
    def pool_handle(self):
        return self._handle

    @pool_handle.setter
    def pool_handle(self, v):
        self._handle = _check_handle(v)

    @property
    def pool_elements(self):
        return self._pes

    @pool_elements.setter
    def pool_elements(self, v):
        self._pes = _pe_tuple(v, C_MAX_HR_ITEMS, "MAX_HANDLE_RESOLUTION_ITEMS")

    @property
    def policy(self):
        return self._policy

    @policy.setter
    def policy(self, Policy v):
        self._policy = v

    @property
    def error(self):
        return self._error

    @error.setter
    def error(self, OperationError v):
        self._error = v

    cdef int _mtype(self) noexcept:
        return 0x06

    cdef Py_ssize_t _body_size(self) noexcept:
        cdef Py_ssize_t n = _handle_size(self._handle) + _pes_size(self._pes)
        if self._policy is not None:
            n += self._policy._size()
        if self._error is not None:
            n += self._error._size()
        return n

    cdef uchar* _write_body(self, uchar* p) noexcept:
        p = _write_handle(p, self._handle)
        if self._policy is not None:
            p = self._policy._write(p)
        p = _write_pes(p, self._pes)
        if self._error is not None:
            p = self._error._write(p)
        return p

    cdef tuple _key(self):
        return (self._handle, self._pes, self._policy, self._error)

    cdef str _repr_fields(self):
        s = f"pool_handle={self._handle!r}, pool_elements={self._pes!r}"
        if self._policy is not None:
            s += f", policy={self._policy!r}"
        if self._error is not None:
            s += f", error={self._error!r}"
        return s


@cython.final
@cython.no_gc
cdef class EndpointKeepAlive(Message):
    """ASAP_ENDPOINT_KEEP_ALIVE (0x07): server id, handle, optional PE id; H flag = home."""

    cdef public uint32_t server_identifier
    cdef bytes _handle
    cdef object _pe_id
    cdef public bint home

    def __init__(self, server_identifier, pool_handle, pe_identifier=None, home=False):
        self.server_identifier = server_identifier
        self.pool_handle = pool_handle
        self.pe_identifier = pe_identifier
        self.home = home

    @property
    def pool_handle(self):
        return self._handle

    @pool_handle.setter
    def pool_handle(self, v):
        self._handle = _check_handle(v)

    @property
    def pe_identifier(self):
        return self._pe_id

    @pe_identifier.setter
    def pe_identifier(self, v):
        self._pe_id = None if v is None else _u32(v, "pe_identifier")

    cdef int _mtype(self) noexcept:
        return 0x07

    cdef int _flags(self) noexcept:
        return 0x01 if self.home else 0

    cdef Py_ssize_t _body_size(self) noexcept:
        return 4 + _handle_size(self._handle) + (0 if self._pe_id is None else 8)

    cdef uchar* _write_body(self, uchar* p) noexcept:
        wr32(p, self.server_identifier)
        p = _write_handle(p + 4, self._handle)
        if self._pe_id is not None:
            p = _write_u32_param(p, P_PE_ID, <uint32_t>self._pe_id)
        return p

    cdef tuple _key(self):
        return (self.server_identifier, self._handle, self._pe_id, self.home)

    cdef str _repr_fields(self):
        s = f"{_hex('server_identifier', self.server_identifier)}, pool_handle={self._handle!r}"
        if self._pe_id is not None:
            s += f", {_hex('pe_identifier', self._pe_id)}"
        if self.home:
            s += ", home=True"
        return s


cdef tuple _transport_tuple(v):
    v = tuple(v)
    if len(v) > C_MAX_ADDRESSES:
        raise ValueError(f"{len(v)} transports are too many (limit {C_MAX_ADDRESSES})")
    for t in v:
        if not isinstance(t, Transport):
            raise TypeError(f"transports must be transport parameters, not {t!r}")
    return v


@cython.final
@cython.no_gc
cdef class ServerAnnounce(Message):
    """ASAP_SERVER_ANNOUNCE (0x0a): server id and the transports to reach it."""

    cdef public uint32_t server_identifier
    cdef tuple _transports

    def __init__(self, server_identifier, transports=()):
        self.server_identifier = server_identifier
        self.transports = transports

    @property
    def transports(self):
        return self._transports

    @transports.setter
    def transports(self, v):
        self._transports = _transport_tuple(v)

    cdef int _mtype(self) noexcept:
        return 0x0a

    cdef Py_ssize_t _body_size(self) noexcept:
        cdef Py_ssize_t n = 4, i
        for i in range(PyTuple_GET_SIZE(self._transports)):
            n += (<Transport>PyTuple_GET_ITEM(self._transports, i))._size()
        return n

    cdef uchar* _write_body(self, uchar* p) noexcept:
        cdef Py_ssize_t i
        wr32(p, self.server_identifier)
        p += 4
        for i in range(PyTuple_GET_SIZE(self._transports)):
            p = (<Transport>PyTuple_GET_ITEM(self._transports, i))._write(p)
        return p

    cdef tuple _key(self):
        return (self.server_identifier, self._transports)

    cdef str _repr_fields(self):
        return (f"{_hex('server_identifier', self.server_identifier)}, "
                f"transports={self._transports!r}")


@cython.no_gc
cdef class _CookieMessage(Message):
    cdef bytes _cookie

    def __init__(self, cookie):
        self.cookie = cookie

    @property
    def cookie(self):
        return self._cookie

    @cookie.setter
    def cookie(self, v):
        if not isinstance(v, bytes):
            raise TypeError("cookie must be bytes")
        if len(v) > C_MAX_MESSAGE_SIZE - 8:
            raise ValueError(f"cookie of {len(v)} bytes does not fit MAX_MESSAGE_SIZE")
        self._cookie = v

    cdef Py_ssize_t _body_size(self) noexcept:
        return pad4(4 + PyBytes_GET_SIZE(self._cookie))

    cdef uchar* _write_body(self, uchar* p) noexcept:
        cdef Py_ssize_t n = PyBytes_GET_SIZE(self._cookie)
        p = wr_tlv_hdr(p, P_COOKIE, 4 + n)
        return wr_padded(p, <const uchar*>PyBytes_AS_STRING(self._cookie), n)

    cdef tuple _key(self):
        return (self._cookie,)

    cdef str _repr_fields(self):
        return f"cookie={self._cookie!r}"


@cython.final
@cython.no_gc
cdef class Cookie(_CookieMessage):
    """ASAP_COOKIE (0x0b): PE -> PU state cookie."""

    cdef int _mtype(self) noexcept:
        return 0x0b


@cython.final
@cython.no_gc
cdef class CookieEcho(_CookieMessage):
    """ASAP_COOKIE_ECHO (0x0c): PU -> new PE after failover."""

    cdef int _mtype(self) noexcept:
        return 0x0c


@cython.final
@cython.no_gc
cdef class BusinessCard(Message):
    """ASAP_BUSINESS_CARD (0x0d): pool handle and the PEs to fail over to."""

    cdef bytes _handle
    cdef tuple _pes

    def __init__(self, pool_handle, pool_elements=()):
        self.pool_handle = pool_handle
        self.pool_elements = pool_elements

    @property
    def pool_handle(self):
        return self._handle

    @pool_handle.setter
    def pool_handle(self, v):
        self._handle = _check_handle(v)

    @property
    def pool_elements(self):
        return self._pes

    @pool_elements.setter
    def pool_elements(self, v):
        self._pes = _pe_tuple(v, C_MAX_HR_ITEMS, "MAX_HANDLE_RESOLUTION_ITEMS")

    cdef int _mtype(self) noexcept:
        return 0x0d

    cdef Py_ssize_t _body_size(self) noexcept:
        return _handle_size(self._handle) + _pes_size(self._pes)

    cdef uchar* _write_body(self, uchar* p) noexcept:
        return _write_pes(_write_handle(p, self._handle), self._pes)

    cdef tuple _key(self):
        return (self._handle, self._pes)

    cdef str _repr_fields(self):
        return f"pool_handle={self._handle!r}, pool_elements={self._pes!r}"


@cython.final
@cython.no_gc
cdef class AsapError(Message):
    """ASAP_ERROR (0x0e): an operation error."""

    cdef OperationError _error

    def __init__(self, error):
        self.error = error

    @property
    def error(self):
        return self._error

    @error.setter
    def error(self, OperationError v not None):
        self._error = v

    cdef int _mtype(self) noexcept:
        return 0x0e

    cdef Py_ssize_t _body_size(self) noexcept:
        return self._error._size()

    cdef uchar* _write_body(self, uchar* p) noexcept:
        return self._error._write(p)

    cdef tuple _key(self):
        return (self._error,)

    cdef str _repr_fields(self):
        return f"error={self._error!r}"


# --- ENRP -------------------------------------------------------------------------------------

@cython.no_gc
cdef class _Enrp(Message):
    """ENRP messages: sender and receiver server ids first."""

    cdef public uint32_t sender_server_id
    cdef public uint32_t receiver_server_id

    @property
    def ppid(self):
        return PPID_ENRP

    cdef uchar* _write_ids(self, uchar* p) noexcept:
        wr32(p, self.sender_server_id)
        wr32(p + 4, self.receiver_server_id)
        return p + 8

    cdef str _ids_repr(self):
        return (f"{_hex('sender_server_id', self.sender_server_id)}, "
                f"{_hex('receiver_server_id', self.receiver_server_id)}")

    cdef str _repr_fields(self):
        return self._ids_repr()

    cdef tuple _key(self):
        return (self.sender_server_id, self.receiver_server_id)


@cython.final
@cython.no_gc
cdef class Presence(_Enrp):
    """ENRP_PRESENCE (0x01): PE checksum, optional server information; R = reply required."""

    cdef public uint16_t pe_checksum
    cdef ServerInformation _server
    cdef public bint reply_required

    def __init__(self, sender_server_id, receiver_server_id, pe_checksum,
                 server_information=None, reply_required=False):
        self.sender_server_id = sender_server_id
        self.receiver_server_id = receiver_server_id
        self.pe_checksum = pe_checksum
        self.server_information = server_information
        self.reply_required = reply_required

    @property
    def server_information(self):
        return self._server

    @server_information.setter
    def server_information(self, ServerInformation v):
        self._server = v

    cdef int _mtype(self) noexcept:
        return 0x01

    cdef int _flags(self) noexcept:
        return 0x01 if self.reply_required else 0

    cdef Py_ssize_t _body_size(self) noexcept:
        return 16 + (0 if self._server is None else self._server._size())

    cdef uchar* _write_body(self, uchar* p) noexcept:
        p = _write_checksum(self._write_ids(p), self.pe_checksum)
        if self._server is not None:
            p = self._server._write(p)
        return p

    cdef tuple _key(self):
        return (self.sender_server_id, self.receiver_server_id, self.pe_checksum, self._server,
                self.reply_required)

    cdef str _repr_fields(self):
        s = f"{self._ids_repr()}, pe_checksum=0x{self.pe_checksum:04x}"
        if self._server is not None:
            s += f", server_information={self._server!r}"
        if self.reply_required:
            s += ", reply_required=True"
        return s


@cython.final
@cython.no_gc
cdef class HandleTableRequest(_Enrp):
    """ENRP_HANDLE_TABLE_REQUEST (0x02); W flag = own children only."""

    cdef public bint own_children_only

    def __init__(self, sender_server_id, receiver_server_id, own_children_only=False):
        self.sender_server_id = sender_server_id
        self.receiver_server_id = receiver_server_id
        self.own_children_only = own_children_only

    cdef int _mtype(self) noexcept:
        return 0x02

    cdef int _flags(self) noexcept:
        return 0x01 if self.own_children_only else 0

    cdef Py_ssize_t _body_size(self) noexcept:
        return 8

    cdef uchar* _write_body(self, uchar* p) noexcept:
        return self._write_ids(p)

    cdef tuple _key(self):
        return (self.sender_server_id, self.receiver_server_id, self.own_children_only)

    cdef str _repr_fields(self):
        s = self._ids_repr()
        if self.own_children_only:
            s += ", own_children_only=True"
        return s


@cython.final
@cython.no_gc
cdef class HandleTableResponse(_Enrp):
    """ENRP_HANDLE_TABLE_RESPONSE (0x03): pools of (handle, PEs); M = more to send, R = reject."""

    cdef tuple _pools
    cdef public bint more_to_send
    cdef public bint reject

    def __init__(self, sender_server_id, receiver_server_id, pools=(), more_to_send=False,
                 reject=False):
        self.sender_server_id = sender_server_id
        self.receiver_server_id = receiver_server_id
        self.pools = pools
        self.more_to_send = more_to_send
        self.reject = reject

    @property
    def pools(self):
        return self._pools

    @pools.setter
    def pools(self, v):
        out = []
        total = 0
        for handle, pes in v:
            pes = _pe_tuple(pes, C_MAX_HT_ELEMENTS, "MAX_HANDLE_TABLE_ELEMENTS")
            total += len(pes)
            out.append((_check_handle(handle), pes))
        if total > C_MAX_HT_ELEMENTS:
            raise ValueError(
                f"{total} pool elements exceed MAX_HANDLE_TABLE_ELEMENTS ({C_MAX_HT_ELEMENTS})")
        self._pools = tuple(out)

    cdef int _mtype(self) noexcept:
        return 0x03

    cdef int _flags(self) noexcept:
        return (0x01 if self.reject else 0) | (0x02 if self.more_to_send else 0)

    cdef Py_ssize_t _body_size(self) noexcept:
        cdef Py_ssize_t n = 8, i
        cdef tuple pool
        for i in range(PyTuple_GET_SIZE(self._pools)):
            pool = <tuple>PyTuple_GET_ITEM(self._pools, i)
            n += (_handle_size(<bytes>PyTuple_GET_ITEM(pool, 0))
                  + _pes_size(<tuple>PyTuple_GET_ITEM(pool, 1)))
        return n

    cdef uchar* _write_body(self, uchar* p) noexcept:
        cdef Py_ssize_t i
        cdef tuple pool
        p = self._write_ids(p)
        for i in range(PyTuple_GET_SIZE(self._pools)):
            pool = <tuple>PyTuple_GET_ITEM(self._pools, i)
            p = _write_handle(p, <bytes>PyTuple_GET_ITEM(pool, 0))
            p = _write_pes(p, <tuple>PyTuple_GET_ITEM(pool, 1))
        return p

    cdef tuple _key(self):
        return (self.sender_server_id, self.receiver_server_id, self._pools, self.more_to_send,
                self.reject)

    cdef str _repr_fields(self):
        s = f"{self._ids_repr()}, pools={self._pools!r}"
        if self.more_to_send:
            s += ", more_to_send=True"
        if self.reject:
            s += ", reject=True"
        return s


@cython.final
@cython.no_gc
cdef class HandleUpdate(_Enrp):
    """ENRP_HANDLE_UPDATE (0x04): add/delete one PE; T flag = takeover suggestion."""

    cdef public uint16_t update_action
    cdef bytes _handle
    cdef PoolElement _pe
    cdef public bint takeover_suggestion

    def __init__(self, sender_server_id, receiver_server_id, update_action, pool_handle,
                 pool_element, takeover_suggestion=False):
        self.sender_server_id = sender_server_id
        self.receiver_server_id = receiver_server_id
        self.update_action = update_action
        self.pool_handle = pool_handle
        self.pool_element = pool_element
        self.takeover_suggestion = takeover_suggestion

    @property
    def pool_handle(self):
        return self._handle

    @pool_handle.setter
    def pool_handle(self, v):
        self._handle = _check_handle(v)

    @property
    def pool_element(self):
        return self._pe

    @pool_element.setter
    def pool_element(self, PoolElement v not None):
        self._pe = v

    cdef int _mtype(self) noexcept:
        return 0x04

    cdef int _flags(self) noexcept:
        return 0x01 if self.takeover_suggestion else 0

    cdef Py_ssize_t _body_size(self) noexcept:
        return 12 + _handle_size(self._handle) + self._pe._size()

    cdef uchar* _write_body(self, uchar* p) noexcept:
        p = self._write_ids(p)
        wr16(p, self.update_action)
        wr16(p + 2, 0)
        return self._pe._write(_write_handle(p + 4, self._handle))

    cdef tuple _key(self):
        return (self.sender_server_id, self.receiver_server_id, self.update_action,
                self._handle, self._pe, self.takeover_suggestion)

    cdef str _repr_fields(self):
        s = (f"{self._ids_repr()}, update_action={self.update_action}, "
             f"pool_handle={self._handle!r}, pool_element={self._pe!r}")
        if self.takeover_suggestion:
            s += ", takeover_suggestion=True"
        return s


@cython.final
@cython.no_gc
cdef class ListRequest(_Enrp):
    """ENRP_LIST_REQUEST (0x05)."""

    def __init__(self, sender_server_id, receiver_server_id):
        self.sender_server_id = sender_server_id
        self.receiver_server_id = receiver_server_id

    cdef int _mtype(self) noexcept:
        return 0x05

    cdef Py_ssize_t _body_size(self) noexcept:
        return 8

    cdef uchar* _write_body(self, uchar* p) noexcept:
        return self._write_ids(p)


@cython.final
@cython.no_gc
cdef class ListResponse(_Enrp):
    """ENRP_LIST_RESPONSE (0x06): the server information of known peers; R flag = reject."""

    cdef tuple _servers
    cdef public bint reject

    def __init__(self, sender_server_id, receiver_server_id, servers=(), reject=False):
        self.sender_server_id = sender_server_id
        self.receiver_server_id = receiver_server_id
        self.servers = servers
        self.reject = reject

    @property
    def servers(self):
        return self._servers

    @servers.setter
    def servers(self, v):
        v = tuple(v)
        for s in v:
            if not isinstance(s, ServerInformation):
                raise TypeError(f"servers must be ServerInformation objects, not {s!r}")
        self._servers = v

    cdef int _mtype(self) noexcept:
        return 0x06

    cdef int _flags(self) noexcept:
        return 0x01 if self.reject else 0

    cdef Py_ssize_t _body_size(self) noexcept:
        cdef Py_ssize_t n = 8, i
        for i in range(PyTuple_GET_SIZE(self._servers)):
            n += (<ServerInformation>PyTuple_GET_ITEM(self._servers, i))._size()
        return n

    cdef uchar* _write_body(self, uchar* p) noexcept:
        cdef Py_ssize_t i
        p = self._write_ids(p)
        for i in range(PyTuple_GET_SIZE(self._servers)):
            p = (<ServerInformation>PyTuple_GET_ITEM(self._servers, i))._write(p)
        return p

    cdef tuple _key(self):
        return (self.sender_server_id, self.receiver_server_id, self._servers, self.reject)

    cdef str _repr_fields(self):
        s = f"{self._ids_repr()}, servers={self._servers!r}"
        if self.reject:
            s += ", reject=True"
        return s


@cython.no_gc
cdef class _Takeover(_Enrp):
    """Takeover messages: sender, receiver, target server id."""

    cdef public uint32_t target_server_id

    def __init__(self, sender_server_id, receiver_server_id, target_server_id):
        self.sender_server_id = sender_server_id
        self.receiver_server_id = receiver_server_id
        self.target_server_id = target_server_id

    cdef Py_ssize_t _body_size(self) noexcept:
        return 12

    cdef uchar* _write_body(self, uchar* p) noexcept:
        p = self._write_ids(p)
        wr32(p, self.target_server_id)
        return p + 4

    cdef tuple _key(self):
        return (self.sender_server_id, self.receiver_server_id, self.target_server_id)

    cdef str _repr_fields(self):
        return f"{self._ids_repr()}, {_hex('target_server_id', self.target_server_id)}"


@cython.final
@cython.no_gc
cdef class InitTakeover(_Takeover):
    """ENRP_INIT_TAKEOVER (0x07)."""

    cdef int _mtype(self) noexcept:
        return 0x07


@cython.final
@cython.no_gc
cdef class InitTakeoverAck(_Takeover):
    """ENRP_INIT_TAKEOVER_ACK (0x08)."""

    cdef int _mtype(self) noexcept:
        return 0x08


@cython.final
@cython.no_gc
cdef class TakeoverServer(_Takeover):
    """ENRP_TAKEOVER_SERVER (0x09)."""

    cdef int _mtype(self) noexcept:
        return 0x09


@cython.final
@cython.no_gc
cdef class EnrpError(_Enrp):
    """ENRP_ERROR (0x0a): an operation error."""

    cdef OperationError _error

    def __init__(self, sender_server_id, receiver_server_id, error):
        self.sender_server_id = sender_server_id
        self.receiver_server_id = receiver_server_id
        self.error = error

    @property
    def error(self):
        return self._error

    @error.setter
    def error(self, OperationError v not None):
        self._error = v

    cdef int _mtype(self) noexcept:
        return 0x0a

    cdef Py_ssize_t _body_size(self) noexcept:
        return 8 + self._error._size()

    cdef uchar* _write_body(self, uchar* p) noexcept:
        return self._error._write(self._write_ids(p))

    cdef tuple _key(self):
        return (self.sender_server_id, self.receiver_server_id, self._error)

    cdef str _repr_fields(self):
        return f"{self._ids_repr()}, error={self._error!r}"


# ---------------------------------------------------------------------------------------------
# Decoding


_ASAP_NAMES = ("", "Registration", "Deregistration", "Registration Response",
               "Deregistration Response", "Handle Resolution", "Handle Resolution Response",
               "Endpoint Keep-Alive", "Endpoint Keep-Alive Ack", "Endpoint Unreachable",
               "Server Announce", "Cookie", "Cookie Echo", "Business Card", "ASAP Error")
_ENRP_NAMES = ("", "Presence", "Handle Table Request", "Handle Table Response", "Handle Update",
               "List Request", "List Response", "Init Takeover", "Init Takeover Ack",
               "Takeover Server", "ENRP Error")


cdef Registration _dec_registration(_Reader r):
    """The hot path: a Registration (pool handle and pool element), without _collect."""
    cdef Py_ssize_t pos = 4, end = r.n, nxt, vlen = 0
    cdef uint32_t t = 0, pt
    cdef bytes handle = None
    cdef PoolElement pe = None
    cdef Registration reg
    while pos < end:
        nxt = r.tlv(pos, end, &t, &vlen)
        pt = t & 0x3fff
        if pt == P_HANDLE and handle is None:
            if vlen == 0 or vlen > C_MAX_POOL_HANDLE_LENGTH:
                _handle_fail(r, pos, vlen)
            handle = r.slice(pos + 4, pos + 4 + vlen)
        elif pt == P_PE and pe is None:
            pe = _dec_pe(r, pos, vlen)
        elif pt == P_HANDLE or pt == P_PE:
            _fail(_INVALID_VALUES, pos, f"duplicate {_pname(t)} parameter in Registration",
                  r.slice(pos, pos + 4 + vlen))
        else:
            _other_param(r, pos, t, vlen, "Registration")
        pos = nxt
    _require(r, handle is not None, "Pool Handle")
    _require(r, pe is not None, "Pool Element")
    reg = Registration.__new__(Registration)
    reg._handle = handle
    reg._pe = pe
    return reg


cdef int _handle_fail(_Reader r, Py_ssize_t pos, Py_ssize_t vlen) except -1:
    return _fail(_INVALID_VALUES, pos, f"pool handle length {vlen} is outside 1.."
                 f"{C_MAX_POOL_HANDLE_LENGTH} (MAX_POOL_HANDLE_LENGTH)",
                 r.slice(pos, pos + 4 + vlen))


cdef Message _decode_asap(_Reader r, int mtype, int flags):
    cdef _Params ps
    cdef _HandlePeId hp
    cdef _Response resp
    cdef HandleResolutionResponse hrr
    if mtype == 0x01:
        return _dec_registration(r)
    if mtype == 0x02 or mtype == 0x08 or mtype == 0x09:
        ps = _collect(r, 4, A_HANDLE | A_PE_ID, 0)
        _require(r, ps.handle is not None, "Pool Handle")
        _require(r, ps.pe_id >= 0, "PE Identifier")
        if mtype == 0x02:
            hp = Deregistration.__new__(Deregistration)
        elif mtype == 0x08:
            hp = EndpointKeepAliveAck.__new__(EndpointKeepAliveAck)
        else:
            hp = EndpointUnreachable.__new__(EndpointUnreachable)
        hp._handle = ps.handle
        hp.pe_identifier = <uint32_t>ps.pe_id
        return hp
    if mtype == 0x03 or mtype == 0x04:
        ps = _collect(r, 4, A_HANDLE | A_PE_ID | A_ERROR, 0)
        _require(r, ps.handle is not None, "Pool Handle")
        _require(r, ps.pe_id >= 0, "PE Identifier")
        if mtype == 0x03:
            resp = RegistrationResponse.__new__(RegistrationResponse)
        else:
            resp = DeregistrationResponse.__new__(DeregistrationResponse)
        resp._handle = ps.handle
        resp.pe_identifier = <uint32_t>ps.pe_id
        resp.reject = flags & 0x01
        resp._error = ps.error
        return resp
    if mtype == 0x05:
        ps = _collect(r, 4, A_HANDLE | B_HROPT, 0)
        _require(r, ps.handle is not None, "Pool Handle")
        hr = HandleResolution.__new__(HandleResolution)
        (<HandleResolution>hr)._handle = ps.handle
        (<HandleResolution>hr)._items = None if ps.items < 0 else ps.items
        return hr
    if mtype == 0x06:
        ps = _collect(r, 4, A_HANDLE | A_PE | A_POLICY | A_ERROR, C_MAX_HR_ITEMS)
        _require(r, ps.handle is not None, "Pool Handle")
        hrr = HandleResolutionResponse.__new__(HandleResolutionResponse)
        hrr._handle = ps.handle
        hrr._pes = tuple(ps.pes) if ps.pes is not None else (
            () if ps.pe is None else (ps.pe,))
        hrr._policy = ps.policy
        hrr._error = ps.error
        return hrr
    if mtype == 0x07:
        if r.n < 8:
            _fail(_INVALID_VALUES, 4, "Endpoint Keep-Alive too short for its server identifier")
        ps = _collect(r, 8, A_HANDLE | A_PE_ID, 0)
        _require(r, ps.handle is not None, "Pool Handle")
        ka = EndpointKeepAlive.__new__(EndpointKeepAlive)
        (<EndpointKeepAlive>ka).server_identifier = rd32(r.buf + 4)
        (<EndpointKeepAlive>ka)._handle = ps.handle
        (<EndpointKeepAlive>ka)._pe_id = None if ps.pe_id < 0 else ps.pe_id
        (<EndpointKeepAlive>ka).home = flags & 0x01
        return ka
    if mtype == 0x0a:
        if r.n < 8:
            _fail(_INVALID_VALUES, 4, "Server Announce too short for its server identifier")
        ps = _collect(r, 8, B_TRANSPORTS, 0)
        sa = ServerAnnounce.__new__(ServerAnnounce)
        (<ServerAnnounce>sa).server_identifier = rd32(r.buf + 4)
        (<ServerAnnounce>sa)._transports = () if ps.transports is None else tuple(ps.transports)
        return sa
    if mtype == 0x0b or mtype == 0x0c:
        ps = _collect(r, 4, A_COOKIE, 0)
        _require(r, ps.cookie is not None, "Cookie")
        cm = (Cookie.__new__(Cookie) if mtype == 0x0b else CookieEcho.__new__(CookieEcho))
        (<_CookieMessage>cm)._cookie = ps.cookie
        return cm
    if mtype == 0x0d:
        ps = _collect(r, 4, A_HANDLE | A_PE, C_MAX_HR_ITEMS)
        _require(r, ps.handle is not None, "Pool Handle")
        bc = BusinessCard.__new__(BusinessCard)
        (<BusinessCard>bc)._handle = ps.handle
        (<BusinessCard>bc)._pes = tuple(ps.pes) if ps.pes is not None else (
            () if ps.pe is None else (ps.pe,))
        return bc
    # 0x0e
    ps = _collect(r, 4, A_ERROR, 0)
    _require(r, ps.error is not None, "Operation Error")
    ae = AsapError.__new__(AsapError)
    (<AsapError>ae)._error = ps.error
    return ae


cdef Message _decode_enrp(_Reader r, int mtype, int flags):
    cdef _Params ps
    cdef _Enrp m
    cdef uint32_t sender, receiver
    # sender and receiver ids; Handle Update adds action + reserved, takeovers a target id
    cdef Py_ssize_t fixed = 16 if mtype == 0x04 or 0x07 <= mtype <= 0x09 else 12
    if r.n < fixed:
        _fail(_INVALID_VALUES, 4, f"{r.where()} needs {fixed} bytes before its parameters, "
              f"message has {r.n}")
    sender = rd32(r.buf + 4)
    receiver = rd32(r.buf + 8)
    if mtype == 0x01:
        ps = _collect(r, 12, A_CHECKSUM | A_SERVER, 0)
        _require(r, ps.checksum >= 0, "PE Checksum")
        if ps.servers is not None and len(ps.servers) > 1:
            _fail(_INVALID_VALUES, 12, "Presence carries more than one Server Information")
        m = Presence.__new__(Presence)
        (<Presence>m).pe_checksum = <uint16_t>ps.checksum
        (<Presence>m)._server = None if ps.servers is None else ps.servers[0]
        (<Presence>m).reply_required = flags & 0x01
    elif mtype == 0x02:
        _collect(r, 12, 0, 0)
        m = HandleTableRequest.__new__(HandleTableRequest)
        (<HandleTableRequest>m).own_children_only = flags & 0x01
    elif mtype == 0x03:
        m = HandleTableResponse.__new__(HandleTableResponse)
        ps = _collect_pools(r)
        (<HandleTableResponse>m)._pools = tuple([(h, tuple(pes)) for h, pes in ps.pools])
        (<HandleTableResponse>m).reject = flags & 0x01
        (<HandleTableResponse>m).more_to_send = (flags >> 1) & 0x01
    elif mtype == 0x04:
        ps = _collect(r, 16, A_HANDLE | A_PE, 1)
        _require(r, ps.handle is not None, "Pool Handle")
        _require(r, ps.pe is not None, "Pool Element")
        m = HandleUpdate.__new__(HandleUpdate)
        (<HandleUpdate>m).update_action = rd16(r.buf + 12)
        (<HandleUpdate>m)._handle = ps.handle
        (<HandleUpdate>m)._pe = ps.pe
        (<HandleUpdate>m).takeover_suggestion = flags & 0x01
    elif mtype == 0x05:
        _collect(r, 12, 0, 0)
        m = ListRequest.__new__(ListRequest)
    elif mtype == 0x06:
        ps = _collect(r, 12, A_SERVER, 0)
        m = ListResponse.__new__(ListResponse)
        (<ListResponse>m)._servers = () if ps.servers is None else tuple(ps.servers)
        (<ListResponse>m).reject = flags & 0x01
    elif mtype == 0x07 or mtype == 0x08 or mtype == 0x09:
        _collect(r, 16, 0, 0)
        if mtype == 0x07:
            m = InitTakeover.__new__(InitTakeover)
        elif mtype == 0x08:
            m = InitTakeoverAck.__new__(InitTakeoverAck)
        else:
            m = TakeoverServer.__new__(TakeoverServer)
        (<_Takeover>m).target_server_id = rd32(r.buf + 12)
    else:
        ps = _collect(r, 12, A_ERROR, 0)
        _require(r, ps.error is not None, "Operation Error")
        m = EnrpError.__new__(EnrpError)
        (<EnrpError>m)._error = ps.error
    m.sender_server_id = sender
    m.receiver_server_id = receiver
    return m


cdef _Params _collect_pools(_Reader r):
    """The (pool handle, pool elements) entries of a Handle Table Response."""
    cdef _Params ps = _Params.__new__(_Params)
    ps.pools = []
    cdef Py_ssize_t pos = 12, end = r.n, nxt, vlen = 0, npes = 0
    cdef uint32_t t = 0, pt
    cdef list cur = None
    while pos < end:
        nxt = r.tlv(pos, end, &t, &vlen)
        pt = t & 0x3fff
        if pt == P_HANDLE:
            if vlen == 0 or vlen > C_MAX_POOL_HANDLE_LENGTH:
                _fail(_INVALID_VALUES, pos, f"pool handle length {vlen} is outside 1.."
                      f"{C_MAX_POOL_HANDLE_LENGTH} (MAX_POOL_HANDLE_LENGTH)",
                      r.slice(pos, pos + 4 + vlen))
            cur = []
            ps.pools.append((r.slice(pos + 4, pos + 4 + vlen), cur))
        elif pt == P_PE:
            if cur is None:
                _fail(_INVALID_VALUES, pos, f"Pool Element parameter before any Pool Handle "
                      f"in {r.where()}")
            npes += 1
            if npes > C_MAX_HT_ELEMENTS:
                _fail(_INVALID_VALUES, pos, f"more than MAX_HANDLE_TABLE_ELEMENTS "
                      f"({C_MAX_HT_ELEMENTS}) Pool Element parameters in {r.where()}")
            cur.append(_dec_pe(r, pos, vlen))
        elif pt in _PARAM_NAMES:
            r.unexpected(pos, t, r.where())
        else:
            r.unknown(pos, t, vlen, r.where())
        pos = nxt
    return ps


cdef Message _decode(const uchar* buf, Py_ssize_t n, bytes data, int ppid):
    cdef _Reader r
    cdef int mtype, flags
    cdef uint32_t length
    cdef Message m
    if n < 4:
        _fail(_INVALID_VALUES, 0, f"message of {n} bytes is shorter than its 4-byte header")
    mtype = buf[0]
    flags = buf[1]
    length = rd16(buf + 2)
    if length != n:
        _fail(_INVALID_VALUES, 2, f"message length field says {length} bytes, "
              f"got {n} bytes")
    r = _SHARED_READER
    if r.busy:    # decode re-entered (e.g. from a finalizer): use a private reader
        r = _Reader.__new__(_Reader)
        r.params = _Params.__new__(_Params)
    r.buf = buf
    r.n = n
    r.data = data
    r.ppid = ppid
    r.mtype = mtype
    if r.unrec is not None:
        r.unrec = None
    r.busy = True
    try:
        m = _decode_message(r, mtype, flags, ppid)
    finally:
        r.busy = False
    if r.unrec is not None:
        m._unrecognized = tuple(r.unrec)
    return m


cdef Message _decode_message(_Reader r, int mtype, int flags, int ppid):
    cdef Message m
    if ppid == 11:
        if mtype < 1 or mtype > 0x0e:
            _fail(_UNRECOGNIZED_MESSAGE, 0, f"unrecognized ASAP message type 0x{mtype:02x}",
                  r.data)
        m = _decode_asap(r, mtype, flags)
    elif ppid == 12:
        if mtype < 1 or mtype > 0x0a:
            _fail(_UNRECOGNIZED_MESSAGE, 0, f"unrecognized ENRP message type 0x{mtype:02x}",
                  r.data)
        m = _decode_enrp(r, mtype, flags)
    else:
        raise ValueError(f"ppid must be {PPID_ASAP} (ASAP) or {PPID_ENRP} (ENRP), got {ppid}")
    return m


cdef _Reader _SHARED_READER = _Reader.__new__(_Reader)
_SHARED_READER.params = _Params.__new__(_Params)


def decode(data, int ppid):
    """Decode one ASAP (ppid 11) or ENRP (ppid 12) message; raise ParseError if invalid."""
    if type(data) is bytes:
        return _decode(<const uchar*>PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data),
                       <bytes>data, ppid)
    data = bytes(data)
    return _decode(<const uchar*>PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data),
                   <bytes>data, ppid)

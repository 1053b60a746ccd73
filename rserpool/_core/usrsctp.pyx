# cython: auto_pickle=False, autotestdict=False
"""Cython binding to libusrsctp: one-to-many SCTP sockets over UDP encapsulation (RFC 6951).

usrsctp runs its own threads (timers, UDP receive). They never touch Python: each socket's
upcall only writes to an eventfd, and the owner (the asyncio loop) does every socket call
on its own thread. One stack per process, started once by ``init()``.
"""

from libc.errno cimport EAGAIN, EINPROGRESS, ENOBUFS, errno
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy, memset, strerror
from posix.time cimport CLOCK_MONOTONIC, clock_gettime, timespec

from rserpool._core.messages cimport new_message


cdef extern from "<errno.h>" nogil:
    int EWOULDBLOCK

cdef extern from "<unistd.h>" nogil:
    ssize_t write(int fd, const void *buf, size_t count)
    ssize_t read(int fd, void *buf, size_t count)

cdef extern from "<arpa/inet.h>" nogil:
    uint32_t htonl(uint32_t)
    uint32_t ntohl(uint32_t)
    uint16_t htons(uint16_t)
    uint16_t ntohs(uint16_t)
    const char *inet_ntop(int af, const void *src, char *dst, int size)
    int inet_pton(int af, const char *src, void *dst)

cdef extern from "<sys/socket.h>" nogil:
    ctypedef unsigned int socklen_t
    ctypedef unsigned short sa_family_t
    struct sockaddr:
        sa_family_t sa_family
    struct sockaddr_storage:
        sa_family_t ss_family
    int AF_INET
    int AF_INET6
    int SOCK_SEQPACKET
    int SOL_SOCKET
    int SO_SNDBUF
    int SO_RCVBUF

cdef extern from "<netinet/in.h>" nogil:
    struct in_addr:
        uint32_t s_addr
    struct in6_addr:
        pass
    struct sockaddr_in:
        sa_family_t sin_family
        uint16_t sin_port
        in_addr sin_addr
    struct sockaddr_in6:
        sa_family_t sin6_family
        uint16_t sin6_port
        in6_addr sin6_addr
        uint32_t sin6_scope_id
    int IPPROTO_SCTP

cdef extern from "<usrsctp.h>" nogil:
    ctypedef uint32_t sctp_assoc_t
    struct socket:
        pass
    int MSG_NOTIFICATION
    int MSG_EOR
    int SCTP_FUTURE_ASSOC
    int SCTP_RECVV_RCVINFO
    int SCTP_SENDV_SNDINFO
    int SCTP_UNORDERED
    int SCTP_EOF
    int SCTP_ABORT
    int SCTP_BINDX_ADD_ADDR
    int SCTP_BINDX_REM_ADDR
    int SCTP_RTOINFO
    int SCTP_ASSOCINFO
    int SCTP_INITMSG
    int SCTP_NODELAY
    int SCTP_PRIMARY_ADDR
    int SCTP_SET_PEER_PRIMARY_ADDR
    int SCTP_PEER_ADDR_PARAMS
    int SCTP_EVENT
    int SCTP_RECVRCVINFO
    int SCTP_REMOTE_UDP_ENCAPS_PORT
    int SPP_HB_ENABLE
    int SPP_HB_DEMAND
    int SCTP_ASSOC_CHANGE
    int SCTP_PEER_ADDR_CHANGE
    int SCTP_SEND_FAILED_EVENT
    int SCTP_SHUTDOWN_EVENT

    struct sctp_rcvinfo:
        uint16_t rcv_sid
        uint16_t rcv_flags
        uint32_t rcv_ppid
        sctp_assoc_t rcv_assoc_id
    struct sctp_sndinfo:
        uint16_t snd_sid
        uint16_t snd_flags
        uint32_t snd_ppid
        uint32_t snd_context
        sctp_assoc_t snd_assoc_id
    struct sctp_tlv:
        uint16_t sn_type
        uint16_t sn_flags
        uint32_t sn_length
    struct sctp_assoc_change:
        uint16_t sac_state
        uint16_t sac_error
        sctp_assoc_t sac_assoc_id
    struct sctp_paddr_change:
        sockaddr_storage spc_aaddr
        uint32_t spc_state
        uint32_t spc_error
        sctp_assoc_t spc_assoc_id
    struct sctp_shutdown_event:
        sctp_assoc_t sse_assoc_id
    struct sctp_send_failed_event:
        uint16_t ssfe_flags
        uint32_t ssfe_length
        uint32_t ssfe_error
        sctp_sndinfo ssfe_info
        sctp_assoc_t ssfe_assoc_id
        uint8_t ssfe_data[1]
    union sctp_notification:
        sctp_tlv sn_header
        sctp_assoc_change sn_assoc_change
        sctp_paddr_change sn_paddr_change
        sctp_shutdown_event sn_shutdown_event
        sctp_send_failed_event sn_send_failed_event
    struct sctp_event:
        sctp_assoc_t se_assoc_id
        uint16_t se_type
        uint8_t se_on
    struct sctp_initmsg:
        uint16_t sinit_num_ostreams
        uint16_t sinit_max_instreams
        uint16_t sinit_max_attempts
        uint16_t sinit_max_init_timeo
    struct sctp_rtoinfo:
        sctp_assoc_t srto_assoc_id
        uint32_t srto_initial
        uint32_t srto_max
        uint32_t srto_min
    struct sctp_assocparams:
        sctp_assoc_t sasoc_assoc_id
        uint16_t sasoc_asocmaxrxt
    struct sctp_setprim:
        sockaddr_storage ssp_addr
        sctp_assoc_t ssp_assoc_id
    struct sctp_setpeerprim:
        sockaddr_storage sspp_addr
        sctp_assoc_t sspp_assoc_id
    struct sctp_paddrparams:
        sockaddr_storage spp_address
        sctp_assoc_t spp_assoc_id
        uint32_t spp_hbinterval
        uint32_t spp_flags
        uint16_t spp_pathmaxrxt
    struct sctp_udpencaps:
        sockaddr_storage sue_address
        uint32_t sue_assoc_id
        uint16_t sue_port

    void usrsctp_init(uint16_t port,
                      int (*conn_output)(void *, void *, size_t, uint8_t, uint8_t),
                      void (*debug_printf)(const char *format, ...))
    socket *usrsctp_socket(int domain, int type, int protocol, void *receive_cb,
                           void *send_cb, uint32_t sb_threshold, void *ulp_info)
    int usrsctp_setsockopt(socket *so, int level, int name, const void *val, socklen_t len)
    int usrsctp_getsockopt(socket *so, int level, int name, void *val, socklen_t *len)
    int usrsctp_getpaddrs(socket *so, sctp_assoc_t id, sockaddr **addrs)
    void usrsctp_freepaddrs(sockaddr *addrs)
    int usrsctp_getladdrs(socket *so, sctp_assoc_t id, sockaddr **addrs)
    void usrsctp_freeladdrs(sockaddr *addrs)
    ssize_t usrsctp_sendv(socket *so, const void *data, size_t len, sockaddr *to, int addrcnt,
                          void *info, socklen_t infolen, unsigned int infotype, int flags)
    ssize_t usrsctp_recvv(socket *so, void *buf, size_t len, sockaddr *frm, socklen_t *fromlen,
                          void *info, socklen_t *infolen, unsigned int *infotype, int *flags)
    int usrsctp_bind(socket *so, sockaddr *name, socklen_t namelen)
    int usrsctp_bindx(socket *so, sockaddr *addrs, int addrcnt, int flags)
    int usrsctp_listen(socket *so, int backlog)
    int usrsctp_connectx(socket *so, const sockaddr *addrs, int addrcnt, sctp_assoc_t *id)
    void usrsctp_close(socket *so)
    int usrsctp_set_non_blocking(socket *so, int onoff)
    int usrsctp_set_upcall(socket *so, void (*upcall)(socket *, void *, int) noexcept nogil,
                           void *arg)
    int usrsctp_get_events(socket *so)

    int usrsctp_sysctl_set_sctp_auth_enable(uint32_t)
    int usrsctp_sysctl_set_sctp_asconf_enable(uint32_t)
    int usrsctp_sysctl_set_sctp_blackhole(uint32_t)
    int usrsctp_sysctl_set_sctp_max_chunks_on_queue(uint32_t)
    int usrsctp_sysctl_set_sctp_rto_initial_default(uint32_t)
    int usrsctp_sysctl_set_sctp_rto_min_default(uint32_t)
    int usrsctp_sysctl_set_sctp_rto_max_default(uint32_t)
    int usrsctp_sysctl_set_sctp_init_rto_max_default(uint32_t)
    int usrsctp_sysctl_set_sctp_heartbeat_interval_default(uint32_t)
    int usrsctp_sysctl_set_sctp_path_rtx_max_default(uint32_t)
    int usrsctp_sysctl_set_sctp_assoc_rtx_max_default(uint32_t)
    int usrsctp_sysctl_set_sctp_path_pf_threshold(uint32_t)
    int usrsctp_sysctl_set_sctp_sendspace(uint32_t)
    int usrsctp_sysctl_set_sctp_recvspace(uint32_t)
    uint32_t usrsctp_sysctl_get_sctp_udp_tunneling_port()


# Not declared in usrsctp.h but exported by the shared library: the only way to tell usrsctp
# on Linux about an address that appeared after usrsctp_init (its address monitor is off).
cdef extern from *:
    """
    void *sctp_add_addr_to_vrf(uint32_t vrf_id, void *ifn, uint32_t ifn_index,
                               uint32_t ifn_type, const char *if_name, void *ifa,
                               struct sockaddr *addr, uint32_t ifa_flags, int dynamic_add);
    void sctp_del_addr_from_vrf(uint32_t vrf_id, struct sockaddr *addr,
                                uint32_t ifn_index, const char *if_name);
    """
    void *sctp_add_addr_to_vrf(uint32_t vrf_id, void *ifn, uint32_t ifn_index,
                               uint32_t ifn_type, const char *if_name, void *ifa,
                               sockaddr *addr, uint32_t ifa_flags, int dynamic_add) nogil
    void sctp_del_addr_from_vrf(uint32_t vrf_id, sockaddr *addr, uint32_t ifn_index,
                                const char *if_name) nogil


# Notification kinds returned by Socket.pump() as the first element of a tuple.
ASSOC_CHANGE = SCTP_ASSOC_CHANGE
PEER_ADDR_CHANGE = SCTP_PEER_ADDR_CHANGE
SEND_FAILED = SCTP_SEND_FAILED_EVENT
SHUTDOWN_EVENT = SCTP_SHUTDOWN_EVENT

cdef enum:
    RECV_BUFFER = 65536

cdef int _udp_port = -1


cdef extern from *:
    """
    /* What a socket's upcall shares with its owner. ``pending`` is set by the first upcall
       after the owner's last rearm(): later upcalls skip the eventfd write (a system call
       per packet) because the owner has not consumed the wake-up it already has. */
    typedef struct { int fd; int pending; } rserpool_wakeup;
    static int rserpool_mark_pending(rserpool_wakeup *w) {
        return __atomic_exchange_n(&w->pending, 1, __ATOMIC_SEQ_CST);
    }
    static int rserpool_is_pending(rserpool_wakeup *w) {
        return __atomic_load_n(&w->pending, __ATOMIC_SEQ_CST);
    }
    static void rserpool_cpu_relax(void) {
    #if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
    #endif
    }
    static void rserpool_clear_pending(rserpool_wakeup *w) {
        __atomic_store_n(&w->pending, 0, __ATOMIC_SEQ_CST);
    }
    """
    ctypedef struct wakeup "rserpool_wakeup":
        int fd
        int pending
    int _mark_pending "rserpool_mark_pending"(wakeup *w) nogil
    void _clear_pending "rserpool_clear_pending"(wakeup *w) nogil
    int _is_pending "rserpool_is_pending"(wakeup *w) nogil
    void _cpu_relax "rserpool_cpu_relax"() nogil


cdef void _upcall(socket *so, void *arg, int flags) noexcept nogil:
    """Runs on a usrsctp thread: wake the owner through its eventfd (unless a wake-up is
    already outstanding), nothing else."""
    cdef uint64_t one = 1
    cdef wakeup *w = <wakeup *>arg
    cdef int fd = w.fd
    if fd >= 0 and _mark_pending(w) == 0:
        write(fd, &one, 8)


cdef void _upcall_closed(socket *so, void *arg, int flags) noexcept nogil:
    pass


cdef _oserror(int err, str what):
    return OSError(err, f"{what}: {strerror(err).decode()}")


def init(int udp_port) -> int:
    """Start the process-wide usrsctp stack on a UDP encapsulation port (once); return it.

    A second call returns the port already in use (the stack cannot be restarted).
    Port 0 is refused: to usrsctp it means raw IP instead of UDP encapsulation."""
    global _udp_port
    if _udp_port >= 0:
        return _udp_port
    if not 0 < udp_port <= 65535:
        raise ValueError(f"UDP port out of range: {udp_port}")
    usrsctp_init(<uint16_t>udp_port, NULL, NULL)
    # Defaults are overwritten by usrsctp_init, so set the process-wide knobs after it.
    _check_sysctl(usrsctp_sysctl_set_sctp_auth_enable(1), "auth_enable")
    _check_sysctl(usrsctp_sysctl_set_sctp_asconf_enable(1), "asconf_enable")
    _check_sysctl(usrsctp_sysctl_set_sctp_blackhole(2), "blackhole")
    _check_sysctl(usrsctp_sysctl_set_sctp_max_chunks_on_queue(1 << 16), "max_chunks_on_queue")
    _udp_port = usrsctp_sysctl_get_sctp_udp_tunneling_port()
    return _udp_port


def udp_port() -> int:
    """The UDP encapsulation port of the running stack, or -1 before init()."""
    return _udp_port


cdef _check_sysctl(int rc, str name):
    if rc != 0:
        raise _oserror(errno, f"usrsctp sysctl {name}")


def set_defaults(int rto_initial, int rto_min, int rto_max, int heartbeat, int path_max_rtx,
                 int assoc_max_rtx, int pf_threshold, int send_buffer, int receive_buffer):
    """Process-wide defaults copied into each socket when it is created (usrsctp sysctls)."""
    _check_sysctl(usrsctp_sysctl_set_sctp_rto_min_default(rto_min), "rto_min")
    _check_sysctl(usrsctp_sysctl_set_sctp_rto_max_default(rto_max), "rto_max")
    _check_sysctl(usrsctp_sysctl_set_sctp_rto_initial_default(rto_initial), "rto_initial")
    _check_sysctl(usrsctp_sysctl_set_sctp_init_rto_max_default(rto_max), "init_rto_max")
    _check_sysctl(usrsctp_sysctl_set_sctp_heartbeat_interval_default(heartbeat), "heartbeat")
    _check_sysctl(usrsctp_sysctl_set_sctp_path_rtx_max_default(path_max_rtx), "path_rtx_max")
    _check_sysctl(usrsctp_sysctl_set_sctp_assoc_rtx_max_default(assoc_max_rtx), "assoc_rtx_max")
    _check_sysctl(usrsctp_sysctl_set_sctp_path_pf_threshold(pf_threshold), "pf_threshold")
    _check_sysctl(usrsctp_sysctl_set_sctp_sendspace(send_buffer), "sendspace")
    _check_sysctl(usrsctp_sysctl_set_sctp_recvspace(receive_buffer), "recvspace")


cdef socklen_t _to_sockaddr(str address, int port, sockaddr_storage *out) except 0:
    """Fill *out from a textual IPv4/IPv6 address; ValueError if it is neither."""
    cdef bytes raw = address.encode()
    cdef sockaddr_in *sin = <sockaddr_in *>out
    cdef sockaddr_in6 *sin6 = <sockaddr_in6 *>out
    memset(out, 0, sizeof(sockaddr_storage))
    if inet_pton(AF_INET, raw, &sin.sin_addr) == 1:
        sin.sin_family = AF_INET
        sin.sin_port = htons(<uint16_t>port)
        return sizeof(sockaddr_in)
    if inet_pton(AF_INET6, raw, &sin6.sin6_addr) == 1:
        sin6.sin6_family = AF_INET6
        sin6.sin6_port = htons(<uint16_t>port)
        return sizeof(sockaddr_in6)
    raise ValueError(f"not an IPv4 or IPv6 address: {address!r}")


cdef tuple _from_sockaddr(const sockaddr *sa):
    """(address, port) of a sockaddr, or None for families other than IPv4/IPv6."""
    cdef char text[64]
    cdef const sockaddr_in *sin
    cdef const sockaddr_in6 *sin6
    if sa.sa_family == AF_INET:
        sin = <const sockaddr_in *>sa
        inet_ntop(AF_INET, &sin.sin_addr, text, sizeof(text))
        return (text.decode(), ntohs(sin.sin_port))
    if sa.sa_family == AF_INET6:
        sin6 = <const sockaddr_in6 *>sa
        inet_ntop(AF_INET6, &sin6.sin6_addr, text, sizeof(text))
        return (text.decode(), ntohs(sin6.sin6_port))
    return None


cdef list _addr_list(sockaddr *addrs, int count):
    cdef list out = []
    cdef char *p = <char *>addrs
    cdef tuple item
    for _ in range(count):
        item = _from_sockaddr(<sockaddr *>p)
        if item is None:
            break
        out.append(item)
        p += sizeof(sockaddr_in) if (<sockaddr *>p).sa_family == AF_INET else sizeof(sockaddr_in6)
    return out


def add_local_address(str address, int ifindex, str ifname):
    """Tell usrsctp about a local address that appeared after init (Linux only needs this)."""
    cdef sockaddr_storage ss
    _to_sockaddr(address, 0, &ss)
    cdef bytes name = ifname.encode()
    if sctp_add_addr_to_vrf(0, NULL, ifindex, 0, name, NULL, <sockaddr *>&ss, 0, 1) == NULL:
        raise OSError(0, f"usrsctp refused local address {address}")


def del_local_address(str address, int ifindex, str ifname):
    """Tell usrsctp that a local address is gone from the host."""
    cdef sockaddr_storage ss
    _to_sockaddr(address, 0, &ss)
    cdef bytes name = ifname.encode()
    sctp_del_addr_from_vrf(0, <sockaddr *>&ss, ifindex, name)


cdef class Socket:
    """A non-blocking one-to-many usrsctp socket whose upcall writes to ``eventfd``."""

    cdef socket *so
    cdef wakeup *box
    cdef unsigned char *buf
    cdef dict partial
    cdef readonly int family
    cdef public object sink         # deliver(): called with each message, or None
    cdef public long long scale     # deliver() numbers messages assoc * scale + offset
    cdef public long long offset

    def __cinit__(self):
        self.so = NULL
        self.partial = {}
        self.sink = None
        self.scale = 1
        self.offset = 0
        self.buf = <unsigned char *>malloc(RECV_BUFFER)
        # The box outlives the socket on purpose: a late upcall must never see freed memory.
        self.box = <wakeup *>malloc(sizeof(wakeup))
        if self.buf == NULL or self.box == NULL:
            raise MemoryError()
        self.box.fd = -1
        self.box.pending = 0

    def __init__(self, int family, int eventfd, int remote_udp_port):
        if _udp_port < 0:
            raise RuntimeError("usrsctp.init() has not been called")
        if self.so != NULL:
            raise RuntimeError("Socket already initialised")
        self.family = family
        self.box.fd = eventfd
        self.so = usrsctp_socket(family, SOCK_SEQPACKET, IPPROTO_SCTP, NULL, NULL, 0, NULL)
        if self.so == NULL:
            raise _oserror(errno, "usrsctp_socket")
        cdef int on = 1
        cdef sctp_event ev
        try:
            self._check(usrsctp_set_non_blocking(self.so, 1), "set_non_blocking")
            self._check(usrsctp_setsockopt(self.so, IPPROTO_SCTP, SCTP_RECVRCVINFO, &on,
                                           sizeof(on)), "SCTP_RECVRCVINFO")
            self._check(usrsctp_setsockopt(self.so, IPPROTO_SCTP, SCTP_NODELAY, &on,
                                           sizeof(on)), "SCTP_NODELAY")
            for kind in (SCTP_ASSOC_CHANGE, SCTP_PEER_ADDR_CHANGE, SCTP_SEND_FAILED_EVENT,
                         SCTP_SHUTDOWN_EVENT):
                memset(&ev, 0, sizeof(ev))
                ev.se_assoc_id = SCTP_FUTURE_ASSOC
                ev.se_type = kind
                ev.se_on = 1
                self._check(usrsctp_setsockopt(self.so, IPPROTO_SCTP, SCTP_EVENT, &ev,
                                               sizeof(ev)), "SCTP_EVENT")
            self.set_remote_udp_port(remote_udp_port)
            self._check(usrsctp_set_upcall(self.so, _upcall, self.box), "set_upcall")
        except BaseException:
            self.close()
            raise

    def __dealloc__(self):
        self.close()
        free(self.buf)
        self.buf = NULL

    cdef int _check(self, int rc, str what) except -1:
        if rc < 0:
            raise _oserror(errno, what)
        if self.so == NULL:
            raise _oserror(9, what)
        return rc

    cdef socket *_live(self) except NULL:
        if self.so == NULL:
            raise OSError(9, "usrsctp socket is closed")
        return self.so

    def close(self):
        """Close the socket (usrsctp shuts its associations down in the background)."""
        if self.so != NULL:
            usrsctp_set_upcall(self.so, _upcall_closed, NULL)
            self.box.fd = -1
            usrsctp_close(self.so)
            self.so = NULL

    def configure(self, int rto_initial, int rto_min, int rto_max, int heartbeat,
                  int path_max_rtx, int assoc_max_rtx, int send_buffer, int receive_buffer,
                  int streams):
        """Per-endpoint timers, retransmission limits, buffers and stream counts."""
        cdef socket *so = self._live()
        cdef sctp_rtoinfo rto
        cdef sctp_assocparams assoc
        cdef sctp_paddrparams paddr
        cdef sctp_initmsg init
        memset(&rto, 0, sizeof(rto))
        rto.srto_assoc_id = SCTP_FUTURE_ASSOC
        rto.srto_initial = rto_initial
        rto.srto_min = rto_min
        rto.srto_max = rto_max
        self._check(usrsctp_setsockopt(so, IPPROTO_SCTP, SCTP_RTOINFO, &rto, sizeof(rto)),
                    "SCTP_RTOINFO")
        memset(&assoc, 0, sizeof(assoc))
        assoc.sasoc_assoc_id = SCTP_FUTURE_ASSOC
        assoc.sasoc_asocmaxrxt = assoc_max_rtx
        self._check(usrsctp_setsockopt(so, IPPROTO_SCTP, SCTP_ASSOCINFO, &assoc, sizeof(assoc)),
                    "SCTP_ASSOCINFO")
        memset(&paddr, 0, sizeof(paddr))
        paddr.spp_assoc_id = SCTP_FUTURE_ASSOC
        paddr.spp_hbinterval = heartbeat
        paddr.spp_pathmaxrxt = path_max_rtx
        paddr.spp_flags = SPP_HB_ENABLE
        self._check(usrsctp_setsockopt(so, IPPROTO_SCTP, SCTP_PEER_ADDR_PARAMS, &paddr,
                                       sizeof(paddr)), "SCTP_PEER_ADDR_PARAMS")
        memset(&init, 0, sizeof(init))
        init.sinit_num_ostreams = streams
        init.sinit_max_instreams = streams
        self._check(usrsctp_setsockopt(so, IPPROTO_SCTP, SCTP_INITMSG, &init, sizeof(init)),
                    "SCTP_INITMSG")
        self._check(usrsctp_setsockopt(so, SOL_SOCKET, SO_SNDBUF, &send_buffer, sizeof(int)),
                    "SO_SNDBUF")
        self._check(usrsctp_setsockopt(so, SOL_SOCKET, SO_RCVBUF, &receive_buffer,
                                       sizeof(int)), "SO_RCVBUF")

    def bind(self, str address, int port) -> int:
        """Bind the first local address; return the port (the chosen one if 0 was asked)."""
        cdef sockaddr_storage ss
        cdef socklen_t n = _to_sockaddr(address, port, &ss)
        self._check(usrsctp_bind(self._live(), <sockaddr *>&ss, n), f"bind {address}")
        return port or self.local_addresses(0)[0][1]

    def set_remote_udp_port(self, int remote_udp_port):
        """The UDP encapsulation port that associations started from now on send to."""
        cdef sctp_udpencaps encaps
        memset(&encaps, 0, sizeof(encaps))
        encaps.sue_address.ss_family = self.family
        encaps.sue_assoc_id = SCTP_FUTURE_ASSOC
        encaps.sue_port = htons(<uint16_t>remote_udp_port)
        self._check(usrsctp_setsockopt(self._live(), IPPROTO_SCTP, SCTP_REMOTE_UDP_ENCAPS_PORT,
                                       &encaps, sizeof(encaps)), "SCTP_REMOTE_UDP_ENCAPS_PORT")

    def peer_udp_port(self, sctp_assoc_t assoc, str address, int port) -> int:
        """The UDP encapsulation port of one peer address (port: the peer's SCTP port) of
        an association: for an association the peer started, the source port of its INIT."""
        cdef sctp_udpencaps encaps
        cdef socklen_t n = sizeof(encaps)
        memset(&encaps, 0, sizeof(encaps))
        _to_sockaddr(address, port, &encaps.sue_address)
        encaps.sue_assoc_id = assoc
        self._check(usrsctp_getsockopt(self._live(), IPPROTO_SCTP, SCTP_REMOTE_UDP_ENCAPS_PORT,
                                       &encaps, &n), "SCTP_REMOTE_UDP_ENCAPS_PORT")
        return ntohs(encaps.sue_port)

    def listen(self):
        """Accept associations from peers."""
        self._check(usrsctp_listen(self._live(), 1), "listen")

    def bindx(self, str address, int port, bint add):
        """Add or remove one local address on the live socket (ASCONF to every peer)."""
        cdef sockaddr_storage ss
        _to_sockaddr(address, port, &ss)
        self._check(usrsctp_bindx(self._live(), <sockaddr *>&ss, 1,
                                  SCTP_BINDX_ADD_ADDR if add else SCTP_BINDX_REM_ADDR),
                    "bindx add" if add else "bindx remove")

    def connectx(self, list addresses, int port) -> int:
        """Start an association to all of a peer's addresses; return its id (non-blocking)."""
        cdef int count = len(addresses)
        cdef sctp_assoc_t assoc = 0
        cdef char *packed = <char *>malloc(count * sizeof(sockaddr_in6) + 1)
        cdef char *p = packed
        cdef sockaddr_storage ss
        cdef socklen_t n
        cdef int rc
        if packed == NULL:
            raise MemoryError()
        try:
            for address in addresses:
                n = _to_sockaddr(address, port, &ss)
                memcpy(p, &ss, n)
                p += n
            rc = usrsctp_connectx(self._live(), <sockaddr *>packed, count, &assoc)
            if rc < 0 and errno != EINPROGRESS:
                raise _oserror(errno, "connectx")
            return assoc
        finally:
            free(packed)

    def local_addresses(self, sctp_assoc_t assoc) -> list:
        cdef sockaddr *addrs = NULL
        cdef int n = usrsctp_getladdrs(self._live(), assoc, &addrs)
        if n < 0:
            raise _oserror(errno, "getladdrs")
        try:
            return _addr_list(addrs, n)
        finally:
            if addrs != NULL:
                usrsctp_freeladdrs(addrs)

    def peer_addresses(self, sctp_assoc_t assoc) -> list:
        cdef sockaddr *addrs = NULL
        cdef int n = usrsctp_getpaddrs(self._live(), assoc, &addrs)
        if n < 0:
            raise _oserror(errno, "getpaddrs")
        try:
            return _addr_list(addrs, n)
        finally:
            if addrs != NULL:
                usrsctp_freepaddrs(addrs)

    def set_primary(self, sctp_assoc_t assoc, str address, int port):
        cdef sctp_setprim prim
        memset(&prim, 0, sizeof(prim))
        _to_sockaddr(address, port, &prim.ssp_addr)
        prim.ssp_assoc_id = assoc
        self._check(usrsctp_setsockopt(self._live(), IPPROTO_SCTP, SCTP_PRIMARY_ADDR, &prim,
                                       sizeof(prim)), "SCTP_PRIMARY_ADDR")

    def set_peer_primary(self, sctp_assoc_t assoc, str address, int port):
        cdef sctp_setpeerprim prim
        memset(&prim, 0, sizeof(prim))
        _to_sockaddr(address, port, &prim.sspp_addr)
        prim.sspp_assoc_id = assoc
        self._check(usrsctp_setsockopt(self._live(), IPPROTO_SCTP, SCTP_SET_PEER_PRIMARY_ADDR,
                                       &prim, sizeof(prim)), "SCTP_SET_PEER_PRIMARY_ADDR")

    def heartbeat(self, sctp_assoc_t assoc, str address, int port):
        """Send a heartbeat to one peer address now (confirms or revives the path)."""
        cdef sctp_paddrparams paddr
        memset(&paddr, 0, sizeof(paddr))
        _to_sockaddr(address, port, &paddr.spp_address)
        paddr.spp_assoc_id = assoc
        paddr.spp_flags = SPP_HB_DEMAND
        self._check(usrsctp_setsockopt(self._live(), IPPROTO_SCTP, SCTP_PEER_ADDR_PARAMS,
                                       &paddr, sizeof(paddr)), "SPP_HB_DEMAND")

    cpdef int send(self, sctp_assoc_t assoc, bytes data, uint32_t ppid, uint16_t stream,
                   bint unordered) except -1:
        """Queue one message: 0 if taken, the errno if the send buffer is full (retry later)."""
        cdef sctp_sndinfo info
        cdef socket *so = self._live()
        memset(&info, 0, sizeof(info))
        info.snd_sid = stream
        info.snd_ppid = htonl(ppid)
        info.snd_assoc_id = assoc
        if unordered:
            info.snd_flags = SCTP_UNORDERED
        if usrsctp_sendv(so, <const char *>data, len(data), NULL, 0, &info, sizeof(info),
                         SCTP_SENDV_SNDINFO, 0) >= 0:
            return 0
        if errno == EWOULDBLOCK or errno == EAGAIN or errno == ENOBUFS:
            return errno
        raise _oserror(errno, "send")

    def end(self, sctp_assoc_t assoc, bint abort):
        """Start a graceful shutdown (SCTP_EOF) or abort one association."""
        cdef sctp_sndinfo info
        memset(&info, 0, sizeof(info))
        info.snd_assoc_id = assoc
        info.snd_flags = SCTP_ABORT if abort else SCTP_EOF
        # usrsctp rejects a NULL buffer even for an empty message.
        if usrsctp_sendv(self._live(), self.buf, 0, NULL, 0, &info, sizeof(info),
                         SCTP_SENDV_SNDINFO, 0) < 0:
            raise _oserror(errno, "abort" if abort else "shutdown")

    def pump(self, queue, Py_ssize_t limit):
        """Append complete messages (``Message``) to ``queue`` until it holds ``limit``
        items or nothing is left; stop early at a notification and return it (else None).

        Notifications: (ASSOC_CHANGE, assoc, state, error),
        (PEER_ADDR_CHANGE, assoc, state, error, address),
        (SEND_FAILED, assoc, error, data, ppid, stream), (SHUTDOWN_EVENT, assoc)."""
        cdef object item
        while len(queue) < limit:
            item = self._next(1, 0)
            if item is None or type(item) is tuple:
                return item
            queue.append(item)
        return None

    def rearm(self, bint force=True) -> bool:
        """Reset the eventfd and let the next upcall write it again; call it before reading
        the socket, so that nothing arriving meanwhile goes unnoticed. Without ``force``,
        do nothing (and return False) if no upcall came since the last rearm: what an
        upcall racing that rearm may have written is left for the eventfd's reader, which
        must always force (else a level-triggered reader would be woken again and again)."""
        if not force and not _is_pending(self.box):
            return False
        self._reset_wakeup()
        return True

    cdef void _reset_wakeup(self) noexcept:
        """Empty the eventfd, then let the next upcall write it again."""
        cdef uint64_t value = 0
        if self.box.fd >= 0:
            read(self.box.fd, &value, 8)
        _clear_pending(self.box)

    def await_upcall(self, double seconds) -> bool:
        """Busy-wait, without the GIL, until an upcall has come since the last rearm or
        ``seconds`` have passed; True if one came. Lets a caller that expects an answer
        within microseconds skip sleeping in the event loop (and the wake-up after it)."""
        cdef timespec ts
        cdef double deadline
        cdef int spins = 0
        cdef bint came
        with nogil:
            clock_gettime(CLOCK_MONOTONIC, &ts)
            deadline = ts.tv_sec + ts.tv_nsec * 1e-9 + seconds
            while True:
                came = _is_pending(self.box) != 0
                if came:
                    break
                spins += 1
                if spins & 63 == 0:
                    clock_gettime(CLOCK_MONOTONIC, &ts)
                    if ts.tv_sec + ts.tv_nsec * 1e-9 >= deadline:
                        break
                _cpu_relax()
        return came

    def take(self):
        """The next complete ``Message`` or notification tuple (as ``pump`` returns
        them), or None if usrsctp has nothing complete right now."""
        return self._next(1, 0)

    def wake(self, Py_ssize_t limit):
        """The eventfd reader's call: ``rearm()``, then ``deliver(limit)`` if a sink is
        set (its result), else False."""
        self._reset_wakeup()
        if self.sink is None:
            return False
        return self.deliver(limit)

    def deliver(self, Py_ssize_t limit):
        """Call ``self.sink(message)`` for each complete message, numbered
        ``assoc * self.scale + self.offset``, while ``sink`` is set; stop at a notification
        and return it, return None once usrsctp has nothing complete, or True after
        ``limit`` messages (more may wait). An exception of the sink propagates: its
        message counts as delivered."""
        cdef object item
        cdef Py_ssize_t count = 0
        while self.sink is not None:
            if count >= limit:
                return True
            item = self._next(self.scale, self.offset)
            if item is None or type(item) is tuple:
                return item
            count += 1
            self.sink(item)
        return None

    cdef object _next(self, long long scale, long long offset):
        cdef sctp_rcvinfo info
        cdef socklen_t infolen
        cdef unsigned int infotype
        cdef int flags
        cdef ssize_t n
        cdef object key
        cdef bytes chunk
        cdef bint notification
        cdef socket *so = self._live()
        while True:
            infolen = sizeof(info)
            infotype = 0
            flags = 0
            n = usrsctp_recvv(so, self.buf, RECV_BUFFER, NULL, NULL, &info, &infolen,
                              &infotype, &flags)
            if n < 0:
                if errno == EWOULDBLOCK or errno == EAGAIN:
                    return None
                raise _oserror(errno, "recv")
            notification = (flags & MSG_NOTIFICATION) != 0
            if (flags & MSG_EOR) and not self.partial:  # the common case: no key tuple
                chunk = (<char *>self.buf)[:n]
            else:
                key = None if notification else (info.rcv_assoc_id, info.rcv_sid)
                if not (flags & MSG_EOR):
                    self.partial[key] = self.partial.get(key, b"") + (<char *>self.buf)[:n]
                    continue
                if key in self.partial:
                    chunk = self.partial.pop(key) + (<char *>self.buf)[:n]
                else:
                    chunk = (<char *>self.buf)[:n]
            if notification:
                result = _notification(chunk)
                if result is not None:
                    return result
                continue
            return new_message(info.rcv_assoc_id * scale + offset, chunk,
                               ntohl(info.rcv_ppid), info.rcv_sid,
                               (info.rcv_flags & SCTP_UNORDERED) != 0)


cdef object _notification(bytes chunk):
    cdef const unsigned char *p = chunk
    cdef const sctp_notification *sn = <const sctp_notification *>p
    cdef Py_ssize_t n = len(chunk)
    cdef uint16_t kind = sn.sn_header.sn_type
    cdef Py_ssize_t header
    if kind == SCTP_ASSOC_CHANGE:
        return (ASSOC_CHANGE, sn.sn_assoc_change.sac_assoc_id, sn.sn_assoc_change.sac_state,
                sn.sn_assoc_change.sac_error)
    if kind == SCTP_PEER_ADDR_CHANGE:
        address = _from_sockaddr(<const sockaddr *>&sn.sn_paddr_change.spc_aaddr)
        return (PEER_ADDR_CHANGE, sn.sn_paddr_change.spc_assoc_id, sn.sn_paddr_change.spc_state,
                sn.sn_paddr_change.spc_error, None if address is None else address[0])
    if kind == SCTP_SEND_FAILED_EVENT:
        header = <Py_ssize_t>(<const char *>&sn.sn_send_failed_event.ssfe_data[0] - <const char *>p)
        return (SEND_FAILED, sn.sn_send_failed_event.ssfe_assoc_id,
                sn.sn_send_failed_event.ssfe_error, chunk[header:n],
                ntohl(sn.sn_send_failed_event.ssfe_info.snd_ppid),
                sn.sn_send_failed_event.ssfe_info.snd_sid)
    if kind == SCTP_SHUTDOWN_EVENT:
        return (SHUTDOWN_EVENT, sn.sn_shutdown_event.sse_assoc_id)
    return None

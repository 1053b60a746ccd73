# cython: language_level=3, boundscheck=False, wraparound=False, autotestdict=False
"""One SCTP message in or out of a Linux one-to-many socket, without the socket module.

``socket.recvmsg`` allocates a buffer of the largest size asked for, shrinks it and builds
a list of ancillary tuples; ``socket.sendmsg`` parses a list of buffers and of cmsg tuples.
For the kernel backend's one message per call that is most of its Python cost, so these
two calls read into one reused buffer and parse SCTP_RCVINFO in C, and build the
SCTP_SNDINFO cmsg on the stack. Errors are raised as ``OSError`` from errno
(``BlockingIOError`` when the socket would block).
"""

import os

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from libc.errno cimport EAGAIN, EINTR, errno
from libc.stdint cimport int32_t, uint16_t, uint32_t
from libc.string cimport memcpy, memset

from rserpool._core.messages cimport new_message

cdef extern from *:
    """
    #include <errno.h>
    #include <sys/socket.h>
    #include <sys/uio.h>
    #include <arpa/inet.h>
    struct rsp_sndinfo { uint16_t sid; uint16_t flags; uint32_t ppid; uint32_t context;
                         int32_t assoc; };
    struct rsp_rcvinfo { uint16_t sid; uint16_t ssn; uint16_t flags; uint32_t ppid;
                         uint32_t tsn; uint32_t cumtsn; uint32_t context; int32_t assoc; };
    #define RSP_SOL_SCTP 132
    #define RSP_SCTP_SNDINFO 2
    #define RSP_SCTP_RCVINFO 3
    #define RSP_SNDINFO_SPACE CMSG_SPACE(sizeof(struct rsp_sndinfo))
    #define RSP_SNDINFO_LEN CMSG_LEN(sizeof(struct rsp_sndinfo))
    #define RSP_RCVINFO_LEN CMSG_LEN(sizeof(struct rsp_rcvinfo))
    """
    struct rsp_sndinfo:
        uint16_t sid
        uint16_t flags
        uint32_t ppid
        uint32_t context
        int32_t assoc
    struct rsp_rcvinfo:
        uint16_t sid
        uint16_t ssn
        uint16_t flags
        uint32_t ppid
        int32_t assoc
    int RSP_SOL_SCTP
    int RSP_SCTP_SNDINFO
    int RSP_SCTP_RCVINFO
    size_t RSP_SNDINFO_SPACE
    size_t RSP_SNDINFO_LEN
    size_t RSP_RCVINFO_LEN

cdef extern from "<sys/socket.h>" nogil:
    ctypedef unsigned int socklen_t
    struct iovec:
        void* iov_base
        size_t iov_len
    struct msghdr:
        void* msg_name
        socklen_t msg_namelen
        iovec* msg_iov
        size_t msg_iovlen
        void* msg_control
        size_t msg_controllen
        int msg_flags
    struct cmsghdr:
        size_t cmsg_len
        int cmsg_level
        int cmsg_type
    cmsghdr* CMSG_FIRSTHDR(msghdr*)
    cmsghdr* CMSG_NXTHDR(msghdr*, cmsghdr*)
    unsigned char* CMSG_DATA(cmsghdr*)
    struct mmsghdr:
        msghdr msg_hdr
        unsigned int msg_len
    ssize_t c_recvmsg "recvmsg"(int, msghdr*, int)
    ssize_t c_sendmsg "sendmsg"(int, const msghdr*, int)
    int c_sendmmsg "sendmmsg"(int, mmsghdr*, unsigned int, int)

cdef extern from "<arpa/inet.h>" nogil:
    uint32_t htonl(uint32_t)
    uint32_t ntohl(uint32_t)

DEF BUFFER_SIZE = 65536
DEF MSG_EOR = 0x80
DEF MSG_NOTIFICATION = 0x8000
DEF SCTP_UNORDERED = 1
cdef char _buffer[BUFFER_SIZE]
cdef char _control[256]


cdef int _retry_or_raise() except -1:
    """After a failed system call: return to retry it if a signal interrupted it (EINTR),
    else raise OSError from errno (BlockingIOError for EAGAIN)."""
    cdef int code = errno
    if code != EINTR:
        raise OSError(code, os.strerror(code))
    return 0


def receive(int fd):
    """Read one message: ``(data, msg_flags, assoc, ppid, stream, rcv_flags)``; assoc is -1
    when no SCTP_RCVINFO came with it (notifications)."""
    cdef iovec iov
    cdef msghdr msg
    cdef cmsghdr* cmsg
    cdef rsp_rcvinfo info
    cdef ssize_t n
    cdef int32_t assoc = -1
    cdef uint32_t ppid = 0
    cdef uint16_t sid = 0, rflags = 0
    iov.iov_base = _buffer
    iov.iov_len = BUFFER_SIZE
    memset(&msg, 0, sizeof(msg))
    msg.msg_iov = &iov
    msg.msg_iovlen = 1
    msg.msg_control = _control
    msg.msg_controllen = sizeof(_control)
    while True:
        n = c_recvmsg(fd, &msg, 0)
        if n >= 0:
            break
        _retry_or_raise()
    cmsg = CMSG_FIRSTHDR(&msg)
    while cmsg != NULL:
        if (cmsg.cmsg_level == RSP_SOL_SCTP and cmsg.cmsg_type == RSP_SCTP_RCVINFO
                and cmsg.cmsg_len >= RSP_RCVINFO_LEN):
            memcpy(&info, CMSG_DATA(cmsg), sizeof(info))
            assoc, ppid, sid, rflags = info.assoc, ntohl(info.ppid), info.sid, info.flags
            break
        cmsg = CMSG_NXTHDR(&msg, cmsg)
    return (PyBytes_FromStringAndSize(_buffer, n), msg.msg_flags, assoc, ppid, sid, rflags)


cdef inline void _prepare(msghdr* msg, iovec* iov, char* control, int32_t assoc,
                          uint32_t ppid, uint16_t stream, uint16_t flags) noexcept:
    """Point a zeroed msghdr at one iovec and an SCTP_SNDINFO in ``control`` (64 bytes)."""
    cdef cmsghdr* cmsg
    cdef rsp_sndinfo info
    memset(control, 0, 64)
    msg.msg_iov = iov
    msg.msg_iovlen = 1
    msg.msg_control = control
    msg.msg_controllen = RSP_SNDINFO_SPACE
    cmsg = CMSG_FIRSTHDR(msg)
    cmsg.cmsg_level = RSP_SOL_SCTP
    cmsg.cmsg_type = RSP_SCTP_SNDINFO
    cmsg.cmsg_len = RSP_SNDINFO_LEN
    info.sid = stream
    info.flags = flags
    info.ppid = htonl(ppid)
    info.context = 0
    info.assoc = assoc
    memcpy(CMSG_DATA(cmsg), &info, sizeof(info))


def send(int fd, data, int32_t assoc, uint32_t ppid, uint16_t stream=0, uint16_t flags=0):
    """Send ``data`` (bytes; empty with the EOF or ABORT flag) on association ``assoc``."""
    cdef const char* buf = b""
    cdef Py_ssize_t length = 0
    cdef bytes raw
    if data is not None:
        raw = data if type(data) is bytes else bytes(data)
        buf, length = PyBytes_AS_STRING(raw), PyBytes_GET_SIZE(raw)
    cdef char control[64]
    cdef iovec iov
    cdef msghdr msg
    cdef ssize_t n
    iov.iov_base = <void*>buf
    iov.iov_len = length
    memset(&msg, 0, sizeof(msg))
    _prepare(&msg, &iov, control, assoc, ppid, stream, flags)
    while True:
        n = c_sendmsg(fd, &msg, 0)
        if n >= 0:
            return
        _retry_or_raise()


DEF BATCH_MAX = 64  # messages per sendmmsg call


def send_batch(int fd, list items):
    """Send ``items`` of ``(data, assoc, ppid, stream, flags)`` in order with sendmmsg, up to
    the first one the socket cannot take now. Returns ``(taken, failed)``: how many items
    from the front are done with, and ``(index, errno)`` of those among them that failed
    (association gone): the caller keeps the rest for later."""
    cdef Py_ssize_t total = len(items), done = 0, i, n, count
    cdef mmsghdr msgs[BATCH_MAX]
    cdef iovec iovs[BATCH_MAX]
    cdef char controls[BATCH_MAX][64]
    cdef list keep = []  # the bytes objects stay alive during the call
    cdef list failed = []
    cdef bytes raw
    cdef int code
    while done < total:
        n = min(total - done, BATCH_MAX)
        memset(msgs, 0, sizeof(mmsghdr) * n)
        for i in range(n):
            data, assoc, ppid, stream, flags = items[done + i]
            raw = b"" if data is None else (data if type(data) is bytes else bytes(data))
            keep.append(raw)
            iovs[i].iov_base = <void*>PyBytes_AS_STRING(raw)
            iovs[i].iov_len = PyBytes_GET_SIZE(raw)
            _prepare(&msgs[i].msg_hdr, &iovs[i], controls[i], assoc, ppid, stream, flags)
        count = c_sendmmsg(fd, msgs, n, 0)
        if count < 0:
            code = errno
            if code == EINTR:
                continue
            if code == EAGAIN:  # the same as EWOULDBLOCK on Linux
                break
            failed.append((done, code))  # this one cannot go: skip it
            count = 1
        done += count  # fewer than n: the next call tells why the next one stopped
    return done, failed


def receive_messages(int fd, int limit, long long scale=1, long long offset=0,
                     bint partial=False):
    """Read up to ``limit`` messages (fewer when the socket runs dry). A whole data message
    with its SCTP_RCVINFO comes as a ``Message`` numbered ``assoc * scale + offset``;
    notifications, pieces of a message delivered in parts (``partial``: one is under way)
    and data without SCTP_RCVINFO come as ``receive`` returns them. The first read raises
    like ``receive``; a later failure ends the batch (the next call reports it)."""
    cdef list out = []
    cdef tuple item
    cdef int flags
    cdef long long assoc
    while len(out) < limit:
        try:
            item = receive(fd)
        except OSError:
            if not out:
                raise
            break
        flags = item[1]
        if flags & MSG_NOTIFICATION:
            out.append(item)
        elif not flags & MSG_EOR:
            partial = True
            out.append(item)
        elif partial or item[2] < 0:
            partial = False
            out.append(item)
        else:
            assoc = item[2]
            out.append(new_message(assoc * scale + offset, item[0], item[3], item[4],
                                   (item[5] & SCTP_UNORDERED) != 0))
    return out

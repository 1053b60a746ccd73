from libc.stdint cimport uint16_t, uint32_t


cdef object new_message(long long assoc, bytes data, uint32_t ppid, uint16_t stream,
                        bint unordered)

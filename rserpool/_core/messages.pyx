# cython: language_level=3, auto_pickle=False, autotestdict=False
"""``rserpool.transport.base.Message`` built from C, for the backends' receive paths.

A frozen slotted dataclass sets its fields through ``object.__setattr__``; here a new
instance gets them stored straight into its empty slots when the layout allows it (checked
once at import), else through the generic attribute setter.
"""

from cpython.object cimport PyObject_GenericSetAttr
from libc.stdint cimport uint16_t, uint32_t

from rserpool.transport.base import Message

cdef object _object_new = object.__new__


cdef extern from *:
    """
    #include <structmember.h>
    /* Byte offset of a __slots__ member descriptor's object slot, or -1 if it is not one. */
    static Py_ssize_t rserpool_slot_offset(PyObject *descr) {
        PyMemberDef *m;
        if (Py_TYPE(descr) != &PyMemberDescr_Type)
            return -1;
        m = ((PyMemberDescrObject *)descr)->d_member;
        if (m->type != T_OBJECT_EX || (m->flags & READONLY))
            return -1;
        return m->offset;
    }
    /* A zeroed, GC-tracked instance (what object.__new__ does, minus its argument checks). */
    static PyObject *rserpool_alloc(PyObject *type) {
        return ((PyTypeObject *)type)->tp_alloc((PyTypeObject *)type, 0);
    }
    /* Store a new reference into an empty object slot. */
    static void rserpool_slot_set(PyObject *o, Py_ssize_t offset, PyObject *v) {
        Py_INCREF(v);
        *(PyObject **)((char *)o + offset) = v;
    }
    """
    Py_ssize_t _slot_offset "rserpool_slot_offset"(object descr)
    object _alloc "rserpool_alloc"(object type)
    void _slot_set "rserpool_slot_set"(object o, Py_ssize_t offset, object v)


cdef Py_ssize_t _MESSAGE_SLOTS[5]
cdef bint _message_fast = False


cdef _init_message_slots():
    """Find Message's slot offsets once; if it is not a plain __slots__ class, stay slow."""
    global _message_fast
    cdef int i
    cdef Py_ssize_t offset
    names = ("assoc", "data", "ppid", "stream", "unordered")
    if (type(Message) is not type or Message.__new__ is not object.__new__
            or tuple(getattr(Message, "__slots__", ())) != names):
        return
    for i in range(5):
        offset = _slot_offset(Message.__dict__[names[i]])
        if offset < 0:
            return
        _MESSAGE_SLOTS[i] = offset
    _message_fast = True


_init_message_slots()


cdef object new_message(long long assoc, bytes data, uint32_t ppid, uint16_t stream,
                        bint unordered):
    """Message(assoc, data, ppid, stream, unordered) without the frozen dataclass's slow
    __init__ (it sets each field through object.__setattr__ from Python): straight into
    the empty slots of a freshly allocated instance when the layout allows it."""
    cdef object m
    if _message_fast:
        m = _alloc(Message)
        _slot_set(m, _MESSAGE_SLOTS[0], assoc)
        _slot_set(m, _MESSAGE_SLOTS[1], data)
        _slot_set(m, _MESSAGE_SLOTS[2], ppid)
        _slot_set(m, _MESSAGE_SLOTS[3], stream)
        _slot_set(m, _MESSAGE_SLOTS[4], True if unordered else False)
        return m
    m = _object_new(Message)
    PyObject_GenericSetAttr(m, "assoc", assoc)
    PyObject_GenericSetAttr(m, "data", data)
    PyObject_GenericSetAttr(m, "ppid", ppid)
    PyObject_GenericSetAttr(m, "stream", stream)
    PyObject_GenericSetAttr(m, "unordered", unordered)
    return m

# A B+ tree of items by (a, b) keys: the selection structure of the ordered pool policies.
#
# Nodes hold up to BT_ORDER keys, so a tree of 100k PEs is about 7 levels deep and its inner
# levels stay in the CPU caches: a descent costs one or two cache misses instead of the ~20
# of a binary tree. Small nodes keep what a removal or re-keying touches in a leaf to two or
# three cache lines (measured faster than 16 keys with a thousand pools of 100 PEs). Each item (embedded first in its owner) points back to its leaf, so
# removing or re-keying an item needs no search. Leaves are linked for in-order walks.
# Removal frees empty nodes but does not merge underfull ones: the depth never grows past
# what the largest size needed, and separators stay valid bounds when keys are removed.
# Keys are unique within a tree.
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from libc.stdint cimport uint64_t
from libc.string cimport memmove

cdef enum:
    BT_ORDER = 8


cdef struct BKey:
    uint64_t a
    uint64_t b


cdef struct BNode


cdef struct BItem:
    BNode* leaf                 # the leaf that holds this item


cdef struct BNode:
    BKey keys[BT_ORDER]         # leaf: the items' keys; inner: keys[i] bounds child i+1 below
    void* ptrs[BT_ORDER]        # leaf: BItem*; inner: BNode* children
    BNode* parent
    BNode* next                 # leaves: the neighbours in key order
    BNode* prev
    int n                       # items (leaf) or children (inner)
    bint leaf


cdef struct BTree:
    BNode* root
    BNode* first                # leftmost leaf
    Py_ssize_t count
    int depth


cdef inline bint bkey_less(uint64_t a1, uint64_t b1, const BKey* k) noexcept nogil:
    return a1 < k.a or (a1 == k.a and b1 < k.b)


cdef inline bint bkey_greater(uint64_t a1, uint64_t b1, const BKey* k) noexcept nogil:
    return a1 > k.a or (a1 == k.a and b1 > k.b)


cdef inline void bt_init(BTree* t) noexcept nogil:
    t.root = NULL
    t.first = NULL
    t.count = 0
    t.depth = 0


cdef inline void _bt_free_node(BNode* node) noexcept:
    cdef int i
    if not node.leaf:
        for i in range(node.n):
            _bt_free_node(<BNode*>node.ptrs[i])
    PyMem_Free(node)


cdef inline void bt_free(BTree* t) noexcept:
    """Free the nodes (not the items)."""
    if t.root != NULL:
        _bt_free_node(t.root)
    bt_init(t)


cdef inline BNode* _bt_node(bint leaf) except NULL:
    cdef BNode* node = <BNode*>PyMem_Malloc(sizeof(BNode))
    if node == NULL:
        raise MemoryError()
    node.parent = NULL
    node.next = NULL
    node.prev = NULL
    node.n = 0
    node.leaf = leaf
    return node


cdef inline int _bt_slot(const BNode* node, const void* ptr) noexcept nogil:
    cdef int i = 0
    while node.ptrs[i] != ptr:
        i += 1
    return i


cdef inline int _bt_insert_child(BTree* t, BNode* left, BNode* right, BKey sep) except -1:
    """Link `right` into the tree just after its sibling `left`, bounded below by sep."""
    cdef BNode* parent = left.parent
    cdef BNode* sibling
    cdef BKey keys[BT_ORDER]
    cdef void* ptrs[BT_ORDER + 1]
    cdef int i, at, half, total
    if parent == NULL:
        parent = _bt_node(False)
        parent.ptrs[0] = left
        parent.ptrs[1] = right
        parent.keys[0] = sep
        parent.n = 2
        left.parent = parent
        right.parent = parent
        t.root = parent
        t.depth += 1
        return 0
    at = _bt_slot(parent, left) + 1           # right's child index
    if parent.n < BT_ORDER:
        memmove(&parent.ptrs[at + 1], &parent.ptrs[at], (parent.n - at) * sizeof(void*))
        memmove(&parent.keys[at], &parent.keys[at - 1], (parent.n - at) * sizeof(BKey))
        parent.ptrs[at] = right
        parent.keys[at - 1] = sep
        parent.n += 1
        right.parent = parent
        return 0
    # Split a full inner node: BT_ORDER + 1 children, BT_ORDER separators.
    sibling = _bt_node(False)
    total = BT_ORDER + 1
    for i in range(at):
        ptrs[i] = parent.ptrs[i]
    ptrs[at] = right
    for i in range(at, BT_ORDER):
        ptrs[i + 1] = parent.ptrs[i]
    for i in range(at - 1):
        keys[i] = parent.keys[i]
    keys[at - 1] = sep
    for i in range(at - 1, BT_ORDER - 1):
        keys[i + 1] = parent.keys[i]
    half = total // 2                        # children kept on the left
    for i in range(half):
        parent.ptrs[i] = ptrs[i]
        (<BNode*>ptrs[i]).parent = parent
    for i in range(half - 1):
        parent.keys[i] = keys[i]
    parent.n = half
    for i in range(half, total):
        sibling.ptrs[i - half] = ptrs[i]
        (<BNode*>ptrs[i]).parent = sibling
    for i in range(half, BT_ORDER):
        sibling.keys[i - half] = keys[i]
    sibling.n = total - half
    return _bt_insert_child(t, parent, sibling, keys[half - 1])


cdef inline int bt_insert(BTree* t, BItem* item, uint64_t a, uint64_t b) except -1:
    """Add item under the key (a, b)."""
    cdef BNode* node = t.root
    cdef BNode* right
    cdef int i, pos, half
    if node == NULL:
        node = _bt_node(True)
        t.root = node
        t.first = node
        t.depth = 1
    while not node.leaf:
        i = 0
        while i < node.n - 1 and not bkey_less(a, b, &node.keys[i]):
            i += 1
        node = <BNode*>node.ptrs[i]
    pos = 0
    while pos < node.n and bkey_greater(a, b, &node.keys[pos]):
        pos += 1
    if node.n == BT_ORDER:
        right = _bt_node(True)
        half = BT_ORDER // 2
        for i in range(half, BT_ORDER):
            right.keys[i - half] = node.keys[i]
            right.ptrs[i - half] = node.ptrs[i]
            (<BItem*>node.ptrs[i]).leaf = right
        right.n = BT_ORDER - half
        node.n = half
        right.next = node.next
        right.prev = node
        if node.next != NULL:
            node.next.prev = right
        node.next = right
        _bt_insert_child(t, node, right, right.keys[0])
        if pos > half:
            node = right
            pos -= half
    memmove(&node.keys[pos + 1], &node.keys[pos], (node.n - pos) * sizeof(BKey))
    memmove(&node.ptrs[pos + 1], &node.ptrs[pos], (node.n - pos) * sizeof(void*))
    node.keys[pos].a = a
    node.keys[pos].b = b
    node.ptrs[pos] = item
    node.n += 1
    item.leaf = node
    t.count += 1
    return 0


cdef inline void _bt_drop_node(BTree* t, BNode* node) noexcept:
    """Free an empty node and unlink it from its parent (recursively)."""
    cdef BNode* parent = node.parent
    cdef int i
    if node.leaf:
        if node.prev != NULL:
            node.prev.next = node.next
        else:
            t.first = node.next
        if node.next != NULL:
            node.next.prev = node.prev
    PyMem_Free(node)
    if parent == NULL:
        t.root = NULL
        t.first = NULL
        t.depth = 0
        return
    i = _bt_slot(parent, node)
    memmove(&parent.ptrs[i], &parent.ptrs[i + 1], (parent.n - i - 1) * sizeof(void*))
    if i > 0:       # the bound of the removed child goes with it
        i -= 1
    if parent.n > 1:
        memmove(&parent.keys[i], &parent.keys[i + 1], (parent.n - i - 2) * sizeof(BKey))
    parent.n -= 1
    if parent.n == 0:
        _bt_drop_node(t, parent)
    elif parent == t.root and parent.n == 1:    # a root with one child steps down
        t.root = <BNode*>parent.ptrs[0]
        t.root.parent = NULL
        t.depth -= 1
        PyMem_Free(parent)


cdef inline void bt_remove(BTree* t, BItem* item) noexcept:
    cdef BNode* leaf = item.leaf
    cdef int pos = _bt_slot(leaf, item)
    memmove(&leaf.keys[pos], &leaf.keys[pos + 1], (leaf.n - pos - 1) * sizeof(BKey))
    memmove(&leaf.ptrs[pos], &leaf.ptrs[pos + 1], (leaf.n - pos - 1) * sizeof(void*))
    leaf.n -= 1
    item.leaf = NULL
    t.count -= 1
    if leaf.n == 0:
        _bt_drop_node(t, leaf)


cdef inline BItem* bt_first(const BTree* t) noexcept nogil:
    return <BItem*>t.first.ptrs[0] if t.first != NULL else NULL


cdef inline BItem* bt_next(BItem* item) noexcept nogil:
    """The item after `item` in key order, or NULL."""
    cdef BNode* leaf = item.leaf
    cdef int pos = _bt_slot(leaf, item)
    if pos + 1 < leaf.n:
        return <BItem*>leaf.ptrs[pos + 1]
    return <BItem*>leaf.next.ptrs[0] if leaf.next != NULL else NULL


cdef inline int bt_rekey(BTree* t, BItem* item, uint64_t a, uint64_t b) except -1:
    """Give item the key (a, b): in place when its neighbours in the leaf still bracket it."""
    cdef BNode* leaf = item.leaf
    cdef int pos = _bt_slot(leaf, item)
    cdef BKey* key = &leaf.keys[pos]
    if key.a == a and key.b == b:
        return 0
    if bkey_greater(a, b, key):
        if pos + 1 < leaf.n and bkey_less(a, b, &leaf.keys[pos + 1]):
            key.a = a
            key.b = b
            return 0
    elif pos > 0 and bkey_greater(a, b, &leaf.keys[pos - 1]):
        key.a = a
        key.b = b
        return 0
    bt_remove(t, item)
    return bt_insert(t, item, a, b)


cdef inline Py_ssize_t _bt_check(const BNode* node, const BNode* parent, int depth,
                                 BKey* low, bint* has_low, BKey* need, bint* has_need,
                                 BNode** last_leaf) noexcept:
    """Items under node if keys, bounds, links and depths are consistent, else -1."""
    cdef Py_ssize_t total = 0, sub
    cdef int i
    if node.parent != parent or node.n < 1 or node.n > BT_ORDER:
        return -1
    if node.leaf:
        if depth != 1 or node.prev != last_leaf[0]:
            return -1
        for i in range(node.n):
            if has_low[0] and not bkey_greater(node.keys[i].a, node.keys[i].b, low):
                return -1       # keys increase along the leaves
            if has_need[0] and bkey_less(node.keys[i].a, node.keys[i].b, need):
                return -1       # the first key after a separator is at or above it
            has_need[0] = False
            if (<BItem*>node.ptrs[i]).leaf != node:
                return -1
            low[0] = node.keys[i]
            has_low[0] = True
        last_leaf[0] = <BNode*>node
        return node.n
    for i in range(node.n):
        if i > 0:
            if not has_low[0] or not bkey_less(low.a, low.b, &node.keys[i - 1]):
                return -1       # everything before child i is below its bound
            need[0] = node.keys[i - 1]
            has_need[0] = True
        sub = _bt_check(<BNode*>node.ptrs[i], node, depth - 1, low, has_low, need, has_need,
                        last_leaf)
        if sub < 0:
            return -1
        total += sub
    return total


cdef inline bint bt_check(const BTree* t) noexcept:
    """Whether the tree is a valid B+ tree holding t.count items in order."""
    cdef BKey low, need
    cdef bint has_low = False
    cdef bint has_need = False
    cdef BNode* last_leaf = NULL
    if t.root == NULL:
        return t.count == 0 and t.first == NULL and t.depth == 0
    if t.first == NULL or t.first.prev != NULL:
        return False
    return (_bt_check(t.root, NULL, t.depth, &low, &has_low, &need, &has_need,
                      &last_leaf) == t.count
            and last_leaf.next == NULL)

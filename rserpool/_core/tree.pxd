# An intrusive treap with parent links: the selection tree of the ordered pool policies.
#
# Keys are (a, b) pairs of u64, distinct within a tree. Insert and remove are O(log n)
# expected with O(1) expected rotations; `tree_rekey` moves a node whose key changed, in
# place when its neighbours allow (the common case after a selection), so that picking the
# first PEs and sending them behind their equals touches only the hot left and right spines.
# A node is 48 bytes, so the upper levels of a large tree stay in the CPU caches.
from libc.stdint cimport uint32_t, uint64_t


cdef struct TNode:
    uint64_t a                  # a descent reads only the first 32 bytes
    uint64_t b
    TNode* left
    TNode* right
    TNode* parent
    uint32_t prio               # heap order: a parent's prio is >= its children's


cdef struct Tree:
    TNode* root
    Py_ssize_t count


cdef inline bint key_less(uint64_t a1, uint64_t b1, uint64_t a2, uint64_t b2) noexcept nogil:
    return a1 < a2 or (a1 == a2 and b1 < b2)


cdef inline void _rotate_up(Tree* tree, TNode* x) noexcept nogil:
    """Rotate x above its parent, keeping the in-order sequence."""
    cdef TNode* p = x.parent
    cdef TNode* g = p.parent
    if p.left == x:
        p.left = x.right
        if x.right != NULL:
            x.right.parent = p
        x.right = p
    else:
        p.right = x.left
        if x.left != NULL:
            x.left.parent = p
        x.left = p
    p.parent = x
    x.parent = g
    if g == NULL:
        tree.root = x
    elif g.left == p:
        g.left = x
    else:
        g.right = x


cdef inline void tree_init(Tree* tree) noexcept nogil:
    tree.root = NULL
    tree.count = 0


cdef inline void tree_insert(Tree* tree, TNode* n) noexcept nogil:
    """Link n (key and prio set) into the tree."""
    cdef TNode* cur = tree.root
    cdef TNode* parent = NULL
    cdef bint left = False
    n.left = NULL
    n.right = NULL
    while cur != NULL:
        parent = cur
        left = key_less(n.a, n.b, cur.a, cur.b)
        cur = cur.left if left else cur.right
    n.parent = parent
    if parent == NULL:
        tree.root = n
    elif left:
        parent.left = n
    else:
        parent.right = n
    while n.parent != NULL and n.prio > n.parent.prio:
        _rotate_up(tree, n)
    tree.count += 1


cdef inline void tree_remove(Tree* tree, TNode* n) noexcept nogil:
    """Unlink n."""
    cdef TNode* child
    cdef TNode* p
    while n.left != NULL and n.right != NULL:
        _rotate_up(tree, n.left if n.left.prio > n.right.prio else n.right)
    child = n.left if n.left != NULL else n.right
    p = n.parent
    if child != NULL:
        child.parent = p
    if p == NULL:
        tree.root = child
    elif p.left == n:
        p.left = child
    else:
        p.right = child
    n.parent = NULL
    n.left = NULL
    n.right = NULL
    tree.count -= 1


cdef inline TNode* tree_first(const Tree* tree) noexcept nogil:
    cdef TNode* n = tree.root
    if n == NULL:
        return NULL
    while n.left != NULL:
        n = n.left
    return n


cdef inline TNode* tree_next(TNode* n) noexcept nogil:
    """In-order successor, or NULL."""
    if n.right != NULL:
        n = n.right
        while n.left != NULL:
            n = n.left
        return n
    while n.parent != NULL and n.parent.right == n:
        n = n.parent
    return n.parent


cdef inline TNode* tree_prev(TNode* n) noexcept nogil:
    """In-order predecessor, or NULL."""
    if n.left != NULL:
        n = n.left
        while n.right != NULL:
            n = n.right
        return n
    while n.parent != NULL and n.parent.left == n:
        n = n.parent
    return n.parent


cdef inline void tree_rekey(Tree* tree, TNode* n, uint64_t a, uint64_t b) noexcept nogil:
    """Give n the key (a, b), moving it only if its neighbour on that side no longer
    bounds the key (the other neighbour still does)."""
    cdef TNode* other
    if n.a == a and n.b == b:
        return
    if key_less(n.a, n.b, a, b):
        other = tree_next(n)
        if other == NULL or key_less(a, b, other.a, other.b):
            n.a = a
            n.b = b
            return
    else:
        other = tree_prev(n)
        if other == NULL or key_less(other.a, other.b, a, b):
            n.a = a
            n.b = b
            return
    tree_remove(tree, n)
    n.a = a
    n.b = b
    tree_insert(tree, n)


cdef inline Py_ssize_t tree_height(const TNode* n) noexcept nogil:
    """Number of nodes on the longest root-to-leaf path (0 for an empty tree)."""
    cdef Py_ssize_t left, right
    if n == NULL:
        return 0
    left = tree_height(n.left)
    right = tree_height(n.right)
    return 1 + (left if left > right else right)

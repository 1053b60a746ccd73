# An intrusive treap with parent links, augmented with subtree sums of a per-node value.
#
# Keys are (a, handle bytes, b), compared in that order; trees that are not ordered by pool
# handle leave the handle NULL. Every node of one tree must have a distinct key. Insert and
# remove are O(log n) expected, with O(1) expected rotations; `tree_pick` finds the node
# where a running sum of values crosses r, which makes weighted random choice O(log n).
from libc.stdint cimport uint32_t, uint64_t
from libc.string cimport memcmp


cdef struct TNode:
    TNode* left
    TNode* right
    TNode* parent
    uint64_t a
    uint64_t b
    const char* h
    Py_ssize_t hlen
    uint64_t value
    uint64_t sum                # value of this node plus both subtrees
    uint32_t prio               # heap order: a parent's prio is >= its children's


cdef struct Tree:
    TNode* root
    Py_ssize_t count


cdef inline int key_cmp(uint64_t a, const char* h, Py_ssize_t hlen, uint64_t b,
                        const TNode* n) noexcept nogil:
    """Sign of (a, h, b) - key(n)."""
    cdef Py_ssize_t m
    cdef int c
    if a != n.a:
        return -1 if a < n.a else 1
    if h != n.h:
        if h == NULL or n.h == NULL:    # a NULL handle sorts before every handle
            return -1 if h == NULL else 1
        m = hlen if hlen < n.hlen else n.hlen
        c = memcmp(h, n.h, m)
        if c != 0:
            return c
        if hlen != n.hlen:
            return -1 if hlen < n.hlen else 1
    if b != n.b:
        return -1 if b < n.b else 1
    return 0


cdef inline uint64_t _sum(const TNode* n) noexcept nogil:
    return n.sum if n != NULL else 0


cdef inline void _refresh(TNode* n) noexcept nogil:
    n.sum = _sum(n.left) + _sum(n.right) + n.value


cdef inline void _rotate_up(Tree* tree, TNode* x) noexcept nogil:
    """Rotate x above its parent, keeping in-order and the subtree sums."""
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
    _refresh(p)
    _refresh(x)


cdef inline void tree_init(Tree* tree) noexcept nogil:
    tree.root = NULL
    tree.count = 0


cdef inline void tree_insert(Tree* tree, TNode* n) noexcept nogil:
    """Link n (key, value and prio set) into the tree."""
    cdef TNode* cur = tree.root
    cdef TNode* parent = NULL
    cdef bint left = False
    n.left = NULL
    n.right = NULL
    n.sum = n.value
    while cur != NULL:
        parent = cur
        cur.sum += n.value
        left = key_cmp(n.a, n.h, n.hlen, n.b, cur) < 0
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


cdef inline void tree_set_value(TNode* n, uint64_t value) noexcept nogil:
    """Change n's value and every ancestor's sum (unsigned wrap-around adds the delta)."""
    cdef uint64_t delta = value - n.value
    n.value = value
    while n != NULL:
        n.sum += delta
        n = n.parent


cdef inline void tree_remove(Tree* tree, TNode* n) noexcept nogil:
    """Unlink n. Its value is left at 0."""
    cdef TNode* child
    cdef TNode* p
    if n.value != 0:
        tree_set_value(n, 0)
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


cdef inline TNode* tree_find(const Tree* tree, uint64_t a, const char* h, Py_ssize_t hlen,
                             uint64_t b) noexcept nogil:
    cdef TNode* n = tree.root
    cdef int c
    while n != NULL:
        c = key_cmp(a, h, hlen, b, n)
        if c == 0:
            return n
        n = n.left if c < 0 else n.right
    return NULL


cdef inline TNode* tree_lower_bound(const Tree* tree, uint64_t a, const char* h,
                                    Py_ssize_t hlen, uint64_t b, bint strict) noexcept nogil:
    """First node whose key is >= (a, h, b), or > when strict; NULL if none."""
    cdef TNode* n = tree.root
    cdef TNode* best = NULL
    cdef int c
    while n != NULL:
        c = key_cmp(a, h, hlen, b, n)
        if c < 0 or (c == 0 and not strict):
            best = n
            n = n.left
        else:
            n = n.right
    return best


cdef inline TNode* tree_pick(const Tree* tree, uint64_t r) noexcept nogil:
    """The node at which the in-order running sum of values first exceeds r (r < root sum)."""
    cdef TNode* n = tree.root
    cdef uint64_t left
    while n != NULL:
        left = _sum(n.left)
        if r < left:
            n = n.left
        elif r < left + n.value:
            return n
        else:
            r -= left + n.value
            n = n.right
    return NULL


cdef inline uint64_t tree_sum_below(const Tree* tree, uint64_t a) noexcept nogil:
    """Sum of the values of the nodes whose first key component is < a."""
    cdef TNode* n = tree.root
    cdef uint64_t total = 0
    while n != NULL:
        if n.a < a:
            total += _sum(n.left) + n.value
            n = n.right
        else:
            n = n.left
    return total


cdef inline Py_ssize_t tree_height(const TNode* n) noexcept nogil:
    """Number of nodes on the longest root-to-leaf path (0 for an empty tree)."""
    cdef Py_ssize_t left, right
    if n == NULL:
        return 0
    left = tree_height(n.left)
    right = tree_height(n.right)
    return 1 + (left if left > right else right)

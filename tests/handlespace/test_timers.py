"""TimerQueue: one heap for all deadlines, keyed by caller objects."""

import sys

from hypothesis import given, settings
from hypothesis import strategies as st

from rserpool.timers import TimerQueue


class Colliding:
    """Keys that all share one hash, to exercise probing and deletion in the key table."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __hash__(self) -> int:
        return 42

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Colliding) and other.n == self.n


def test_expire_returns_due_keys_in_deadline_then_schedule_order() -> None:
    q = TimerQueue()
    for key, deadline in [("a", 3.0), ("b", 1.0), ("c", 2.0), ("d", 1.0), ("e", 9.0)]:
        q.schedule(key, deadline)
    assert q.next_deadline() == 1.0 and len(q) == 5
    assert q.expire(0.5) == []
    assert q.expire(3.0) == ["b", "d", "c", "a"]
    assert len(q) == 1 and "e" in q and "a" not in q
    assert q.expire(100.0) == ["e"] and q.next_deadline() is None


def test_reschedule_and_cancel() -> None:
    q = TimerQueue()
    q.schedule(("pool", 1), 5.0)
    q.schedule(("pool", 2), 6.0)
    q.schedule(("pool", 1), 7.0)            # reschedule later
    assert len(q) == 2 and q.deadline(("pool", 1)) == 7.0
    q.schedule(("pool", 2), 1.0)            # reschedule earlier
    assert q.next_deadline() == 1.0
    assert q.cancel(("pool", 2)) and not q.cancel(("pool", 2))
    assert q.deadline(("pool", 2)) is None
    assert q.expire(10.0) == [("pool", 1)]
    q.schedule("x", 1.0)
    q.clear()
    assert len(q) == 0 and q.expire(10.0) == []


def test_keys_are_held_once_and_released() -> None:
    q = TimerQueue()
    key = object()
    base = sys.getrefcount(key)
    q.schedule(key, 1.0)
    q.schedule(key, 2.0)
    assert sys.getrefcount(key) == base + 1
    q.cancel(key)
    assert sys.getrefcount(key) == base
    q.schedule(key, 1.0)
    assert q.expire(1.0) == [key]
    assert sys.getrefcount(key) == base
    q.schedule(key, 1.0)
    del q
    assert sys.getrefcount(key) == base


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["schedule", "cancel", "expire"]),
                          st.integers(0, 40), st.integers(0, 30)), max_size=300),
       st.booleans())
def test_matches_a_sorted_dict_model(ops: list[tuple[str, int, int]], colliding: bool) -> None:
    q = TimerQueue()
    model: dict[object, tuple[float, int]] = {}
    order = 0
    for op, n, t in ops:
        key = Colliding(n) if colliding else n
        if op == "schedule":
            q.schedule(key, float(t))
            model[key] = (float(t), order)
            order += 1
        elif op == "cancel":
            assert q.cancel(key) == (model.pop(key, None) is not None)
        else:
            due = sorted((v, i) for i, (k, v) in enumerate(model.items()) if v[0] <= t)
            keys = list(model)
            expected = [keys[i] for _, i in due]
            assert q.expire(float(t)) == expected
            for k in expected:
                del model[k]
        assert len(q) == len(model)
        assert q.next_deadline() == min((d for d, _ in model.values()), default=None)
        for k, (d, _) in model.items():
            assert q.deadline(k) == d


def test_mass_cancel_keeps_the_rest_in_order() -> None:
    """Cancelling most timers (dead heap entries dropped in bulk) loses none of the others."""
    q = TimerQueue()
    keys = list(range(1000))
    for k in keys:
        q.schedule(k, float(k % 97))
    kept = [k for k in keys if k % 10 == 3]
    for k in keys:
        if k % 10 != 3:
            assert q.cancel(k)
    q.schedule(3, 200.0)                    # later, then earlier than every other
    q.schedule(13, -1.0)
    expected = sorted((k for k in kept if k not in (3, 13)), key=lambda k: (k % 97, k))
    assert len(q) == len(kept) and q.next_deadline() == -1.0
    assert q.expire(100.0) == [13, *expected]
    assert q.expire(1000.0) == [3] and len(q) == 0

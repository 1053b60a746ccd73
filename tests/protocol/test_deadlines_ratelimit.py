"""The timer queue and token buckets the registrar core runs on."""

from __future__ import annotations

import random

from rserpool.asap.deadlines import Deadlines
from rserpool.asap.ratelimit import make_bucket


def test_deadlines_expire_in_order_and_rescheduling_replaces() -> None:
    timers = Deadlines()
    timers.schedule(("a",), 3.0)
    timers.schedule(("b",), 1.0)
    timers.schedule(("c",), 2.0)
    timers.schedule(("a",), 0.5)  # moved earlier: the 3.0 entry must not fire later
    timers.cancel(("c",))

    assert timers.next_deadline() == 0.5
    assert timers.pop_due(1.0) == [("a",), ("b",)]
    assert timers.pop_due(10.0) == []
    assert timers.next_deadline() is None and len(timers) == 0


def test_deadlines_agree_with_a_sorted_model_under_churn() -> None:
    rng = random.Random(5)
    timers, model = Deadlines(), {}
    now = 0.0
    for _ in range(5000):
        key = (rng.randrange(200),)
        if rng.random() < 0.2:
            timers.cancel(key)
            model.pop(key, None)
        else:
            deadline = now + rng.uniform(0, 10)
            timers.schedule(key, deadline)
            model[key] = deadline
        if rng.random() < 0.1:
            now += rng.uniform(0, 2)
            due = timers.pop_due(now)
            expected = sorted((d, k) for k, d in model.items() if d <= now)
            assert due == [k for _, k in expected]
            for k in due:
                del model[k]
        assert timers.next_deadline() == (min(model.values()) if model else None)


def test_token_bucket_allows_rate_and_burst() -> None:
    bucket = make_bucket(2.0, 3.0, now=0.0)
    assert bucket is not None
    assert [bucket.take(0.0) for _ in range(4)] == [True, True, True, False]
    assert bucket.take(0.5) and not bucket.take(0.5)  # 2/s refills one token in 0.5 s
    assert [bucket.take(100.0) for _ in range(4)] == [True, True, True, False]  # capped


def test_negative_rate_means_unlimited_and_zero_means_never() -> None:
    assert make_bucket(-1.0, 1.0, now=0.0) is None
    never = make_bucket(0.0, 5.0, now=0.0)
    assert never is not None and not never.take(1000.0)

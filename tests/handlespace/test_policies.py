"""Each pool policy over many selections (fixed seeds, so the statistics cannot flake).

Statistical checks use scipy's chi-square goodness-of-fit test: the observed pick counts must
not reject the policy's distribution at the 0.1 % level (p > 0.001), and each PE's share must
be within 2 percentage points of the expected share. Deterministic policies are checked pick
by pick.
"""

from collections import Counter

import numpy as np
import pytest
from hs_model import MAX, element
from scipy.stats import chisquare

from rserpool.handlespace import Handlespace
from rserpool.wire import PolicyType

P_MIN = 0.001
SHARE_TOLERANCE = 0.02


def pool(policy_type: int, specs: list[dict[str, int]], seed: int = 1) -> Handlespace:
    """A handlespace with one pool b"p" of PEs 1..len(specs), policy values from specs."""
    hs = Handlespace(seed=seed)
    for pe_id, spec in enumerate(specs, start=1):
        hs.register(b"p", element(pe_id, policy_type, **spec), now=0.0)
    return hs


def picks(hs: Handlespace, count: int, n: int = 1) -> list[int]:
    return [e.pe_identifier for _ in range(count) for e in hs.select(b"p", n)]


def assert_distribution(observed: Counter[int], expected_shares: dict[int, float]) -> None:
    total = sum(observed.values())
    ids = sorted(expected_shares)
    f_obs = np.array([observed[i] for i in ids], dtype=float)
    f_exp = np.array([expected_shares[i] for i in ids]) * total
    assert chisquare(f_obs, f_exp).pvalue > P_MIN, (observed, expected_shares)
    for i in ids:
        assert abs(observed[i] / total - expected_shares[i]) < SHARE_TOLERANCE


def shares(values: dict[int, float]) -> dict[int, float]:
    total = sum(values.values())
    return {k: v / total for k, v in values.items()}


# ------------------------------------------------------------------ ordered policies


def test_round_robin_visits_every_pe_once_per_cycle() -> None:
    hs = pool(PolicyType.ROUND_ROBIN, [{}] * 7)
    single = picks(hs, 70)
    for cycle in range(10):
        assert single[7 * cycle: 7 * cycle + 7] == [1, 2, 3, 4, 5, 6, 7]
    triples = picks(hs, 7, n=3)
    for start in range(len(triples) - 7):
        assert sorted(triples[start:start + 7]) == [1, 2, 3, 4, 5, 6, 7]


def test_weighted_round_robin_is_proportional_in_every_round() -> None:
    weights = [1, 2, 3, 4]
    hs = pool(PolicyType.WEIGHTED_ROUND_ROBIN, [{"weight": w} for w in weights])
    sequence = picks(hs, 10 * sum(weights))
    for r in range(10):
        counts = Counter(sequence[10 * r: 10 * r + 10])
        assert [counts[i] for i in (1, 2, 3, 4)] == weights
    assert chisquare([sequence.count(i) for i in (1, 2, 3, 4)],
                     [10 * w for w in weights]).statistic == 0
    # Within a round the picks interleave instead of exhausting one PE at a time.
    assert sequence[:10] == [1, 2, 3, 4, 2, 3, 4, 3, 4, 4]


def test_weighted_round_robin_weight_zero_only_when_nothing_else_is_left() -> None:
    hs = pool(PolicyType.WEIGHTED_ROUND_ROBIN, [{"weight": 0}, {"weight": 1}, {"weight": 2}])
    assert 1 not in picks(hs, 30)
    assert sorted(e.pe_identifier for e in hs.select(b"p", 3)) == [1, 2, 3]


def test_priority_picks_the_highest_priority_and_rotates_among_equals() -> None:
    rng = np.random.default_rng(5)
    priorities = [int(p) for p in rng.integers(0, 5, 12)]
    hs = pool(PolicyType.PRIORITY, [{"priority": p} for p in priorities])
    top = max(priorities)
    best = [i + 1 for i, p in enumerate(priorities) if p == top]
    sequence = picks(hs, 10 * len(best))
    assert set(sequence) == set(best)
    assert Counter(sequence) == {i: 10 for i in best}


def test_least_used_always_picks_minimum_loads() -> None:
    rng = np.random.default_rng(11)
    loads = [int(x) for x in rng.integers(0, MAX, size=20)]
    assert len(set(loads)) == 20
    hs = pool(PolicyType.LEAST_USED, [{"load": load} for load in loads])
    for _ in range(300):
        chosen = [e.pe_identifier for e in hs.select(b"p", 3)]
        assert chosen == [i + 1 for i in np.argsort(loads)[:3]]
        # The PEs report new loads (re-registration), as they would under real traffic.
        for pe_id in chosen:
            loads[pe_id - 1] = int(rng.integers(0, MAX))
            hs.register(b"p", element(pe_id, PolicyType.LEAST_USED, load=loads[pe_id - 1]),
                        now=0.0)


def test_least_used_rotates_among_equal_minimum_loads() -> None:
    hs = pool(PolicyType.LEAST_USED, [{"load": 5}, {"load": 5}, {"load": 9}, {"load": 5}])
    assert picks(hs, 9) == [1, 2, 4] * 3


def test_degradation_spreads_picks_across_nearly_equal_loads() -> None:
    loads = [50_000, 51_000, 52_000]
    plain = pool(PolicyType.LEAST_USED, [{"load": load} for load in loads])
    assert Counter(picks(plain, 30)) == {1: 30}
    degrading = pool(PolicyType.LEAST_USED_DEGRADATION,
                     [{"load": load, "load_degradation": 1_000} for load in loads])
    # Each pick adds 1000 to the picked PE's key: after the first three picks the three PEs
    # are level and take turns.
    assert picks(degrading, 9) == [1, 2, 1, 3, 2, 1, 3, 2, 1]
    assert Counter(picks(degrading, 21)) == {1: 7, 2: 7, 3: 7}
    # Re-registration resets the accumulated degradation.
    degrading.register(b"p", element(1, PolicyType.LEAST_USED_DEGRADATION, load=50_000,
                                     load_degradation=1_000), now=1.0)
    assert picks(degrading, 2) == [1, 1]


def test_priority_least_used_adds_the_static_load_degradation() -> None:
    hs = pool(PolicyType.PRIORITY_LEAST_USED,
              [{"load": 100, "load_degradation": 50}, {"load": 120, "load_degradation": 10}])
    assert picks(hs, 4) == [2, 2, 2, 2]


def test_priority_least_used_degradation_accumulates() -> None:
    hs = pool(PolicyType.PRIORITY_LEAST_USED_DEGRADATION,
              [{"load": 100, "load_degradation": 50}, {"load": 120, "load_degradation": 10}])
    # keys: PE1 150 + 50k, PE2 130 + 10k (k = times picked; ties go to the older pick)
    assert picks(hs, 6) == [2, 2, 1, 2, 2, 2]


def test_least_used_dpf_adds_distance_times_load_dpf() -> None:
    # Effective load = load + distance * load_dpf (load_dpf: load units per distance unit).
    near = {"load": 200_000, "distance": 10}
    far = {"load": 100_000, "distance": 100}
    hs = pool(PolicyType.LEAST_USED_DPF, [dict(near, load_dpf=1_000), dict(far, load_dpf=1_000)])
    assert picks(hs, 3) == [2, 2, 2]    # 210000 > 200000: the far PE is still less used
    hs = pool(PolicyType.LEAST_USED_DPF, [dict(near, load_dpf=2_000), dict(far, load_dpf=2_000)])
    assert picks(hs, 3) == [1, 1, 1]    # 220000 < 300000: the nearer PE wins


def test_least_used_degradation_dpf_combines_both() -> None:
    hs = pool(PolicyType.LEAST_USED_DEGRADATION_DPF,
              [{"load": 0, "distance": 10, "load_dpf": 100, "load_degradation": 500},
               {"load": 0, "distance": 20, "load_dpf": 100, "load_degradation": 500}])
    # keys 1000 + 500k vs 2000 + 500k: the near PE is picked twice, then they alternate.
    assert picks(hs, 6) == [1, 1, 2, 1, 2, 1]


# --------------------------------------------------------------- randomized policies


def test_random_is_uniform() -> None:
    hs = pool(PolicyType.RANDOM, [{}] * 10, seed=3)
    assert_distribution(Counter(picks(hs, 20_000)), {i: 0.1 for i in range(1, 11)})


def test_weighted_random_is_proportional_to_weights() -> None:
    weights = {1: 1, 2: 2, 3: 3, 4: 4}
    hs = pool(PolicyType.WEIGHTED_RANDOM, [{"weight": 1000 * w} for w in weights.values()],
              seed=4)
    assert_distribution(Counter(picks(hs, 40_000)), shares(weights))


def test_weighted_random_stays_proportional_in_a_big_changing_pool() -> None:
    """5,000 PEs: the tree of weight sums spans 512 blocks of 16 slots, grown while
    registering. A few heavy PEs scattered over the pool get most picks; after their
    weights move to other PEs (re-registration) and a third of the pool leaves (each removal
    moves the last slot into the hole), the picks follow the new weights."""
    def check(weights: dict[int, int], heavy: list[int]) -> None:
        light = [i for i in weights if i not in heavy]
        counts = Counter(picks(hs, 30_000))
        observed = Counter({i: counts[i] for i in heavy})
        observed[0] = sum(counts[i] for i in light)     # all light PEs as one bucket
        expected = shares({**{i: weights[i] for i in heavy},
                           0: sum(weights[i] for i in light)})
        assert_distribution(observed, expected)

    weights = {pe_id: 1 for pe_id in range(1, 5_001)}
    first_heavy = [7, 1_234, 2_500, 3_999, 4_998]
    weights.update({i: 1_000 for i in first_heavy})
    hs = pool(PolicyType.WEIGHTED_RANDOM, [{"weight": weights[i]} for i in sorted(weights)],
              seed=13)
    check(weights, first_heavy)

    second_heavy = [42, 1_700, 3_333, 4_444]
    for pe_id in first_heavy + second_heavy:
        weights[pe_id] = 800 if pe_id in second_heavy else 1
        hs.register(b"p", element(pe_id, PolicyType.WEIGHTED_RANDOM, weight=weights[pe_id]),
                    now=1.0)
    for pe_id in range(1, 5_001, 3):
        if pe_id not in second_heavy:
            hs.deregister(b"p", pe_id)
            del weights[pe_id]
    assert len(hs) == len(weights)
    check(weights, second_heavy)


def test_weighted_random_picks_distinct_pes_without_replacement() -> None:
    hs = pool(PolicyType.WEIGHTED_RANDOM, [{"weight": w} for w in (1, 1, 98)], seed=5)
    first_two = [tuple(e.pe_identifier for e in hs.select(b"p", 2)) for _ in range(20_000)]
    assert all(len(set(pair)) == 2 for pair in first_two)
    # P(second = i | first = 3) = 1/2 for i in (1, 2); P(first = 3) = 0.98.
    seconds = Counter(pair[1] for pair in first_two if pair[0] == 3)
    assert_distribution(seconds, {1: 0.5, 2: 0.5})


def test_weighted_random_skips_weight_zero() -> None:
    hs = pool(PolicyType.WEIGHTED_RANDOM, [{"weight": 0}, {"weight": 5}], seed=6)
    assert [e.pe_identifier for e in hs.select(b"p", 2)] == [2]


def test_randomized_least_used_favours_headroom() -> None:
    loads = {1: 0, 2: MAX // 2, 3: 3 * (MAX // 4)}
    hs = pool(PolicyType.RANDOMIZED_LEAST_USED, [{"load": v} for v in loads.values()], seed=7)
    assert_distribution(Counter(picks(hs, 30_000)),
                        shares({k: MAX - v for k, v in loads.items()}))


def test_randomized_priority_least_used_favours_headroom() -> None:
    # value = MAX - load - load_degradation; on the wire this type carries only the load.
    specs = [{"load": MAX // 2}, {"load": MAX // 4}]
    hs = pool(PolicyType.RANDOMIZED_PRIORITY_LEAST_USED, specs, seed=8)
    assert_distribution(Counter(picks(hs, 30_000)),
                        shares({1: MAX - MAX // 2, 2: MAX - MAX // 4}))


@pytest.mark.parametrize(("policy_type", "load_degradation", "p_other"), [
    # value = MAX - load - degradation: after one pick the picked PE has half the headroom.
    (PolicyType.RANDOMIZED_LEAST_USED_DEGRADATION, MAX // 2, 2 / 3),
    # value = MAX - load - load_degradation - degradation: 3/4 before, 1/2 after one pick.
    (PolicyType.RANDOMIZED_PRIORITY_LEAST_USED_DEGRADATION, MAX // 4, 0.6),
])
def test_randomized_degradation_is_applied_once_per_pick(policy_type: int,
                                                          load_degradation: int,
                                                          p_other: float) -> None:
    hs = Handlespace(seed=9)
    outcome: Counter[str] = Counter()
    for _ in range(6_000):
        for pe_id in (1, 2):    # re-registration resets the degradation
            hs.register(b"p", element(pe_id, policy_type, load_degradation=load_degradation),
                        now=0.0)
        first = hs.select(b"p", 1)[0].pe_identifier
        second = hs.select(b"p", 1)[0].pe_identifier
        outcome["other" if second != first else "same"] += 1
    observed = Counter({1: outcome["other"], 2: outcome["same"]})
    assert_distribution(observed, {1: p_other, 2: 1 - p_other})


def test_weighted_random_dpf_prefers_the_nearer_pe_by_its_penalty() -> None:
    # value = weight - rint(weight * distance * weight_dpf / MAX): with weight_dpf = MAX/200
    # per distance unit, distance 10 costs 5 % and distance 100 costs 50 % of the weight.
    dpf = MAX // 200
    hs = pool(PolicyType.WEIGHTED_RANDOM_DPF,
              [{"weight": 10_000, "distance": 10, "weight_dpf": dpf},
               {"weight": 10_000, "distance": 100, "weight_dpf": dpf}], seed=10)
    observed = Counter(picks(hs, 30_000))
    assert_distribution(observed, shares({1: 9_500, 2: 5_000}))
    assert 1.8 < observed[1] / observed[2] < 2.0    # 9500 / 5000 = 1.9


# ------------------------------------------------------------------------ edge cases


@pytest.mark.parametrize("policy_type", [PolicyType.ROUND_ROBIN, PolicyType.WEIGHTED_RANDOM])
def test_select_returns_at_most_the_pool(policy_type: int) -> None:
    spec = {"weight": 1} if policy_type == PolicyType.WEIGHTED_RANDOM else {}
    hs = pool(policy_type, [spec] * 3)
    assert len(hs.select(b"p", 10)) == 3
    assert hs.select(b"p", 0) == []
    assert hs.select(b"unknown", 3) == []
    assert len({e.pe_identifier for e in hs.select(b"p", 40)}) == 3


@pytest.mark.parametrize("policy_type", [PolicyType.ROUND_ROBIN, PolicyType.LEAST_USED,
                                         PolicyType.WEIGHTED_RANDOM])
def test_large_selections_are_distinct(policy_type: int) -> None:
    spec = {"weight": 1} if policy_type == PolicyType.WEIGHTED_RANDOM else {}
    hs = pool(policy_type, [spec] * 40)
    for n in (17, 30, 40, 64):
        chosen = [e.pe_identifier for e in hs.select(b"p", n)]
        assert len(chosen) == min(n, 40) == len(set(chosen))


def test_weighted_random_draws_the_heavy_tail_exactly() -> None:
    # One PE holds almost all the weight: after it, redraws keep hitting it, so the pick
    # switches to drawing from the rest exactly; the rest are then uniform.
    hs = pool(PolicyType.WEIGHTED_RANDOM, [{"weight": 1_000_000}] + [{"weight": 1}] * 4, seed=12)
    seconds = Counter(hs.select(b"p", 2)[1].pe_identifier for _ in range(8_000))
    assert_distribution(seconds, {i: 0.25 for i in (2, 3, 4, 5)})

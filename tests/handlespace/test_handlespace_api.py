"""Registration rules, limits, indices, checksums, paging and PE timers of the handlespace."""

import random
import sys
import tracemalloc

import pytest
from hs_model import ModelHandlespace, element, ones_complement_checksum

from rserpool.handlespace import Handlespace, HandlespaceError, TimerCode
from rserpool.wire import Cause, Policy, PolicyType, PoolElement, SctpTransport, TcpTransport


def refused(hs: Handlespace, handle: bytes, e: PoolElement, **kw: int) -> Cause:
    with pytest.raises(HandlespaceError) as info:
        hs.register(handle, e, now=0.0, **kw)
    assert isinstance(info.value, ValueError)
    return info.value.cause


def test_register_reregister_deregister() -> None:
    hs = Handlespace(seed=1)
    first = element(7, PolicyType.LEAST_USED, load=10)
    assert hs.register(b"p", first, now=0.0) is True
    update = element(7, PolicyType.LEAST_USED, load=99, addresses=("10.0.0.2", "10.0.0.3"))
    assert hs.register(b"p", update, now=1.0) is False
    assert len(hs) == 1
    assert hs.get(b"p", 7) is update
    assert hs.elements(b"p") == [update]
    assert hs.deregister(b"p", 7) is update
    assert hs.deregister(b"p", 7) is None
    assert hs.get(b"p", 7) is None
    assert hs.pools() == [] and len(hs) == 0


def test_an_emptied_pool_disappears_and_forgets_its_policy() -> None:
    hs = Handlespace()
    hs.register(b"p", element(1, PolicyType.ROUND_ROBIN), now=0.0)
    hs.deregister(b"p", 1)
    assert hs.policy_type(b"p") is None
    assert hs.register(b"p", element(1, PolicyType.PRIORITY), now=0.0)
    assert hs.policy_type(b"p") == PolicyType.PRIORITY


def test_first_pe_sets_the_pool_policy() -> None:
    hs = Handlespace()
    hs.register(b"p", element(1, PolicyType.WEIGHTED_RANDOM, weight=3), now=0.0)
    assert refused(hs, b"p", element(2, PolicyType.ROUND_ROBIN)) == Cause.INCONSISTENT_POLICY
    assert refused(hs, b"p", element(1, PolicyType.LEAST_USED)) == Cause.INCONSISTENT_POLICY
    assert hs.elements(b"p")[0].member_selection_policy.weight == 3
    assert hs.register(b"q", element(2, PolicyType.ROUND_ROBIN), now=0.0)


def test_transport_type_and_use_must_match_the_pool() -> None:
    hs = Handlespace()
    hs.register(b"p", element(1), now=0.0)
    tcp = PoolElement(2, 1, 1000, TcpTransport(80, ["10.0.0.1"]), Policy(PolicyType.ROUND_ROBIN))
    assert refused(hs, b"p", tcp) == Cause.INCONSISTENT_TRANSPORT_TYPE
    control = PoolElement(3, 1, 1000, SctpTransport(80, ["10.0.0.1"], transport_use=1),
                          Policy(PolicyType.ROUND_ROBIN))
    assert refused(hs, b"p", control) == Cause.INCONSISTENT_DATA_CONTROL


def test_invalid_values_are_refused() -> None:
    hs = Handlespace()
    assert refused(hs, b"", element(1)) == Cause.INVALID_VALUES
    unknown = element(1)
    unknown.member_selection_policy.policy_type = 0x7777   # the codec would not build it
    assert refused(hs, b"p", unknown) == Cause.INVALID_VALUES
    assert len(hs) == 0 and hs.pools() == []


def test_limits_are_enforced() -> None:
    hs = Handlespace(max_pools=2, max_elements_per_pool=3, max_addresses=2)
    for pe_id in (1, 2, 3):
        hs.register(b"p", element(pe_id), now=0.0)
    assert refused(hs, b"p", element(4)) == Cause.LACK_OF_RESOURCES
    assert hs.register(b"p", element(3), now=0.0) is False     # re-registration still fine
    hs.register(b"q", element(1), now=0.0)
    assert refused(hs, b"r", element(1)) == Cause.LACK_OF_RESOURCES
    three = ("10.0.0.1", "10.0.0.2", "10.0.0.3")
    assert refused(hs, b"q", element(2, addresses=three)) == Cause.INVALID_VALUES
    assert hs.register(b"q", element(2, addresses=three[:2]), now=0.0)
    assert (hs.max_pools, hs.max_elements_per_pool, hs.max_addresses) == (2, 3, 2)
    with pytest.raises(ValueError):
        Handlespace(max_pools=0)


def test_owner_defaults_to_the_home_registrar_and_moves_on_takeover() -> None:
    hs = Handlespace()
    hs.register(b"p", element(1, home=0xAA), now=0.0)
    hs.register(b"p", element(2, home=0xAA), now=0.0, owner=0xBB)
    hs.register(b"q", element(3, home=0xAA), now=0.0)
    assert [(h, e.pe_identifier) for h, e in hs.owned_by(0xAA)] == [(b"p", 1), (b"q", 3)]
    assert [(h, e.pe_identifier) for h, e in hs.owned_by(0xBB)] == [(b"p", 2)]
    assert hs.set_owner(b"q", 3, 0xBB)
    assert not hs.set_owner(b"q", 4, 0xBB)
    assert [(h, e.pe_identifier) for h, e in hs.owned_by(0xBB)] == [(b"p", 2), (b"q", 3)]
    assert hs.owner(b"q", 3) == 0xBB and hs.owner(b"q", 4) is None


def test_connection_index_follows_re_registration() -> None:
    hs = Handlespace()
    hs.register(b"p", element(1), now=0.0, assoc=10)
    hs.register(b"p", element(2), now=0.0, assoc=10)
    hs.register(b"q", element(1), now=0.0, assoc=11)
    assert [(h, e.pe_identifier) for h, e in hs.registered_over(10)] == [(b"p", 1), (b"p", 2)]
    hs.register(b"p", element(2), now=0.0, assoc=11)
    hs.register(b"q", element(1), now=0.0)
    assert [(h, e.pe_identifier) for h, e in hs.registered_over(11)] == [(b"p", 2)]
    assert hs.association(b"q", 1) is None and hs.association(b"p", 2) == 11


def test_checksum_known_value_and_incremental_updates() -> None:
    hs = Handlespace()
    assert hs.checksum() == 0xFFFF
    hs.register(b"AB", element(0x00010002, home=5), now=0.0)
    # words 0x4142 + 0x0001 + 0x0002 = 0x4145; complement 0xBEBA
    assert hs.checksum() == 0xBEBA == hs.checksum(5)
    hs.register(b"ABC", element(0xFFFFFFFF, home=6), now=0.0)
    # 0x4145 + 0x4142 + 0x4300 + 0xFFFF + 0xFFFF = 0x2C585 -> fold 0xC587 -> ~ 0x3A78
    assert hs.checksum() == 0x3A78
    assert hs.checksum(6) == ones_complement_checksum([(b"ABC", 0xFFFFFFFF)])
    assert hs.checksum(7) == 0xFFFF
    hs.set_owner(b"ABC", 0xFFFFFFFF, 5)
    assert hs.checksum(5) == hs.checksum() and hs.checksum(6) == 0xFFFF
    hs.deregister(b"AB", 0x00010002)
    assert hs.checksum() == ones_complement_checksum([(b"ABC", 0xFFFFFFFF)])


def test_table_pages_follow_handle_and_identifier_order() -> None:
    hs = Handlespace()
    for handle in (b"b", b"a", b"c"):
        for pe_id in (3, 1, 2):
            hs.register(handle, element(pe_id, home=1 if pe_id != 2 else 2), now=0.0)
    page, cursor = hs.table_page(None, 4)
    assert [(h, [e.pe_identifier for e in es]) for h, es in page] == \
        [(b"a", [1, 2, 3]), (b"b", [1])]
    assert all(isinstance(es, tuple) for _, es in page)
    page, cursor = hs.table_page(cursor, 4)
    assert [(h, [e.pe_identifier for e in es]) for h, es in page] == \
        [(b"b", [2, 3]), (b"c", [1, 2])]
    page, cursor = hs.table_page(cursor, 4)
    assert [(h, [e.pe_identifier for e in es]) for h, es in page] == [(b"c", [3])]
    assert cursor is None
    page, cursor = hs.table_page(None, 10, owned_only_by=2)
    assert [(h, [e.pe_identifier for e in es]) for h, es in page] == \
        [(b"a", [2]), (b"b", [2]), (b"c", [2])]
    assert cursor is None
    assert hs.table_page(None, 5, owned_only_by=9) == ((), None)
    # A cursor stays valid when its PE (or whole pool) has gone meanwhile.
    page, cursor = hs.table_page(None, 2)
    hs.deregister(b"a", 2)
    page, cursor = hs.table_page(cursor, 1)
    assert [(h, [e.pe_identifier for e in es]) for h, es in page] == [(b"a", [3])]
    with pytest.raises(ValueError):
        hs.table_page(None, 0)


def test_pe_timers() -> None:
    hs = Handlespace()
    hs.register(b"p", element(1, life_ms=5_000), now=10.0)
    hs.register(b"p", element(2, life_ms=2_000), now=10.0)
    assert hs.timer(b"p", 1) == (15.0, TimerCode.LIFETIME)
    assert hs.next_deadline() == 12.0
    assert hs.set_timer(b"p", 2, 11.0, TimerCode.KEEPALIVE_TRANSMISSION)
    assert not hs.set_timer(b"p", 9, 11.0, TimerCode.KEEPALIVE_TRANSMISSION)
    assert hs.expire(10.5) == []
    (handle, e, code), = hs.expire(11.0)
    assert (handle, e.pe_identifier, code) == (b"p", 2, TimerCode.KEEPALIVE_TRANSMISSION)
    assert hs.get(b"p", 2) is e and hs.timer(b"p", 2) is None
    assert not hs.cancel_timer(b"p", 2)
    hs.set_timer(b"p", 2, 12.0, TimerCode.KEEPALIVE_TIMEOUT)
    assert hs.cancel_timer(b"p", 2) and hs.next_deadline() == 15.0
    # Re-registration restarts the lifetime; a due lifetime removes the PE.
    hs.register(b"p", element(1, life_ms=5_000), now=12.0)
    assert hs.expire(16.0) == []
    (handle, e, code), = hs.expire(17.0)
    assert (e.pe_identifier, code) == (1, TimerCode.LIFETIME)
    assert hs.get(b"p", 1) is None and len(hs) == 1
    with pytest.raises(ValueError):
        hs.set_timer(b"p", 2, 1.0, 99)


def test_the_handlespace_holds_exactly_one_reference_per_registered_element() -> None:
    hs = Handlespace()
    e = element(1)
    base = sys.getrefcount(e)
    hs.register(b"p", e, now=0.0)
    hs.register(b"p", e, now=0.0)
    assert sys.getrefcount(e) == base + 1
    hs.select(b"p", 1)
    hs.deregister(b"p", 1)
    assert sys.getrefcount(e) == base
    hs.register(b"p", e, now=0.0)
    del hs
    assert sys.getrefcount(e) == base


def test_large_ordered_pools_follow_the_model_under_churn() -> None:
    """Thousands of PEs: the selection B+ tree splits, empties leaves and stays valid, and
    least-used picks match a from-scratch sort of every PE's (load, sequence) key."""
    rng = random.Random(3)
    hs = Handlespace(seed=3)
    model = ModelHandlespace()
    loads = [0, 7, 1 << 20, 1 << 31]          # few distinct loads: many ties, long runs

    def register(pe_id: int) -> None:
        e = element(pe_id, PolicyType.LEAST_USED_DEGRADATION, load=rng.choice(loads),
                    load_degradation=rng.choice([0, 1 << 28]))
        assert hs.register(b"p", e, now=0.0) == model.register(b"p", e, 0.0, None, None)

    for pe_id in range(1, 1_501):
        register(pe_id)
    for step in range(2_500):
        pe_id = rng.randrange(1, 2_001)
        action = rng.random()
        if action < 0.3:
            register(pe_id)
        elif action < 0.6:
            assert hs.deregister(b"p", pe_id) is model.deregister(b"p", pe_id)
        else:
            n = rng.randrange(1, 5)
            assert [e.pe_identifier for e in hs.select(b"p", n)] == \
                [e.pe_identifier for e in model.select(b"p", n)]
        if step % 500 == 0:
            depth, valid = hs._selection_shape(b"p")
            # Nodes of 8 split into halves: fan-out >= 4, so 2,000 PEs need at most 6 levels.
            assert valid and 1 <= depth <= 6
    for pe_id in range(1, 2_001):
        hs.deregister(b"p", pe_id)
    assert hs._selection_shape(b"p") == (0, True) and len(hs) == 0


def test_a_dropped_handlespace_gives_back_all_its_memory() -> None:
    """Big enough for the PE records and the PE map to sit in huge-page mappings (see
    hugemem.pxd): tracemalloc sees them, churn keeps the count and checksum right, and
    dropping the handlespace returns every byte."""
    handles = [b"pool-%d" % p for p in range(30)]
    entries = [(handles[i % 30], element(i + 1, PolicyType.WEIGHTED_RANDOM, weight=1 + i % 5))
               for i in range(30_000)]
    expected = ones_complement_checksum([(h, e.pe_identifier) for h, e in entries])
    tracemalloc.start()
    try:
        hs = Handlespace(seed=2)
        for h, e in entries:
            hs.register(h, e, now=0.0, assoc=3)
        full = tracemalloc.get_traced_memory()[0]
        assert 30_000 * 150 < full < 30_000 * 1024     # records, map, indexes: all traced
        for h, e in entries[:10_000]:
            hs.deregister(h, e.pe_identifier)
        for h, e in entries[:10_000]:
            hs.register(h, e, now=1.0)
        assert len(hs) == 30_000 and hs.checksum() == expected
        del hs
        assert tracemalloc.get_traced_memory()[0] < 16 * 1024
    finally:
        tracemalloc.stop()

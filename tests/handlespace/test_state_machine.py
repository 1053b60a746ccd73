"""The Cython handlespace behaves like the pure-Python model under random operation sequences.

After every step: both agree on pools, PEs (the very objects registered), owners,
associations, timers and table pages, and the incremental checksums (whole handlespace and
per owner) equal a from-scratch computation over all PEs.
"""

from hs_model import (
    ORDERED,
    ModelError,
    ModelHandlespace,
    carried,
    element,
    ones_complement_checksum,
)
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from rserpool.handlespace import Handlespace, HandlespaceError, TimerCode
from rserpool.wire import PolicyType

HANDLES = [b"a", b"bb", b"ccc", b"pool-\xff\x00"]
PE_IDS = [1, 2, 3, 4, 5, 0x12345678, 0xFFFFFFFF]
OWNERS = [1, 2, 3]
ASSOCS = [None, None, 5, 6, -1]
POLICIES = [*sorted(ORDERED), PolicyType.RANDOM, PolicyType.WEIGHTED_RANDOM]
LIFETIMES = st.sampled_from([2_000, 10_000, 60_000])
FIELDS = st.fixed_dictionaries({
    "weight": st.integers(0, 3), "priority": st.integers(0, 3),
    "load": st.sampled_from([0, 1_000, 0xFFFFFFFF]),
    "load_degradation": st.sampled_from([0, 1 << 30]),
})


class HandlespaceMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.hs = Handlespace(seed=7)
        self.model = ModelHandlespace()
        self.now = 0.0

    def _policy_for(self, handle: bytes, fallback: int) -> int:
        pool = self.model.pools.get(handle)
        return fallback if pool is None else pool.policy_type

    def _register(self, handle, pe_id, policy, owner, home, assoc, life, fields):
        e = element(pe_id, policy, home=home, life_ms=life, **carried(policy, **fields))
        try:
            expected = self.model.register(handle, e, self.now, owner, assoc)
        except ModelError as error:
            try:
                self.hs.register(handle, e, now=self.now, owner=owner, assoc=assoc)
            except HandlespaceError as got:
                assert got.cause == error.cause
            else:
                raise AssertionError("registration accepted, model refused it") from None
            return
        assert self.hs.register(handle, e, now=self.now, owner=owner, assoc=assoc) == expected

    @rule(handle=st.sampled_from(HANDLES), pe_id=st.sampled_from(PE_IDS),
          policy=st.sampled_from(POLICIES), mismatch=st.integers(0, 9).map(lambda x: x == 0),
          owner=st.sampled_from([None, *OWNERS]), home=st.sampled_from(OWNERS),
          assoc=st.sampled_from(ASSOCS), life=LIFETIMES, fields=FIELDS)
    def register(self, handle, pe_id, policy, mismatch, owner, home, assoc, life, fields):
        if not mismatch:
            policy = self._policy_for(handle, policy)
        self._register(handle, pe_id, policy, owner, home, assoc, life, fields)

    @rule(handle=st.sampled_from(HANDLES), policy=st.sampled_from(POLICIES),
          pe_ids=st.lists(st.sampled_from(PE_IDS), min_size=2, max_size=5, unique=True),
          home=st.sampled_from(OWNERS), life=LIFETIMES,
          fields=st.lists(FIELDS, min_size=5, max_size=5))
    def register_several(self, handle, policy, pe_ids, home, life, fields):
        policy = self._policy_for(handle, policy)
        for pe_id, values in zip(pe_ids, fields, strict=False):
            self._register(handle, pe_id, policy, None, home, None, life, values)

    @rule(handle=st.sampled_from(HANDLES), pe_id=st.sampled_from(PE_IDS))
    def deregister(self, handle, pe_id):
        assert self.hs.deregister(handle, pe_id) is self.model.deregister(handle, pe_id)

    @rule(handle=st.sampled_from(HANDLES), n=st.integers(0, 4))
    def select(self, handle, n):
        got = self.hs.select(handle, n)
        pool = self.model.pools.get(handle)
        if pool is not None and pool.policy_type in ORDERED:
            expected = self.model.select(handle, n)
            assert len(got) == len(expected)
            assert all(a is b for a, b in zip(got, expected, strict=True))
            return
        ids = [e.pe_identifier for e in got]
        assert len(set(ids)) == len(ids)
        if pool is None:
            assert got == []
            return
        eligible = [pe for pe in pool.pes.values()
                    if pool.policy_type == PolicyType.RANDOM
                    or pe.element.member_selection_policy.weight > 0]
        assert len(got) == min(n, len(eligible))
        assert all(pool.pes[i] in eligible and pool.pes[i].element is e
                   for i, e in zip(ids, got, strict=True))

    @rule(dt=st.sampled_from([0.0, 0.5, 1.0, 2.0, 7.0]))
    def expire(self, dt):
        self.now += dt
        got = [(h, e.pe_identifier, code) for h, e, code in self.hs.expire(self.now)]
        assert got == self.model.expire(self.now)
        assert all(isinstance(code, TimerCode) for _, _, code in got)

    @rule(handle=st.sampled_from(HANDLES), pe_id=st.sampled_from(PE_IDS),
          delay=st.sampled_from([0.0, 1.0, 3.0]),
          code=st.sampled_from([TimerCode.KEEPALIVE_TRANSMISSION, TimerCode.KEEPALIVE_TIMEOUT,
                                TimerCode.LIFETIME]))
    def set_timer(self, handle, pe_id, delay, code):
        expected = self.model.set_timer(handle, pe_id, self.now + delay, code)
        assert self.hs.set_timer(handle, pe_id, self.now + delay, code) == expected

    @precondition(lambda self: bool(self.model.pools))
    @rule(old=st.sampled_from(OWNERS), new=st.sampled_from(OWNERS))
    def takeover(self, old, new):
        taken = self.hs.owned_by(old)
        assert [(h, e.pe_identifier) for h, e in taken] == self.model.owned_by(old)
        for handle, e in taken:
            assert self.hs.set_owner(handle, e.pe_identifier, new)
            self.model.pools[handle].pes[e.pe_identifier].owner = new

    @rule(size=st.integers(1, 5), owner=st.sampled_from([None, *OWNERS]))
    def table_paging(self, size, owner):
        cursor, seen = None, []
        while True:
            page, cursor = self.hs.table_page(cursor, size, owned_only_by=owner)
            count = sum(len(elements) for _, elements in page)
            assert 0 < count <= size or (count == 0 and cursor is None)
            seen += [(h, e.pe_identifier) for h, elements in page for e in elements]
            if cursor is None:
                break
        expected = [(h, pid) for h, pid, pe in self.model.entries()
                    if owner is None or pe.owner == owner]
        assert seen == expected

    @invariant()
    def indices_agree(self):
        entries = self.model.entries()
        assert len(self.hs) == len(entries)
        assert self.hs.pools() == sorted(self.model.pools)
        for handle, pool in self.model.pools.items():
            assert [e.pe_identifier for e in self.hs.elements(handle)] == sorted(pool.pes)
            assert self.hs.count(handle) == len(pool.pes)
            assert self.hs.policy_type(handle) == pool.policy_type
        for handle, pe_id, pe in entries:
            assert self.hs.get(handle, pe_id) is pe.element
            assert self.hs.owner(handle, pe_id) == pe.owner
            assert self.hs.association(handle, pe_id) == pe.assoc
            timer = self.model.timers.get((handle, pe_id))
            assert self.hs.timer(handle, pe_id) == (None if timer is None else timer[::2])
        for owner in OWNERS:
            assert [(h, e.pe_identifier) for h, e in self.hs.owned_by(owner)] == \
                self.model.owned_by(owner)
        for assoc in {a for a in ASSOCS if a is not None}:
            assert [(h, e.pe_identifier) for h, e in self.hs.registered_over(assoc)] == \
                self.model.registered_over(assoc)
        assert self.hs.next_deadline() == self.model.next_deadline()

    @invariant()
    def checksums_match_recomputation(self):
        entries = self.model.entries()
        assert self.hs.checksum() == ones_complement_checksum([(h, p) for h, p, _ in entries])
        for owner in OWNERS:
            assert self.hs.checksum(owner) == self.model.checksum(owner)


HandlespaceMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=40,
                                                deadline=None)
test_handlespace_machine = HandlespaceMachine.TestCase

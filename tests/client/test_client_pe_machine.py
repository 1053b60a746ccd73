"""The PE core under random event orders (hypothesis state machine): it only sends on live
associations, always has a timer or a connect pending until closed, answers every keep-alive,
and re-registers at least once per interval while a registrar is up."""

from __future__ import annotations

from typing import Any

from clientkit import POOL, REG_A, REG_B
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from rserpool import wire
from rserpool.actions import Close, Connect, Notify, Send
from rserpool.asap.pool_element import PoolElementCore

INTERVAL = 5.0


class PoolElementMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.core = PoolElementCore(
            POOL, wire.Policy(wire.PolicyType.LEAST_USED), wire.SctpTransport(7000, ["10.1.0.1"]),
            registrars=[REG_A, REG_B], rng=3, reregistration_interval=INTERVAL,
            request_timeout=1.0, connect_timeout=1.0)
        self.now = 0.0
        self.next_assoc = 1
        self.pending: set[Any] = set()
        self.up: set[int] = set()
        self.requests: list[tuple[int, Any]] = []  # (assoc, message) awaiting an answer
        self.closed = False
        self.apply(self.core.start(self.now))

    def apply(self, actions: list[Any]) -> None:
        for a in actions:
            assert not self.closed or isinstance(a, Close), a
            if isinstance(a, Connect):
                self.pending.add(a.key)
            elif isinstance(a, Send):
                assert a.assoc in self.up, a
                if isinstance(a.message, wire.Registration | wire.Deregistration):
                    self.requests.append((a.assoc, a.message))
            elif isinstance(a, Close):
                self.up.discard(a.assoc)
            elif isinstance(a, Notify) and a.event == "closed":
                self.closed = True

    @precondition(lambda self: self.pending)
    @rule(data=st.data(), succeed=st.booleans())
    def answer_connect(self, data: st.DataObject, succeed: bool) -> None:
        key = data.draw(st.sampled_from(sorted(self.pending, key=repr)))
        self.pending.discard(key)
        if succeed:
            assoc, self.next_assoc = self.next_assoc, self.next_assoc + 1
            self.up.add(assoc)
            self.apply(self.core.association_up(assoc, [], self.now, key))
        else:
            self.apply(self.core.connect_failed(key, self.now))

    @precondition(lambda self: self.requests)
    @rule(reject=st.booleans())
    def registrar_answers(self, reject: bool) -> None:
        assoc, request = self.requests.pop(0)
        if assoc not in self.up:
            return
        if isinstance(request, wire.Registration):
            error = wire.OperationError((wire.ErrorCause(wire.Cause.LACK_OF_RESOURCES),))
            reply: Any = wire.RegistrationResponse(
                POOL, request.pool_element.pe_identifier, reject, error if reject else None)
        else:
            reply = wire.DeregistrationResponse(POOL, request.pe_identifier)
        self.apply(self.core.receive(assoc, reply, self.now))

    @precondition(lambda self: self.up)
    @rule(data=st.data())
    def lose_association(self, data: st.DataObject) -> None:
        assoc = data.draw(st.sampled_from(sorted(self.up)))
        self.up.discard(assoc)
        self.apply(self.core.association_lost(assoc, self.now))

    @precondition(lambda self: not self.closed)
    @rule(home=st.booleans(), new_assoc=st.booleans())
    def keep_alive(self, home: bool, new_assoc: bool) -> None:
        assoc = self.core.registrar_assoc
        if new_assoc or assoc is None:
            assoc, self.next_assoc = self.next_assoc, self.next_assoc + 1
            self.up.add(assoc)
            self.apply(self.core.association_up(assoc, [], self.now))
        actions = self.core.receive(assoc, wire.EndpointKeepAlive(
            77, POOL, self.core.pe_identifier, home), self.now)
        assert any(isinstance(a, Send) and isinstance(a.message, wire.EndpointKeepAliveAck)
                   and a.assoc == assoc for a in actions)
        self.apply(actions)

    @rule(load=st.integers(0, 0xFFFFFFFF))
    def update_load(self, load: int) -> None:
        self.apply(self.core.update(self.now, load=load))

    @rule(dt=st.floats(0.1, 2.0))
    def time_passes(self, dt: float) -> None:
        self.now += dt
        self.apply(self.core.handle_timer(self.now))

    @rule()
    def close(self) -> None:
        self.apply(self.core.close(self.now))

    @invariant()
    def never_idle_until_closed(self) -> None:
        if not self.closed:
            assert self.core.next_timer() is not None or self.pending
        if self.core.registrar_assoc is not None and not self.closed:
            timer = self.core.next_timer()
            assert timer is not None and timer <= self.now + INTERVAL


TestPoolElementMachine = PoolElementMachine.TestCase
TestPoolElementMachine.settings = settings(max_examples=60, stateful_step_count=40,
                                           deadline=None)

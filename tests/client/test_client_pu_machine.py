"""The PU core under random event orders (hypothesis state machine): it never sends on an
association it does not have, closes an association that answers a connect it gave up on,
and no session is ever stuck without a timer or a pending connect."""

from __future__ import annotations

from typing import Any

from clientkit import POOL, REG_A, REG_B, pe
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from rserpool import wire
from rserpool.actions import Close, Connect, Notify, Send
from rserpool.asap.pool_user import PoolUserCore

PES = [pe(i, f"10.1.0.{i}") for i in range(1, 5)]


class PoolUserMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.core = PoolUserCore(registrars=[REG_A, REG_B], request_timeout=1.0,
                                 connect_timeout=1.0, retry_interval=0.5)
        self.now = 0.0
        self.next_assoc = 1
        self.pending: dict[Any, Connect] = {}  # Connect key -> action, not yet answered
        self.latest: dict[int, Any] = {}  # session -> key of its newest Connect
        self.up: set[int] = set()
        self.sessions: set[int] = set()
        self.ended: set[int] = set()

    def apply(self, actions: list[Any]) -> None:
        for a in actions:
            if isinstance(a, Connect):
                assert a.key not in self.pending
                if a.key[0] == "session":
                    self.latest[a.key[1]] = a.key
                self.pending[a.key] = a
            elif isinstance(a, Send):
                assert a.assoc in self.up, a
            elif isinstance(a, Close):
                self.up.discard(a.assoc)
            elif isinstance(a, Notify) and a.event == "session-failed":
                self.ended.add(a.detail.session)

    @rule()
    def open_session(self) -> None:
        sid, actions = self.core.open_session(POOL, self.now)
        self.sessions.add(sid)
        self.apply(actions)

    @precondition(lambda self: self.pending)
    @rule(data=st.data(), succeed=st.booleans())
    def answer_connect(self, data: st.DataObject, succeed: bool) -> None:
        key = data.draw(st.sampled_from(sorted(self.pending, key=repr)))
        del self.pending[key]
        if succeed:
            assoc, self.next_assoc = self.next_assoc, self.next_assoc + 1
            self.up.add(assoc)
            actions = self.core.association_up(assoc, [], self.now, key)
            stale = key[0] == "session" and (self.latest.get(key[1]) != key
                                             or key[1] not in self.sessions)
            if stale:
                assert [a.assoc for a in actions if isinstance(a, Close)] == [assoc]
            self.apply(actions)
        else:
            self.apply(self.core.connect_failed(key, self.now))

    @precondition(lambda self: self.core.hunt.assoc is not None)
    @rule(elements=st.lists(st.sampled_from(PES), max_size=4, unique_by=id))
    def registrar_answers(self, elements: list[Any]) -> None:
        reply = wire.HandleResolutionResponse(POOL, tuple(elements))
        self.apply(self.core.receive(self.core.hunt.assoc or 0, reply, self.now))

    @precondition(lambda self: self.up)
    @rule(data=st.data())
    def lose_association(self, data: st.DataObject) -> None:
        assoc = data.draw(st.sampled_from(sorted(self.up)))
        self.up.discard(assoc)
        self.apply(self.core.association_lost(assoc, self.now))

    @rule(dt=st.floats(0.1, 3.0))
    def time_passes(self, dt: float) -> None:
        self.now += dt
        self.apply(self.core.handle_timer(self.now))

    @precondition(lambda self: self.sessions)
    @rule(data=st.data())
    def close_session(self, data: st.DataObject) -> None:
        sid = data.draw(st.sampled_from(sorted(self.sessions)))
        self.sessions.discard(sid)
        self.apply(self.core.close_session(sid, self.now))

    @invariant()
    def no_session_is_stuck(self) -> None:
        for sid in self.sessions - self.ended:
            connected = self.core.session_assoc(sid) is not None
            assert connected or self.core.next_timer() is not None or any(
                k[0] == "registrar" for k in self.pending), f"session {sid} stuck"


TestPoolUserMachine = PoolUserMachine.TestCase
TestPoolUserMachine.settings = settings(max_examples=60, stateful_step_count=40,
                                        deadline=None)

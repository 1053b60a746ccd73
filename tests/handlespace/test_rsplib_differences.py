"""Where rserpool's selection deliberately differs from RSPLIB's, and by how much.

RSPLIB's ordered selection path (poolPolicySelectPoolElementNodesBySortingOrder) calls the
policy's update hook for a selected PE and then relinks the PE into the selection tree, and
the relink calls the update hook again; linking a new PE calls it once more. By default it
also updates only the first selected PE (DefaultMaxIncrement = 1), even when it returns
several. rserpool applies the update exactly once to every PE it returns.

The references below replay both rules in plain Python, so the test states the difference in
picks, not in prose alone.
"""

from hs_model import element

from rserpool.handlespace import Handlespace
from rserpool.wire import PolicyType

MAX = 0xFFFFFFFF


def ordered_reference(loads: list[int], degradation: int, n: int, calls: int, *,
                      hook_calls: int, max_increment: int | None,
                      link_hook: bool) -> list[list[int]]:
    """Least-used-with-degradation selection, keys (load + degradation, seq).

    hook_calls: update hook calls per selected PE (rserpool 1, RSPLIB 2);
    max_increment: how many of the selected PEs are updated (None: all);
    link_hook: whether linking a new PE applies the hook (RSPLIB: yes).
    """
    pes = {i + 1: {"load": load, "deg": 0, "seq": i} for i, load in enumerate(loads)}
    seq = len(loads)
    if link_hook:
        for pe in pes.values():
            pe["deg"] = min(pe["deg"] + degradation, MAX)
    out = []
    for _ in range(calls):
        order = sorted(pes, key=lambda i: (min(pes[i]["load"] + pes[i]["deg"], MAX),
                                           pes[i]["seq"]))
        chosen = order[:n]
        for pe_id in chosen[:max_increment]:
            pes[pe_id]["seq"] = seq
            seq += 1
            for _ in range(hook_calls):
                pes[pe_id]["deg"] = min(pes[pe_id]["deg"] + degradation, MAX)
        out.append(chosen)
    return out


def rserpool_picks(loads: list[int], degradation: int, n: int, calls: int) -> list[list[int]]:
    hs = Handlespace(seed=1)
    for pe_id, load in enumerate(loads, start=1):
        hs.register(b"p", element(pe_id, PolicyType.LEAST_USED_DEGRADATION, load=load,
                                  load_degradation=degradation), now=0.0)
    return [[e.pe_identifier for e in hs.select(b"p", n)] for _ in range(calls)]


def leading_run(sequence: list[list[int]], pe_id: int) -> int:
    run = 0
    for chosen in sequence:
        if chosen != [pe_id]:
            break
        run += 1
    return run


def test_degradation_applied_once_uses_up_an_idle_pe_lead_at_half_rsplib_speed() -> None:
    # PE 1 idle, PEs 2..5 at load 10000, each pick degrades the picked PE by 1000.
    loads, degradation = [0, 10_000, 10_000, 10_000, 10_000], 1_000
    ours = rserpool_picks(loads, degradation, 1, 40)
    assert ours == ordered_reference(loads, degradation, 1, 40, hook_calls=1,
                                     max_increment=None, link_hook=False)
    rsplib = ordered_reference(loads, degradation, 1, 40, hook_calls=2, max_increment=1,
                               link_hook=True)
    # The idle PE takes the first 10 picks here (10000 / 1000), but only 5 in RSPLIB, which
    # degrades by 2000 per pick (and by 1000 more at registration).
    assert leading_run(ours, 1) == 10
    assert leading_run(rsplib, 1) == 5
    ours_count = sum(chosen == [1] for chosen in ours)
    rsplib_count = sum(chosen == [1] for chosen in rsplib)
    assert (ours_count, rsplib_count) == (16, 12)


def test_every_returned_pe_is_updated_not_only_the_first() -> None:
    # Equal loads, three PEs per handle resolution.
    loads, degradation = [0] * 5, 1_000
    ours = rserpool_picks(loads, degradation, 3, 5)
    assert ours == ordered_reference(loads, degradation, 3, 5, hook_calls=1,
                                     max_increment=None, link_hook=False)
    assert ours == [[1, 2, 3], [4, 5, 1], [2, 3, 4], [5, 1, 2], [3, 4, 5]]
    rsplib = ordered_reference(loads, degradation, 3, 5, hook_calls=2, max_increment=1,
                               link_hook=True)
    # RSPLIB moves only the first PE back, so consecutive answers overlap in two PEs.
    assert rsplib == [[1, 2, 3], [2, 3, 4], [3, 4, 5], [4, 5, 1], [5, 1, 2]]

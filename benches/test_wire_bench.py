"""Decode/encode speed of rserpool.wire against the pure-Python struct baseline, same run.

Each benchmark round calls the operation CALLS times in a plain loop (like timeit), so the
harness's own per-call cost (about 100 ns here) does not swamp a 100 ns operation. `make bench`
prints the table (time per CALLS calls), then per-call times and ratios (baseline / Cython).
"""

from collections.abc import Callable

import baseline_wire
import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from rserpool import wire
from rserpool.wire import PolicyType

RESULTS: dict[tuple[str, str], dict[str, float]] = {}
CALLS = 100


def pool_element(i: int) -> wire.PoolElement:
    return wire.PoolElement(
        0x10000000 + i, 0x5CE1F001, 90000,
        wire.SctpTransport(9000 + i % 1000, (f"10.0.{i // 250}.{i % 250 + 1}",
                                              f"10.1.{i // 250}.{i % 250 + 1}"), 1),
        wire.Policy(PolicyType.LEAST_USED, load=i * 0x10000),
    )


MESSAGES = {
    # pool handle + PE with an SCTP transport of 2 IPv4 addresses and an LU policy
    "registration": (wire.PPID_ASAP,
                     wire.Registration(b"BenchmarkPool-Registration", pool_element(1))),
    "handle_resolution_response_3": (wire.PPID_ASAP, wire.HandleResolutionResponse(
        b"BenchmarkPool", [pool_element(i) for i in range(3)],
        policy=wire.Policy(PolicyType.LEAST_USED))),
    "handle_table_response_128": (wire.PPID_ENRP, wire.HandleTableResponse(
        0x5CE1F001, 0x5CE1F002, [(b"BenchmarkPool", [pool_element(i) for i in range(128)])],
        more_to_send=True)),
}


def cases() -> list[tuple[str, str, str]]:
    ops = {name: ("decode", "encode") for name in MESSAGES}
    ops["registration"] += ("decode+read",)
    return [(name, op, impl) for name in MESSAGES for op in ops[name]
            for impl in ("cython", "baseline")]


def decode_and_read(data: bytes, ppid: int) -> wire.Message:
    """Decode, then read every field, so that lazily built objects are built too."""
    msg = wire.decode(data, ppid)
    assert isinstance(msg, wire.Registration)
    pe = msg.pool_element
    fields = (pe.user_transport.packed_addresses, pe.user_transport.port,
              pe.member_selection_policy.load, pe.asap_transport, msg.pool_handle)
    assert fields
    return msg


def prepare(name: str, op: str, impl: str) -> tuple[Callable, tuple]:
    """The function to time and its arguments: called directly, no wrapper."""
    ppid, msg = MESSAGES[name]
    data = msg.encode()
    if impl == "cython":
        if op == "decode+read":
            return decode_and_read, (data, ppid)
        return (wire.decode, (data, ppid)) if op == "decode" else (msg.encode, ())
    base_decode = baseline_wire.decode if ppid == wire.PPID_ASAP else baseline_wire.decode_enrp
    if op.startswith("decode"):
        return base_decode, (data,)
    base_msg = base_decode(data)
    assert baseline_wire.encode(base_msg) == data
    return baseline_wire.encode, (base_msg,)


def repeated(func: Callable, args: tuple) -> Callable[[], object]:
    """A function calling func(*args) CALLS times; returns the last result."""
    calls = range(CALLS)
    if len(args) == 2:
        a, b = args

        def loop2() -> object:
            for _ in calls:
                result = func(a, b)
            return result
        return loop2
    if len(args) == 1:
        (a,) = args

        def loop1() -> object:
            for _ in calls:
                result = func(a)
            return result
        return loop1

    def loop0() -> object:
        for _ in calls:
            result = func()
        return result
    return loop0


@pytest.mark.parametrize(("name", "op", "impl"), cases())
def test_wire(benchmark: BenchmarkFixture, name: str, op: str, impl: str) -> None:
    func, args = prepare(name, op, impl)
    msg = MESSAGES[name][1]
    benchmark.group = f"{name} {op} ({len(msg.encode())} bytes), time per {CALLS} calls"
    result = benchmark(repeated(func, args))
    if impl == "cython":
        assert (result == msg) if op.startswith("decode") else (result == msg.encode())
    per_call = benchmark.stats.stats.min / CALLS
    RESULTS.setdefault((name, op), {})[impl] = per_call
    benchmark.extra_info["min_ns_per_call"] = round(per_call * 1e9)


def ratios() -> list[str]:
    lines = []
    for (name, op), r in RESULTS.items():
        if "cython" in r and "baseline" in r:
            lines.append(f"{name:30s} {op:6s} cython {r['cython'] * 1e9:9.0f} ns/call   "
                         f"baseline {r['baseline'] * 1e9:10.0f} ns   "
                         f"ratio {r['baseline'] / r['cython']:6.1f}x")
    return lines

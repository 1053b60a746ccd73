"""Decode/encode speed of rserpool.wire against the pure-Python struct baseline, same run.

`make bench` prints a table per message and operation, then the ratios (baseline / Cython).
"""

from collections.abc import Callable

import baseline_wire
import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from rserpool import wire
from rserpool.wire import PolicyType

RESULTS: dict[tuple[str, str], dict[str, float]] = {}


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
    return [(name, op, impl) for name in MESSAGES for op in ("decode", "encode")
            for impl in ("cython", "baseline")]


def prepare(name: str, op: str, impl: str) -> tuple[Callable, tuple]:
    """The function to time and its arguments: called directly, no wrapper."""
    ppid, msg = MESSAGES[name]
    data = msg.encode()
    if impl == "cython":
        return (wire.decode, (data, ppid)) if op == "decode" else (msg.encode, ())
    base_decode = baseline_wire.decode if ppid == wire.PPID_ASAP else baseline_wire.decode_enrp
    if op == "decode":
        return base_decode, (data,)
    base_msg = base_decode(data)
    assert baseline_wire.encode(base_msg) == data
    return baseline_wire.encode, (base_msg,)


@pytest.mark.parametrize(("name", "op", "impl"), cases())
def test_wire(benchmark: BenchmarkFixture, name: str, op: str, impl: str) -> None:
    func, args = prepare(name, op, impl)
    msg = MESSAGES[name][1]
    benchmark.group = f"{name} {op} ({len(msg.encode())} bytes)"
    result = benchmark(func, *args)
    if impl == "cython":
        assert (result == msg) if op == "decode" else (result == msg.encode())
    stats = benchmark.stats.stats
    RESULTS.setdefault((name, op), {})[impl] = stats.min
    benchmark.extra_info["min_ns"] = round(stats.min * 1e9)


def ratios() -> list[str]:
    lines = []
    for (name, op), r in RESULTS.items():
        if "cython" in r and "baseline" in r:
            lines.append(f"{name:30s} {op:6s} cython {r['cython'] * 1e9:9.0f} ns   "
                         f"baseline {r['baseline'] * 1e9:10.0f} ns   "
                         f"ratio {r['baseline'] / r['cython']:6.1f}x")
    return lines

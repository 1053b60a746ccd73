"""Benchmark summaries printed after the benchmark tables."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

_LINES = pytest.StashKey[list[str]]()


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_LINES] = []


@pytest.fixture(scope="session")
def bench_summary(request: pytest.FixtureRequest) -> list[str]:
    """Append lines here; they are printed in the terminal summary."""
    return request.config.stash[_LINES]


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter,
                            config: pytest.Config) -> None:
    bench = sys.modules.get("test_wire_bench")
    lines = bench.ratios() if bench is not None else []
    if lines:
        terminalreporter.section("rserpool.wire: minimum time per call, ratio = baseline / cython")
        for line in lines:
            terminalreporter.write_line(line)
    summary = config.stash.get(_LINES, [])
    if summary:
        terminalreporter.section("benchmark summary")
        for line in summary:
            terminalreporter.write_line(line)

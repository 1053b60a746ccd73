"""Print the baseline/Cython speed ratios after the benchmark table."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    bench = sys.modules.get("test_wire_bench")
    lines = bench.ratios() if bench is not None else []
    if lines:
        terminalreporter.section("rserpool.wire: minimum time per call, ratio = baseline / cython")
        for line in lines:
            terminalreporter.write_line(line)
